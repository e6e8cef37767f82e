#!/usr/bin/env python3
"""The demo's final table (launch/demo_pipeline.sh): reads DEMO/eval_before.json, DEMO/eval_after.json and
DEMO/stage_times.tsv, prints the tables, and writes DEMO/report.md and DEMO/summary.json.

    python3 launch/demo_report.py DEMO_DIR
"""
import json
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def percent(x):
    return f"{100.0 * x:.1f}%"


def duration(seconds):
    seconds = float(seconds)
    return f"{int(seconds // 60)}m{seconds % 60:04.1f}s" if seconds >= 60 else f"{seconds:.1f}s"


# The kind of a question, told by its reference answer (data/synthetic/shapes.h: short_answer_vocabulary()).
COLOURS = {"red", "green", "blue", "yellow", "purple", "orange", "black", "white", "cyan", "pink", "brown", "grey"}
SHAPES = {"square", "circle", "triangle", "diamond", "cross", "star", "rectangle", "ring"}
SIDES = {"left", "right", "above", "below"}


def answer_kind(reference):
    word = reference.strip().rstrip(".").lower()
    if word.isdigit():
        return "count"
    if word in COLOURS:
        return "colour"
    if word in SHAPES:
        return "shape"
    if word in SIDES:
        return "relative position"
    return "cell"


def by_kind(report, who):
    counts = {}
    for answer in report.get("answers", []):
        if not answer.get("scored", True):
            continue
        kind = answer_kind(answer["reference"])
        correct, total = counts.get(kind, [0, 0])
        counts[kind] = [correct + int(bool(answer[who + "_correct"])), total + 1]
    return counts


def summarise(demo):
    """Reads the two `mha2mla eval` reports (docs/user-guide.md lists their keys) and the stage times."""
    before, after = load(os.path.join(demo, "eval_before.json")), load(os.path.join(demo, "eval_after.json"))
    kv = after["kv_cache"]["model_dtype"]
    summary = {
        "samples": after["exact_match"]["scored"],
        "kv_bytes_per_token": {"teacher": kv["teacher_bytes_per_token"], "student": kv["student_bytes_per_token"]},
        "kv_reduction": 1.0 - kv["student_bytes_per_token"] / kv["teacher_bytes_per_token"],
        "accuracy": {
            "teacher": after["task_accuracy"]["teacher"],
            "converted": before["task_accuracy"]["student"],
            "fine_tuned": after["task_accuracy"]["student"],
        },
        "activation_error": {
            "converted": before["activation_error"]["mean"],
            "fine_tuned": after["activation_error"]["mean"],
        },
        "by_question": {
            "teacher": by_kind(after, "teacher"),
            "converted": by_kind(before, "student"),
            "fine_tuned": by_kind(after, "student"),
        },
        "stages": [],
    }
    teacher_accuracy = summary["accuracy"]["teacher"]
    summary["retention"] = summary["accuracy"]["fine_tuned"] / teacher_accuracy if teacher_accuracy > 0 else 0.0
    with open(os.path.join(demo, "stage_times.tsv")) as f:
        for line in f:
            name, seconds, note = line.rstrip("\n").split("\t", 2)
            summary["stages"].append({"stage": name, "seconds": float(seconds), "note": note})
    return summary


def tables(s):
    a, e, kv = s["accuracy"], s["activation_error"], s["kv_bytes_per_token"]
    lines = [
        f"| | teacher (GQA) | student, converted | student, fine-tuned |",
        f"|---|---:|---:|---:|",
        f"| KV cache bytes / token (float32, all layers) | {kv['teacher']:.1f} | {kv['student']:.1f} "
        f"(-{percent(s['kv_reduction'])}) | {kv['student']:.1f} (-{percent(s['kv_reduction'])}) |",
        f"| held-out accuracy ({s['samples']} questions, exact match) | {percent(a['teacher'])} | "
        f"{percent(a['converted'])} | {percent(a['fine_tuned'])} ({percent(s['retention'])} of the teacher) |",
        f"| activation error (mean over layers) | 0 | {e['converted']:.4f} | {e['fine_tuned']:.4f} |",
        "",
        "| stage | wall time | what |",
        "|---|---:|---|",
    ]
    total = 0.0
    for stage in s["stages"]:
        lines.append(f"| {stage['stage']} | {duration(stage['seconds'])} | {stage['note']} |")
        total += stage["seconds"]
    lines.append(f"| **total** | **{duration(total)}** | |")
    kinds = sorted(set(s["by_question"]["teacher"]) | set(s["by_question"]["fine_tuned"]))
    if kinds:
        lines += ["", "| question kind | teacher | converted | fine-tuned |", "|---|---:|---:|---:|"]
        for kind in kinds:
            row = [kind]
            for who in ("teacher", "converted", "fine_tuned"):
                correct, total_kind = s["by_question"][who].get(kind, [0, 0])
                row.append(f"{correct}/{total_kind}")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    demo = sys.argv[1]
    summary = summarise(demo)
    text = tables(summary)
    with open(os.path.join(demo, "report.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(demo, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print()
    print(text)
    print()
    print(f"demo: teacher {percent(summary['accuracy']['teacher'])}, converted {percent(summary['accuracy']['converted'])}, "
          f"fine-tuned {percent(summary['accuracy']['fine_tuned'])} ({percent(summary['retention'])} of the teacher) "
          f"at -{percent(summary['kv_reduction'])} KV cache; report in {os.path.join(demo, 'report.md')}")


if __name__ == "__main__":
    main()

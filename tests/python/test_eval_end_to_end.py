"""End to end on a tiny Qwen2.5-VL through the CLI: make-tiny, make-data, convert, a few train steps, eval, export,
eval of the export, eval with an int8 latent cache, and generate.

Checks against what the eval JSON must satisfy independently of the code that wrote it:
  - its structure (every documented key) and its internal consistency: the exact-match counts re-counted here from
    the answers it lists (whitespace-normalised), perplexity = exp(CE), rates = counts / scored;
  - the KV bytes per token against the closed forms from config.json (teacher 2 * kv_heads * head_dim elements per
    layer, student kv_heads * (rope_dims + latent_rank) elements + 1/8 byte per layer; int8: codes + float16 scales);
  - the hf-mla export (LoRA off, so the exported tensors are the trained ones) gives the same numbers as the trained
    folder it came from, teacher included (model.path then), timings aside;
  - the int8 cache leaves the teacher-forced numbers alone (they use no cache) and stores fewer bytes;
  - eval.samples caps the samples; two data-parallel ranks (mpiexec, when present) evaluate the same samples as one
    process and sum to the same numbers;
  - generate prints both answers and logs cache sizes equal to the closed forms above for the tokens it cached.
"""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

BINARY = os.environ.get("MHA2MLA_BINARY", "build/mha2mla")
SCRATCH = os.path.join(os.environ.get("MHA2MLA_TEST_TMP", "/tmp"), "eval_end_to_end")
FAILURES = []


def check(condition, message):
    if not condition:
        FAILURES.append(message)
        print("FAIL: " + message)


def run(*arguments, launcher=()):
    started = time.time()
    environment = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    result = subprocess.run([*launcher, BINARY, *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environment)
    print(f"mha2mla {' '.join(arguments[:2])}: {time.time() - started:.1f} s")
    if result.returncode != 0:
        print(result.stdout + result.stderr)
        sys.exit(f"FAIL: mha2mla {' '.join(arguments)} exited with {result.returncode}")
    return result.stdout, result.stderr


def normalise(text):
    return " ".join(text.split())


TIMING_KEYS = {"prefill_seconds", "decode_seconds", "tokens_per_second", "decode_tokens_per_second"}


def without_timings_and_paths(value):
    if isinstance(value, dict):
        return {k: without_timings_and_paths(v) for k, v in value.items()
                if k not in TIMING_KEYS and k not in ("checkpoints", "recipe")}
    if isinstance(value, list):
        return [without_timings_and_paths(v) for v in value]
    return value


def check_structure(report, name):
    expected = {
        "task_accuracy": ["student", "teacher"],
        "checkpoints": ["student", "teacher"],
        "teacher": ["ce", "perplexity"],
        "student": ["ce", "perplexity"],
        "activation_error": ["mean", "layers"],
        "exact_match": ["scored", "unscored", "max_new_tokens", "student_correct", "teacher_correct", "agreements",
                        "student", "teacher", "student_teacher_agreement"],
        "kv_cache": ["quantization", "group_size", "model_dtype", "bfloat16", "measured_bytes_per_token"],
        "generation": ["max_new_tokens", "teacher", "student"],
    }
    for key, fields in expected.items():
        check(key in report and all(f in report[key] for f in fields), f"{name}: {key} lacks one of {fields}")
    for key in ["dtype", "samples", "valid_tokens", "answer_tokens", "kl_teacher_student", "answers", "recipe"]:
        check(key in report, f"{name}: no '{key}'")
    for side in ["teacher", "student"]:
        for field in ["prompts", "generated_tokens", "prefill_seconds", "decode_seconds", "tokens_per_second"]:
            check(field in report["generation"][side], f"{name}: generation.{side} lacks {field}")
        check(abs(report[side]["perplexity"] - math.exp(report[side]["ce"])) < 1e-9 * report[side]["perplexity"],
              f"{name}: {side} perplexity is not exp(ce)")
        check(report[side]["ce"] > 0, f"{name}: {side} CE {report[side]['ce']} is not positive")
    for kv in ["model_dtype", "bfloat16"]:
        for field in ["element_bytes", "teacher_bytes_per_token", "student_bytes_per_token",
                      "student_unquantized_bytes_per_token", "student_over_teacher"]:
            check(field in report["kv_cache"][kv], f"{name}: kv_cache.{kv} lacks {field}")

    # Exact match re-counted from the listed answers.
    answers = report["answers"]
    scored = [a for a in answers if a["scored"]]
    student = sum(normalise(a["student"]) == normalise(a["reference"]) for a in scored)
    teacher = sum(normalise(a["teacher"]) == normalise(a["reference"]) for a in scored)
    agree = sum(normalise(a["student"]) == normalise(a["teacher"]) for a in scored)
    em = report["exact_match"]
    check(len(answers) == report["samples"], f"{name}: {len(answers)} answers for {report['samples']} samples")
    check((em["scored"], em["student_correct"], em["teacher_correct"], em["agreements"]) ==
          (len(scored), student, teacher, agree), f"{name}: exact-match counts {em} differ from the answers")
    check(len(scored) > 0 and abs(report["task_accuracy"]["student"] - student / len(scored)) < 1e-12,
          f"{name}: task accuracy is not the student's exact-match rate")
    check(all(a["reference"].strip() for a in answers), f"{name}: an empty reference answer")


def check_kv_bytes(report, config, rope_dims, latent_rank, name):
    text = config.get("text_config", config)
    layers, kv_heads = text["num_hidden_layers"], text["num_key_value_heads"]
    head_dim = text.get("head_dim") or text["hidden_size"] // text["num_attention_heads"]
    kv = report["kv_cache"]
    for key, element in [("model_dtype", 4), ("bfloat16", 2)]:
        check(kv[key]["element_bytes"] == element, f"{name}: {key} element bytes {kv[key]['element_bytes']}")
        teacher = layers * 2 * kv_heads * head_dim * element
        student = layers * (kv_heads * (rope_dims + latent_rank) * element + 1 / 8)
        check(kv[key]["teacher_bytes_per_token"] == teacher, f"{name}: teacher bytes {kv[key]} vs {teacher}")
        check(abs(kv[key]["student_unquantized_bytes_per_token"] - student) < 1e-9,
              f"{name}: unquantised student bytes {kv[key]} vs {student}")
        if kv["quantization"] == "none":
            check(abs(kv[key]["student_bytes_per_token"] - student) < 1e-9, f"{name}: student bytes {kv[key]}")
        else:  # int8: one byte per value, a float16 scale per group, for the latent row and each RoPE-key row
            group = kv["group_size"]
            row = lambda width: width + 2 * math.ceil(width / group)  # noqa: E731
            quantised = layers * (row(kv_heads * latent_rank) + kv_heads * row(rope_dims) + 1 / 8)
            check(abs(kv[key]["student_bytes_per_token"] - quantised) < 1e-9,
                  f"{name}: int8 student bytes {kv[key]['student_bytes_per_token']} vs {quantised}")


def main():
    started = time.time()
    shutil.rmtree(SCRATCH, ignore_errors=True)
    os.makedirs(SCRATCH)
    original, data = os.path.join(SCRATCH, "original"), os.path.join(SCRATCH, "data")
    run("make-tiny", "--arch", "qwen2_5_vl", "--out", original, "--seed", "3")
    run("make-data", "--format", "llava_json", "--out", data, "--samples", "30", "--seed", "5")
    rope_dims, latent_rank = 8, 8
    recipe = os.path.join(SCRATCH, "recipe.yaml")
    with open(recipe, "w") as f:
        f.write(f"""run:
  output_dir: {SCRATCH}/run
model:
  path: {original}
  threads: 1
data:
  datasets:
    - path: {data}/data.json
  held_out: 6
  batch_size: 2
  workers: 0
  shuffle_buffer: 0
convert:
  rope_dims: {rope_dims}
  latent_rank: {latent_rank}
  strategy: uniform
  init: svd
train:
  steps: 3
  lora:
    rank: 0
  tensorboard_dir: ""
  optimizer:
    lr: 0.001
eval:
  samples: 6
  max_new_tokens: 6
generate:
  prompt: "What colour is the shape?"
  max_new_tokens: 5
""")
    run("convert", recipe)
    run("train", recipe)
    run("eval", recipe, "eval.output=eval-trained.json")
    run("export", recipe, "--format", "hf-mla")
    run("eval", recipe, f"eval.student={SCRATCH}/run/export", "eval.output=eval-export.json")
    run("eval", recipe, "eval.output=eval-int8.json", "eval.kv_cache.quantization=int8", "eval.kv_cache.group_size=16")

    def load(name):
        with open(os.path.join(SCRATCH, "run", name)) as f:
            return json.load(f)
    trained, exported, int8 = load("eval-trained.json"), load("eval-export.json"), load("eval-int8.json")
    with open(os.path.join(original, "config.json")) as f:
        config = json.load(f)

    for name, report in [("trained", trained), ("export", exported), ("int8", int8)]:
        check_structure(report, name)
        check_kv_bytes(report, config, rope_dims, latent_rank, name)
        check(report["samples"] == 6, f"{name}: {report['samples']} samples, data.held_out is 6")
    check(trained["checkpoints"]["student"].endswith("run/trained"), f"student {trained['checkpoints']}")
    check(trained["checkpoints"]["teacher"] == trained["checkpoints"]["student"],
          "a trained folder holds its teacher: it should be used")
    check(exported["checkpoints"]["teacher"] == original, f"an export's teacher is model.path: {exported['checkpoints']}")

    # The export reproduces the trained folder exactly (timings and paths aside).
    a, b = without_timings_and_paths(trained), without_timings_and_paths(exported)
    for key in sorted(set(a) | set(b)):
        check(a.get(key) == b.get(key), f"export differs from the trained folder in '{key}': {a.get(key)} vs {b.get(key)}")

    # int8: teacher-forced numbers unchanged, fewer bytes stored.
    for key in ["teacher", "student", "kl_teacher_student", "activation_error", "answer_tokens"]:
        check(int8[key] == trained[key], f"int8 cache changed teacher-forced '{key}': {int8[key]} vs {trained[key]}")
    for key in ["model_dtype", "bfloat16"]:
        check(int8["kv_cache"][key]["student_bytes_per_token"] < trained["kv_cache"][key]["student_bytes_per_token"],
              f"int8 does not store fewer bytes ({key})")
    measured = lambda r, side: r["kv_cache"]["measured_bytes_per_token"][side]  # noqa: E731
    check(measured(int8, "student") < measured(trained, "student") < measured(trained, "teacher"),
          f"measured bytes/token: int8 {measured(int8, 'student')}, none {measured(trained, 'student')}, "
          f"teacher {measured(trained, 'teacher')}")
    check([a["teacher"] for a in int8["answers"]] == [a["teacher"] for a in trained["answers"]],
          "the teacher's answers depend on the student's cache")

    # eval.samples caps the held-out samples.
    run("eval", recipe, "eval.output=eval-capped.json", "eval.samples=3")
    capped = load("eval-capped.json")
    check(capped["samples"] == 3 and len(capped["answers"]) == 3, f"eval.samples=3 evaluated {capped['samples']}")
    check([a["id"] for a in capped["answers"]] == [a["id"] for a in trained["answers"]][:3],
          "the capped run is not the first held-out samples")

    # Two data-parallel ranks: the same samples, the same sums (up to float rounding: other rows share a batch).
    mpiexec = shutil.which("mpiexec")
    if mpiexec:
        run("eval", recipe, "eval.output=eval-dp.json",
            launcher=(mpiexec, "-n", "2", "--oversubscribe", "--bind-to", "none"))
        dp = load("eval-dp.json")
        check(sorted(a["id"] for a in dp["answers"]) == sorted(a["id"] for a in trained["answers"]),
              "two ranks evaluated other samples")
        by_id = {a["id"]: a for a in trained["answers"]}
        check(all(a == by_id[a["id"]] for a in dp["answers"]), "two ranks gave other answers")
        for key in ["samples", "answer_tokens", "valid_tokens", "exact_match", "task_accuracy"]:
            check(dp[key] == trained[key], f"two ranks: '{key}' {dp[key]} vs {trained[key]}")
        for a, b, what in [(dp["teacher"]["ce"], trained["teacher"]["ce"], "teacher ce"),
                           (dp["student"]["ce"], trained["student"]["ce"], "student ce"),
                           (dp["kl_teacher_student"], trained["kl_teacher_student"], "kl")] + \
                [(x, y, "layer error") for x, y in zip(dp["activation_error"]["layers"],
                                                        trained["activation_error"]["layers"])]:
            check(abs(a - b) <= 1e-5 * abs(b), f"two ranks: {what} {a} vs {b}")
    else:
        print("no mpiexec: the data-parallel check is skipped")

    # generate: the export with its teacher from model.path; the answers come on stdout, the stats in the log.
    out, err = run("generate", recipe, f"eval.student={SCRATCH}/run/export")
    check(re.search(r"^teacher: ", out, re.M) and re.search(r"^student: ", out, re.M), f"generate printed: {out}")
    check("bytes/token" in err and "tokens/s" in err, "generate logs no cache size or speed")
    # The logged cache sizes against the closed forms from config.json (float32; every token but the last was cached).
    text = config.get("text_config", config)
    layers, kv_heads = text["num_hidden_layers"], text["num_key_value_heads"]
    head_dim = text.get("head_dim") or text["hidden_size"] // text["num_attention_heads"]
    for side in ["teacher", "student"]:
        found = re.search(side + r": (\d+) tokens[^\n]* cache (\d+) bytes for (\d+) tokens", err)
        check(found is not None, f"generate logs no cache size for the {side}: {err}")
        if found:
            cached = int(found.group(3))
            expected = (layers * cached * 2 * kv_heads * head_dim * 4 if side == "teacher" else
                        layers * (cached * kv_heads * (rope_dims + latent_rank) * 4 + (cached + 7) // 8))
            check(int(found.group(2)) == expected, f"generate: {side} cache {found.group(2)} bytes, expected {expected}")

    print(f"student task accuracy {trained['task_accuracy']['student']:.3f} (teacher "
          f"{trained['task_accuracy']['teacher']:.3f}), {time.time() - started:.1f} s in all")
    if FAILURES:
        sys.exit(f"{len(FAILURES)} check(s) failed")
    print("OK")


if __name__ == "__main__":
    main()

"""The demo pipeline end to end, shortened: launch/demo_pipeline.sh with MHA2MLA_DEMO_PROFILE=short (the same
stages and recipes as the quickstart, fewer samples and steps) trains a teacher from scratch, converts it,
evaluates, distils, evaluates again and exports. Asserted:
  - the KV-cache sizes in the report equal the closed form computed here from the converted config.json
    (teacher: layers x 2 x n_kv x head_dim x 4 bytes; student: layers x (n_kv x (r + d_kv) x 4 + 1/8)), and the
    student's is at most a quarter of the teacher's;
  - the teacher reads the image: it is right at least twice as often as always giving the held-out set's most
    frequent answer (and at least half the time), the fine-tuned student is no worse than the converted
    one, the converted one is measurably worse than the teacher, and the fine-tuned one retains RETENTION of the
    teacher's accuracy, and distillation lowers the activation error;
  - the export is an hf-mla folder (config.json with a student-only `mla` block, weights, tokenizer).
"""
import json
import os
import subprocess
import sys
import time

SOURCE = os.environ.get("MHA2MLA_SOURCE_DIR", os.getcwd())
BINARY = os.environ.get("MHA2MLA_BINARY", "build/mha2mla")
SCRATCH = os.environ.get("MHA2MLA_E2E_SCRATCH",
                         os.path.join(os.environ.get("MHA2MLA_TEST_TMP", "/tmp"), "demo_pipeline"))
RETENTION = 0.98       # fine-tuned student / teacher accuracy (the quickstart's target)
CONVERSION_LOSS = 0.05  # the converted student, before fine-tuning, is at least this much below the teacher
FAILURES = []


def check(condition, message):
    print(("ok:   " if condition else "FAIL: ") + message)
    if not condition:
        FAILURES.append(message)


def main():
    env = dict(os.environ)
    env.update({
        "MHA2MLA_BIN": BINARY,
        "MHA2MLA_DEMO_DIR": os.path.join(SCRATCH, "run"),
        "MHA2MLA_DEMO_CACHE": os.path.join(SCRATCH, "cache"),
        "MHA2MLA_DEMO_PROFILE": "short",
        "MHA2MLA_DEMO_RETRAIN": "1",
        "MHA2MLA_PYTHON": sys.executable,
    })
    start = time.time()
    subprocess.run(["bash", os.path.join(SOURCE, "launch", "demo_pipeline.sh")], env=env, check=True)
    print(f"pipeline: {time.time() - start:.0f} s")
    run = env["MHA2MLA_DEMO_DIR"]
    with open(os.path.join(run, "summary.json")) as f:
        summary = json.load(f)

    with open(os.path.join(run, "converted", "config.json")) as f:
        config = json.load(f)
    text = config.get("text_config", config)
    layers, kv_heads = text["num_hidden_layers"], text["num_key_value_heads"]
    head_dim = text.get("head_dim") or text["hidden_size"] // text["num_attention_heads"]
    mla = config["mla"]
    teacher_bytes = layers * 2 * kv_heads * head_dim * 4
    student_bytes = layers * (kv_heads * (mla["rope_dims"] + mla["latent_rank"]) * 4 + 1 / 8)
    kv = summary["kv_bytes_per_token"]
    check(abs(kv["teacher"] - teacher_bytes) < 1e-9, f"teacher KV bytes/token {kv['teacher']} == {teacher_bytes}")
    check(abs(kv["student"] - student_bytes) < 1e-9, f"student KV bytes/token {kv['student']} == {student_bytes}")
    check(student_bytes <= 0.25 * teacher_bytes, f"KV cache cut by {100 * (1 - student_bytes / teacher_bytes):.1f}% >= 75%")

    accuracy = summary["accuracy"]
    print("accuracy:", json.dumps(accuracy))
    # The short profile's teacher trains for a fraction of the quickstart's steps; it must clearly beat always giving
    # the most frequent reference answer (computed here from the held-out answers), which a teacher blind to the image
    # cannot, and the fine-tuned student must keep RETENTION of whatever it reached.
    with open(os.path.join(run, "eval_after.json")) as f:
        answers = [a["reference"] for a in json.load(f)["answers"] if a.get("scored", True)]
    majority = max(answers.count(a) for a in set(answers)) / len(answers)
    floor = max(0.5, 2 * majority)
    check(accuracy["teacher"] >= floor,
          f"teacher accuracy {accuracy['teacher']:.3f} >= {floor:.3f} (majority answer {majority:.3f})")
    check(accuracy["fine_tuned"] >= RETENTION * accuracy["teacher"],
          f"fine-tuned {accuracy['fine_tuned']:.3f} >= {RETENTION} x teacher {accuracy['teacher']:.3f}")
    check(accuracy["converted"] <= accuracy["teacher"] - CONVERSION_LOSS,
          f"converted {accuracy['converted']:.3f} <= teacher {accuracy['teacher']:.3f} - {CONVERSION_LOSS} (measurably worse)")
    check(accuracy["fine_tuned"] >= accuracy["converted"],
          f"fine-tuned {accuracy['fine_tuned']:.3f} >= converted {accuracy['converted']:.3f}")
    errors = summary["activation_error"]
    check(errors["fine_tuned"] < errors["converted"],
          f"activation error falls: {errors['converted']:.4f} -> {errors['fine_tuned']:.4f}")

    export = os.path.join(run, "export")
    with open(os.path.join(export, "config.json")) as f:
        exported = json.load(f)
    check(exported.get("mla", {}).get("student_only") is True, "export config.json has a student-only mla block")
    check(any(name.endswith(".safetensors") for name in os.listdir(export)), "export holds safetensors weights")
    check(os.path.exists(os.path.join(export, "tokenizer.json")), "export carries the tokenizer")

    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()

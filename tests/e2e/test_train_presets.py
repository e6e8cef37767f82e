"""End to end: `mha2mla train` changes only what its preset trains, and the two-stage pipeline works.

For each run, the trained folder is compared tensor by tensor (raw bytes) with the folder it started from: every
tensor outside the preset's set is bitwise equal, the set's tensors (and only tensors of the set are new) moved,
and the trained tensors equal the final checkpoint's. The sets are written here from shared/method.md section 5,
by hub name, not taken from the code:

  default   the latent projections (kv/k/v_down_proj.<modality>, k/v_up_proj.<modality>) + LoRA on q_proj / o_proj
  stage1    q_proj (the student's own copy), the k_N and v projections (k_up_proj / v_up_proj, with their biases), the
            input norm (the student's own copy); LoRA off, as the paper trains
  stage2    every attention weight: the student's own q_proj and o_proj, k_rope_proj, every down / up projection
            and up bias, and its own input norm
  full      (train.stage=sft) every tensor of the original model

Two-stage pipeline: convert stage=partial_rope -> train stage1 -> convert stage=mla from the stage-1 output ->
train stage2 -> export hf-mla, checking that each stage starts from the previous one's trained tensors, that the
teacher stays the original model throughout, and that the export writes the student's copies under the plain
names and loads back with the same held-out CE."""
import json
import os
import re

from e2e_support import (check, held_out, main, make_fixture, read_folder, read_safetensors, run, scratch,
                         write_recipe)

ROOT = scratch("train_presets")
MODEL, DATA = make_fixture(ROOT)

LORA = r"\.lora_[AB]\.weight$"
DEFAULT = [r"\.self_attn\.(kv|k|v)_down_proj\.(text|image|shared)\.weight$",
           r"\.self_attn\.[kv]_up_proj\.(text|image|shared)\.weight$", LORA]
STAGE1 = [r"\.self_attn\.student_q_proj\.(weight|bias)$", r"\.self_attn\.[kv]_up_proj\.", r"\.student_input_layernorm\.weight$"]
STAGE2 = [r"\.self_attn\.student_[qo]_proj\.(weight|bias)$", r"\.self_attn\.k_rope_proj\.", r"\.self_attn\.(kv|k|v)_down_proj\.",
          r"\.self_attn\.[kv]_up_proj\.", r"\.student_input_layernorm\.weight$", LORA]
ALL = [r"."]


def in_set(name, patterns):
    return any(re.search(p, name) for p in patterns)


def train(name, start_folder, steps=6, **train_keys):
    output = os.path.join(ROOT, name)
    keys = {"steps": steps, "init_from": start_folder}
    keys.update(train_keys)
    path = write_recipe(os.path.join(ROOT, name + ".yaml"), MODEL, DATA, output, train=keys,
                        checkpoint={"every": 0})
    run(["train", path], os.path.join(ROOT, name + ".log"))
    return output, path


def convert(name, source, **convert_keys):
    output = os.path.join(ROOT, name)
    keys = {"output": output}
    keys.update(convert_keys)
    path = write_recipe(os.path.join(ROOT, name + ".yaml"), source, DATA, ROOT, convert=keys)
    run(["convert", path], os.path.join(ROOT, name + ".log"))
    return output


def check_only_the_set_moved(before_folder, output, patterns, what):
    """Frozen tensors bitwise equal, new tensors only in the set, the set moved, trained == final checkpoint."""
    before, after = read_folder(before_folder), read_folder(os.path.join(output, "trained"))
    missing = sorted(set(before) - set(after))
    check(not missing, "%s: the trained folder lacks %s" % (what, missing[:5]))
    new = sorted(set(after) - set(before))
    outside = [n for n in new if not in_set(n, patterns)]
    check(not outside, "%s: the trained folder has tensors outside the trainable set: %s" % (what, outside[:5]))
    changed_frozen = [n for n in before if not in_set(n, patterns) and before[n] != after[n]]
    check(not changed_frozen, "%s: frozen tensors changed: %s" % (what, changed_frozen[:8]))
    trained = [n for n in after if in_set(n, patterns)]
    check(trained, "%s: nothing of the trainable set is in the trained folder" % what)
    moved = [n for n in trained if n not in before or before[n] != after[n]]
    check(moved, "%s: no trainable tensor moved" % what)
    final = read_safetensors(os.path.join(output, "checkpoints", "step-%d" % 6, "weights-tp0.safetensors"))
    check(len(final) == len([n for n in after if in_set(n, patterns)]) or patterns is ALL,
          "%s: the checkpoint holds %d tensors, the set %d" % (what, len(final), len(trained)))
    return before, after, moved


def config_mla(folder):
    return json.load(open(os.path.join(folder, "config.json")))["mla"]


def test_default_preset():
    converted = convert("converted", MODEL)
    output, _ = train("default", converted)
    _, after, moved = check_only_the_set_moved(converted, output, DEFAULT, "default")
    check(any(re.search(LORA, n) for n in after), "default: no LoRA adapter was saved")
    check(any("_down_proj." in n for n in moved), "default: no latent down projection moved")


def test_stage2_preset_on_a_one_stage_conversion():
    converted = os.path.join(ROOT, "converted")
    output, _ = train("stage2", converted, trainable="stage2")
    before, after, moved = check_only_the_set_moved(converted, output, STAGE2, "stage2")
    for copy in ("self_attn.student_q_proj.weight", "self_attn.student_o_proj.weight", "student_input_layernorm.weight"):
        names = [n for n in after if n.endswith(copy)]
        check(len(names) == 2, "stage2: expected one %s per layer, found %s" % (copy, names))
        check(all(n in moved for n in names), "stage2: %s did not train" % copy)
    check(config_mla(os.path.join(output, "trained"))["student_copies"] == ["q_proj", "o_proj", "input_layernorm"],
          "stage2: config.json does not list the student copies")


def test_full_sft():
    output, _ = train("sft", MODEL, stage="sft", trainable="full", loss={"activation": 0, "ce": 1})
    before, after, moved = check_only_the_set_moved(MODEL, output, ALL, "sft")
    check(sorted(before) == sorted(after), "sft: the trained folder does not hold the original tensors exactly")
    final = read_safetensors(os.path.join(output, "checkpoints", "step-6", "weights-tp0.safetensors"))
    check(len(final) == len(after), "sft: the final checkpoint holds %d of %d tensors" % (len(final), len(after)))
    still = sorted(n for n in after if n not in moved)
    check(len(moved) > 0.9 * len(after), "sft: only %d of %d tensors moved (unmoved: %s)" % (len(moved), len(after), still[:8]))


def test_two_stage_pipeline_and_export():
    original = read_folder(MODEL)
    stage1_converted = convert("stage1-converted", MODEL, stage="partial_rope")
    check(config_mla(stage1_converted)["stage"] == "partial_rope", "the stage-1 conversion is not partial_rope")
    stage1, _ = train("stage1", stage1_converted, stage="stage1", trainable="stage1", lora={"rank": 0})
    _, trained1, moved1 = check_only_the_set_moved(stage1_converted, stage1, STAGE1, "stage1")
    check(any("student_q_proj" in n for n in moved1) and any("student_input_layernorm" in n for n in moved1) and
          any("_up_proj" in n for n in moved1), "stage1: q_proj, the norm and k_N / v did not all train: %s" % moved1)

    # Stage 2 converts the stage-1 output: its trained copies carry over unchanged, the teacher is the original.
    stage2_converted = convert("stage2-converted", os.path.join(stage1, "trained"), stage="mla")
    converted2 = read_folder(stage2_converted)
    for name, value in trained1.items():
        if "student_" in name:
            check(converted2.get(name) == value, "stage-2 conversion: %s is not the stage-1 result" % name)
    for name, value in original.items():
        check(converted2.get(name) == value, "stage-2 conversion: the teacher's %s is not the original" % name)
    check(config_mla(stage2_converted)["student_copies"] == ["q_proj", "input_layernorm"],
          "stage-2 conversion: student_copies %s" % config_mla(stage2_converted).get("student_copies"))

    stage2, recipe2 = train("stage2-pipeline", stage2_converted, stage="stage2", trainable="stage2", lora={"rank": 0})
    _, trained2, _ = check_only_the_set_moved(stage2_converted, stage2, STAGE2, "stage2 (pipeline)")
    for name, value in original.items():
        check(trained2.get(name) == value, "after stage 2 the teacher's %s is not the original" % name)

    # hf-mla export: the copies under the plain names, no teacher k/v, nothing named student_*.
    exported = os.path.join(ROOT, "exported")
    run(["export", recipe2, "train.output=" + os.path.join(stage2, "trained"), "export.output=" + exported],
        os.path.join(ROOT, "export.log"))
    tensors = read_folder(exported)
    check(not [n for n in tensors if "student_" in n], "the export still has student_* names")
    check(not [n for n in tensors if re.search(r"self_attn\.[kv]_proj\.", n)], "the export kept the teacher's k/v")
    for layer in range(2):
        prefix = "model.layers.%d." % layer
        for plain, copy in (("self_attn.q_proj.weight", "self_attn.student_q_proj.weight"),
                            ("self_attn.q_proj.bias", "self_attn.student_q_proj.bias"),
                            ("self_attn.o_proj.weight", "self_attn.student_o_proj.weight"),
                            ("input_layernorm.weight", "student_input_layernorm.weight")):
            check(tensors.get(prefix + plain) == trained2[prefix + copy], "export: %s is not the student's %s" %
                  (prefix + plain, copy))
    check("student_copies" not in config_mla(exported), "the export's config still lists student copies")
    # It loads back and computes what the trained student computes.
    a, b = held_out(recipe2, os.path.join(stage2, "trained")), held_out(recipe2, exported)
    check(abs(a["ce"] - b["ce"]) <= 1e-6 * abs(a["ce"]), "held-out CE: trained %r, exported %r" % (a["ce"], b["ce"]))


if __name__ == "__main__":
    main([test_default_preset, test_stage2_preset_on_a_one_stage_conversion, test_full_sft,
          test_two_stage_pipeline_and_export])

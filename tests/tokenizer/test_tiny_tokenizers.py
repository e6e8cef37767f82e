#!/usr/bin/python3
"""The tiny test tokenizers (write_tiny_tokenizer) against Hugging Face's `tokenizers` and the real files:
  - the same arguments write byte-identical files (determinism);
  - tokenizer.json has the real family's layout: apart from vocab, merges and added tokens, every section
    (normalizer, pre-tokenizer, post-processor, decoder, model options) equals the real file's, ids aside;
  - added tokens sit right after the vocabulary, in the family's order;
  - the reference `tokenizers` loads each file and gives the same ids and decodes as ours on the corpus;
  - the learned merges compress English (fewer tokens than bytes)."""
import filecmp
import json
import os

from tokenizer_testlib import (PROBE, REFERENCE, compare, corpus_documents, die, encode_with_probe,
                               encode_with_reference, ensure_reference, require_probe, run_json, scratch,
                               synthetic_cases)

# family -> (vocab size target, reference folder with the real layout, added tokens expected first)
FAMILIES = {
    "qwen2": (512, "qwen2", ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
    "llama3": (400, "llama3_bos", ["<|begin_of_text|>", "<|end_of_text|>"]),
    "llava_next": (512, "llama3_bos", ["<|begin_of_text|>", "<|end_of_text|>"]),
    "llama2": (600, "llava", ["<unk>", "<s>", "</s>"]),
    "llava": (600, "llava", ["<unk>", "<s>", "</s>"]),
}


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def strip_ids(value):
    """The layout without concrete token ids (they depend on the vocabulary size)."""
    if isinstance(value, dict):
        return {k: ("<ids>" if k == "ids" else strip_ids(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_ids(v) for v in value]
    return value


def layout(tokenizer):
    out = {k: strip_ids(v) for k, v in tokenizer.items() if k not in ("added_tokens", "model")}
    out["model"] = {k: v for k, v in tokenizer["model"].items() if k not in ("vocab", "merges")}
    out["key_order"] = list(tokenizer.keys())
    out["model_key_order"] = [k for k in tokenizer["model"].keys()]
    return out


def main():
    require_probe()
    ensure_reference()
    work = scratch("tiny-tokenizers")
    texts = corpus_documents() + synthetic_cases()
    problems = []
    for family, (target, real_name, first_added) in FAMILIES.items():
        out_a, out_b = os.path.join(work, family + "-a"), os.path.join(work, family + "-b")
        info = json.loads(run_json([PROBE, "write-tiny", family, str(target), out_a], "write-tiny"))
        run_json([PROBE, "write-tiny", family, str(target), out_b], "write-tiny")
        names = sorted(os.listdir(out_a))
        match, mismatch, errors = filecmp.cmpfiles(out_a, out_b, names, shallow=False)
        if mismatch or errors:
            problems.append("%s: two runs differ in %s" % (family, mismatch + errors))

        tokenizer = load(os.path.join(out_a, "tokenizer.json"))
        real = load(os.path.join(REFERENCE, "models", real_name, "tokenizer.json"))
        ours_layout, real_layout = layout(tokenizer), layout(real)
        for key in real_layout:
            if ours_layout.get(key) != real_layout[key]:
                problems.append("%s: tokenizer.json %s is %s, the real file has %s" % (
                    family, key, json.dumps(ours_layout.get(key))[:300], json.dumps(real_layout[key])[:300]))

        vocab_size = len(tokenizer["model"]["vocab"])
        if vocab_size != target or info["vocab_size"] != target:
            problems.append("%s: vocabulary has %d tokens (probe says %d), asked for %d" % (
                family, vocab_size, info["vocab_size"], target))
        added = tokenizer["added_tokens"]
        beyond = [t for t in added if t["id"] >= vocab_size]
        if [t["id"] for t in beyond] != list(range(vocab_size, vocab_size + len(beyond))):
            problems.append("%s: added tokens beyond the vocabulary are not at %d, %d, ...: %s" % (
                family, vocab_size, vocab_size + 1, [t["id"] for t in beyond]))
        if [t["content"] for t in added[:len(first_added)]] != first_added:
            problems.append("%s: added tokens start with %s, expected %s" % (
                family, [t["content"] for t in added[:3]], first_added))
        if family in ("llava", "llava_next") and [t["content"] for t in added[-2:]] != ["<image>", "<pad>"]:
            problems.append("%s: <image>, <pad> are not the last added tokens" % family)
        config = load(os.path.join(out_a, "tokenizer_config.json"))
        for id_, entry in config["added_tokens_decoder"].items():
            if not any(t["id"] == int(id_) and t["content"] == entry["content"] for t in added):
                problems.append("%s: tokenizer_config.json added_tokens_decoder[%s] is not in tokenizer.json" % (
                    family, id_))
        probe_info = json.loads(run_json([PROBE, "info", out_a], "info"))
        for role in ("bos", "eos", "pad"):
            if probe_info[role] != info["special_ids"].get(role, -1):
                problems.append("%s: loaded %s id %s, write_tiny_tokenizer reported %s" % (
                    family, role, probe_info[role], info["special_ids"].get(role)))

        reference = encode_with_reference(os.path.join(out_a, "tokenizer.json"), texts, work, family)
        ours = encode_with_probe(out_a, texts, work, family)
        found = compare(family, texts, ours, reference)
        problems += found
        english = texts[0]
        ratio = len(english.encode("utf-8")) / max(1, len(reference["ids_no_special"][0]))
        if ratio < 1.25:
            problems.append("%s: only %.2f bytes per token on English; the merges do not work" % (family, ratio))
        print("%-10s vocab %d + %d added, id_limit %d, %.2f bytes/token on English: %s" % (
            family, vocab_size, len(beyond), info["id_limit"], ratio,
            "ids and decodes equal to the reference" if not found else "%d MISMATCHES" % len(found)), flush=True)

    if problems:
        for p in problems[:40]:
            print("  " + p)
        die("%d problems with the tiny tokenizers" % len(problems))
    print("PASS")


if __name__ == "__main__":
    main()

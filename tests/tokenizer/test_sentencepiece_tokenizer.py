#!/usr/bin/python3
"""The SentencePiece tokenizer (tokenizer.model through libsentencepiece) against Debian's sentencepiece
command-line tools: models trained with spm_train (BPE with byte fallback, and unigram with the default
nmt_nfkc normalization), every corpus line encoded by us equals spm_encode's ids and decodes like spm_decode.
Also a folder whose tokenizer_config.json adds <image> after the pieces: the token is split out of the
text and the stretches around it encode as spm_encode encodes them alone; bos is added as configured."""
import json
import os
import shutil
import subprocess

from tokenizer_testlib import corpus_documents, die, encode_with_probe, require_probe, scratch, synthetic_cases

MODELS = {
    "bpe": ["--model_type=bpe", "--vocab_size=1000", "--byte_fallback=true", "--normalization_rule_name=identity"],
    "unigram": ["--model_type=unigram", "--vocab_size=800"],
}


def spm(tool, args, stdin):
    if shutil.which(tool) is None:
        die("%s is missing (Debian package sentencepiece: apt-get install sentencepiece)" % tool)
    result = subprocess.run([tool] + args, input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        die("%s %s failed:\n%s" % (tool, " ".join(args), result.stderr[-2000:]))
    return result.stdout


def main():
    require_probe()
    work = scratch("sentencepiece")
    lines = [line for doc in corpus_documents() for line in doc.split("\n") if line.strip()]
    lines += [c for c in synthetic_cases() if c.strip() and "\n" not in c and "\r" not in c and "\x00" not in c]
    train = os.path.join(work, "train.txt")
    with open(train, "w", encoding="utf-8") as f:
        f.write("\n".join(lines * 3) + "\n")
    problems = []
    for name, options in MODELS.items():
        prefix = os.path.join(work, name)
        spm("spm_train", ["--input=" + train, "--model_prefix=" + prefix, "--character_coverage=0.98", "--hard_vocab_limit=false",
                          "--bos_id=1", "--eos_id=2", "--unk_id=0", "--minloglevel=2"] + options, "")
        folder = os.path.join(work, name + "-model")
        os.makedirs(folder, exist_ok=True)
        shutil.copy(prefix + ".model", os.path.join(folder, "tokenizer.model"))

        expected = [[int(x) for x in row.split()] for row in
                    spm("spm_encode", ["--model=" + prefix + ".model", "--output_format=id"],
                        "\n".join(lines) + "\n").split("\n")[:len(lines)]]
        decoded = spm("spm_decode", ["--model=" + prefix + ".model", "--input_format=id"],
                      "\n".join(" ".join(map(str, ids)) for ids in expected) + "\n").split("\n")[:len(lines)]
        ours = encode_with_probe(folder, lines, work, name)
        for i, line in enumerate(lines):
            if ours["ids_no_special"][i] != expected[i]:
                problems.append("%s line %d %r: ours %s, spm_encode %s" % (
                    name, i, line[:50], ours["ids_no_special"][i][:12], expected[i][:12]))
            if ours["ids"][i] != [1] + expected[i]:
                problems.append("%s line %d: with special tokens ours %s, expected <s>=1 then spm_encode's ids" % (
                    name, i, ours["ids"][i][:6]))
            if ours["decoded"][i] != decoded[i]:
                problems.append("%s line %d: ours decodes to %r, spm_decode to %r" % (
                    name, i, ours["decoded"][i][:60], decoded[i][:60]))
        round_trips = sum(1 for i, line in enumerate(lines) if ours["decoded"][i] == line)
        print("%-8s %d lines: %s; decode(encode(x)) == x for %d" % (
            name, len(lines), "ids and decodes equal spm_encode/spm_decode" if not problems else "MISMATCHES",
            round_trips), flush=True)

        # Added tokens from tokenizer_config.json, split out before SentencePiece sees the text.
        pieces = int(spm("spm_export_vocab", ["--model=" + prefix + ".model"], "").count("\n"))
        with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump({"add_bos_token": True, "add_eos_token": True, "bos_token": "<s>", "eos_token": "</s>",
                       "tokenizer_class": "LlamaTokenizer",
                       "added_tokens_decoder": {str(pieces): {"content": "<image>", "lstrip": False,
                                                              "normalized": False, "rstrip": False,
                                                              "single_word": False, "special": True}}}, f)
        left, right = "the picture shows", " a small red boat"
        got = encode_with_probe(folder, [left + "<image>" + right], work, name + "-added")["ids"][0]
        parts = [[int(x) for x in row.split()] for row in
                 spm("spm_encode", ["--model=" + prefix + ".model", "--output_format=id"],
                     left + "\n" + right + "\n").split("\n")[:2]]
        want = [1] + parts[0] + [pieces] + parts[1] + [2]
        if got != want:
            problems.append("%s: '<image>' in text gives %s, expected %s" % (name, got, want))

    if problems:
        for p in problems[:40]:
            print("  " + p)
        die("%d mismatches against spm_encode/spm_decode" % len(problems))
    print("PASS")


if __name__ == "__main__":
    main()

"""Shared helpers of the tokenizer tests: paths, the corpus, running the probe and the reference."""
import json
import os
import random
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("MHA2MLA_SOURCE_DIR", os.path.normpath(os.path.join(HERE, "..", "..")))
PROBE = os.environ.get("MHA2MLA_TOKENIZER_PROBE", "")
TMP = os.environ.get("MHA2MLA_TEST_TMP", "/tmp/mha2mla-test-tmp")
REFERENCE = os.environ.get("MHA2MLA_TOKENIZER_REFERENCE",
                           os.path.join(os.path.expanduser("~"), ".cache", "mha2mla", "tokenizer-reference"))


def die(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def scratch(name):
    """A fresh, empty folder for one test (left behind for inspection after a failure)."""
    path = os.path.join(TMP, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def require_probe():
    if not PROBE or not os.access(PROBE, os.X_OK):
        die("MHA2MLA_TOKENIZER_PROBE does not name the tokenizer_probe binary (run through ctest)")


def ensure_reference():
    """Runs setup_reference.sh (a no-op when the reference is already prepared)."""
    script = os.path.join(HERE, "setup_reference.sh")
    result = subprocess.run(["bash", script, REFERENCE], capture_output=True, text=True)
    if result.returncode != 0:
        die("setup_reference.sh %s failed:\n%s%s" % (REFERENCE, result.stdout, result.stderr))


def corpus_documents():
    with open(os.path.join(SOURCE_DIR, "tests", "data", "tokenizer", "corpus.txt"), encoding="utf-8") as f:
        text = f.read()
    body = text.split("\n", 2)[2]  # two comment lines
    return body.split("\n%%%%\n")


def synthetic_cases():
    """Edge cases that a text file cannot hold well, plus deterministic pseudo-random mixtures."""
    cases = ["", " ", "\n", "\r\n", "a\r\nb\r\n\r\nc\r", "\t", "\x00\x01\x1f\x7f controls \x0b\x0c",
             "mongolian\u180evowel separator", "next\u0085line", "zero\u200bwidth\u200cjoin\u200d", "\ufeffbom",
             "\ufffd replacement", "\u0301 leading combining mark", " " * 300, "\n" * 100, " \n" * 50, "a" * 1000,
             "1234567890" * 50, "\U0001F600" * 50, "x" + "\u0301" * 40, "<s>", "</s>", "<unk>", "<image>",
             "<|endoftext|>", "<|im_start|>", "<|begin_of_text|>", "<|eot_id|>", " <image> ", "<image><image>",
             "word<|im_end|>word", "  <|im_end|>  ", "\u00e9\u0065\u0301\u1e9b\u0323", "\uac00\u11a8 \u1100\u1161\u11a8"]
    rng = random.Random(20240615)
    pools = ["abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " \t\n  ", ".,;:!?'\"()[]{}<>-_/\\",
             "éèêëàâäôöûüçñßøåæœ", "\u0301\u0300\u0308\u0327", "的一是不了人我在有他这为之大来以个中上们",
             "абвгдежзийклмнопрстуфхцчшщыэюя", "مرحباالعالم", "नमस्तेदुनिया", "😀👍🏽❤️🇺🇸\u200d", "<s></s><image>"]
    for _ in range(12):
        length = rng.randint(50, 400)
        cases.append("".join(rng.choice(rng.choice(pools)) for _ in range(length)))
    return cases


def run_json(command, what):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        die("%s failed (%s):\n%s%s" % (what, " ".join(command), result.stdout, result.stderr))
    return result.stdout


def write_texts(path, texts):
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"texts": texts}, f, ensure_ascii=False)


def encode_with_probe(tokenizer_path, texts, work, tag):
    in_path, out_path = os.path.join(work, tag + "-in.json"), os.path.join(work, tag + "-probe.json")
    write_texts(in_path, texts)
    run_json([PROBE, "encode", tokenizer_path, in_path, out_path], "tokenizer_probe encode " + tokenizer_path)
    with open(out_path, encoding="utf-8") as f:
        return json.load(f)


def encode_with_reference(tokenizer_json, texts, work, tag):
    in_path, out_path = os.path.join(work, tag + "-in.json"), os.path.join(work, tag + "-reference.json")
    write_texts(in_path, texts)
    run_json(["node", os.path.join(HERE, "reference_ids.js"), REFERENCE, tokenizer_json, in_path, out_path],
             "reference_ids.js " + tokenizer_json)
    with open(out_path, encoding="utf-8") as f:
        return json.load(f)


def compare(name, texts, ours, reference):
    """Returns a list of mismatch descriptions (empty when everything agrees)."""
    problems = []
    for key in ("ids", "ids_no_special", "decoded", "decoded_skip_special"):
        for i, text in enumerate(texts):
            a, b = ours[key][i], reference[key][i]
            if a == b:
                continue
            if isinstance(a, list):
                k = next((j for j in range(min(len(a), len(b))) if a[j] != b[j]), min(len(a), len(b)))
                detail = "first difference at position %d: ours %s, reference %s (lengths %d vs %d)" % (
                    k, a[k:k + 6], b[k:k + 6], len(a), len(b))
            else:
                detail = "ours %r, reference %r" % (a[:160], b[:160])
            problems.append("%s text %d %r: %s differ; %s" % (name, i, text[:60], key, detail))
    return problems

#!/usr/bin/python3
"""Our tokenizers against Hugging Face's own implementation (`tokenizers`, run by node) on real tokenizer files:
Qwen2.5, Llama-3 (as first released and with <|begin_of_text|> added), llava-hf's Llama-2 (as is, and
with lstrip/rstrip/single_word/normalized added tokens). Every text of
tests/data/tokenizer/corpus.txt (documents and the whole file) plus synthetic edge cases must give equal ids,
with and without special tokens, and equal decodes; decode(encode(x)) == x wherever Hugging Face gives it.
Also measures encode throughput (reported, not asserted)."""
import json
import os
import random

from tokenizer_testlib import (REFERENCE, compare, corpus_documents, die, encode_with_probe, encode_with_reference,
                               ensure_reference, require_probe, run_json, scratch, synthetic_cases, PROBE)

MODELS = ["qwen2", "llama3", "llama3_bos", "llava", "llava_flags"]


def write_bench_text(path, documents, size):
    words = " ".join(documents).split(" ")
    rng = random.Random(7)
    with open(path, "w", encoding="utf-8") as f:
        written = 0
        while written < size:
            line = " ".join(rng.choice(words) for _ in range(rng.randint(5, 40))) + "\n"
            f.write(line)
            written += len(line.encode("utf-8"))


def main():
    require_probe()
    ensure_reference()
    work = scratch("tokenizer-reference")
    documents = corpus_documents()
    texts = documents + ["\n".join(documents)] + synthetic_cases()
    problems = []
    for name in MODELS:
        folder = os.path.join(REFERENCE, "models", name)
        reference = encode_with_reference(os.path.join(folder, "tokenizer.json"), texts, work, name)
        ours = encode_with_probe(folder, texts, work, name)
        found = compare(name, texts, ours, reference)
        round_trips = sum(1 for i, t in enumerate(texts) if reference["decoded"][i] == t)
        ours_round_trips = sum(1 for i, t in enumerate(texts) if ours["decoded"][i] == t)
        tokens = sum(len(ids) for ids in reference["ids_no_special"])
        print("%-11s %d texts, %d tokens: %s; decode(encode(x)) == x for %d texts (reference %d)" % (
            name, len(texts), tokens, "all ids and decodes equal" if not found else "%d MISMATCHES" % len(found),
            ours_round_trips, round_trips), flush=True)
        problems += found

    # Throughput: ~2 MB of lines made of the corpus's words in a pseudo-random order (so lines do not repeat),
    # encoded once from cold caches and then again with warm ones.
    bench = os.path.join(work, "bench.txt")
    write_bench_text(bench, documents, 2_000_000)
    for name in MODELS[:4]:
        result = json.loads(run_json([PROBE, "bench", os.path.join(REFERENCE, "models", name), bench, "2.0"],
                                     "tokenizer_probe bench"))
        print("%-11s encode throughput (one core, %.1f MB): %.2f MB/s cold, %.2f MB/s warm" % (
            name, result["bytes"] / 1e6, result["cold_mb_per_s"], result["warm_mb_per_s"]), flush=True)

    if problems:
        for p in problems[:40]:
            print("  " + p)
        die("%d mismatches against Hugging Face's tokenizers" % len(problems))
    print("PASS")


if __name__ == "__main__":
    main()

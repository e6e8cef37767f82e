"""Side by side: the decoder forward of mha2mla (bench_text_forward) vs the Python-eager reference of
Hugging Face's Llama forward (tests/python/reference/hf_text_model.py) on the same libtorch (Debian's torch
1.13), same sizes, same threads, random weights.

    /usr/bin/python3 tests/bench/bench_text_forward_baseline.py --cpp build/tests/bench/bench_text_forward
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from reference.hf_text_model import TextModelReference  # noqa: E402

SIZES = {
    "tiny": dict(vocab=512, hidden=128, inter=256, layers=2, heads=4, kv=2, head_dim=32, batch=4, tokens=64),
    "medium": dict(vocab=32000, hidden=1024, inter=2816, layers=4, heads=16, kv=4, head_dim=64, batch=1, tokens=512),
}


def python_tokens_per_s(size, rounds, threads):
    torch.set_num_threads(threads)
    s = SIZES[size]
    config = {"num_attention_heads": s["heads"], "num_key_value_heads": s["kv"], "head_dim": s["head_dim"],
              "hidden_size": s["hidden"], "num_hidden_layers": s["layers"], "rms_norm_eps": 1e-6,
              "rope_theta": 10000.0, "tie_word_embeddings": True}
    g = torch.Generator().manual_seed(1)
    t = {"model.embed_tokens.weight": torch.randn(s["vocab"], s["hidden"], generator=g) * 0.02,
         "model.norm.weight": torch.ones(s["hidden"])}
    for i in range(s["layers"]):
        p = "model.layers.%d." % i
        q, kv = s["heads"] * s["head_dim"], s["kv"] * s["head_dim"]
        for name, shape in [("self_attn.q_proj.weight", (q, s["hidden"])), ("self_attn.k_proj.weight", (kv, s["hidden"])),
                            ("self_attn.v_proj.weight", (kv, s["hidden"])), ("self_attn.o_proj.weight", (s["hidden"], q)),
                            ("mlp.gate_proj.weight", (s["inter"], s["hidden"])), ("mlp.up_proj.weight", (s["inter"], s["hidden"])),
                            ("mlp.down_proj.weight", (s["hidden"], s["inter"]))]:
            t[p + name] = torch.randn(*shape, generator=g) * 0.02
        t[p + "input_layernorm.weight"] = torch.ones(s["hidden"])
        t[p + "post_attention_layernorm.weight"] = torch.ones(s["hidden"])
    model = TextModelReference(config, t)
    ids = torch.randint(0, s["vocab"], (s["batch"], s["tokens"]), generator=g)
    mask = torch.ones_like(ids)
    positions = torch.arange(s["tokens"]).unsqueeze(0).expand(s["batch"], -1)
    rates = []
    with torch.no_grad():
        for r in range(rounds + 1):
            start = time.perf_counter()
            model.forward(ids, mask, positions)
            seconds = time.perf_counter() - start
            if r:
                rates.append(s["batch"] * s["tokens"] / seconds)
    return statistics.median(rates)


def cpp_tokens_per_s(binary, size, rounds, threads):
    out = subprocess.run([binary, "--size", size, "--rounds", str(rounds), "--threads", str(threads)],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"median_tokens_per_s=([0-9.]+)", out).group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpp", required=True)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print("| size | Python eager (tokens/s) | mha2mla (tokens/s) | ratio |")
    print("|---|---:|---:|---:|")
    for size in ("tiny", "medium"):
        cpp = cpp_tokens_per_s(args.cpp, size, args.rounds, args.threads)
        py = python_tokens_per_s(size, args.rounds, args.threads)
        print(f"| {size} | {py:.0f} | {cpp:.0f} | {cpp / py:.2f}x |", flush=True)


if __name__ == "__main__":
    main()

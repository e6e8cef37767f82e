"""Python-eager baseline for bench_vision_tower, and the side-by-side run recorded in docs/benchmarks.md.

Both sides report images per wall-clock second and images per CPU second of their process (with one thread the
latter is the compute itself, steadier on a machine shared with other jobs).
The baseline runs the same towers (same configs, random weights, float32, torch.no_grad, same thread count) as
Hugging Face's eager modules compute them: tests/python/reference/hf_vlm.py, the reference the VLM oracle test
checks mha2mla against (CLIP: conv2d patches, eager attention; Qwen2.5-VL: conv3d patches, window index,
attention looped over the cu_seqlens chunks). With --cpp it runs the C++ benchmark for a tower right before the
Python measurement of the same tower (both see the same machine load), and prints the ratios.

  /usr/bin/python3 tests/bench/bench_vision_tower_baseline.py --cpp build/tests/bench/bench_vision_tower
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from reference.hf_vlm import ClipVisionReference, QwenVisionReference  # noqa: E402

CLIP = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
        "image_size": 224, "patch_size": 14, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5}
QWEN = {"depth": 8, "hidden_size": 640, "intermediate_size": 1728, "num_heads": 10, "out_hidden_size": 1024,
        "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
        "fullatt_block_indexes": [3, 7], "hidden_act": "silu", "in_channels": 3}


def random_tensors(shapes, generator):
    """The distributions of mha2mla's init_random (model/random_init.h), which the C++ side uses: norm scales
    1 + N(0, 0.1), everything else N(0, 0.02). The values matter for speed: activations that shrink towards
    zero (norm scales near 0) would make softmax and GEMMs meet different magnitudes (and denormals)."""
    norm_scales = ("norm.weight", "norm1.weight", "norm2.weight", "ln_q.weight")
    return {name: 1 + 0.1 * torch.randn(shape, generator=generator) if name.endswith(norm_scales)
            else 0.02 * torch.randn(shape, generator=generator) for name, shape in shapes.items()}


def clip_tower(generator):
    d, m, p = CLIP["hidden_size"], CLIP["intermediate_size"], CLIP["patch_size"]
    positions = (CLIP["image_size"] // p) ** 2 + 1
    shapes = {"embeddings.class_embedding": [d], "embeddings.patch_embedding.weight": [d, 3, p, p],
              "embeddings.position_embedding.weight": [positions, d], "pre_layrnorm.weight": [d],
              "pre_layrnorm.bias": [d], "post_layernorm.weight": [d], "post_layernorm.bias": [d]}
    for i in range(CLIP["num_hidden_layers"]):
        layer = "encoder.layers.%d." % i
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            shapes[layer + "self_attn.%s.weight" % proj] = [d, d]
            shapes[layer + "self_attn.%s.bias" % proj] = [d]
        for norm in ("layer_norm1", "layer_norm2"):
            shapes[layer + norm + ".weight"] = [d]
            shapes[layer + norm + ".bias"] = [d]
        shapes.update({layer + "mlp.fc1.weight": [m, d], layer + "mlp.fc1.bias": [m], layer + "mlp.fc2.weight": [d, m],
                       layer + "mlp.fc2.bias": [d]})
    return ClipVisionReference(CLIP, random_tensors(shapes, generator), "")


def qwen_tower(generator):
    d, m, p, out = QWEN["hidden_size"], QWEN["intermediate_size"], QWEN["patch_size"], QWEN["out_hidden_size"]
    merged = d * QWEN["spatial_merge_size"] ** 2
    shapes = {"patch_embed.proj.weight": [d, 3, QWEN["temporal_patch_size"], p, p], "merger.ln_q.weight": [d],
              "merger.mlp.0.weight": [merged, merged], "merger.mlp.0.bias": [merged],
              "merger.mlp.2.weight": [out, merged], "merger.mlp.2.bias": [out]}
    for i in range(QWEN["depth"]):
        block = "blocks.%d." % i
        shapes.update({block + "norm1.weight": [d], block + "norm2.weight": [d], block + "attn.qkv.weight": [3 * d, d],
                       block + "attn.qkv.bias": [3 * d], block + "attn.proj.weight": [d, d], block + "attn.proj.bias": [d]})
        for proj, shape in (("gate_proj", [m, d]), ("up_proj", [m, d]), ("down_proj", [d, m])):
            shapes[block + "mlp.%s.weight" % proj] = shape
            shapes[block + "mlp.%s.bias" % proj] = [shape[0]]
    return QwenVisionReference(QWEN, random_tensors(shapes, generator), "", "qwen2_5_vl")


def median_rates(rounds, images, run):
    """(images per wall second, images per CPU second of this process), medians over the rounds."""
    run()
    wall, cpu = [], []
    for _ in range(rounds):
        start, cpu_start = time.perf_counter(), time.process_time()
        run()
        cpu.append(images / (time.process_time() - cpu_start))
        wall.append(images / (time.perf_counter() - start))
    return statistics.median(wall), statistics.median(cpu)


def measure(tower, rounds, batch):
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        if tower in ("clip", "llava_features"):
            model = clip_tower(generator)
            pixels = torch.randn(batch, 3, CLIP["image_size"], CLIP["image_size"], generator=generator)
            layer = -1 if tower == "clip" else -2  # LLaVA: vision_tower(..., output_hidden_states=True)[-2]
            return median_rates(rounds, batch, lambda: model.hidden_states(pixels)[layer])
        model = qwen_tower(generator)
        patches = torch.randn(32 * 32, 3 * 2 * 14 * 14, generator=generator)
        grid = torch.tensor([[1, 32, 32]])
        return median_rates(rounds, 1, lambda: model.forward(patches, grid))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpp", help="path of build/tests/bench/bench_vision_tower, to run side by side")
    parser.add_argument("--tower", choices=["clip", "llava_features", "qwen", "all"], default="all")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4, help="CLIP images per forward")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = []
    for tower in (["clip", "llava_features", "qwen"] if args.tower == "all" else [args.tower]):
        cpp = None
        if args.cpp:
            output = subprocess.run([args.cpp, "--tower", tower, "--rounds", str(args.rounds), "--batch",
                                     str(args.batch), "--threads", str(args.threads), "--json"],
                                    check=True, capture_output=True, text=True).stdout
            result = json.loads(output.strip().splitlines()[-1])
            cpp = (result["images_per_second"], result["images_per_cpu_second"])
        python = measure(tower, args.rounds, args.batch)
        rows.append((tower, python, cpp))
        line = f"{tower}: Python eager {python[0]:.3f} images/s ({python[1]:.3f} per CPU s)"
        if cpp:
            line += (f", mha2mla {cpp[0]:.3f} images/s ({cpp[1]:.3f} per CPU s), ratio {cpp[0] / python[0]:.2f}x "
                     f"wall, {cpp[1] / python[1]:.2f}x CPU")
        print(line, flush=True)
    print(f"\nload average after the run: {os.getloadavg()[0]:.1f}")
    print("\n| tower | Python eager (images/s) | mha2mla C++ (images/s) | ratio | Python (images/CPU s) | "
          "mha2mla (images/CPU s) | ratio |\n|---|---:|---:|---:|---:|---:|---:|")
    for tower, python, cpp in rows:
        if cpp:
            print(f"| {tower} | {python[0]:.3f} | {cpp[0]:.3f} | {cpp[0] / python[0]:.2f}x | {python[1]:.3f} | "
                  f"{cpp[1]:.3f} | {cpp[1] / python[1]:.2f}x |")
        else:
            print(f"| {tower} | {python[0]:.3f} | - | - | {python[1]:.3f} | - | - |")

if __name__ == "__main__":
    main()

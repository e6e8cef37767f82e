"""Python-eager baseline for bench_image_preprocessing, and the side-by-side run recorded in docs/benchmarks.md.

The baseline is what a Python data pipeline does per sample with Hugging Face's slow image processors: PIL
decodes and converts to RGB, PIL resizes, numpy rescales / normalizes / pads / flattens, torch wraps the result
(tests/python/reference/hf_image_processors.py, the same code the oracle test checks mha2mla against).
One thread on both sides. With --cpp it also runs the C++ benchmark on the same JPEG bytes, pipeline by pipeline
right before the Python measurement of the same pipeline (so both see the same machine load), and prints ratios.

  /usr/bin/python3 tests/bench/bench_image_preprocessing_baseline.py --cpp build/tests/bench/bench_image_preprocessing
"""

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from reference import hf_image_processors as hf  # noqa: E402


def synthetic_photo(width=640, height=480, seed=640):
    """Smooth gradients, a checker of edges and sensor-like noise, saved as a quality-90 4:2:0 JPEG."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack([127 + 120 * np.sin(x / width * 6.3), 127 + 120 * np.cos(y / height * 4.1),
                      np.where((x // 7 + y // 5) % 2 == 0, 220.0, 30.0)], axis=-1)
    image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def decode(data):
    image = Image.open(io.BytesIO(data))
    return np.array(image if image.mode == "RGB" else image.convert("RGB"))


PIPELINES = {
    "decode": lambda data: decode(data),
    "llava15_pad_336": lambda data: torch.from_numpy(hf.clip_preprocess(decode(data), pad=True)),
    "clip_336": lambda data: torch.from_numpy(hf.clip_preprocess(decode(data))),
    "llava_next_anyres": lambda data: torch.from_numpy(hf.llava_next_preprocess(decode(data))[0]),
    "qwen2_5_vl": lambda data: torch.from_numpy(hf.qwen2_vl_preprocess(decode(data))[0]),
}


def measure(function, data, rounds, iterations):
    for _ in range(2):
        function(data)
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(iterations):
            function(data)
        rates.append(iterations / (time.perf_counter() - start))
    return statistics.median(rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpp", help="path of bench_image_preprocessing, to run side by side")
    parser.add_argument("--image", help="JPEG file to use instead of the synthetic 640x480 photo")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)

    data = open(args.image, "rb").read() if args.image else synthetic_photo()
    height, width = decode(data).shape[:2]
    print(f"{platform.node()}: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}; "
          f"{width}x{height} JPEG, {len(data)} bytes; median of {args.rounds} rounds, 1 thread")

    print(f"{'pipeline':20s} {'python (PIL+numpy+torch)':>26s} {'mha2mla C++':>14s} {'ratio':>7s}")
    with tempfile.NamedTemporaryFile(suffix=".jpg") as image_file:
        image_file.write(data)
        image_file.flush()
        for name, function in PIPELINES.items():
            iterations = max(1, args.iterations // 4) if name == "llava_next_anyres" else args.iterations
            ours = None
            if args.cpp:
                output = subprocess.run([args.cpp, "--image", image_file.name, "--rounds", str(args.rounds),
                                         "--iterations", str(2 * args.iterations), "--only", name, "--json"],
                                        check=True, capture_output=True, text=True).stdout
                ours = json.loads(output)["results"][name]
            baseline = measure(function, data, args.rounds, iterations)
            line = f"{name:20s} {baseline:19.1f} smp/s"
            if ours is not None:
                line += f" {ours:8.1f} smp/s {ours / baseline:6.2f}x"
            print(line, flush=True)


if __name__ == "__main__":
    main()

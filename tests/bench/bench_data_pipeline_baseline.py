"""Python-eager baseline for bench_data_pipeline, and the side-by-side run recorded in docs/benchmarks.md.

Per sample, what a LLaVA-style PyTorch data loader does (one thread): take the record from the list json.load
read at start (LLaVA's LazySupervisedDataset), read the JPEG file, PIL decode + RGB, the Hugging Face slow
processor in numpy (tests/python/reference/hf_image_processors.py: LLaVA-1.5 pad + CLIP 336, or Qwen2-VL
smart_resize + patches), torch.from_numpy, render the chat template with the image placeholder expanded to the
feature count (576 <image>; <|vision_start|> + n <|image_pad|> + <|vision_end|>). Python has no Hugging Face
tokenizer here, so tokenization is timed apart with HF's own `tokenizers` (its Node binding of the Rust
library, from tests/tokenizer/setup_reference.sh) on the same rendered texts, and added to the per-sample time.
The Python side builds no label mask (LLaVA tokenizes each round once more for it), so it does less work.

  /usr/bin/python3 tests/bench/bench_data_pipeline_baseline.py --cpp build/tests/bench/bench_data_pipeline

The dataset (64 two-turn records, 16 copies of the 640x480 photo of bench_image_preprocessing) is written to a
temporary folder and given to the C++ benchmark, which runs right before the Python measurement of the same
pipeline so both see the same machine load.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, HERE)
from reference import hf_image_processors as hf  # noqa: E402
from bench_image_preprocessing_baseline import decode, synthetic_photo  # noqa: E402

REFERENCE = os.environ.get("MHA2MLA_TOKENIZER_REFERENCE",
                           os.path.join(os.path.expanduser("~"), ".cache", "mha2mla", "tokenizer-reference"))
VICUNA_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. The assistant gives "
                 "helpful, detailed, and polite answers to the user's questions.")
ANSWER = ("The image shows a colourful abstract pattern: smooth horizontal and vertical gradients of red and green "
          "overlaid with a fine checkerboard of light and dark blue cells. Fine grain noise covers the whole picture, "
          "like a photograph taken in low light, and there are no people, animals or written words anywhere in it.")

NODE_TIMER = r"""
const path = require('path');
const fs = require('fs');
const [referenceDir, tokenizerJson, textsFile, rounds] = process.argv.slice(1);
const { Tokenizer } = require(path.join(path.resolve(referenceDir), 'node_modules', 'tokenizers'));
(async () => {
  const tokenizer = Tokenizer.fromFile(tokenizerJson);
  const texts = JSON.parse(fs.readFileSync(textsFile, 'utf8'));
  for (const t of texts.slice(0, 3)) await tokenizer.encode(t, null, { addSpecialTokens: false });
  const rates = [];
  for (let r = 0; r < Number(rounds); ++r) {
    const start = process.hrtime.bigint();
    for (const t of texts) await tokenizer.encode(t, null, { addSpecialTokens: false });
    rates.push(texts.length / (Number(process.hrtime.bigint() - start) / 1e9));
  }
  rates.sort((a, b) => a - b);
  console.log(JSON.stringify({ per_second: rates[Math.floor(rates.length / 2)] }));
})();
"""


def write_dataset(folder):
    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    jpeg = synthetic_photo()
    for i in range(16):
        with open(os.path.join(folder, "images", f"photo-{i}.jpg"), "wb") as f:
            f.write(jpeg)
    records = [{"id": f"bench-{i}", "image": f"images/photo-{i % 16}.jpg",
                "conversations": [{"from": "human", "value": "<image>\nDescribe the image in detail."},
                                  {"from": "gpt", "value": ANSWER},
                                  {"from": "human", "value": "Is there any text in the image?"},
                                  {"from": "gpt", "value": "No, there is no text in the image."}]} for i in range(64)]
    with open(os.path.join(folder, "data.json"), "w") as f:
        json.dump(records, f, indent=2)


def vicuna_text(conversations, image_tokens):
    text = "<s>" + VICUNA_SYSTEM + " "
    for turn in conversations:
        if turn["from"] == "human":
            text += "USER: " + turn["value"] + " "
        else:
            text += "ASSISTANT: " + turn["value"] + "</s>"
    return text.replace("<image>", "<image>" * image_tokens)


def chatml_text(conversations, image_tokens):
    text = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    for turn in conversations:
        role = "user" if turn["from"] == "human" else "assistant"
        text += f"<|im_start|>{role}\n{turn['value']}<|im_end|>\n"
    return text.replace("<image>", "<|vision_start|>" + "<|image_pad|>" * image_tokens + "<|vision_end|>")


class Loader:
    """The per-sample work of a Python data loader over the dataset in `folder`."""

    def __init__(self, folder, family):
        self.folder = folder
        self.family = family
        self.records = json.load(open(os.path.join(folder, "data.json")))
        self.texts = []

    def sample(self, i):
        record = self.records[i % len(self.records)]
        with open(os.path.join(self.folder, record["image"]), "rb") as f:
            image = decode(f.read())
        if self.family == "llava":
            pixels = torch.from_numpy(hf.clip_preprocess(image, pad=True))
            text = vicuna_text(record["conversations"], 576)
        else:
            patches, _, image_tokens = hf.qwen2_vl_preprocess(image)
            pixels = torch.from_numpy(patches)
            text = chatml_text(record["conversations"], image_tokens)
        if len(self.texts) < len(self.records):
            self.texts.append(text)
        return pixels.numel() + len(text)


def measure(function, rounds, samples):
    for i in range(3):
        function(i)
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(samples):
            function(i)
        rates.append(samples / (time.perf_counter() - start))
    return statistics.median(rates)


def tokenizer_rate(tokenizer_dir, texts, rounds):
    if not os.path.exists(os.path.join(REFERENCE, "node_modules", "tokenizers")):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(texts, f)
        f.flush()
        out = subprocess.run(["node", "-e", NODE_TIMER, REFERENCE, os.path.join(tokenizer_dir, "tokenizer.json"),
                              f.name, str(rounds)], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["per_second"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpp", help="path of bench_data_pipeline, to run side by side")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = os.path.join(REFERENCE, "models")
    tokenizers = {"llava": os.path.join(models, "llava"), "qwen": os.path.join(models, "qwen2")}
    print(f"{platform.node()}: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}; 640x480 JPEG per sample; "
          f"median of {args.rounds} rounds, 1 thread")
    print(f"{'pipeline':14s} {'python':>10s} {'HF tok.':>10s} {'python+tok':>11s} {'mha2mla':>10s} {'ratio':>7s}"
          "   (samples/s)")
    with tempfile.TemporaryDirectory() as folder:
        write_dataset(folder)
        for name, family, cpp_name in (("llava15_336", "llava", "llava15_336"), ("qwen2_5_vl", "qwen", "qwen2_5_vl")):
            ours = None
            if args.cpp:
                output = subprocess.run([args.cpp, "--dataset", folder, "--llava-tokenizer", tokenizers["llava"],
                                         "--qwen-tokenizer", tokenizers["qwen"], "--rounds", str(args.rounds),
                                         "--samples", str(2 * args.samples), "--only", cpp_name, "--json"],
                                        check=True, capture_output=True, text=True).stdout
                ours = json.loads(output)["results"][cpp_name]
            loader = Loader(folder, family)
            python = measure(loader.sample, args.rounds, args.samples)
            tok = tokenizer_rate(tokenizers[family], loader.texts, args.rounds)
            total = 1.0 / (1.0 / python + 1.0 / tok) if tok else python
            line = f"{name:14s} {python:10.1f} {tok or float('nan'):10.1f} {total:11.1f}"
            if ours is not None:
                line += f" {ours:10.1f} {ours / total:6.2f}x"
            print(line, flush=True)


if __name__ == "__main__":
    main()

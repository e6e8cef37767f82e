"""Oracle: our Llama / Qwen2 logits equal an independent Python implementation of Hugging Face's forward
(tests/python/reference/hf_text_model.py, written from transformers' modeling files) on tiny checkpoints
written by `mha2mla make-tiny`, for batches with right and left padding, GQA, qkv bias (qwen2), tied
embeddings and llama3 RoPE scaling (llama)."""
import json
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference.checkpoint import load_checkpoint  # noqa: E402
from reference.hf_text_model import TextModelReference  # noqa: E402

BINARY = os.environ.get("MHA2MLA_BINARY", "build/mha2mla")
HELPERS = os.environ.get("MHA2MLA_TEST_HELPERS", os.path.join(os.getcwd(), "tests", "helpers"))
SCRATCH = os.path.join(os.environ.get("MHA2MLA_TEST_TMP", "/tmp"), "text_model_reference")
TOLERANCE = 1e-4


def batch(vocab, generator):
    """Three rows of 12 tokens: full, right-padded (last 4 pad), left-padded (first 5 pad)."""
    ids = torch.randint(0, vocab, (3, 12), generator=generator)
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[1, 8:] = 0
    mask[2, :5] = 0
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    return ids, mask, positions


def check(arch, seed):
    folder = os.path.join(SCRATCH, arch)
    subprocess.run([BINARY, "make-tiny", "--arch", arch, "--out", folder, "--seed", str(seed)], check=True)
    config, tensors = load_checkpoint(folder)
    reference = TextModelReference(config, tensors)
    ids, mask, positions = batch(config["vocab_size"], torch.Generator().manual_seed(seed))
    expected = reference.forward(ids, mask, positions).numpy()

    request = os.path.join(folder, "request.json")
    with open(request, "w") as f:
        json.dump({"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "position_ids": positions.tolist()}, f)
    output = os.path.join(folder, "logits.npy")
    subprocess.run([os.path.join(HELPERS, "text_forward"), folder, request, output], check=True)
    got = np.load(output)

    valid = mask.numpy().astype(bool)
    difference = np.abs(got - expected)[valid].max() / np.abs(expected[valid]).max()
    print(f"{arch}: max relative difference on valid tokens {difference:.2e}")
    if not difference < TOLERANCE:
        print(f"FAIL: {arch} logits differ from the reference by {difference:.2e} (> {TOLERANCE})")
        return False
    return True


def main():
    os.makedirs(SCRATCH, exist_ok=True)
    results = [check("llama", 3), check("qwen2", 4)]
    if not all(results):
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()

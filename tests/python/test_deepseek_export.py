"""Oracle: a deepseek-v3 export of a converted model, run through an independent implementation of DeepSeek-V3's
attention and dense decoder (tests/python/reference/deepseek_v3.py, written from transformers'
modeling_deepseek_v3.py), reproduces the mha2mla student: its layer-0 attention output and its logits, on a
left-padded batch. Cases (tests/helpers/deepseek_export.cpp): one KV head with attention biases, one KV head with
pairs spaced by 4, two KV heads sharing the RoPE block with a split latent; all with LoRA merged and llama3 RoPE
scaling."""
import json
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference.checkpoint import load_checkpoint  # noqa: E402
from reference.deepseek_v3 import DeepseekV3Reference  # noqa: E402
from reference.hf_text_model import causal_mask_4d  # noqa: E402

HELPERS = os.environ.get("MHA2MLA_TEST_HELPERS", os.path.join(os.getcwd(), "tests", "helpers"))
SCRATCH = os.path.join(os.environ.get("MHA2MLA_TEST_TMP", "/tmp"), "deepseek_export")
TOLERANCE = 1e-4


def relative_max(got, expected, valid):
    return np.abs(got - expected)[valid].max() / np.abs(expected[valid]).max()


def check(case):
    folder = os.path.join(SCRATCH, case)
    subprocess.run([os.path.join(HELPERS, "deepseek_export"), case, folder], check=True)
    config, tensors = load_checkpoint(os.path.join(folder, "export"))
    reference = DeepseekV3Reference(config, tensors)
    with open(os.path.join(folder, "request.json")) as f:
        request = json.load(f)
    ids = torch.tensor(request["input_ids"])
    mask = torch.tensor(request["attention_mask"])
    positions = torch.tensor(request["position_ids"])
    valid = mask.numpy().astype(bool)

    x = torch.from_numpy(np.load(os.path.join(folder, "attention_input.npy")))
    cos, sin = reference.cos_sin(positions, x.dtype)
    with torch.no_grad():
        attention = reference.attention(0, x, cos, sin, causal_mask_4d(mask, x.shape[1], x.dtype)).numpy()
        logits = reference.forward(ids, mask, positions).numpy()
    attention_difference = relative_max(np.load(os.path.join(folder, "attention_output.npy")), attention, valid)
    logits_difference = relative_max(np.load(os.path.join(folder, "logits.npy")), logits, valid)
    print(f"{case}: kv_lora_rank {config['kv_lora_rank']}, qk_rope_head_dim {config['qk_rope_head_dim']}, "
          f"rope_theta {config['rope_theta']:.6g}; max relative difference: attention {attention_difference:.2e}, "
          f"logits {logits_difference:.2e}")
    ok = attention_difference < TOLERANCE and logits_difference < TOLERANCE
    if not ok:
        print(f"FAIL: {case}: the deepseek-v3 export does not reproduce the student (> {TOLERANCE})")
    return ok


def main():
    os.makedirs(SCRATCH, exist_ok=True)
    results = [check(case) for case in ("mqa_bias", "mqa_uniform", "gqa_split")]
    if not all(results):
        sys.exit(1)
    print("deepseek-v3 export reproduces the student in every case")


if __name__ == "__main__":
    main()

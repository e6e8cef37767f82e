"""Oracle: mha2mla's AdamW equals torch.optim.AdamW (PyTorch 1.13) bit for bit on float32 parameters, over
seven steps of a wsd_sqrt schedule with three parameter groups (own lr scale and weight decay), a step where
one parameter has no gradient, and a bfloat16 parameter whose float32 master follows PyTorch's float32 run;
the schedule's rates equal the closed form computed here; clip_gradients equals
torch.nn.utils.clip_grad_norm_. The helper tests/helpers/adamw_probe writes its inputs and results."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import torch

HELPERS = os.environ.get("MHA2MLA_TEST_HELPERS", os.path.join(os.getcwd(), "tests", "helpers"))
SCRATCH = os.path.join(os.environ.get("MHA2MLA_TEST_TMP", "/tmp"), "optimizer_oracle")

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message)


def load(name):
    return torch.from_numpy(np.load(os.path.join(SCRATCH, name)))


def exists(name):
    return os.path.exists(os.path.join(SCRATCH, name))


def wsd_sqrt(step, peak, total, warmup, decay_fraction, min_ratio):
    decay_steps = round(decay_fraction * total)
    decay_start = max(warmup, total - decay_steps)
    if step < warmup:
        return peak * step / warmup
    if step < decay_start:
        return peak
    progress = min(1.0, (step - decay_start) / (total - decay_start))
    return peak * (min_ratio + (1 - min_ratio) * (1 - math.sqrt(progress)))


def main():
    os.makedirs(SCRATCH, exist_ok=True)
    subprocess.run([os.path.join(HELPERS, "adamw_probe"), SCRATCH], check=True)
    with open(os.path.join(SCRATCH, "probe.json")) as f:
        probe = json.load(f)

    count = 4
    bf16 = {3}
    # PyTorch runs every parameter in float32; the bfloat16 one is compared through its master copy.
    params = [load(f"init_{i}.npy").clone().requires_grad_(True) for i in range(count)]
    groups = [{"params": [params[i] for i in g["params"]], "lr": 0.0, "weight_decay": g["weight_decay"]}
              for g in probe["groups"]]
    optimizer = torch.optim.AdamW(groups, betas=(probe["beta1"], probe["beta2"]), eps=probe["eps"])

    sched = probe["schedule"]
    for step, lr in enumerate(probe["lr"]):
        expected_lr = wsd_sqrt(step, probe["peak_lr"], probe["steps"], sched["warmup_steps"], sched["decay_fraction"],
                               sched["min_lr_ratio"])
        check(abs(lr - expected_lr) <= 1e-15 * probe["peak_lr"], f"step {step}: lr {lr!r}, closed form {expected_lr!r}")
        for group, spec in zip(optimizer.param_groups, probe["groups"]):
            group["lr"] = lr * spec["lr_scale"]
        for i, p in enumerate(params):
            p.grad = load(f"grad_{step}_{i}.npy") if exists(f"grad_{step}_{i}.npy") else None
        optimizer.step()
        for i, p in enumerate(params):
            ours = load(f"master_{step}_{i}.npy") if i in bf16 else load(f"after_{step}_{i}.npy")
            theirs = p.detach()
            if not torch.equal(ours, theirs):
                diff = (ours - theirs).abs().max().item()
                check(False, f"step {step} parameter {i}: differs from torch.optim.AdamW by up to {diff:.3e}")
            if i in bf16:
                rounded = load(f"after_{step}_{i}.npy")
                check(torch.equal(rounded, ours.to(torch.bfloat16).float()),
                      f"step {step} parameter {i}: the bfloat16 parameter is not its master rounded")
    print(f"AdamW: {len(probe['lr'])} steps x {count} parameters compared bit for bit")

    grads = [load(f"clip_grad_{i}.npy").clone() for i in range(2)]
    tensors = [torch.zeros_like(g, requires_grad=True) for g in grads] + [torch.zeros(2, requires_grad=True)]
    for t, g in zip(tensors, grads):
        t.grad = g.clone()
    norm = torch.nn.utils.clip_grad_norm_(tensors, probe["clip_max_norm"]).item()
    check(abs(norm - probe["clip_norm"]) <= 1e-6 * norm, f"clip: norm {probe['clip_norm']} vs torch {norm}")
    for i in range(2):
        ours = load(f"clipped_{i}.npy")
        check(torch.allclose(ours, tensors[i].grad, rtol=1e-6, atol=0), f"clip: gradient {i} differs from torch")
    print(f"clip_grad_norm: norm {probe['clip_norm']:.6f} (torch {norm:.6f})")

    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("optimizer oracle: OK")


if __name__ == "__main__":
    main()

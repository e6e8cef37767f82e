"""Side by side: one local-distillation training step of mha2mla (bench_train_step) vs the same step written in
Python eager PyTorch, on the same libtorch (Debian's torch 1.13), same shapes, same threads, random weights.

The Python step is what a straightforward PyTorch implementation of the method does (shared/method.md section 5):
  - the frozen teacher (Llama decoder, GQA, HF eager attention with repeat_kv) runs under no_grad with each
    layer's normed attention input and attention output captured (as forward hooks would);
  - per layer, the student MLA attention (partial RoPE r = 16 per KV head, joint latent d_kv = 32 per KV head with
    text / image projections, LoRA rank 8 on q_proj / o_proj) runs on the teacher's input, the relative squared
    error to the teacher's output is back-propagated at once;
  - clip_grad_norm_(1.0), torch.optim.AdamW (betas 0.9 / 0.95, the trainer's defaults), zero_grad(set_to_none).

    /usr/bin/python3 tests/bench/bench_train_step_baseline.py --cpp build/tests/bench/bench_train_step
"""
import argparse
import math
import re
import statistics
import subprocess
import time

import torch
import torch.nn.functional as F

HIDDEN, INTER, LAYERS, HEADS, KV, HEAD_DIM, VOCAB = 1024, 2816, 4, 16, 4, 64, 4096
ROPE_DIMS, LATENT_RANK, LORA_RANK, LORA_ALPHA = 16, 32, 8, 16.0
IMAGE_TOKENS = 64


def rms_norm(x, weight, eps=1e-6):
    x32 = x.float()
    return weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def repeat_kv(x, groups):
    b, h, t, d = x.shape
    return x[:, :, None].expand(b, h, groups, t, d).reshape(b, h * groups, t, d)


class LoraLinear(torch.nn.Module):
    """A frozen linear layer with a trainable low-rank adapter (PEFT's layout)."""

    def __init__(self, base):
        super().__init__()
        self.base = base
        self.lora_A = torch.nn.Parameter(torch.empty(LORA_RANK, base.in_features).uniform_(-1, 1) / math.sqrt(base.in_features))
        self.lora_B = torch.nn.Parameter(torch.zeros(base.out_features, LORA_RANK))
        self.scale = LORA_ALPHA / LORA_RANK

    def forward(self, x):
        return self.base(x) + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scale


class TeacherLayer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layernorm = torch.nn.Parameter(torch.ones(HIDDEN))
        self.q_proj = torch.nn.Linear(HIDDEN, HEADS * HEAD_DIM, bias=False)
        self.k_proj = torch.nn.Linear(HIDDEN, KV * HEAD_DIM, bias=False)
        self.v_proj = torch.nn.Linear(HIDDEN, KV * HEAD_DIM, bias=False)
        self.o_proj = torch.nn.Linear(HEADS * HEAD_DIM, HIDDEN, bias=False)
        self.post_attention_layernorm = torch.nn.Parameter(torch.ones(HIDDEN))
        self.gate_proj = torch.nn.Linear(HIDDEN, INTER, bias=False)
        self.up_proj = torch.nn.Linear(HIDDEN, INTER, bias=False)
        self.down_proj = torch.nn.Linear(INTER, HIDDEN, bias=False)

    def attention(self, x, cos, sin, mask):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, HEADS, HEAD_DIM).transpose(1, 2)
        k = self.k_proj(x).view(b, t, KV, HEAD_DIM).transpose(1, 2)
        v = self.v_proj(x).view(b, t, KV, HEAD_DIM).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = repeat_kv(k, HEADS // KV), repeat_kv(v, HEADS // KV)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(HEAD_DIM) + mask
        probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        return self.o_proj(torch.matmul(probs, v).transpose(1, 2).reshape(b, t, -1))

    def forward(self, h, cos, sin, mask, captured):
        x = rms_norm(h, self.input_layernorm)
        o = self.attention(x, cos, sin, mask)
        captured.append((x, o))  # what a forward hook on self_attn records
        h = h + o
        y = rms_norm(h, self.post_attention_layernorm)
        return h + self.down_proj(F.silu(self.gate_proj(y)) * self.up_proj(y))


class StudentAttention(torch.nn.Module):
    """MLA with partial RoPE and a joint latent per modality; q_proj / o_proj are the teacher's plus LoRA."""

    def __init__(self, teacher):
        super().__init__()
        self.q_proj, self.o_proj = LoraLinear(teacher.q_proj), LoraLinear(teacher.o_proj)
        nope, latent = HEAD_DIM - ROPE_DIMS, KV * LATENT_RANK
        self.k_rope_proj = torch.nn.Linear(HIDDEN, KV * ROPE_DIMS, bias=False)
        self.down = torch.nn.ModuleDict({m: torch.nn.Linear(HIDDEN, latent, bias=False) for m in ("text", "image")})
        self.k_up = torch.nn.ModuleDict({m: torch.nn.Linear(latent, KV * nope, bias=False) for m in ("text", "image")})
        self.v_up = torch.nn.ModuleDict({m: torch.nn.Linear(latent, KV * HEAD_DIM, bias=False) for m in ("text", "image")})
        for p in list(self.q_proj.base.parameters()) + list(self.o_proj.base.parameters()):
            p.requires_grad_(False)
        # Kept RoPE dims: frequency pairs 0..r/2-1 of every head, in rotate_half order; the rest are NoPE.
        pairs = list(range(ROPE_DIMS // 2))
        rope = pairs + [j + HEAD_DIM // 2 for j in pairs]
        self.rope_index = torch.tensor(rope)
        self.nope_index = torch.tensor([d for d in range(HEAD_DIM) if d not in rope])

    def forward(self, x, cos, sin, mask, image):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, HEADS, HEAD_DIM).transpose(1, 2)
        rotated = q * cos + rotate_half(q) * sin
        q = torch.cat((rotated[..., self.rope_index], q[..., self.nope_index]), dim=-1)
        cos_r, sin_r = cos[..., self.rope_index], sin[..., self.rope_index]
        k_rope = self.k_rope_proj(x).view(b, t, KV, ROPE_DIMS).transpose(1, 2)
        k_rope = k_rope * cos_r + rotate_half(k_rope) * sin_r
        m = image[..., None]
        c = torch.where(m, self.down["image"](x), self.down["text"](x))
        k_nope = torch.where(m, self.k_up["image"](c), self.k_up["text"](c)).view(b, t, KV, -1).transpose(1, 2)
        v = torch.where(m, self.v_up["image"](c), self.v_up["text"](c)).view(b, t, KV, HEAD_DIM).transpose(1, 2)
        k = torch.cat((k_rope, k_nope), dim=-1)
        k, v = repeat_kv(k, HEADS // KV), repeat_kv(v, HEADS // KV)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(HEAD_DIM) + mask
        probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        return self.o_proj(torch.matmul(probs, v).transpose(1, 2).reshape(b, t, -1))


def python_step_seconds(rounds, threads, batch, tokens):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    embed = torch.randn(VOCAB, HIDDEN) * 0.02
    teachers = [TeacherLayer() for _ in range(LAYERS)]
    for layer in teachers:
        for p in layer.parameters():
            p.requires_grad_(False)
            if p.dim() == 2:
                p.normal_(0, 0.02)
    students = [StudentAttention(t) for t in teachers]
    for s in students:
        for name, p in s.named_parameters():
            if p.requires_grad and "lora" not in name:
                p.data.normal_(0, 0.02)
    params = [p for s in students for p in s.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)

    ids = torch.randint(0, VOCAB, (batch, tokens))
    image = (torch.arange(tokens) < IMAGE_TOKENS)[None].expand(batch, tokens)
    valid = torch.ones(batch, tokens)
    positions = torch.arange(tokens, dtype=torch.float32)
    inv_freq = 1.0 / (10000 ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.float32) / HEAD_DIM))
    angles = torch.outer(positions, inv_freq)
    emb = torch.cat((angles, angles), dim=-1)
    cos, sin = emb.cos()[None, None], emb.sin()[None, None]
    causal = torch.full((tokens, tokens), torch.finfo(torch.float32).min).triu(1)[None, None].expand(batch, 1, tokens, tokens)

    def step():
        captured = []
        with torch.no_grad():
            h = embed[ids]
            for layer in teachers:
                h = layer(h, cos, sin, causal, captured)
        for student, (x, target) in zip(students, captured):
            o = student(x, cos, sin, causal, image)
            energy = (target.pow(2) * valid[..., None]).sum()
            loss = ((o - target).pow(2) * valid[..., None]).sum() / energy / LAYERS
            loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    wall, cpu = [], []
    for r in range(rounds + 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        step()
        if r:
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cpu_start)
    return statistics.median(wall), statistics.median(cpu)


def cpp_step_seconds(binary, rounds, threads, batch, tokens):
    out = subprocess.run([binary, "--rounds", str(rounds), "--threads", str(threads), "--batch", str(batch),
                          "--tokens", str(tokens), "--mode", "both"], check=True, capture_output=True, text=True).stdout
    value = lambda key: float(re.search(key + r"=([0-9.]+)", out).group(1))
    return {mode: (value("median_step_s_" + mode), value("median_cpu_s_" + mode)) for mode in ("local", "global")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpp", required=True)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=256)
    args = parser.parse_args()
    cpp = cpp_step_seconds(args.cpp, args.rounds, args.threads, args.batch, args.tokens)
    py = python_step_seconds(args.rounds, args.threads, args.batch, args.tokens)
    tokens = args.batch * args.tokens
    print("batch %d x %d tokens, %d thread(s), median of %d steps" % (args.batch, args.tokens, args.threads, args.rounds))
    print("| step | wall s | tokens/s | CPU s | tokens/CPU s |")
    print("|---|---:|---:|---:|---:|")
    rows = [("Python eager, local", py), ("mha2mla, local", cpp["local"]), ("mha2mla, global", cpp["global"])]
    for name, (wall, cpu) in rows:
        print("| %s | %.4f | %.0f | %.4f | %.0f |" % (name, wall, tokens / wall, cpu, tokens / cpu))
    print("ours vs Python (local): %.2fx wall, %.2fx CPU" % (py[0] / cpp["local"][0], py[1] / cpp["local"][1]))
    print("local vs global (ours): %.2fx wall, %.2fx CPU" % (cpp["global"][0] / cpp["local"][0],
                                                           cpp["global"][1] / cpp["local"][1]))


if __name__ == "__main__":
    main()

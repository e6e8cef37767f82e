"""Llama / Qwen2 forward as Hugging Face transformers computes it (eager attention), written from
modeling_llama.py / modeling_qwen2.py / modeling_rope_utils.py, in float32, for checking our C++ model.

The structure follows transformers on purpose (repeat_kv, 4-D additive masks built from the 2-D attention
mask with the dtype's minimum, softmax in float32) so that it is a second implementation, not a port of ours.
"""
import math

import torch
import torch.nn.functional as F


def text_config_of(config):
    """The text part of a config.json: the top level for LLMs, text_config for VLMs (filled by the caller)."""
    return config.get("text_config", config) if config.get("model_type") in ("llava", "llava_next") else config


def rope_init(config, head_dim):
    base = config.get("rope_theta", 10000.0)
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    scaling = config.get("rope_scaling") or {}
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind == "llama3":
        factor = scaling["factor"]
        low_freq_factor = scaling["low_freq_factor"]
        high_freq_factor = scaling["high_freq_factor"]
        old_context_len = scaling["original_max_position_embeddings"]
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        inv_freq = torch.where(is_medium, smoothed, inv_freq_llama)
    elif kind == "linear":
        inv_freq = inv_freq / scaling["factor"]
    return inv_freq


def rotary_cos_sin(inv_freq, position_ids, dtype):
    inv_freq_expanded = inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
    position_ids_expanded = position_ids[:, None, :].float()
    freqs = (inv_freq_expanded.float() @ position_ids_expanded.float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q, k, cos, sin):
    cos = cos.unsqueeze(1)
    sin = sin.unsqueeze(1)
    return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)


def repeat_kv(hidden_states, n_rep):
    batch, num_key_value_heads, slen, head_dim = hidden_states.shape
    if n_rep == 1:
        return hidden_states
    hidden_states = hidden_states[:, :, None, :, :].expand(batch, num_key_value_heads, n_rep, slen, head_dim)
    return hidden_states.reshape(batch, num_key_value_heads * n_rep, slen, head_dim)


def rms_norm(x, weight, eps):
    input_dtype = x.dtype
    x = x.to(torch.float32)
    variance = x.pow(2).mean(-1, keepdim=True)
    x = x * torch.rsqrt(variance + eps)
    return weight * x.to(input_dtype)


def causal_mask_4d(attention_mask, seq_len, dtype):
    """HF's eager mask: 0 where attending is allowed, finfo(dtype).min elsewhere; [B, 1, T, T]."""
    min_value = torch.finfo(dtype).min
    causal = torch.full((seq_len, seq_len), min_value, dtype=dtype).triu(1)
    mask = causal[None, None, :, :].expand(attention_mask.shape[0], 1, seq_len, seq_len).clone()
    padding = attention_mask[:, None, None, :] == 0
    return mask.masked_fill(padding, min_value)


class TextModelReference:
    def __init__(self, config, tensors, prefix="model.", lm_head_name="lm_head.weight", cos_sin_fn=None):
        self.config = config
        self.t = tensors
        self.prefix = prefix
        self.n_heads = config["num_attention_heads"]
        self.n_kv = config.get("num_key_value_heads", self.n_heads)
        self.head_dim = config.get("head_dim") or config["hidden_size"] // self.n_heads
        self.eps = config.get("rms_norm_eps", 1e-6)
        self.layers = config["num_hidden_layers"]
        self.inv_freq = rope_init(config, self.head_dim)
        self.cos_sin_fn = cos_sin_fn
        tied = config.get("tie_word_embeddings", False)
        self.lm_head = tensors[prefix + "embed_tokens.weight"] if tied else tensors[lm_head_name]

    def w(self, name):
        return self.t[self.prefix + name]

    def b(self, name):
        return self.t.get(self.prefix + name)

    def attention(self, i, x, cos, sin, mask):
        p = "layers.%d.self_attn." % i
        bsz, q_len, _ = x.shape
        q = F.linear(x, self.w(p + "q_proj.weight"), self.b(p + "q_proj.bias"))
        k = F.linear(x, self.w(p + "k_proj.weight"), self.b(p + "k_proj.bias"))
        v = F.linear(x, self.w(p + "v_proj.weight"), self.b(p + "v_proj.bias"))
        q = q.view(bsz, q_len, -1, self.head_dim).transpose(1, 2)
        k = k.view(bsz, q_len, -1, self.head_dim).transpose(1, 2)
        v = v.view(bsz, q_len, -1, self.head_dim).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        n_rep = self.n_heads // self.n_kv
        k = repeat_kv(k, n_rep)
        v = repeat_kv(v, n_rep)
        weights = torch.matmul(q, k.transpose(2, 3)) * self.head_dim ** -0.5
        weights = weights + mask
        weights = F.softmax(weights, dim=-1, dtype=torch.float32).to(q.dtype)
        out = torch.matmul(weights, v).transpose(1, 2).reshape(bsz, q_len, -1)
        return F.linear(out, self.w(p + "o_proj.weight"), self.b(p + "o_proj.bias"))

    def mlp(self, i, x):
        p = "layers.%d.mlp." % i
        gate = F.linear(x, self.w(p + "gate_proj.weight"))
        up = F.linear(x, self.w(p + "up_proj.weight"))
        return F.linear(F.silu(gate) * up, self.w(p + "down_proj.weight"))

    def forward_embeddings(self, embeds, attention_mask, position_ids):
        dtype = embeds.dtype
        if self.cos_sin_fn is not None:
            cos, sin = self.cos_sin_fn(position_ids, dtype)
        else:
            cos, sin = rotary_cos_sin(self.inv_freq, position_ids, dtype)
        mask = causal_mask_4d(attention_mask, embeds.shape[1], dtype)
        h = embeds
        for i in range(self.layers):
            p = "layers.%d." % i
            residual = h
            h = rms_norm(h, self.w(p + "input_layernorm.weight"), self.eps)
            h = residual + self.attention(i, h, cos, sin, mask)
            residual = h
            h = rms_norm(h, self.w(p + "post_attention_layernorm.weight"), self.eps)
            h = residual + self.mlp(i, h)
        h = rms_norm(h, self.w("norm.weight"), self.eps)
        return F.linear(h, self.lm_head)

    def forward(self, input_ids, attention_mask, position_ids):
        embeds = F.embedding(input_ids, self.w("embed_tokens.weight"))
        return self.forward_embeddings(embeds, attention_mask, position_ids)

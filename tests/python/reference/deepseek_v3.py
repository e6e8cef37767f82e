"""DeepSeek-V3's dense decoder as Hugging Face transformers computes it (eager attention), written from
transformers' modeling_deepseek_v3.py (DeepseekV3Attention, DeepseekV3RMSNorm, DeepseekV3MLP,
apply_rotary_pos_emb_interleave, DeepseekV3RotaryEmbedding), for checking mha2mla's deepseek-v3 export.

Only what a dense export uses: q_lora_rank null (plain q_proj), every layer below first_k_dense_replace (no MoE).
The RoPE frequencies, the 4-D mask and RMSNorm are transformers' generic ones (hf_text_model.py)."""
import math

import torch
import torch.nn.functional as F

from reference.hf_text_model import causal_mask_4d, repeat_kv, rms_norm, rope_init, rotary_cos_sin, rotate_half

KV_A_LAYERNORM_EPS = 1e-6  # DeepseekV3RMSNorm(self.kv_lora_rank): the class default, not config.rms_norm_eps


def apply_rotary_pos_emb_interleave(q, k, cos, sin):
    cos = cos.unsqueeze(1)
    sin = sin.unsqueeze(1)
    b, h, s, d = q.shape
    q = q.view(b, h, s, d // 2, 2).transpose(4, 3).reshape(b, h, s, d)
    b, h, s, d = k.shape
    k = k.view(b, h, s, d // 2, 2).transpose(4, 3).reshape(b, h, s, d)
    q_embed = (q * cos) + (rotate_half(q) * sin)
    k_embed = (k * cos) + (rotate_half(k) * sin)
    return q_embed, k_embed


def apply_rotary_pos_emb(q, k, cos, sin):
    cos = cos.unsqueeze(1)
    sin = sin.unsqueeze(1)
    return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)


def yarn_get_mscale(scale=1, mscale=1):
    if scale <= 1:
        return 1.0
    return 0.1 * mscale * math.log(scale) + 1.0


class DeepseekV3Reference:
    def __init__(self, config, tensors):
        if config.get("q_lora_rank") is not None:
            raise ValueError("this reference covers q_lora_rank null only")
        if config["first_k_dense_replace"] < config["num_hidden_layers"]:
            raise ValueError("this reference covers dense layers only")
        self.config = config
        self.t = tensors
        self.n_heads = config["num_attention_heads"]
        self.n_kv = config.get("num_key_value_heads") or self.n_heads
        self.nope = config["qk_nope_head_dim"]
        self.rope = config["qk_rope_head_dim"]
        self.v_head_dim = config["v_head_dim"]
        self.kv_lora_rank = config["kv_lora_rank"]
        self.qk_head_dim = self.nope + self.rope
        self.eps = config.get("rms_norm_eps", 1e-6)
        self.layers = config["num_hidden_layers"]
        self.interleave = config.get("rope_interleave", True)
        # DeepseekV3Config sets head_dim = qk_rope_head_dim: the rotary tables cover the RoPE part only.
        self.inv_freq = rope_init(config, self.rope)
        self.scaling = self.qk_head_dim ** (-0.5)
        scaling = config.get("rope_scaling")
        if scaling is not None:
            mscale_all_dim = scaling.get("mscale_all_dim", 0)
            if mscale_all_dim:
                mscale = yarn_get_mscale(scaling["factor"], mscale_all_dim)
                self.scaling = self.scaling * mscale * mscale
        tied = config.get("tie_word_embeddings", False)
        self.lm_head = tensors["model.embed_tokens.weight"] if tied else tensors["lm_head.weight"]

    def w(self, name):
        return self.t["model." + name]

    def b(self, name):
        return self.t.get("model." + name)

    def cos_sin(self, position_ids, dtype):
        return rotary_cos_sin(self.inv_freq, position_ids, dtype)

    def attention(self, i, hidden_states, cos, sin, mask):
        p = "layers.%d.self_attn." % i
        batch_size, seq_length = hidden_states.shape[:-1]
        query_shape = (batch_size, seq_length, -1, self.qk_head_dim)
        key_shape = (batch_size, seq_length, -1, self.nope + self.v_head_dim)

        q_states = F.linear(hidden_states, self.w(p + "q_proj.weight")).view(query_shape).transpose(1, 2)
        q_pass, q_rot = torch.split(q_states, [self.nope, self.rope], dim=-1)

        compressed_kv = F.linear(hidden_states, self.w(p + "kv_a_proj_with_mqa.weight"),
                                 self.b(p + "kv_a_proj_with_mqa.bias"))
        k_pass, k_rot = torch.split(compressed_kv, [self.kv_lora_rank, self.rope], dim=-1)
        k_pass = rms_norm(k_pass, self.w(p + "kv_a_layernorm.weight"), KV_A_LAYERNORM_EPS)
        k_pass = F.linear(k_pass, self.w(p + "kv_b_proj.weight")).view(key_shape).transpose(1, 2)
        k_pass, value_states = torch.split(k_pass, [self.nope, self.v_head_dim], dim=-1)

        k_rot = k_rot.view(batch_size, 1, seq_length, self.rope)
        if self.interleave:
            q_rot, k_rot = apply_rotary_pos_emb_interleave(q_rot, k_rot, cos, sin)
        else:
            q_rot, k_rot = apply_rotary_pos_emb(q_rot, k_rot, cos, sin)
        k_rot = k_rot.expand(*k_pass.shape[:-1], -1)

        query_states = torch.cat((q_pass, q_rot), dim=-1)
        key_states = torch.cat((k_pass, k_rot), dim=-1)

        n_rep = self.n_heads // self.n_kv
        key_states = repeat_kv(key_states, n_rep)
        value_states = repeat_kv(value_states, n_rep)
        weights = torch.matmul(query_states, key_states.transpose(2, 3)) * self.scaling
        weights = weights + mask[:, :, :, : key_states.shape[-2]]
        weights = F.softmax(weights, dim=-1, dtype=torch.float32).to(query_states.dtype)
        out = torch.matmul(weights, value_states).transpose(1, 2).reshape(batch_size, seq_length, -1)
        return F.linear(out, self.w(p + "o_proj.weight"), self.b(p + "o_proj.bias"))

    def mlp(self, i, x):
        p = "layers.%d.mlp." % i
        gate = F.linear(x, self.w(p + "gate_proj.weight"))
        up = F.linear(x, self.w(p + "up_proj.weight"))
        return F.linear(F.silu(gate) * up, self.w(p + "down_proj.weight"))

    def forward(self, input_ids, attention_mask, position_ids):
        h = F.embedding(input_ids, self.w("embed_tokens.weight"))
        cos, sin = self.cos_sin(position_ids, h.dtype)
        mask = causal_mask_4d(attention_mask, h.shape[1], h.dtype)
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

"""LLaVA-1.5, LLaVA-NeXT, Qwen2-VL and Qwen2.5-VL forwards as Hugging Face transformers computes them (eager
attention, float32), written from modeling_clip.py, modeling_llava.py, modeling_llava_next.py,
modeling_qwen2_vl.py and modeling_qwen2_5_vl.py, for checking mha2mla's C++ models.

The structure follows transformers on purpose, not mha2mla: the CLIP patch embedding is a conv2d, the Qwen
patch embedding a conv3d, the Qwen vision attention loops over the cu_seqlens chunks with torch.split, window
indices are built with F.pad(-100) and filtered, AnyRes features are viewed/permuted/unpadded as
pack_image_features does, get_rope_index walks the token list with list.index. The language model is
reference/hf_text_model.py (with a cos/sin hook for M-RoPE). Checkpoints use the legacy hub names (the names
of the published llava-hf and Qwen checkpoints).
"""
import torch
import torch.nn.functional as F

from reference.hf_image_processors import select_best_resolution
from reference.hf_text_model import TextModelReference, rms_norm, rope_init, rotate_half

ACT = {
    "gelu": F.gelu,
    "silu": F.silu,
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
}


def linear(tensors, name, x):
    return F.linear(x, tensors[name + ".weight"], tensors.get(name + ".bias"))


def eager_attention(query, key, value, scaling):
    """eager_attention_forward without a mask: [B, H, S, d] inputs, softmax in float32."""
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    weights = F.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    return torch.matmul(weights, value).transpose(1, 2).contiguous()


# ---------------------------------------------------------------------------------------------------- CLIP


class ClipVisionReference:
    """CLIPVisionTransformer: returns the hidden_states tuple (embeddings after pre_layrnorm, then every layer)."""

    def __init__(self, vision_config, tensors, prefix):
        self.c = vision_config
        self.t = tensors
        self.p = prefix
        self.heads = vision_config["num_attention_heads"]
        self.head_dim = vision_config["hidden_size"] // self.heads
        self.eps = vision_config.get("layer_norm_eps", 1e-5)
        self.act = ACT[vision_config.get("hidden_act", "quick_gelu")]

    def w(self, name):
        return self.t[self.p + name]

    def layer_norm(self, name, x):
        return F.layer_norm(x, (x.shape[-1],), self.w(name + ".weight"), self.w(name + ".bias"), self.eps)

    def embeddings(self, pixel_values):
        batch_size = pixel_values.shape[0]
        weight = self.w("embeddings.patch_embedding.weight")
        patch_embeds = F.conv2d(pixel_values.to(weight.dtype), weight, stride=self.c["patch_size"])
        patch_embeds = patch_embeds.flatten(2).transpose(1, 2)
        class_embeds = self.w("embeddings.class_embedding").expand(batch_size, 1, -1)
        embeddings = torch.cat([class_embeds, patch_embeds], dim=1)
        position_embedding = self.w("embeddings.position_embedding.weight")
        position_ids = torch.arange(position_embedding.shape[0]).expand((1, -1))
        return embeddings + F.embedding(position_ids, position_embedding)

    def attention(self, i, x):
        p = self.p + "encoder.layers.%d.self_attn." % i
        bsz, tgt_len, embed_dim = x.shape
        shape = (bsz, tgt_len, -1, self.head_dim)
        q = linear(self.t, p + "q_proj", x).view(shape).transpose(1, 2)
        k = linear(self.t, p + "k_proj", x).view(shape).transpose(1, 2)
        v = linear(self.t, p + "v_proj", x).view(shape).transpose(1, 2)
        out = eager_attention(q, k, v, self.head_dim ** -0.5).reshape(bsz, tgt_len, embed_dim)
        return linear(self.t, p + "out_proj", out)

    def hidden_states(self, pixel_values):
        h = self.layer_norm("pre_layrnorm", self.embeddings(pixel_values))
        states = (h,)
        for i in range(self.c["num_hidden_layers"]):
            p = "encoder.layers.%d." % i
            residual = h
            h = residual + self.attention(i, self.layer_norm(p + "layer_norm1", h))
            residual = h
            m = self.layer_norm(p + "layer_norm2", h)
            m = linear(self.t, self.p + p + "mlp.fc2", self.act(linear(self.t, self.p + p + "mlp.fc1", m)))
            h = residual + m
            states += (h,)
        return states


# ---------------------------------------------------------------------------------------------------- LLaVA


def llava_text_config(config):
    text = dict(config["text_config"])
    text.setdefault("tie_word_embeddings", config.get("tie_word_embeddings", False))
    return text


class LlavaReference:
    """LlavaForConditionalGeneration (and, with next=True, LlavaNextForConditionalGeneration)."""

    def __init__(self, config, tensors):
        self.config = config
        self.t = tensors
        self.next = config["model_type"] == "llava_next"
        self.tower = ClipVisionReference(config["vision_config"], tensors, "vision_tower.vision_model.")
        self.lm = TextModelReference(llava_text_config(config), tensors, prefix="language_model.model.",
                                     lm_head_name="language_model.lm_head.weight")
        self.image_token_index = config["image_token_index"]
        self.feature_layer = config.get("vision_feature_layer", -2)
        self.strategy = config.get("vision_feature_select_strategy", "default")

    def projector(self, features):
        h = linear(self.t, "multi_modal_projector.linear_1", features)
        h = ACT[self.config.get("projector_hidden_act", "gelu")](h)
        return linear(self.t, "multi_modal_projector.linear_2", h)

    def select_features(self, pixel_values):
        states = self.tower.hidden_states(pixel_values)
        if isinstance(self.feature_layer, int):
            selected = states[self.feature_layer]
            if self.strategy == "default":
                selected = selected[:, 1:]
        else:
            pool = [states[i] for i in self.feature_layer]
            if self.strategy == "default":
                pool = [hs[:, 1:] for hs in pool]
            selected = torch.cat(pool, dim=-1)
        return self.projector(selected)

    # LLaVA-NeXT (modeling_llava_next.py)
    def image_size_to_num_patches(self, image_size):
        height, width = select_best_resolution(tuple(image_size), self.config["image_grid_pinpoints"])
        patch_size = self.config["vision_config"]["image_size"]
        num_patches = 0
        for _ in range(0, height, patch_size):
            for _ in range(0, width, patch_size):
                num_patches += 1
        return num_patches + 1

    @staticmethod
    def unpad_image(tensor, original_size):
        original_height, original_width = original_size
        current_height, current_width = tensor.shape[1:]
        original_aspect_ratio = original_width / original_height
        current_aspect_ratio = current_width / current_height
        if original_aspect_ratio > current_aspect_ratio:
            scale_factor = current_width / original_width
            new_height = int(round(original_height * scale_factor, 7))
            padding = (current_height - new_height) // 2
            return tensor[:, padding: current_height - padding, :]
        scale_factor = current_height / original_height
        new_width = int(round(original_width * scale_factor, 7))
        padding = (current_width - new_width) // 2
        return tensor[:, :, padding: current_width - padding]

    def pack_image_features(self, image_features, image_sizes):
        vision = self.config["vision_config"]
        image_newline = self.t["image_newline"]
        new_image_features = []
        for image_idx, image_feature in enumerate(image_features):
            if image_feature.shape[0] > 1:
                base_image_feature = image_feature[0]
                image_feature = image_feature[1:]
                height = width = vision["image_size"] // vision["patch_size"]
                best = select_best_resolution(tuple(image_sizes[image_idx]), self.config["image_grid_pinpoints"])
                num_patch_height, num_patch_width = best[0] // vision["image_size"], best[1] // vision["image_size"]
                image_feature = image_feature.view(num_patch_height, num_patch_width, height, width, -1)
                image_feature = image_feature.permute(4, 0, 2, 1, 3).contiguous()
                image_feature = image_feature.flatten(1, 2).flatten(2, 3)
                image_feature = self.unpad_image(image_feature, image_sizes[image_idx])
                image_feature = torch.cat(
                    (image_feature, image_newline[:, None, None].expand(*image_feature.shape[:-1], 1)), dim=-1)
                image_feature = image_feature.flatten(1, 2).transpose(0, 1)
                image_feature = torch.cat((base_image_feature, image_feature), dim=0)
            else:
                image_feature = torch.cat((image_feature[0], image_newline[None]), dim=0)
            new_image_features.append(image_feature)
        return new_image_features

    def image_features(self, pixel_values, image_sizes=None):
        """pixel_values: list of [3, H, W] (llava) or [tiles, 3, H, W] (llava_next). One tensor per image."""
        if not self.next:
            features = self.select_features(torch.stack(pixel_values))
            return list(features)
        num_patches = [self.image_size_to_num_patches(size) for size in image_sizes]
        features = self.select_features(torch.cat(pixel_values, dim=0))
        features = torch.split(features, num_patches, dim=0)
        return self.pack_image_features(features, image_sizes)

    def forward(self, input_ids, attention_mask, position_ids, pixel_values, image_sizes=None):
        embeds = F.embedding(input_ids, self.lm.w("embed_tokens.weight"))
        if pixel_values:
            features = torch.cat(self.image_features(pixel_values, image_sizes), dim=0)
            mask = (input_ids == self.image_token_index).unsqueeze(-1).expand_as(embeds)
            assert embeds[mask].numel() == features.numel(), "image features and image tokens do not match"
            embeds = embeds.masked_scatter(mask, features)
        return self.lm.forward_embeddings(embeds, attention_mask, position_ids)


# ---------------------------------------------------------------------------------------------------- Qwen-VL


class QwenVisionReference:
    """Qwen2_5_VisionTransformerPretrainedModel (variant qwen2_5_vl) / Qwen2VisionTransformerPretrainedModel."""

    def __init__(self, vision_config, tensors, prefix, variant):
        self.c = vision_config
        self.t = tensors
        self.p = prefix
        self.variant = variant
        self.v25 = variant == "qwen2_5_vl"
        self.dim = vision_config["hidden_size"] if self.v25 else vision_config["embed_dim"]
        self.num_heads = vision_config["num_heads"]
        self.head_dim = self.dim // self.num_heads
        self.spatial_merge_size = vision_config.get("spatial_merge_size", 2)
        self.spatial_merge_unit = self.spatial_merge_size ** 2
        self.patch_size = vision_config.get("patch_size", 14)
        self.temporal_patch_size = vision_config.get("temporal_patch_size", 2)
        self.in_channels = vision_config.get("in_channels", vision_config.get("in_chans", 3))
        self.window_size = vision_config.get("window_size", 0)
        self.fullatt_block_indexes = vision_config.get("fullatt_block_indexes", [])
        self.depth = vision_config["depth"]
        self.act = ACT[vision_config.get("hidden_act", "silu" if self.v25 else "quick_gelu")]
        dim = self.head_dim // 2  # VisionRotaryEmbedding(head_dim // 2)
        self.inv_freq = 1.0 / (10000.0 ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))

    def w(self, name):
        return self.t[self.p + name]

    def norm(self, name, x):
        if self.v25:
            return rms_norm(x, self.w(name + ".weight"), 1e-6)
        return F.layer_norm(x, (x.shape[-1],), self.w(name + ".weight"), self.w(name + ".bias"), 1e-6)

    def patch_embed(self, hidden_states):
        weight = self.w("patch_embed.proj.weight")
        hidden_states = hidden_states.view(-1, self.in_channels, self.temporal_patch_size, self.patch_size,
                                           self.patch_size)
        kernel = [self.temporal_patch_size, self.patch_size, self.patch_size]
        return F.conv3d(hidden_states.to(weight.dtype), weight, stride=kernel).view(-1, self.dim)

    def rot_pos_emb(self, grid_thw):
        pos_ids = []
        for t, h, w in grid_thw:
            hpos_ids = torch.arange(h).unsqueeze(1).expand(-1, w)
            hpos_ids = hpos_ids.reshape(h // self.spatial_merge_size, self.spatial_merge_size,
                                        w // self.spatial_merge_size, self.spatial_merge_size)
            hpos_ids = hpos_ids.permute(0, 2, 1, 3).flatten()
            wpos_ids = torch.arange(w).unsqueeze(0).expand(h, -1)
            wpos_ids = wpos_ids.reshape(h // self.spatial_merge_size, self.spatial_merge_size,
                                        w // self.spatial_merge_size, self.spatial_merge_size)
            wpos_ids = wpos_ids.permute(0, 2, 1, 3).flatten()
            pos_ids.append(torch.stack([hpos_ids, wpos_ids], dim=-1).repeat(t, 1))
        pos_ids = torch.cat(pos_ids, dim=0)
        max_grid_size = grid_thw[:, 1:].max()
        seq = torch.arange(max_grid_size, dtype=self.inv_freq.dtype)
        rotary_pos_emb_full = torch.outer(seq, self.inv_freq)
        return rotary_pos_emb_full[pos_ids].flatten(1)

    def get_window_index(self, grid_thw):
        window_index = []
        cu_window_seqlens = [0]
        window_index_id = 0
        vit_merger_window_size = self.window_size // self.spatial_merge_size // self.patch_size
        for grid_t, grid_h, grid_w in grid_thw:
            llm_grid_h, llm_grid_w = grid_h // self.spatial_merge_size, grid_w // self.spatial_merge_size
            index = torch.arange(grid_t * llm_grid_h * llm_grid_w).reshape(grid_t, llm_grid_h, llm_grid_w)
            pad_h = vit_merger_window_size - llm_grid_h % vit_merger_window_size
            pad_w = vit_merger_window_size - llm_grid_w % vit_merger_window_size
            num_windows_h = (llm_grid_h + pad_h) // vit_merger_window_size
            num_windows_w = (llm_grid_w + pad_w) // vit_merger_window_size
            index_padded = F.pad(index, (0, pad_w, 0, pad_h), "constant", -100)
            index_padded = index_padded.reshape(grid_t, num_windows_h, vit_merger_window_size, num_windows_w,
                                                vit_merger_window_size)
            index_padded = index_padded.permute(0, 1, 3, 2, 4).reshape(
                grid_t, num_windows_h * num_windows_w, vit_merger_window_size, vit_merger_window_size)
            seqlens = (index_padded != -100).sum([2, 3]).reshape(-1)
            index_padded = index_padded.reshape(-1)
            index_new = index_padded[index_padded != -100]
            window_index.append(index_new + window_index_id)
            cu_seqlens_tmp = seqlens.cumsum(0) * self.spatial_merge_unit + cu_window_seqlens[-1]
            cu_window_seqlens.extend(cu_seqlens_tmp.tolist())
            window_index_id += (grid_t * llm_grid_h * llm_grid_w).item()
        return torch.cat(window_index, dim=0), cu_window_seqlens

    def attention(self, i, hidden_states, cu_seqlens, cos, sin):
        p = "blocks.%d.attn." % i
        seq_length = hidden_states.shape[0]
        qkv = linear(self.t, self.p + p + "qkv", hidden_states)
        q, k, v = qkv.reshape(seq_length, 3, self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
        # apply_rotary_pos_emb_vision: in float32
        orig = q.dtype
        q, k = q.float(), k.float()
        c, s = cos.unsqueeze(-2).float(), sin.unsqueeze(-2).float()
        q = ((q * c) + (rotate_half(q) * s)).to(orig)
        k = ((k * c) + (rotate_half(k) * s)).to(orig)
        q, k, v = (x.transpose(0, 1).unsqueeze(0) for x in (q, k, v))
        lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).tolist()
        splits = [torch.split(x, lengths, dim=2) for x in (q, k, v)]
        outputs = [eager_attention(qq, kk, vv, self.head_dim ** -0.5) for qq, kk, vv in zip(*splits)]
        out = torch.cat(outputs, dim=1).reshape(seq_length, -1).contiguous()
        return linear(self.t, self.p + p + "proj", out)

    def mlp(self, i, x):
        p = self.p + "blocks.%d.mlp." % i
        if self.v25:
            gate = linear(self.t, p + "gate_proj", x)
            return linear(self.t, p + "down_proj", self.act(gate) * linear(self.t, p + "up_proj", x))
        return linear(self.t, p + "fc2", self.act(linear(self.t, p + "fc1", x)))

    def merger(self, x):
        x = self.norm("merger.ln_q", x).view(-1, self.dim * self.spatial_merge_unit)
        x = linear(self.t, self.p + "merger.mlp.0", x)
        return linear(self.t, self.p + "merger.mlp.2", F.gelu(x))

    def forward(self, hidden_states, grid_thw):
        hidden_states = self.patch_embed(hidden_states)
        rotary_pos_emb = self.rot_pos_emb(grid_thw)
        seq_len = hidden_states.shape[0]
        cu_seqlens = torch.repeat_interleave(grid_thw[:, 1] * grid_thw[:, 2], grid_thw[:, 0]).cumsum(
            dim=0, dtype=torch.int32)
        cu_seqlens = F.pad(cu_seqlens, (1, 0), value=0)
        if self.v25:
            window_index, cu_window_seqlens = self.get_window_index(grid_thw)
            cu_window_seqlens = torch.unique_consecutive(torch.tensor(cu_window_seqlens, dtype=torch.int32))
            hidden_states = hidden_states.reshape(seq_len // self.spatial_merge_unit, self.spatial_merge_unit, -1)
            hidden_states = hidden_states[window_index, :, :].reshape(seq_len, -1)
            rotary_pos_emb = rotary_pos_emb.reshape(seq_len // self.spatial_merge_unit, self.spatial_merge_unit, -1)
            rotary_pos_emb = rotary_pos_emb[window_index, :, :].reshape(seq_len, -1)
        emb = torch.cat((rotary_pos_emb, rotary_pos_emb), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        for i in range(self.depth):
            full = not self.v25 or i in self.fullatt_block_indexes
            cu_now = cu_seqlens if full else cu_window_seqlens
            hidden_states = hidden_states + self.attention(i, self.norm("blocks.%d.norm1" % i, hidden_states),
                                                           cu_now, cos, sin)
            hidden_states = hidden_states + self.mlp(i, self.norm("blocks.%d.norm2" % i, hidden_states))
        hidden_states = self.merger(hidden_states)
        if self.v25:
            hidden_states = hidden_states[torch.argsort(window_index), :]
        return hidden_states


def get_rope_index(config, input_ids, image_grid_thw=None, video_grid_thw=None, second_per_grid_ts=None,
                   attention_mask=None):
    """Qwen2_5_VLModel.get_rope_index (Qwen2VLModel's when config["model_type"] == "qwen2_vl": the temporal index
    of a video frame is its number). The video time uses float arithmetic as in transformers 4.49-4.52."""
    v25 = config["model_type"] == "qwen2_5_vl"
    spatial_merge_size = config["vision_config"].get("spatial_merge_size", 2)
    tokens_per_second = config["vision_config"].get("tokens_per_second", 2)
    image_token_id = config["image_token_id"]
    video_token_id = config["video_token_id"]
    vision_start_token_id = config["vision_start_token_id"]
    mrope_position_deltas = []
    if input_ids is not None and (image_grid_thw is not None or video_grid_thw is not None):
        total_input_ids = input_ids
        if attention_mask is None:
            attention_mask = torch.ones_like(total_input_ids)
        position_ids = torch.ones(3, input_ids.shape[0], input_ids.shape[1], dtype=input_ids.dtype)
        image_index, video_index = 0, 0
        for i, input_ids in enumerate(total_input_ids):
            input_ids = input_ids[attention_mask[i] == 1]
            vision_start_indices = torch.argwhere(input_ids == vision_start_token_id).squeeze(1)
            vision_tokens = input_ids[vision_start_indices + 1]
            image_nums = (vision_tokens == image_token_id).sum()
            video_nums = (vision_tokens == video_token_id).sum()
            input_tokens = input_ids.tolist()
            llm_pos_ids_list = []
            st = 0
            remain_images, remain_videos = image_nums, video_nums
            for _ in range(image_nums + video_nums):
                if image_token_id in input_tokens and remain_images > 0:
                    ed_image = input_tokens.index(image_token_id, st)
                else:
                    ed_image = len(input_tokens) + 1
                if video_token_id in input_tokens and remain_videos > 0:
                    ed_video = input_tokens.index(video_token_id, st)
                else:
                    ed_video = len(input_tokens) + 1
                if ed_image < ed_video:
                    t, h, w = image_grid_thw[image_index]
                    second_per_grid_t = 0
                    image_index += 1
                    remain_images -= 1
                    ed = ed_image
                else:
                    t, h, w = video_grid_thw[video_index]
                    second_per_grid_t = second_per_grid_ts[video_index] if second_per_grid_ts is not None else 1.0
                    video_index += 1
                    remain_videos -= 1
                    ed = ed_video
                llm_grid_t, llm_grid_h, llm_grid_w = t.item(), h.item() // spatial_merge_size, w.item() // spatial_merge_size
                text_len = ed - st
                st_idx = llm_pos_ids_list[-1].max() + 1 if len(llm_pos_ids_list) > 0 else 0
                llm_pos_ids_list.append(torch.arange(text_len).view(1, -1).expand(3, -1) + st_idx)
                if v25:
                    range_tensor = torch.arange(llm_grid_t).view(-1, 1)
                    expanded_range = range_tensor.expand(-1, llm_grid_h * llm_grid_w)
                    time_tensor = expanded_range * torch.as_tensor(second_per_grid_t, dtype=torch.float32) * tokens_per_second
                    t_index = time_tensor.long().flatten()
                else:
                    t_index = torch.arange(llm_grid_t).view(-1, 1).expand(-1, llm_grid_h * llm_grid_w).flatten()
                h_index = torch.arange(llm_grid_h).view(1, -1, 1).expand(llm_grid_t, -1, llm_grid_w).flatten()
                w_index = torch.arange(llm_grid_w).view(1, 1, -1).expand(llm_grid_t, llm_grid_h, -1).flatten()
                llm_pos_ids_list.append(torch.stack([t_index, h_index, w_index]) + text_len + st_idx)
                st = ed + llm_grid_t * llm_grid_h * llm_grid_w
            if st < len(input_tokens):
                st_idx = llm_pos_ids_list[-1].max() + 1 if len(llm_pos_ids_list) > 0 else 0
                text_len = len(input_tokens) - st
                llm_pos_ids_list.append(torch.arange(text_len).view(1, -1).expand(3, -1) + st_idx)
            llm_positions = torch.cat(llm_pos_ids_list, dim=1).reshape(3, -1)
            position_ids[..., i, attention_mask[i] == 1] = llm_positions
            mrope_position_deltas.append(llm_positions.max() + 1 - len(total_input_ids[i]))
        return position_ids, torch.tensor(mrope_position_deltas).unsqueeze(1)
    if attention_mask is not None:
        position_ids = attention_mask.long().cumsum(-1) - 1
        position_ids.masked_fill_(attention_mask == 0, 1)
        position_ids = position_ids.unsqueeze(0).expand(3, -1, -1)
        max_position_ids = position_ids.max(0, keepdim=False)[0].max(-1, keepdim=True)[0]
        return position_ids, max_position_ids + 1 - attention_mask.shape[-1]
    position_ids = torch.arange(input_ids.shape[1]).view(1, 1, -1).expand(3, input_ids.shape[0], -1)
    return position_ids, torch.zeros([input_ids.shape[0], 1], dtype=input_ids.dtype)


def qwen_text_config(config):
    """The text keys: text_config when present (transformers >= 4.52 files), else the flat top level."""
    return config.get("text_config", config)


class QwenVlReference:
    """Qwen2_5_VLForConditionalGeneration / Qwen2VLForConditionalGeneration (legacy names: model.*, visual.*)."""

    def __init__(self, config, tensors):
        self.config = config
        variant = config["model_type"]
        self.visual = QwenVisionReference(config["vision_config"], tensors, "visual.", variant)
        text = qwen_text_config(config)
        self.mrope_section = text["rope_scaling"]["mrope_section"]
        head_dim = text["hidden_size"] // text["num_attention_heads"]
        self.inv_freq = rope_init(text, head_dim)
        self.lm = TextModelReference(text, tensors, prefix="model.", lm_head_name="lm_head.weight",
                                     cos_sin_fn=self.mrope_cos_sin)

    def mrope_cos_sin(self, position_ids, dtype):
        """Qwen2_5_VLRotaryEmbedding then the section merge of apply_multimodal_rotary_pos_emb."""
        inv_freq_expanded = self.inv_freq[None, None, :, None].float().expand(3, position_ids.shape[1], -1, 1)
        position_ids_expanded = position_ids[:, :, None, :].float()
        freqs = (inv_freq_expanded.float() @ position_ids_expanded.float()).transpose(2, 3)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(dtype), emb.sin().to(dtype)
        sections = self.mrope_section * 2
        cos = torch.cat([m[i % 3] for i, m in enumerate(cos.split(sections, dim=-1))], dim=-1)
        sin = torch.cat([m[i % 3] for i, m in enumerate(sin.split(sections, dim=-1))], dim=-1)
        return cos, sin

    def forward(self, input_ids, attention_mask, pixel_values, image_grid_thw):
        """pixel_values: list of [patches, C*T*P*P] per image; image_grid_thw: int64 [images, 3] (or None)."""
        embeds = F.embedding(input_ids, self.lm.w("embed_tokens.weight"))
        if pixel_values:
            image_embeds = self.visual.forward(torch.cat(pixel_values, dim=0), image_grid_thw)
            mask = (input_ids == self.config["image_token_id"]).unsqueeze(-1).expand_as(embeds)
            assert embeds[mask].numel() == image_embeds.numel(), "image features and image tokens do not match"
            embeds = embeds.masked_scatter(mask, image_embeds)
        position_ids, deltas = get_rope_index(self.config, input_ids, image_grid_thw, None, None, attention_mask)
        return self.lm.forward_embeddings(embeds, attention_mask, position_ids), position_ids, deltas

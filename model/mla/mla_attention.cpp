#include "model/mla/mla_attention.h"

#include <tuple>

#include <ATen/ATen.h>

#include "common/error.h"
#include "model/layers/attention_kernel.h"
#include "model/layers/rotary.h"

namespace mha2mla {
namespace {

// The token rows of each modality, for projections that differ by modality: each modality's projection runs on
// its own tokens only (not on every token, then picked per token), and the results go back in token order.
class ModalityRows {
 public:
  explicit ModalityRows(const at::Tensor& image_mask) {  // [B, T] bool
    at::Tensor flat = image_mask.reshape({-1});
    image_ = flat.nonzero().view({-1});
    text_ = at::logical_not(flat).nonzero().view({-1});
    // Row i of cat(text results, image results) belongs to token cat(text_, image_)[i]; `order_` inverts that.
    order_ = at::argsort(at::cat({text_, image_}));
  }
  at::Tensor text_rows(const at::Tensor& x) const { return rows(x, text_); }
  at::Tensor image_rows(const at::Tensor& x) const { return rows(x, image_); }
  // [text rows; image rows] of one width -> [B, T, width] in token order, like `like` [B, T, ...].
  at::Tensor in_token_order(const at::Tensor& text, const at::Tensor& image, const at::Tensor& like) const {
    return at::cat({text, image}, 0).index_select(0, order_).view({like.size(0), like.size(1), -1});
  }

 private:
  static at::Tensor rows(const at::Tensor& x, const at::Tensor& index) {
    return x.reshape({x.size(0) * x.size(1), x.size(-1)}).index_select(0, index);
  }
  at::Tensor text_, image_, order_;
};

// Which modalities the tokens of `image_mask` [B, T] (undefined: text only) hold: with both, a modality-split layer
// routes them (ModalityRows); otherwise one set of projections serves every token.
enum class TokenModalities { text, image, mixed };

TokenModalities token_modalities(const at::Tensor& image_mask) {
  if (!image_mask.defined()) return TokenModalities::text;
  const int64_t images = image_mask.sum().item<int64_t>();
  return images == 0 ? TokenModalities::text : images == image_mask.numel() ? TokenModalities::image : TokenModalities::mixed;
}

// The layout of the heads `partition` holds: its KV heads' RoPE pairs, the latent still sized for every KV head.
MlaLayerLayout layout_for_heads(const MlaLayerLayout& whole, const HeadPartition& partition) {
  whole.validate("MLA layer");
  if (partition.whole()) return whole;
  if (whole.heads != partition.total_heads || whole.kv_heads != partition.total_kv_heads)
    fail("the MLA layout has {} heads / {} KV heads but the attention it converts has {} / {}", whole.heads,
         whole.kv_heads, partition.total_heads, partition.total_kv_heads);
  MlaLayerLayout local = whole;
  local.heads = partition.heads;
  local.kv_heads = static_cast<int64_t>(partition.kv_heads.size());
  local.latent_kv_heads = whole.kv_heads;
  local.rope_pairs.clear();
  for (int64_t g : partition.kv_heads) local.rope_pairs.push_back(whole.rope_pairs.at(static_cast<size_t>(g)));
  return local;
}

}  // namespace

void LatentProjections::visit(const std::string& prefix, const std::string& modality, const ParamVisitor& visitor) {
  auto name = [&](const char* projection) { return join_name(prefix, std::string(projection) + "." + modality); };
  if (kv_down.weight.defined()) kv_down.visit(name("kv_down_proj"), visitor);
  if (k_down.weight.defined()) k_down.visit(name("k_down_proj"), visitor);
  if (v_down.weight.defined()) v_down.visit(name("v_down_proj"), visitor);
  k_up.visit(name("k_up_proj"), visitor);
  v_up.visit(name("v_up_proj"), visitor);
}

MlaAttention::MlaAttention(const MlaLayerLayout& whole_layout, const GqaAttention& teacher, const at::TensorOptions& options)
    : layout_(layout_for_heads(whole_layout, teacher.partition())),
      partition_(teacher.partition()),
      tp_(teacher.tensor_parallel()) {
  layout_.validate("MLA layer (this rank's heads)");
  const MlaLayerLayout& layout = layout_;
  q_proj.weight = teacher.q_proj.weight;
  q_proj.bias = teacher.q_proj.bias;
  q_proj.shard = teacher.q_proj.shard;
  o_proj.weight = teacher.o_proj.weight;
  o_proj.bias = teacher.o_proj.bias;
  o_proj.shard = teacher.o_proj.shard;

  const int64_t hidden = teacher.q_proj.in_features();
  const bool bias = teacher.k_proj.bias.defined();
  const int64_t kv = layout.kv_heads;
  k_rope_proj = Linear(hidden, kv * layout.rope_dims, bias, options);
  if (bias) {
    k_up_bias = at::zeros({kv * layout.nope_dims()}, options);
    v_up_bias = at::zeros({kv * layout.head_dim}, options);
  }
  auto make = [&](LatentProjections& p) {
    const int64_t d_c = layout.latent_width();
    if (layout.identity_down) {
      p.k_up = Linear(hidden, kv * layout.nope_dims(), false, options);
      p.v_up = Linear(hidden, kv * layout.head_dim, false, options);
    } else if (layout.variant == MlaVariant::split) {
      p.k_down = Linear(hidden, d_c / 2, false, options);
      p.v_down = Linear(hidden, d_c / 2, false, options);
      p.k_up = Linear(d_c / 2, kv * layout.nope_dims(), false, options);
      p.v_up = Linear(d_c / 2, kv * layout.head_dim, false, options);
    } else {
      p.kv_down = Linear(hidden, d_c, false, options);
      p.k_up = Linear(d_c, kv * layout.nope_dims(), false, options);
      p.v_up = Linear(d_c, kv * layout.head_dim, false, options);
    }
  };
  make(text);
  if (layout.modality_split()) make(image);
  if (tp_.enabled()) {
    // k_rope_proj and the up projections by this rank's KV heads; the down projections whole on every rank.
    const int64_t all_kv = partition_.total_kv_heads, copies = partition_.kv_copies;
    k_rope_proj.shard = output_shard(head_rows(partition_.kv_heads, layout.rope_dims), all_kv * layout.rope_dims, copies);
    for (LatentProjections* p : {&text, &image}) {
      if (!p->k_up.weight.defined()) continue;
      p->k_up.shard = output_shard(head_rows(partition_.kv_heads, layout.nope_dims()), all_kv * layout.nope_dims(), copies);
      p->v_up.shard = output_shard(head_rows(partition_.kv_heads, layout.head_dim), all_kv * layout.head_dim, copies);
      for (Linear* down : {&p->kv_down, &p->k_down, &p->v_down}) down->shard.replicated_trainable = true;
    }
  }
  query_permutation_ = layout_.query_permutation();
  rope_index_ = layout_.rope_index();
}

const LatentProjections& MlaAttention::projections(bool image_tokens) const {
  return image_tokens && layout_.modality_split() ? image : text;
}

at::Tensor MlaAttention::latent(const at::Tensor& x, const at::Tensor& image_mask) const {
  if (layout_.identity_down) return x;
  auto down = [&](const LatentProjections& p, const at::Tensor& rows) {
    if (layout_.variant == MlaVariant::split) return at::cat({p.k_down.forward(rows), p.v_down.forward(rows)}, -1);
    return p.kv_down.forward(rows);
  };
  const TokenModalities modalities = layout_.modality_split() ? token_modalities(image_mask) : TokenModalities::text;
  if (modalities != TokenModalities::mixed) return down(projections(modalities == TokenModalities::image), x);
  ModalityRows rows(image_mask);
  return rows.in_token_order(down(text, rows.text_rows(x)), down(image, rows.image_rows(x)), x);
}

std::pair<int64_t, int64_t> MlaAttention::key_latent_span(int64_t width) const {
  const bool split = layout_.variant == MlaVariant::split && !layout_.identity_down;
  return split ? std::make_pair(int64_t{0}, width / 2) : std::make_pair(int64_t{0}, width);
}

std::pair<int64_t, int64_t> MlaAttention::value_latent_span(int64_t width) const {
  const bool split = layout_.variant == MlaVariant::split && !layout_.identity_down;
  return split ? std::make_pair(width / 2, width / 2) : std::make_pair(int64_t{0}, width);
}

std::pair<at::Tensor, at::Tensor> MlaAttention::expand_latent(const at::Tensor& latent, const at::Tensor& image_mask) const {
  auto [k_offset, k_width] = key_latent_span(latent.size(-1));
  auto [v_offset, v_width] = value_latent_span(latent.size(-1));
  auto up = [&](const LatentProjections& p, const at::Tensor& c) {
    return std::make_pair(p.k_up.forward(c.narrow(-1, k_offset, k_width)), p.v_up.forward(c.narrow(-1, v_offset, v_width)));
  };
  at::Tensor k_nope, v;
  const TokenModalities modalities = layout_.modality_split() ? token_modalities(image_mask) : TokenModalities::text;
  if (modalities != TokenModalities::mixed) {
    std::tie(k_nope, v) = up(projections(modalities == TokenModalities::image), latent);
  } else {
    ModalityRows rows(image_mask);
    auto [k_text, v_text] = up(text, rows.text_rows(latent));
    auto [k_image, v_image] = up(image, rows.image_rows(latent));
    k_nope = rows.in_token_order(k_text, k_image, latent);
    v = rows.in_token_order(v_text, v_image, latent);
  }
  if (k_up_bias.defined()) {
    k_nope = k_nope + k_up_bias;
    v = v + v_up_bias;
  }
  return {split_heads(k_nope, layout_.kv_heads), split_heads(v, layout_.kv_heads)};
}

at::Tensor MlaAttention::rope_tables_for_keys(const at::Tensor& table) const {
  // [B, T, d] -> [B, kv_heads, T, r]: each KV head's kept dims, in its R order.
  const int64_t B = table.size(0), T = table.size(1);
  at::Tensor index = rope_index_.to(table.device()).view({1, layout_.kv_heads, 1, layout_.rope_dims})
                         .expand({B, layout_.kv_heads, T, layout_.rope_dims});
  return table.unsqueeze(1).expand({B, layout_.kv_heads, T, table.size(2)}).gather(-1, index);
}

at::Tensor MlaAttention::rope_keys(const at::Tensor& x, const AttentionInputs& inputs) const {
  at::Tensor k = split_heads(k_rope_proj.forward(x), layout_.kv_heads);  // [B, kv, T, r]
  at::Tensor cos = rope_tables_for_keys(inputs.cos), sin = rope_tables_for_keys(inputs.sin);
  return k * cos + rotate_half(k) * sin;
}

at::Tensor MlaAttention::queries(const at::Tensor& x, const AttentionInputs& inputs) const {
  return arrange_queries(q_proj.forward(x), inputs);
}

at::Tensor MlaAttention::arrange_queries(const at::Tensor& projected, const AttentionInputs& inputs) const {
  at::Tensor q = split_heads(projected, layout_.heads);  // [B, H, T, d]
  const int64_t B = q.size(0), H = layout_.heads, T = q.size(2), r = layout_.rope_dims, kv = layout_.kv_heads;
  at::Tensor index = query_permutation_.to(q.device()).view({1, H, 1, layout_.head_dim}).expand({B, H, T, layout_.head_dim});
  // Only the kept dims are rotated: in R order (pair firsts, then their partners) rotate_half pairs them as RoPE
  // does, with the tables of the head's KV head (the same dims) broadcast over its query heads.
  at::Tensor q_rope = q.gather(-1, index.narrow(-1, 0, r)).view({B, kv, H / kv, T, r});
  at::Tensor cos = rope_tables_for_keys(inputs.cos).unsqueeze(2), sin = rope_tables_for_keys(inputs.sin).unsqueeze(2);
  q_rope = (q_rope * cos + rotate_half(q_rope) * sin).view({B, H, T, r});
  at::Tensor q_nope = q.gather(-1, index.narrow(-1, r, layout_.head_dim - r));
  return at::cat({q_rope, q_nope}, -1);
}

at::Tensor MlaAttention::forward(const at::Tensor& input, const AttentionInputs& inputs, LayerCache* cache) {
  at::Tensor x = dist::copy_to_tensor_parallel(input, tp_);  // f: each rank uses x for its own heads
  return attend(x, queries(x, inputs), inputs, cache);
}

at::Tensor MlaAttention::forward_with_frozen_queries(const at::Tensor& input, const at::Tensor& frozen_queries,
                                                     const AttentionInputs& inputs) {
  MHA2MLA_CHECK(!own_q_proj, "the student has its own q_proj: the teacher's query projection is not its own");
  at::Tensor x = dist::copy_to_tensor_parallel(input, tp_);
  return attend(x, arrange_queries(q_proj.forward_from_frozen(x, frozen_queries), inputs), inputs, nullptr);
}

at::Tensor MlaAttention::attend(const at::Tensor& x, const at::Tensor& q, const AttentionInputs& inputs, LayerCache* cache) {
  at::Tensor k_rope = rope_keys(x, inputs);
  at::Tensor c = latent(x, inputs.image_mask);
  at::Tensor image_mask = inputs.image_mask;
  if (cache) {
    auto* latent_cache = static_cast<LatentKvCache*>(cache);
    const bool decoding = latent_cache->length() > 0;
    latent_cache->append(c, k_rope, image_mask);
    if (decoding) return row_parallel_forward(o_proj, merge_heads(attend_absorbed(q, *latent_cache, inputs.bias)), tp_);
    // Prefill: attend over what the cache now holds (dequantised if it quantises), decompressed.
    c = latent_cache->latent();
    k_rope = latent_cache->rope_keys();
    image_mask = latent_cache->image_mask();
  }
  auto [k_nope, v] = expand_latent(c, image_mask);
  at::Tensor k = at::cat({k_rope, k_nope}, -1);
  at::Tensor attended = grouped_attention(q, k, v, inputs.bias, 1.0 / std::sqrt(static_cast<double>(layout_.head_dim)));
  return row_parallel_forward(o_proj, merge_heads(attended), tp_);  // g inside
}

std::unique_ptr<LayerCache> MlaAttention::make_cache(const LatentCacheOptions& options) const {
  return std::make_unique<LatentKvCache>(options);
}

void MlaAttention::visit(const std::string& prefix, const ParamVisitor& visitor) {
  k_rope_proj.visit(join_name(prefix, "k_rope_proj"), visitor);
  if (k_up_bias.defined()) {
    const std::string k_name = join_name(prefix, "k_up_proj.bias"), v_name = join_name(prefix, "v_up_proj.bias");
    if (tp_.enabled()) {
      const int64_t all_kv = partition_.total_kv_heads, copies = partition_.kv_copies;
      visit_slice(visitor, k_name, k_up_bias, 0, head_rows(partition_.kv_heads, layout_.nope_dims()),
                  all_kv * layout_.nope_dims(), copies);
      visit_slice(visitor, v_name, v_up_bias, 0, head_rows(partition_.kv_heads, layout_.head_dim),
                  all_kv * layout_.head_dim, copies);
    } else {
      visit_full(visitor, k_name, k_up_bias);
      visit_full(visitor, v_name, v_up_bias);
    }
  }
  text.visit(prefix, layout_.modality_split() ? "text" : "shared", visitor);
  if (layout_.modality_split()) image.visit(prefix, "image", visitor);
  // q_proj / o_proj: the student's own copies whole (with their adapters), else only the adapters on the shared ones.
  if (own_q_proj) {
    q_proj.visit(join_name(prefix, "student_q_proj"), visitor);
  } else {
    q_proj.visit_lora(join_name(prefix, "q_proj"), visitor);
  }
  if (own_o_proj) {
    o_proj.visit(join_name(prefix, "student_o_proj"), visitor);
  } else {
    o_proj.visit_lora(join_name(prefix, "o_proj"), visitor);
  }
}

}  // namespace mha2mla

// The deepseek-v3 export (docs/export.md, "deepseek-v3"): our student attention rewritten in DeepSeek-V3's MLA
// tensors, exactly (to float rounding), for the models that format can express.
//
// DeepSeek-V3 (transformers' modeling_deepseek_v3.py) computes, per head i:
//   q_i            = q_proj x, split [q_pass (qk_nope_head_dim), q_rot (qk_rope_head_dim)]
//   [c'; k_rot]    = kv_a_proj_with_mqa x (+ bias when attention_bias)        c' is kv_lora_rank wide
//   [k_pass; v]_i  = kv_b_proj RMSNorm(c')  (kv_a_layernorm, eps 1e-6)
//   score          = (q_pass . k_pass + RoPE(q_rot) . RoPE(k_rot)) / sqrt(qk_nope + qk_rope)
// with ONE k_rot shared by all heads, RoPE frequencies rope_theta^(-2j / qk_rope_head_dim) on interleaved pairs.
//
// Mapping (with G KV heads of r RoPE dims each, D = G * r):
//   * k_rot holds every KV head's k_R side by side: kept pair p of head g sits at DeepSeek frequency j = p / s,
//     which needs the kept pairs of all heads to be disjoint and together {0, s, 2s, ...}; then
//     rope_theta' = theta^(s * D / head_dim) gives frequency j exactly theta^(-2p / head_dim). Each head's q_rot
//     is zero outside its own group's frequencies.
//   * kv_a_layernorm normalises the latent, which our latent is not. An extra latent channel c'_{d_c} = kappa
//     (a bias; kappa a power of two far above any reachable |c|) makes the RMS kappa / sqrt(d_c + 1) up to a
//     relative 2^-40; kv_b_proj's columns undo that constant scale, and its last column carries the b_k / b_v
//     biases (kv_b_proj itself has no bias).
//   * q_proj is scaled by sqrt((qk_nope + D) / head_dim) so DeepSeek's softmax scale gives our 1 / sqrt(head_dim).
#include <algorithm>
#include <cmath>
#include <variant>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/files.h"
#include "model/export/export.h"
#include "model/io/safetensors_writer.h"
#include "model/io/tensor_io.h"
#include "model/mla/mla_attention.h"

namespace mha2mla {
namespace {

constexpr double kLatentNormEps = 1e-6;  // DeepseekV3RMSNorm's default: kv_a_layernorm is built without config eps
constexpr int kHeadroomBits = 20;         // kappa >= 2^20 * max|c|: relative RMS error <= 2^-40

MlaAttention& student_of(Model& model, size_t layer) { return static_cast<MlaAttention&>(*model.text->layers[layer].student); }

// The stride s of one layer's kept pairs (all heads together = {0, s, 2s, ...}), 0 when any stride fits (a single
// pair 0), or an explanation of why none does.
std::variant<int64_t, std::string> pair_stride(const MlaLayerLayout& layout) {
  std::vector<int64_t> all;
  for (const auto& pairs : layout.rope_pairs) all.insert(all.end(), pairs.begin(), pairs.end());
  std::sort(all.begin(), all.end());
  if (std::adjacent_find(all.begin(), all.end()) != all.end())
    return fmt::format("KV heads keep the same frequency pair (e.g. pair {}); DeepSeek-V3 has one k_rope for all heads, "
                       "so each kept frequency can serve one KV head only",
                       *std::adjacent_find(all.begin(), all.end()));
  if (all.empty()) return int64_t{0};
  if (all.front() != 0)
    return fmt::format("the kept pairs start at {}, not 0; DeepSeek-V3's RoPE frequencies are rope_theta^(-2j/d) for "
                       "j = 0, 1, ..., which always include frequency 1 (pair 0)", all.front());
  if (all.size() == 1) return int64_t{0};
  const int64_t stride = all[1];
  for (size_t j = 0; j < all.size(); ++j)
    if (all[j] != static_cast<int64_t>(j) * stride)
      return fmt::format("the kept pairs {{{}}} are not evenly spaced from 0; DeepSeek-V3's frequencies form one "
                         "geometric series", fmt::join(all, ", "));
  return stride;
}

// One stride for the whole model (rope_theta is one number); 1 when every layer accepts any.
std::variant<int64_t, std::string> model_stride(const std::vector<MlaLayerLayout>& layouts) {
  int64_t stride = 0;
  for (size_t l = 0; l < layouts.size(); ++l) {
    auto result = pair_stride(layouts[l]);
    if (auto* reason = std::get_if<std::string>(&result)) return fmt::format("layer {}: {}", l, *reason);
    const int64_t s = std::get<int64_t>(result);
    if (s && stride && s != stride)
      return fmt::format("layer {} spaces its kept pairs by {} but an earlier layer by {}; rope_theta is one value for "
                         "all layers", l, s, stride);
    if (s) stride = s;
  }
  return stride ? stride : int64_t{1};
}

// The text latent's down projection(s) as one [d_c, hidden] matrix.
at::Tensor text_down(const MlaAttention& student) {
  const LatentProjections& p = student.text;
  return p.kv_down.weight.defined() ? p.kv_down.merged_weight()
                                   : at::cat({p.k_down.merged_weight(), p.v_down.merged_weight()}, 0);
}

// A bound on |c| over all inputs: x = g * h / rms(h) has |x / g| <= sqrt(hidden), so |c| = |W_down diag(g) (x / g)|
// <= sigma_max(W_down diag(g)) sqrt(hidden).
double latent_norm_bound(Model& model) {
  double bound = 0;
  for (size_t l = 0; l < model.text->layers.size(); ++l) {
    at::Tensor down = text_down(student_of(model, l)).to(at::kDouble);
    at::Tensor gain = model.text->layers[l].attention_norm(AttentionPath::student).weight.to(at::kDouble);
    const double sigma = at::linalg_svdvals(down * gain.unsqueeze(0)).max().item<double>();
    bound = std::max(bound, sigma * std::sqrt(static_cast<double>(down.size(1))));
  }
  return bound;
}

struct Shapes {
  int64_t heads, kv_heads, group, head_dim, rope_dims, nope, rope_width, latent, kv_lora_rank;
};

// Rows of the DeepSeek RoPE block (interleaved: frequency j at 2j and 2j + 1) taken from our R-ordered rows of KV head
// g: (DeepSeek row, our row within the head's r rows).
std::vector<std::pair<int64_t, int64_t>> rope_rows(const MlaLayerLayout& layout, int64_t g, int64_t stride) {
  std::vector<std::pair<int64_t, int64_t>> rows;
  const auto& pairs = layout.rope_pairs[static_cast<size_t>(g)];
  const int64_t half = layout.rope_dims / 2;
  for (int64_t t = 0; t < half; ++t) {
    const int64_t j = pairs[static_cast<size_t>(t)] / stride;
    rows.emplace_back(2 * j, t);             // first half of the pair: dim p
    rows.emplace_back(2 * j + 1, half + t);  // second half: dim p + head_dim / 2
  }
  return rows;
}

// Gathers rows of `source` by index (-1: a zero row).
at::Tensor gather_rows(const at::Tensor& source, const std::vector<int64_t>& index) {
  at::Tensor padded = at::cat({source, at::zeros({1, source.size(1)}, source.options())}, 0);
  std::vector<int64_t> safe(index);
  for (auto& i : safe)
    if (i < 0) i = source.size(0);
  return padded.index_select(0, at::tensor(safe, at::kLong));
}

}  // namespace

std::vector<std::string> deepseek_v3_misfits(Model& model) {
  std::vector<std::string> misfits;
  if (!model.mla) return {"it is not converted to MLA"};
  if (model.tensor_parallel().enabled())
    return {"it is split over tensor-parallel ranks; export the trained folder (written whole) from one process"};
  if (model.mla->partial_rope_only) misfits.push_back("it is a stage-1 (partial_rope) checkpoint without a latent");
  if (hf::is_vision_language(model.config.model_type))
    misfits.push_back(fmt::format("{} is a vision-language model; deepseek_v3 has no vision tower and no per-modality "
                                  "latent projections", hf::model_type_name(model.config.model_type)));
  const DecoderConfig& decoder = model.text->config();
  if (!decoder.rope.mrope_section.empty()) misfits.push_back("it uses M-RoPE; DeepSeek-V3 has 1-D RoPE only");
  if (decoder.mlp_bias) misfits.push_back("its MLP has biases; DeepseekV3MLP has none");
  for (size_t l = 0; l < model.text->layers.size() && misfits.size() < 8; ++l) {
    const Linear& q = student_of(model, l).q_proj;
    if (q.bias.defined() && q.bias.abs().max().item<double>() > 0) {
      misfits.push_back("q_proj has a bias (as Qwen2's does); DeepSeek-V3's q_proj (q_lora_rank null) has none");
      break;
    }
  }
  if (!model.mla->partial_rope_only) {
    auto stride = model_stride(model.mla->layouts(decoder));
    if (auto* reason = std::get_if<std::string>(&stride)) misfits.push_back(*reason);
  }
  return misfits;
}

void export_deepseek_v3(Model& model, const std::string& folder, const ExportOptions& options) {
  at::NoGradGuard no_grad;
  const std::string name = model.source.empty() ? "the model" : model.source;
  std::vector<std::string> misfits = deepseek_v3_misfits(model);
  if (!misfits.empty())
    fail_with_hint("export.format = hf-mla writes every converted model; docs/export.md says which fit deepseek-v3",
                   "{} cannot be written exactly in DeepSeek-V3's MLA format:\n  - {}", name, fmt::join(misfits, "\n  - "));
  if (options.dtype == at::kHalf)
    fail("export.dtype float16 cannot hold the latent normaliser of the deepseek-v3 export (a channel near 2^{}); use "
         "bfloat16 or float32", kHeadroomBits);

  const DecoderConfig& decoder = model.text->config();
  const std::vector<MlaLayerLayout> layouts = model.mla->layouts(decoder);
  const int64_t stride = std::get<int64_t>(model_stride(layouts));
  const MlaLayerLayout& first = layouts.front();
  Shapes s{};
  s.heads = first.heads;
  s.kv_heads = first.kv_heads;
  s.group = s.heads / s.kv_heads;
  s.head_dim = first.head_dim;
  s.rope_dims = first.rope_dims;
  s.nope = first.nope_dims();
  s.rope_width = s.kv_heads * s.rope_dims;
  s.latent = first.latent_width();
  s.kv_lora_rank = s.latent + 1;

  // The latent normaliser: kappa on the constant channel, the norm weight, and the factors kv_b_proj applies.
  const double bound = std::sqrt(std::pow(latent_norm_bound(model), 2) + kLatentNormEps * static_cast<double>(s.kv_lora_rank));
  const int kappa_exponent = static_cast<int>(std::ceil(std::log2(std::max(bound, 1e-30)))) + kHeadroomBits;
  if (kappa_exponent > 60)
    fail("{}: the latent can reach |c| ~ {:.3g}; the deepseek-v3 normaliser channel would overflow float32", name, bound);
  const double kappa = std::ldexp(1.0, kappa_exponent);
  const double rms = kappa / std::sqrt(static_cast<double>(s.kv_lora_rank));     // RMS of [c; kappa] up to 2^-40
  const double norm_weight = std::ldexp(1.0, static_cast<int>(std::lround(std::log2(rms))));
  const double latent_factor = rms / norm_weight;  // kv_b_proj latent columns: normalised c_i = c_i / latent_factor
  const double constant_value = kappa / latent_factor;  // the normalised constant channel

  auto to_out = [&](const at::Tensor& t) { return t.to(at::kDouble); };
  io::SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  auto put = [&](const std::string& tensor_name, const at::Tensor& t) { io::add_tensor(writer, tensor_name, t.to(options.dtype).contiguous()); };

  const double query_factor = std::sqrt(static_cast<double>(s.nope + s.rope_width) / static_cast<double>(s.head_dim));
  for (size_t l = 0; l < layouts.size(); ++l) {
    const MlaLayerLayout& layout = layouts[l];
    const MlaAttention& student = student_of(model, l);
    auto& layer = model.text->layers[l];
    const std::string prefix = fmt::format("model.layers.{}.", l);

    // q_proj: per head [NoPE dims ascending, D RoPE rows (own group's frequencies, zeros elsewhere)].
    std::vector<int64_t> q_rows;
    for (int64_t i = 0; i < s.heads; ++i) {
      const int64_t g = i / s.group;
      for (int64_t dim : layout.nope_dim_indices(g)) q_rows.push_back(i * s.head_dim + dim);
      std::vector<int64_t> rope(static_cast<size_t>(s.rope_width), -1);
      const std::vector<int64_t> dims = layout.rope_dim_indices(g);
      for (auto [row, ours] : rope_rows(layout, g, stride))
        rope[static_cast<size_t>(row)] = i * s.head_dim + dims[static_cast<size_t>(ours)];
      q_rows.insert(q_rows.end(), rope.begin(), rope.end());
    }
    put(prefix + "self_attn.q_proj.weight", gather_rows(to_out(student.q_proj.merged_weight()), q_rows) * query_factor);

    // kv_a_proj_with_mqa: [latent; constant channel; k_rot (every KV head's RoPE rows, interleaved)].
    std::vector<int64_t> k_rows(static_cast<size_t>(s.rope_width), -1);
    for (int64_t g = 0; g < s.kv_heads; ++g)
      for (auto [row, ours] : rope_rows(layout, g, stride)) k_rows[static_cast<size_t>(row)] = g * s.rope_dims + ours;
    at::Tensor k_rope = gather_rows(to_out(student.k_rope_proj.merged_weight()), k_rows);
    at::Tensor down = to_out(text_down(student));
    put(prefix + "self_attn.kv_a_proj_with_mqa.weight", at::cat({down, at::zeros({1, down.size(1)}, down.options()), k_rope}, 0));
    at::Tensor a_bias = at::zeros({s.kv_lora_rank + s.rope_width}, at::kDouble);
    a_bias[s.latent] = kappa;
    if (student.k_rope_proj.bias.defined())
      a_bias.narrow(0, s.kv_lora_rank, s.rope_width)
          .copy_(gather_rows(to_out(student.k_rope_proj.bias).unsqueeze(1), k_rows).squeeze(1));
    put(prefix + "self_attn.kv_a_proj_with_mqa.bias", a_bias);
    put(prefix + "self_attn.kv_a_layernorm.weight", at::full({s.kv_lora_rank}, norm_weight, at::kDouble));

    // kv_b_proj: per head [k_pass rows (nope); v rows (head_dim)] over [latent columns; constant column].
    const int64_t width = s.latent;
    const bool split = layout.variant == MlaVariant::split;
    const int64_t k_offset = 0, k_width = split ? width / 2 : width;
    const int64_t v_offset = split ? width / 2 : 0, v_width = split ? width / 2 : width;
    at::Tensor b = at::zeros({s.heads * (s.nope + s.head_dim), s.kv_lora_rank}, at::kDouble);
    at::Tensor k_up = to_out(student.text.k_up.merged_weight()) * latent_factor;
    at::Tensor v_up = to_out(student.text.v_up.merged_weight()) * latent_factor;
    for (int64_t i = 0; i < s.heads; ++i) {
      const int64_t g = i / s.group, row = i * (s.nope + s.head_dim);
      b.narrow(0, row, s.nope).narrow(1, k_offset, k_width).copy_(k_up.narrow(0, g * s.nope, s.nope));
      b.narrow(0, row + s.nope, s.head_dim).narrow(1, v_offset, v_width).copy_(v_up.narrow(0, g * s.head_dim, s.head_dim));
      if (student.k_up_bias.defined()) {
        b.narrow(0, row, s.nope).select(1, s.latent).copy_(to_out(student.k_up_bias).narrow(0, g * s.nope, s.nope) / constant_value);
        b.narrow(0, row + s.nope, s.head_dim).select(1, s.latent)
            .copy_(to_out(student.v_up_bias).narrow(0, g * s.head_dim, s.head_dim) / constant_value);
      }
    }
    put(prefix + "self_attn.kv_b_proj.weight", b);

    put(prefix + "self_attn.o_proj.weight", to_out(student.o_proj.merged_weight()));
    put(prefix + "self_attn.o_proj.bias", student.o_proj.bias.defined() ? to_out(student.o_proj.bias)
                                                                          : at::zeros({decoder.hidden}, at::kDouble));
    put(prefix + "mlp.gate_proj.weight", to_out(layer.mlp.gate_proj.merged_weight()));
    put(prefix + "mlp.up_proj.weight", to_out(layer.mlp.up_proj.merged_weight()));
    put(prefix + "mlp.down_proj.weight", to_out(layer.mlp.down_proj.merged_weight()));
    put(prefix + "input_layernorm.weight", layer.attention_norm(AttentionPath::student).weight);
    put(prefix + "post_attention_layernorm.weight", layer.post_attention_layernorm.weight);
  }
  put("model.embed_tokens.weight", model.text->embed_tokens);
  put("model.norm.weight", model.text->norm.weight);
  if (model.text->lm_head.weight.defined()) put("lm_head.weight", model.text->lm_head.merged_weight());

  // config.json: the source's decoder keys, DeepSeek-V3's MLA keys, every layer dense.
  hf::HfConfig config;
  config.model_type = hf::ModelType::kDeepseekV3;
  config.text = model.config.text;
  config.text.model_type = "deepseek_v3";
  config.text.num_key_value_heads = s.heads;
  config.text.head_dim = s.nope + s.rope_width;
  config.text.rope_theta = std::pow(decoder.rope.theta, static_cast<double>(stride * s.rope_width) / static_cast<double>(s.head_dim));
  config.text.qkv_bias = config.text.o_proj_bias = true;  // attention_bias: kv_a_proj_with_mqa carries kappa
  config.text.tie_word_embeddings = model.config.ties_word_embeddings();
  hf::DeepseekV3Fields& d = config.deepseek;
  d.q_lora_rank = std::nullopt;
  d.kv_lora_rank = s.kv_lora_rank;
  d.qk_rope_head_dim = s.rope_width;
  d.qk_nope_head_dim = s.nope;
  d.v_head_dim = s.head_dim;
  d.first_k_dense_replace = decoder.layers;
  d.n_routed_experts = 0;
  d.n_shared_experts = 0;
  d.rope_interleave = true;
  config.torch_dtype = torch_dtype_name(options.dtype);
  config.source = path_join(folder, "config.json");
  nlohmann::json json = hf::to_json(config);
  json["mha2mla_export"] = {{"format", "deepseek-v3"},
                            {"latent_constant_channel", s.latent},
                            {"latent_constant_value", kappa},
                            {"rope_pair_stride", stride},
                            {"mla", to_json(*model.mla)}};

  ensure_directory(folder);
  write_file_atomic(path_join(folder, "config.json"), json.dump(2) + "\n");
  writer.write_sharded(folder, options.max_shard_bytes);
  if (!model.source.empty()) copy_side_files(model.source, folder);
  if (layouts.front().modality_split())
    spdlog::info("deepseek-v3 export: the text latent projections were written; the image ones are unused by a "
                 "text-only model and were dropped");
  spdlog::info("exported {} as deepseek-v3 to {} (kv_lora_rank {} = latent {} + 1 constant channel, qk_rope_head_dim {}, "
               "rope_theta {:.6g})", name, folder, s.kv_lora_rank, s.latent, s.rope_width, config.text.rope_theta);
}

}  // namespace mha2mla

#include "model/convert/calibration.h"

#include <cmath>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "model/io/safetensors_checkpoint.h"
#include "model/io/safetensors_writer.h"
#include "model/io/tensor_io.h"
#include "model/layers/rotary.h"

namespace mha2mla {
namespace {

constexpr int kFormatVersion = 1;
const char* const kStatNames[] = {"q_pair_norm_sum", "k_pair_norm_sum", "kl_sum", "moments", "held_out_moments"};

std::array<at::Tensor, 2>& stat(LayerCalibration& layer, int which) {
  switch (which) {
    case 0: return layer.q_pair_norm_sum;
    case 1: return layer.k_pair_norm_sum;
    case 2: return layer.kl_sum;
    case 3: return layer.moments;
    default: return layer.held_out_moments;
  }
}

// Pair norms sqrt(x_j^2 + x_{j+d/2}^2): [..., d] -> [..., d/2].
at::Tensor pair_norms(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return (x.narrow(-1, 0, half).pow(2) + x.narrow(-1, half, half).pow(2)).sqrt();
}

// Grouped q.k^T over the pair dims `index`: q [B, H, T, d], k [B, Hkv, S, d] -> [B, Hkv, G*T, S].
at::Tensor grouped_scores(const at::Tensor& q, const at::Tensor& k) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), Hkv = k.size(1);
  return at::matmul(q.reshape({B, Hkv, (H / Hkv) * T, q.size(3)}), k.transpose(-2, -1));
}

}  // namespace

const char* modality_name(int modality) { return modality == kImage ? "image" : "text"; }

Calibration::Calibration(const Model& model) {
  const DecoderConfig& c = model.text->config();
  heads = c.heads;
  kv_heads = c.kv_heads;
  head_dim = c.head_dim;
  auto zeros = [](std::initializer_list<int64_t> shape) { return at::zeros(shape, at::kDouble); };
  layers.resize(static_cast<size_t>(c.layers));
  for (auto& layer : layers)
    for (int m = 0; m < 2; ++m) {
      layer.q_pair_norm_sum[m] = zeros({heads, head_dim / 2});
      layer.k_pair_norm_sum[m] = zeros({kv_heads, head_dim / 2});
      layer.kl_sum[m] = zeros({kv_heads, head_dim / 2});
      layer.moments[m] = zeros({c.hidden, c.hidden});
      layer.held_out_moments[m] = zeros({c.hidden, c.hidden});
    }
}

at::Tensor rope_removal_kl(const at::Tensor& q_pre, const at::Tensor& k_pre, const at::Tensor& cos,
                           const at::Tensor& sin, const at::Tensor& bias) {
  at::ScalarType type = q_pre.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor q = q_pre.to(type), k = k_pre.to(type);
  at::Tensor c = cos.to(type), s = sin.to(type);
  at::Tensor q_rot = apply_rotary(q, c, s), k_rot = apply_rotary(k, c, s);
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), d = q.size(3), Hkv = k.size(1), S = k.size(2);
  const int64_t group = H / Hkv, half = d / 2;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));

  at::Tensor z = grouped_scores(q_rot, k_rot) * scale;
  z = (z.view({B, Hkv, group, T, S}) + bias.to(type).unsqueeze(1)).view({B, Hkv, group * T, S});
  at::Tensor log_p = at::log_softmax(z, -1);
  at::Tensor p = log_p.exp();
  at::Tensor lse = at::logsumexp(z, -1);

  std::vector<at::Tensor> per_pair;
  for (int64_t j = 0; j < half; ++j) {
    at::Tensor idx = at::tensor({j, j + half}, at::kLong).to(q.device());
    at::Tensor rotated = grouped_scores(q_rot.index_select(-1, idx), k_rot.index_select(-1, idx));
    at::Tensor plain = grouped_scores(q.index_select(-1, idx), k.index_select(-1, idx));
    at::Tensor delta = (plain - rotated) * scale;
    // KL(p || softmax(z + delta)) = -sum p * delta + logsumexp(z + delta) - logsumexp(z)
    at::Tensor kl = -(p * delta).sum(-1) + at::logsumexp(z + delta, -1) - lse;  // [B, Hkv, G*T]
    per_pair.push_back(kl.clamp_min(0).view({B, Hkv, group, T}).sum(2));         // [B, Hkv, T]
  }
  return at::stack(per_pair, -1).permute({0, 2, 1, 3});  // [B, T, Hkv, pairs]
}

void Calibration::observe(Model& model, const PreparedInputs& inputs, bool held_out) {
  at::NoGradGuard no_grad;
  const int64_t B = inputs.embeddings.size(0), T = inputs.embeddings.size(1);
  auto device = inputs.embeddings.device();
  at::Tensor valid = inputs.text.attention_mask.defined()
                         ? inputs.text.attention_mask.to(at::kBool)
                         : at::ones({B, T}, at::TensorOptions().dtype(at::kBool).device(device));
  at::Tensor image = inputs.text.image_mask.defined() ? inputs.text.image_mask.to(at::kBool)
                                                      : at::zeros({B, T}, at::TensorOptions().dtype(at::kBool).device(device));
  std::array<at::Tensor, 2> selected = {valid & at::logical_not(image), valid & image};
  std::array<int64_t, 2> counts = {selected[0].sum().item<int64_t>(), selected[1].sum().item<int64_t>()};
  AttentionInputs attention = model.text->attention_inputs(inputs.text, T, nullptr);

  ForwardOptions options;
  options.observer = [&](int64_t index, const at::Tensor& x, const at::Tensor&) {
    LayerCalibration& layer = layers[static_cast<size_t>(index)];
    const GqaAttention& teacher = *model.text->layers[static_cast<size_t>(index)].self_attn;
    at::Tensor x64 = x.to(at::kDouble);
    for (int m = 0; m < 2; ++m) {
      if (counts[m] == 0) continue;
      at::Tensor rows = x64.index({selected[m]});  // [N, hidden]
      (held_out ? layer.held_out_moments : layer.moments)[m] += at::matmul(rows.t(), rows).cpu();
    }
    if (held_out) return;
    at::Tensor q = teacher.project_queries(x), k = teacher.project_keys(x);
    at::Tensor q_norms = pair_norms(q.to(at::kDouble)).permute({0, 2, 1, 3});  // [B, T, H, pairs]
    at::Tensor k_norms = pair_norms(k.to(at::kDouble)).permute({0, 2, 1, 3});
    at::Tensor kl = rope_removal_kl(q, k, attention.cos, attention.sin, attention.bias).to(at::kDouble);
    for (int m = 0; m < 2; ++m) {
      if (counts[m] == 0) continue;
      layer.q_pair_norm_sum[m] += q_norms.index({selected[m]}).sum(0).cpu();
      layer.k_pair_norm_sum[m] += k_norms.index({selected[m]}).sum(0).cpu();
      layer.kl_sum[m] += kl.index({selected[m]}).sum(0).cpu();
    }
  };
  model.text->forward(inputs.embeddings, inputs.text, options);
  for (int m = 0; m < 2; ++m) (held_out ? held_out_tokens : tokens)[m] += counts[m];
  (held_out ? held_out_samples : samples) += B;
}

void Calibration::reduce(const std::function<void(at::Tensor&)>& sum_tensor,
                         const std::function<int64_t(int64_t)>& sum_count) {
  for (auto& layer : layers)
    for (int which = 0; which < 5; ++which)
      for (auto& tensor : stat(layer, which)) sum_tensor(tensor);
  for (int m = 0; m < 2; ++m) {
    tokens[m] = sum_count(tokens[m]);
    held_out_tokens[m] = sum_count(held_out_tokens[m]);
  }
  samples = sum_count(samples);
  held_out_samples = sum_count(held_out_samples);
}

void Calibration::add(const Calibration& other) {
  if (other.layers.size() != layers.size() || other.heads != heads || other.kv_heads != kv_heads ||
      other.head_dim != head_dim)
    fail("cannot add calibrations of different models ({} layers, {}/{} heads, head_dim {} vs {} layers, {}/{}, {})",
         layers.size(), heads, kv_heads, head_dim, other.layers.size(), other.heads, other.kv_heads, other.head_dim);
  for (size_t l = 0; l < layers.size(); ++l)
    for (int which = 0; which < 5; ++which)
      for (int m = 0; m < 2; ++m)
        stat(layers[l], which)[m] += stat(const_cast<LayerCalibration&>(other.layers[l]), which)[m];
  for (int m = 0; m < 2; ++m) {
    tokens[m] += other.tokens[m];
    held_out_tokens[m] += other.held_out_tokens[m];
  }
  samples += other.samples;
  held_out_samples += other.held_out_samples;
}

at::Tensor Calibration::scores(int64_t index, const std::string& strategy) const {
  const LayerCalibration& layer = layers.at(static_cast<size_t>(index));
  const int64_t group = heads / kv_heads;
  // sum over the query heads of each KV group of mean||q|| * mean||k||: [kv_heads, pairs]
  auto two_norm = [&](const at::Tensor& q_sum, const at::Tensor& k_sum, int64_t count) {
    at::Tensor q_mean = q_sum / static_cast<double>(count), k_mean = k_sum / static_cast<double>(count);
    return (q_mean.view({kv_heads, group, -1}) * k_mean.unsqueeze(1)).sum(1);
  };
  if (strategy == "2norm") {
    int64_t count = tokens[0] + tokens[1];
    if (count == 0) fail("calibration has no tokens; calibrate on some samples first");
    return two_norm(layer.q_pair_norm_sum[0] + layer.q_pair_norm_sum[1],
                    layer.k_pair_norm_sum[0] + layer.k_pair_norm_sum[1], count);
  }
  at::Tensor total = at::zeros({kv_heads, head_dim / 2}, at::kDouble);
  for (int m = 0; m < 2; ++m) {
    if (tokens[m] == 0) continue;
    at::Tensor part;
    if (strategy == "2norm_modality") {
      part = two_norm(layer.q_pair_norm_sum[m], layer.k_pair_norm_sum[m], tokens[m]);
      part = part / part.sum(-1, true).clamp_min(1e-300);  // each modality weighs the same per KV head
    } else if (strategy == "mkl") {
      part = layer.kl_sum[m] / static_cast<double>(tokens[m]);
    } else {
      fail("'{}' is not a calibrated partial-RoPE strategy (2norm, 2norm_modality, mkl)", strategy);
    }
    total += part;
  }
  if (tokens[0] + tokens[1] == 0) fail("calibration has no tokens; calibrate on some samples first");
  return total;
}

LayerInputMoments Calibration::moments(int64_t index, bool held_out) const {
  const LayerCalibration& layer = layers.at(static_cast<size_t>(index));
  LayerInputMoments m;
  const auto& source = held_out ? layer.held_out_moments : layer.moments;
  const auto& count = held_out ? held_out_tokens : tokens;
  if (count[0] + count[1] == 0) return m;  // undefined: nothing measured
  m.text = source[0];
  m.image = source[1];
  m.text_tokens = count[0];
  m.image_tokens = count[1];
  return m;
}

void Calibration::save(const std::string& folder, const std::string& model_source) const {
  ensure_directory(folder);
  io::SafetensorsWriter writer;
  for (size_t l = 0; l < layers.size(); ++l)
    for (int which = 0; which < 5; ++which)
      for (int m = 0; m < 2; ++m)
        io::add_tensor(writer, fmt::format("layers.{}.{}.{}", l, kStatNames[which], modality_name(m)),
                       stat(const_cast<LayerCalibration&>(layers[l]), which)[m]);
  // The manifest goes last: a folder without it (a crash mid-save) is not a calibration.
  std::remove(path_join(folder, "manifest.json").c_str());
  writer.write(path_join(folder, "calibration.safetensors"));
  nlohmann::json manifest = {{"format", "mha2mla-calibration"},
                             {"version", kFormatVersion},
                             {"model", model_source},
                             {"layers", layers.size()},
                             {"heads", heads},
                             {"kv_heads", kv_heads},
                             {"head_dim", head_dim},
                             {"samples", samples},
                             {"held_out_samples", held_out_samples},
                             {"tokens", {{"text", tokens[0]}, {"image", tokens[1]}}},
                             {"held_out_tokens", {{"text", held_out_tokens[0]}, {"image", held_out_tokens[1]}}},
                             {"cursors", cursors}};
  write_file_atomic(path_join(folder, "manifest.json"), manifest.dump(2) + "\n");
}

Calibration Calibration::load(const std::string& folder) {
  const std::string manifest_path = path_join(folder, "manifest.json");
  if (!file_exists(manifest_path))
    fail_with_hint("run `mha2mla calibrate RECIPE` first (or point convert.calibration at its output)",
                   "calibration folder '{}' has no manifest.json (missing or incomplete)", folder);
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(read_file(manifest_path));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: invalid JSON: {}", manifest_path, e.what());
  }
  if (manifest.value("format", "") != "mha2mla-calibration" || manifest.value("version", 0) != kFormatVersion)
    fail("{}: not a version-{} mha2mla calibration manifest", manifest_path, kFormatVersion);
  Calibration c;
  try {
    c.heads = manifest.at("heads");
    c.kv_heads = manifest.at("kv_heads");
    c.head_dim = manifest.at("head_dim");
    c.samples = manifest.at("samples");
    c.held_out_samples = manifest.at("held_out_samples");
    c.tokens = {manifest.at("tokens").at("text"), manifest.at("tokens").at("image")};
    c.held_out_tokens = {manifest.at("held_out_tokens").at("text"), manifest.at("held_out_tokens").at("image")};
    c.layers.resize(manifest.at("layers").get<size_t>());
    if (manifest.contains("cursors")) c.cursors = manifest.at("cursors").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    fail("{}: missing or mistyped key: {}", manifest_path, e.what());
  }
  io::SafetensorsCheckpoint file(path_join(folder, "calibration.safetensors"));
  for (size_t l = 0; l < c.layers.size(); ++l)
    for (int which = 0; which < 5; ++which)
      for (int m = 0; m < 2; ++m) {
        std::string name = fmt::format("layers.{}.{}.{}", l, kStatNames[which], modality_name(m));
        if (!file.contains(name)) fail("{}: tensor '{}' is missing", file.source(), name);
        stat(c.layers[l], which)[m] = io::to_tensor(file.view(name)).to(at::kDouble).clone();
      }
  return c;
}

}  // namespace mha2mla

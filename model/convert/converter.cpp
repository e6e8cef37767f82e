#include "model/convert/converter.h"

#include <cmath>

#include <ATen/ATen.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "model/convert/partial_rope.h"
#include "model/mla/mla_attention.h"

namespace mha2mla {
namespace {

bool calibrated_strategy(const std::string& strategy) {
  return strategy == "2norm" || strategy == "2norm_modality" || strategy == "mkl";
}

// A stage-1 (partial RoPE, full rank) student is the source of stage 2: its kept-row projection, its NoPE
// key rows and value rows (the "up" projections with the identity latent) and biases stand in for the teacher's
// k_proj / v_proj. Returns a GqaAttention-shaped view of those weights with the student's pair order undone.
std::unique_ptr<GqaAttention> stage_one_source(const MlaAttention& student, const GqaAttention& teacher) {
  const MlaLayerLayout& layout = student.layout();
  auto source = std::make_unique<GqaAttention>(teacher.shape(), teacher.q_proj.weight.options());
  source->q_proj = student.q_proj;
  source->o_proj = student.o_proj;
  at::Tensor k_weight = at::zeros_like(teacher.k_proj.weight);
  at::Tensor k_bias = teacher.k_proj.bias.defined() ? at::zeros_like(teacher.k_proj.bias) : at::Tensor();
  const int64_t r = layout.rope_dims, nope = layout.nope_dims();
  for (int64_t g = 0; g < layout.kv_heads; ++g) {
    auto rope = layout.rope_dim_indices(g), rest = layout.nope_dim_indices(g);
    for (size_t i = 0; i < rope.size(); ++i) {
      k_weight[g * layout.head_dim + rope[i]].copy_(student.k_rope_proj.weight[g * r + static_cast<int64_t>(i)]);
      if (k_bias.defined()) k_bias[g * layout.head_dim + rope[i]].copy_(student.k_rope_proj.bias[g * r + static_cast<int64_t>(i)]);
    }
    for (size_t i = 0; i < rest.size(); ++i) {
      k_weight[g * layout.head_dim + rest[i]].copy_(student.text.k_up.weight[g * nope + static_cast<int64_t>(i)]);
      if (k_bias.defined()) k_bias[g * layout.head_dim + rest[i]].copy_(student.k_up_bias[g * nope + static_cast<int64_t>(i)]);
    }
  }
  source->k_proj.weight = k_weight;
  source->k_proj.bias = k_bias;
  source->v_proj.weight = student.text.v_up.weight.clone();
  source->v_proj.bias = student.v_up_bias.defined() ? student.v_up_bias.clone() : at::Tensor();
  return source;
}

}  // namespace

ConversionReport convert_to_mla(Model& model, const ConversionOptions& options, const Calibration* calibration) {
  at::NoGradGuard no_grad;
  const DecoderConfig& decoder = model.text->config();
  const bool from_stage_one = model.mla && model.mla->partial_rope_only;
  if (model.mla && !from_stage_one)
    fail("{}: this checkpoint is already converted to MLA (latent_rank {}); convert the original model instead",
         model.source, model.mla->latent_rank);
  if (options.rope_dims % 2 != 0 || options.rope_dims > decoder.head_dim)
    fail("convert.rope_dims = {} must be even and at most head_dim = {}", options.rope_dims, decoder.head_dim);
  const LowRankInit init = parse_low_rank_init(options.init);
  if ((calibrated_strategy(options.strategy) && !from_stage_one) || (init == LowRankInit::activation_svd && !options.partial_rope_only)) {
    if (!calibration)
      fail_with_hint("run `mha2mla calibrate RECIPE` first, or choose convert.strategy=high|low|uniform with "
                     "convert.init=svd",
                     "convert.strategy = {} / convert.init = {} need calibration statistics", options.strategy, options.init);
    if (static_cast<int64_t>(calibration->layers.size()) != decoder.layers || calibration->head_dim != decoder.head_dim ||
        calibration->kv_heads != decoder.kv_heads)
      fail("the calibration ({} layers, {} KV heads, head_dim {}) is of another model than {} ({} layers, {} KV heads, "
           "head_dim {})", calibration->layers.size(), calibration->kv_heads, calibration->head_dim, model.source,
           decoder.layers, decoder.kv_heads, decoder.head_dim);
  }

  MlaConfig mla;
  mla.rope_dims = options.rope_dims;
  mla.latent_rank = options.partial_rope_only ? 0 : options.latent_rank;
  mla.strategy = options.strategy;
  mla.variant = parse_mla_variant(options.variant);
  mla.init = options.partial_rope_only ? "none" : options.init;
  mla.partial_rope_only = options.partial_rope_only;
  // Copies stage 1 trained (its own q_proj, o_proj, input norm) stay the student's own in stage 2, and so do its
  // LoRA adapters.
  if (from_stage_one) mla.student_copies = model.mla->student_copies;
  if (from_stage_one) mla.lora = model.mla->lora;  // the stage-1 adapters on q_proj / o_proj, as trained
  for (int64_t l = 0; l < decoder.layers; ++l) {
    if (from_stage_one) {
      // Stage 2 keeps the pairs stage 1 trained with.
      if (model.mla->rope_dims != options.rope_dims)
        fail("{} was trained with rope_dims {}; convert.rope_dims = {} must match", model.source, model.mla->rope_dims,
             options.rope_dims);
      mla.rope_pairs.push_back(model.mla->rope_pairs[static_cast<size_t>(l)]);
    } else if (calibrated_strategy(options.strategy)) {
      mla.rope_pairs.push_back(top_scoring_pairs(calibration->scores(l, options.strategy), options.rope_dims));
    } else {
      mla.rope_pairs.push_back(fixed_rope_pairs(options.strategy, decoder.head_dim, options.rope_dims, decoder.kv_heads,
                                                options.uniform_start));
    }
  }

  // Keep the stage-1 students aside as the factorisation source before the new students replace them.
  std::vector<std::unique_ptr<GqaAttention>> sources;
  if (from_stage_one)
    for (auto& layer : model.text->layers)
      sources.push_back(stage_one_source(static_cast<const MlaAttention&>(*layer.student), *layer.self_attn));

  model.attach_mla(mla);
  ConversionReport report;
  report.source_stage = from_stage_one ? "partial_rope" : "original";
  for (int64_t l = 0; l < decoder.layers; ++l) {
    auto& layer = model.text->layers[static_cast<size_t>(l)];
    const GqaAttention& source = from_stage_one ? *sources[static_cast<size_t>(l)] : *layer.self_attn;
    LayerInputMoments fit, held_out;
    if (calibration) {
      fit = calibration->moments(l, false);
      held_out = calibration->moments(l, true);
      if (!held_out.text.defined()) held_out = fit;
    }
    auto& student = static_cast<MlaAttention&>(*layer.student);
    if (from_stage_one) {  // the stage-1 student's q_proj / o_proj (its own copies, or the shared ones + LoRA) carry over
      student.q_proj = source.q_proj;
      student.o_proj = source.o_proj;
    }
    LayerConversion conversion;
    conversion.rope_pairs = mla.rope_pairs[static_cast<size_t>(l)];
    conversion.init = initialise_mla_layer(student, source, init, options.ridge, fit, held_out);
    report.layers.push_back(conversion);
  }
  report.teacher_kv_bytes_per_token = teacher_kv_bytes_per_token(decoder, report.element_bytes);
  report.student_kv_bytes_per_token = mla_kv_bytes_per_token(mla.layouts(decoder), report.element_bytes);
  return report;
}

nlohmann::json to_json(const ConversionReport& report) {
  auto errors = [](const FactorisationErrors& e) {
    auto value = [](double x) { return std::isnan(x) ? nlohmann::json(nullptr) : nlohmann::json(x); };
    return nlohmann::json{{"parameter_error", value(e.parameter)}, {"activation_error", value(e.activation)}};
  };
  nlohmann::json layers = nlohmann::json::array();
  for (size_t l = 0; l < report.layers.size(); ++l) {
    nlohmann::json modalities = nlohmann::json::array();
    for (const auto& m : report.layers[l].init.modalities)
      modalities.push_back({{"modality", m.modality}, {"plain_svd", errors(m.plain)}, {"activation_svd", errors(m.aware)}});
    layers.push_back({{"layer", l}, {"rope_pairs", report.layers[l].rope_pairs}, {"factorisation", modalities}});
  }
  return {{"source_stage", report.source_stage},
          {"kv_cache",
           {{"element_bytes", report.element_bytes},
            {"teacher_bytes_per_token", report.teacher_kv_bytes_per_token},
            {"student_bytes_per_token", report.student_kv_bytes_per_token},
            {"reduction", 1.0 - report.student_kv_bytes_per_token / report.teacher_kv_bytes_per_token}}},
          {"layers", layers}};
}

std::string format_report(const ConversionReport& report) {
  auto cell = [](double x) { return std::isnan(x) ? std::string("-") : fmt::format("{:.4f}", x); };
  std::string out = fmt::format("{:>5}  {:<12} {:>11} {:>11} {:>11} {:>11}  {}\n", "layer", "modality", "param/plain",
                                "param/aware", "act/plain", "act/aware", "RoPE pairs (KV head 0)");
  for (size_t l = 0; l < report.layers.size(); ++l) {
    const auto& layer = report.layers[l];
    std::string pairs = layer.rope_pairs.empty() ? "" : fmt::format("{}", fmt::join(layer.rope_pairs[0], ","));
    if (layer.init.modalities.empty())
      out += fmt::format("{:>5}  {:<12} {:>11} {:>11} {:>11} {:>11}  {}\n", l, "(full rank)", "-", "-", "-", "-", pairs);
    for (const auto& m : layer.init.modalities)
      out += fmt::format("{:>5}  {:<12} {:>11} {:>11} {:>11} {:>11}  {}\n", l, m.modality, cell(m.plain.parameter),
                         cell(m.aware.parameter), cell(m.plain.activation), cell(m.aware.activation), pairs);
  }
  out += fmt::format("KV cache per token ({}-byte elements): teacher {:.0f} B, MLA {:.2f} B ({:.1f}% smaller)\n",
                     report.element_bytes, report.teacher_kv_bytes_per_token, report.student_kv_bytes_per_token,
                     100.0 * (1.0 - report.student_kv_bytes_per_token / report.teacher_kv_bytes_per_token));
  return out;
}

}  // namespace mha2mla

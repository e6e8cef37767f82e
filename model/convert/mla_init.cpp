#include "model/convert/mla_init.h"

#include <limits>

#include <ATen/ATen.h>

#include "common/error.h"
#include "model/convert/low_rank.h"

namespace mha2mla {
namespace {

at::Tensor sum_moments(const LayerInputMoments& m) {
  if (!m.text.defined()) return m.text;
  if (m.image.defined() && m.image_tokens > 0) return m.text + m.image;
  return m.text;
}

// The moments a modality's projections are fitted (or judged) with; falls back to text when a modality has
// no tokens so that a text-only calibration still gives a sensible image initialisation.
at::Tensor moments_for(const LayerInputMoments& m, const std::string& modality) {
  if (modality == "shared") return sum_moments(m);
  if (modality == "image" && m.image.defined() && m.image_tokens > 0) return m.image;
  if (!m.text.defined() && m.image.defined()) return m.image;
  return m.text;
}

struct Factorised {
  LowRankFactors factors;
  ModalityReport report;
};

// Without input statistics (plain SVD and no calibration) only the plain factorisation and its parameter error
// are available; the activation numbers are then NaN.
Factorised factorise(const at::Tensor& w, int64_t rank, LowRankInit init, double ridge, const at::Tensor& fit_moments,
                     const at::Tensor& eval_moments, const std::string& modality) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  LowRankFactors plain = plain_svd(w, rank);
  Factorised out;
  out.factors = plain;
  out.report.modality = modality;
  out.report.plain = {parameter_error(w, plain), eval_moments.defined() ? activation_error(w, plain, eval_moments) : nan};
  out.report.aware = {nan, nan};
  if (fit_moments.defined()) {
    LowRankFactors aware = activation_aware_svd(w, fit_moments, rank, ridge);
    out.report.aware = {parameter_error(w, aware),
                        eval_moments.defined() ? activation_error(w, aware, eval_moments) : nan};
    if (init == LowRankInit::activation_svd) out.factors = aware;
  } else if (init == LowRankInit::activation_svd) {
    fail("activation-aware SVD needs calibration statistics; run `mha2mla calibrate` first or set convert.init=svd");
  }
  return out;
}

void assign(Linear& linear, const at::Tensor& value) {
  MHA2MLA_CHECK(linear.weight.sizes() == value.sizes(), "shape mismatch initialising a latent projection");
  linear.weight.copy_(value.to(linear.weight.scalar_type()));
}

}  // namespace

LowRankInit parse_low_rank_init(const std::string& name) {
  if (name == "svd") return LowRankInit::svd;
  if (name == "activation_svd") return LowRankInit::activation_svd;
  fail("convert.init = '{}': expected svd or activation_svd", name);
}

at::Tensor key_rows(const at::Tensor& k, const MlaLayerLayout& layout, bool rope) {
  std::vector<int64_t> rows;
  for (int64_t g = 0; g < layout.kv_heads; ++g)
    for (int64_t d : rope ? layout.rope_dim_indices(g) : layout.nope_dim_indices(g)) rows.push_back(g * layout.head_dim + d);
  return k.index_select(0, at::tensor(rows, at::kLong).to(k.device()));
}

LayerInitReport initialise_mla_layer(MlaAttention& student, const GqaAttention& teacher, LowRankInit init,
                                     double ridge, const LayerInputMoments& calibration,
                                     const LayerInputMoments& held_out) {
  at::NoGradGuard no_grad;
  const MlaLayerLayout& layout = student.layout();
  at::Tensor w_k = teacher.k_proj.weight.to(at::kDouble), w_v = teacher.v_proj.weight.to(at::kDouble);
  assign(student.k_rope_proj, key_rows(w_k, layout, true));
  if (teacher.k_proj.bias.defined()) {
    student.k_rope_proj.bias.copy_(key_rows(teacher.k_proj.bias, layout, true));
    student.k_up_bias.copy_(key_rows(teacher.k_proj.bias, layout, false));
    student.v_up_bias.copy_(teacher.v_proj.bias);
  }
  at::Tensor w_nope = key_rows(w_k, layout, false);
  const int64_t nope_rows = w_nope.size(0);

  LayerInitReport report;
  std::vector<std::pair<std::string, LatentProjections*>> targets;
  if (layout.modality_split()) {
    targets = {{"text", &student.text}, {"image", &student.image}};
  } else {
    targets = {{"shared", &student.text}};
  }
  for (auto& [modality, projections] : targets) {
    if (layout.identity_down) {  // stage 1: partial RoPE at full rank, no factorisation
      assign(projections->k_up, w_nope);
      assign(projections->v_up, w_v);
      continue;
    }
    at::Tensor fit = moments_for(calibration, modality), eval = moments_for(held_out, modality);
    if (layout.variant == MlaVariant::split) {
      const int64_t half = layout.latent_width() / 2;
      Factorised keys = factorise(w_nope, half, init, ridge, fit, eval, modality + ".keys");
      Factorised values = factorise(w_v, half, init, ridge, fit, eval, modality + ".values");
      assign(projections->k_up, keys.factors.up);
      assign(projections->k_down, keys.factors.down);
      assign(projections->v_up, values.factors.up);
      assign(projections->v_down, values.factors.down);
      report.modalities.push_back(keys.report);
      report.modalities.push_back(values.report);
    } else {
      Factorised joint = factorise(at::cat({w_nope, w_v}, 0), layout.latent_width(), init, ridge, fit, eval, modality);
      assign(projections->kv_down, joint.factors.down);
      assign(projections->k_up, joint.factors.up.narrow(0, 0, nope_rows));
      assign(projections->v_up, joint.factors.up.narrow(0, nope_rows, w_v.size(0)));
      report.modalities.push_back(joint.report);
    }
  }
  return report;
}

}  // namespace mha2mla

#include "model/convert/low_rank.h"

#include <ATen/ATen.h>

#include "common/error.h"

namespace mha2mla {
namespace {

// Pads factors with zero directions when the requested rank exceeds what the SVD gives.
LowRankFactors pad_rank(LowRankFactors f, int64_t rank) {
  const int64_t have = f.up.size(1);
  if (have >= rank) return f;
  f.up = at::cat({f.up, at::zeros({f.up.size(0), rank - have}, f.up.options())}, 1);
  f.down = at::cat({f.down, at::zeros({rank - have, f.down.size(1)}, f.down.options())}, 0);
  return f;
}

}  // namespace

LowRankFactors plain_svd(const at::Tensor& weight, int64_t rank) {
  MHA2MLA_CHECK(weight.scalar_type() == at::kDouble, "low-rank factorisation runs in float64");
  auto [u, s, vh] = at::linalg_svd(weight, /*full_matrices=*/false);
  const int64_t k = std::min<int64_t>(rank, s.size(0));
  LowRankFactors f{u.narrow(1, 0, k) * s.narrow(0, 0, k), vh.narrow(0, 0, k)};
  return pad_rank(f, rank);
}

LowRankFactors activation_aware_svd(const at::Tensor& weight, const at::Tensor& second_moment, int64_t rank,
                                    double ridge) {
  MHA2MLA_CHECK(weight.scalar_type() == at::kDouble && second_moment.scalar_type() == at::kDouble,
                "low-rank factorisation runs in float64");
  auto [eigenvalues, eigenvectors] = at::linalg_eigh(second_moment);
  at::Tensor lambda = eigenvalues.clamp_min(0);
  lambda = lambda + ridge * lambda.mean().item<double>();
  if (lambda.min().item<double>() <= 0) lambda = lambda + 1e-12;  // an all-zero S: degrade to plain SVD
  at::Tensor sqrt_lambda = lambda.sqrt();
  at::Tensor whitened = at::matmul(weight, eigenvectors) * sqrt_lambda;  // D = W U_s L^{1/2}
  auto [u, s, vh] = at::linalg_svd(whitened, /*full_matrices=*/false);
  const int64_t k = std::min<int64_t>(rank, s.size(0));
  at::Tensor sqrt_s = s.narrow(0, 0, k).sqrt();
  at::Tensor up = u.narrow(1, 0, k) * sqrt_s;
  at::Tensor down = at::matmul(sqrt_s.unsqueeze(1) * vh.narrow(0, 0, k) / sqrt_lambda, eigenvectors.t());
  return pad_rank({up, down}, rank);
}

double parameter_error(const at::Tensor& weight, const LowRankFactors& f) {
  return (weight - at::matmul(f.up, f.down)).norm().item<double>() / weight.norm().item<double>();
}

double activation_error(const at::Tensor& weight, const LowRankFactors& f, const at::Tensor& second_moment) {
  // ||E X^T||_F^2 = trace(E S E^T).
  auto energy = [&](const at::Tensor& m) { return (at::matmul(m, second_moment) * m).sum().item<double>(); };
  at::Tensor error = weight - at::matmul(f.up, f.down);
  double base = energy(weight);
  return base > 0 ? std::sqrt(std::max(0.0, energy(error)) / base) : 0.0;
}

}  // namespace mha2mla

// Low-rank factorisation W ~ W_up W_down (shared/method.md section 4), in float64.
//
// Plain SVD minimises the parameter distance ||W - W_up W_down||_F. Activation-aware SVD minimises the output
// error ||(W - W_up W_down) X^T||_F over calibration inputs X, through their second moment S = X^T X:
//   S = U_s L U_s^T,   L <- L + ridge * mean(L)
//   D = W U_s L^{1/2} ~ U_w S_w V_w^T (rank k)
//   W_up = U_w S_w^{1/2},   W_down = S_w^{1/2} V_w^T L^{-1/2} U_s^T
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace mha2mla {

struct LowRankFactors {
  at::Tensor up;    // [rows, rank]
  at::Tensor down;  // [rank, in]
};

// W [rows, in] float64. Ranks above min(rows, in) are allowed: the extra directions are zero (exact).
LowRankFactors plain_svd(const at::Tensor& weight, int64_t rank);

// second_moment [in, in] float64 (sum of x x^T over calibration tokens). `ridge` as a fraction of mean(L).
LowRankFactors activation_aware_svd(const at::Tensor& weight, const at::Tensor& second_moment, int64_t rank,
                                    double ridge);

// ||W - up down||_F / ||W||_F and ||(W - up down) X^T||_F / ||W X^T||_F computed through S = X^T X.
double parameter_error(const at::Tensor& weight, const LowRankFactors& factors);
double activation_error(const at::Tensor& weight, const LowRankFactors& factors, const at::Tensor& second_moment);

}  // namespace mha2mla

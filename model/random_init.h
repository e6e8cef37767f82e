// Deterministic random weights for tiny models and tests: N(0, std) for matrices and biases, norms around 1.
#pragma once

#include <cstdint>

#include "model/params.h"

namespace mha2mla {

// Fills every tensor the visitor walks, in visiting order, from one generator seeded with `seed`:
// norm scales (names ending in "norm.weight", "norm1.weight", "norm2.weight", "ln_q.weight") get
// 1 + N(0, norm_std), everything else N(0, std).
// The draw happens in float64 on the CPU and is then cast, so the values do not depend on dtype or device.
void init_random(const std::function<void(const ParamVisitor&)>& walk, uint64_t seed, double std = 0.02,
                 double norm_std = 0.1);

}  // namespace mha2mla

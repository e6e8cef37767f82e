// Random-number generator state as bytes, so that a checkpoint restores the exact random stream
// (dropout, sampling, shuffles that draw from torch). CUDA generators are not captured yet.
#pragma once

#include <string>

namespace mha2mla {

// The default CPU generator's state (torch's serialized mt19937 + normal-distribution cache).
std::string capture_cpu_rng_state();

// Restores a state from capture_cpu_rng_state(). Throws Error naming `source` when the bytes are not one.
void restore_cpu_rng_state(const std::string& state, const std::string& source);

}  // namespace mha2mla

#include "trainer/rng_state.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cstring>
#include <mutex>

#include "common/error.h"

namespace mha2mla {

std::string capture_cpu_rng_state() {
  auto generator = at::detail::getDefaultCPUGenerator();
  at::Tensor state;
  {
    std::lock_guard<std::mutex> lock(generator.mutex());
    state = generator.get_state();
  }
  state = state.contiguous();
  return std::string(static_cast<const char*>(state.data_ptr()), static_cast<size_t>(state.nbytes()));
}

void restore_cpu_rng_state(const std::string& state, const std::string& source) {
  auto generator = at::detail::getDefaultCPUGenerator();
  at::Tensor bytes = at::empty({static_cast<int64_t>(state.size())}, at::TensorOptions().dtype(at::kByte));
  if (!state.empty()) std::memcpy(bytes.data_ptr(), state.data(), state.size());
  std::lock_guard<std::mutex> lock(generator.mutex());
  try {
    generator.set_state(bytes);
  } catch (const c10::Error& error) {
    fail("{}: the CPU random-number generator state ({} bytes) was refused by torch: {}", source, state.size(),
         error.what_without_backtrace());
  }
}

}  // namespace mha2mla

#include "trainer/rank_exchange.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <exception>

#include "common/error.h"
#include "common/log.h"
#include "distributed/communicator.h"

namespace mha2mla {

std::vector<std::string> all_gather_bytes(dist::Communicator& group, const std::string& bytes) {
  const int64_t length = static_cast<int64_t>(bytes.size());
  at::Tensor lengths = group.all_gather(at::full({1}, length, at::TensorOptions().dtype(at::kLong)));
  const int64_t longest = std::max<int64_t>(1, lengths.max().item<int64_t>());
  at::Tensor padded = at::zeros({longest}, at::TensorOptions().dtype(at::kByte));
  if (length > 0) std::memcpy(padded.data_ptr(), bytes.data(), bytes.size());
  at::Tensor all = group.all_gather(padded).contiguous();
  std::vector<std::string> out;
  const auto* base = static_cast<const char*>(all.data_ptr());
  for (int r = 0; r < group.size(); ++r)
    out.emplace_back(base + r * longest, static_cast<size_t>(lengths[r].item<int64_t>()));
  return out;
}

std::string broadcast_bytes(dist::Communicator& group, const std::string& bytes, int root) {
  at::Tensor length = at::full({1}, static_cast<int64_t>(bytes.size()), at::TensorOptions().dtype(at::kLong));
  group.broadcast(length, root);
  const int64_t n = length.item<int64_t>();
  at::Tensor buffer = at::zeros({std::max<int64_t>(1, n)}, at::TensorOptions().dtype(at::kByte));
  if (group.rank() == root && n > 0) std::memcpy(buffer.data_ptr(), bytes.data(), bytes.size());
  group.broadcast(buffer, root);
  return std::string(static_cast<const char*>(buffer.data_ptr()), static_cast<size_t>(n));
}

void run_on_every_rank(dist::Communicator& group, const std::string& what, const std::function<void()>& body) {
  std::exception_ptr error;
  try {
    body();
  } catch (...) {
    error = std::current_exception();
  }
  const int64_t failed = group.all_reduce_int(error ? 1 : 0, dist::ReduceOp::sum);
  if (error) std::rethrow_exception(error);
  if (failed > 0) fail("{} failed on {} of {} ranks (see their messages)", what, failed, group.size());
}

}  // namespace mha2mla

#include "distributed/grid.h"

#include <vector>

#include <fmt/format.h>

#include "common/error.h"

namespace mha2mla::dist {

GridShape GridShape::make(int world_size, int64_t tensor_parallel) {
  MHA2MLA_CHECK(world_size >= 1, "world size {} < 1", world_size);
  if (tensor_parallel < 1 || world_size % tensor_parallel != 0) {
    std::vector<int> divisors;
    for (int d = 1; d <= world_size; ++d)
      if (world_size % d == 0) divisors.push_back(d);
    fail_with_hint(
        fmt::format("set distributed.tensor_parallel to one of {}, or launch a multiple of {} ranks",
                    fmt::join(divisors, ", "), tensor_parallel),
        "distributed.tensor_parallel = {} does not divide the world size {} (ranks launched); data parallel = "
        "world / tensor_parallel must be a whole number",
        tensor_parallel, world_size);
  }
  GridShape shape;
  shape.world_size = world_size;
  shape.tensor_parallel = static_cast<int>(tensor_parallel);
  shape.data_parallel = world_size / shape.tensor_parallel;
  return shape;
}

ProcessGrid::ProcessGrid(std::shared_ptr<Communicator> world, int64_t tensor_parallel)
    : world_(std::move(world)), shape_(GridShape::make(world_->size(), tensor_parallel)) {
  int rank = world_->rank();
  // Same dp_rank -> same TP group, ordered by tp_rank; same tp_rank -> same DP group, ordered by dp_rank.
  tp_ = world_->split(shape_.dp_rank(rank), shape_.tp_rank(rank), "tp");
  dp_ = world_->split(shape_.tp_rank(rank), shape_.dp_rank(rank), "dp");
  MHA2MLA_CHECK(tp_->size() == shape_.tensor_parallel && tp_->rank() == shape_.tp_rank(rank),
                "TP group of rank {}: size {} rank {}, expected size {} rank {}", rank, tp_->size(), tp_->rank(),
                shape_.tensor_parallel, shape_.tp_rank(rank));
  MHA2MLA_CHECK(dp_->size() == shape_.data_parallel && dp_->rank() == shape_.dp_rank(rank),
                "DP group of rank {}: size {} rank {}, expected size {} rank {}", rank, dp_->size(), dp_->rank(),
                shape_.data_parallel, shape_.dp_rank(rank));
}

std::string ProcessGrid::describe() const {
  return fmt::format("world {} = dp {} x tp {} (this rank: dp {}, tp {})", shape_.world_size, shape_.data_parallel,
                     shape_.tensor_parallel, dp_rank(), tp_rank());
}

}  // namespace mha2mla::dist

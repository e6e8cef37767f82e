// The DP x TP process grid. Tensor parallel is innermost: tp_rank = rank % tp, dp_rank = rank / tp, so a TP
// group is `tp` consecutive ranks, which launchers place on one node (TP traffic is the heaviest).
//
//   world 8, tp 2:  TP groups {0,1} {2,3} {4,5} {6,7};  DP groups {0,2,4,6} {1,3,5,7}
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "distributed/communicator.h"

namespace mha2mla::dist {

struct GridShape {
  int world_size = 1;
  int tensor_parallel = 1;
  int data_parallel = 1;

  int tp_rank(int rank) const { return rank % tensor_parallel; }
  int dp_rank(int rank) const { return rank / tensor_parallel; }

  // Throws Error naming distributed.tensor_parallel and the world size when tp does not divide it.
  static GridShape make(int world_size, int64_t tensor_parallel);
};

class ProcessGrid {
 public:
  // Collective over `world`: splits it into this rank's TP group and DP group.
  ProcessGrid(std::shared_ptr<Communicator> world, int64_t tensor_parallel);

  Communicator& world() const { return *world_; }
  Communicator& tp() const { return *tp_; }   // ranks holding shards of the same model replica
  Communicator& dp() const { return *dp_; }   // ranks holding the same shard of different replicas
  const std::shared_ptr<Communicator>& world_ptr() const { return world_; }

  const GridShape& shape() const { return shape_; }
  int tp_rank() const { return tp_->rank(); }
  int dp_rank() const { return dp_->rank(); }

  // "world 4 = dp 2 x tp 2 (this rank: dp 1, tp 0)".
  std::string describe() const;

 private:
  std::shared_ptr<Communicator> world_;
  GridShape shape_;
  std::unique_ptr<Communicator> tp_;
  std::unique_ptr<Communicator> dp_;
};

}  // namespace mha2mla::dist

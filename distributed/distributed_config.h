// Recipe section `distributed`: the DP x TP grid and the communication backend.
#pragma once

#include <cstdint>
#include <string>

#include "common/config_schema.h"

namespace mha2mla {

struct DistributedConfig {
  int64_t tensor_parallel = 1;    // TP group size; data parallel = world / tensor_parallel
  std::string backend = "auto";
  double timeout_seconds = 300;   // a collective that takes longer aborts the job
  double bucket_mb = 25;          // gradient all-reduce bucket size

  void describe(config::Visitor& v) {
    v.field("tensor_parallel", tensor_parallel, "tensor-parallel group size (innermost); data parallel = world / this",
            config::Constraint::at_least(1));
    v.field("backend", backend, "collectives: auto (NCCL for CUDA tensors when built with it, else MPI), mpi or nccl",
            config::Constraint::one_of({"auto", "mpi", "nccl"}));
    v.field("timeout_seconds", timeout_seconds, "a collective waiting longer than this aborts the whole job",
            config::Constraint::positive());
    v.field("bucket_mb", bucket_mb, "gradient all-reduce bucket size in MiB", config::Constraint::positive());
  }
};

}  // namespace mha2mla

// Collective communication over a group of ranks, on at::Tensor. One interface, three implementations:
//   - MpiCommunicator (distributed/mpi_communicator.h): CPU tensors; CUDA tensors staged through the host
//     unless Open MPI is CUDA-aware.
//   - NcclCommunicator (distributed/nccl_communicator.h): CUDA tensors; only when built with NCCL.
//   - the single-process communicator below: size 1, every collective is the identity, no MPI needed.
//
// Every rank of the group must call the same collectives in the same order with tensors of the same shape
// and dtype (as in MPI). A collective that waits longer than distributed.timeout_seconds aborts the job.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace mha2mla::dist {

enum class ReduceOp { sum, avg, max };

const char* reduce_op_name(ReduceOp op);

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "mpi", "nccl" or "single".
  virtual std::string backend() const = 0;
  // Which group this is ("world", "tp", "dp", ...), for messages.
  virtual const std::string& name() const = 0;

  // In place: every rank ends with op(tensor over ranks). avg is sum / size (floating dtypes only);
  // bool tensors reduce with logical or for sum and max. Half and bfloat16 accumulate in float32.
  virtual void all_reduce(const at::Tensor& tensor, ReduceOp op = ReduceOp::sum) = 0;

  // Concatenation along dim 0 of every rank's tensor, in rank order (a 0-dim tensor counts as shape [1]).
  virtual at::Tensor all_gather(const at::Tensor& tensor) = 0;
  // The same, as one tensor per rank (views into the concatenation).
  std::vector<at::Tensor> all_gather_list(const at::Tensor& tensor);

  // Reduces `tensor` over ranks and returns this rank's slice of dim 0 (dim 0 must divide by size()).
  virtual at::Tensor reduce_scatter(const at::Tensor& tensor, ReduceOp op = ReduceOp::sum) = 0;

  // In place: every rank ends with `root`'s tensor.
  virtual void broadcast(const at::Tensor& tensor, int root) = 0;

  virtual void barrier() = 0;

  // Scalars, for metrics and agreement checks (avg only for doubles).
  virtual double all_reduce_double(double value, ReduceOp op = ReduceOp::sum) = 0;
  virtual int64_t all_reduce_int(int64_t value, ReduceOp op = ReduceOp::sum) = 0;

  // Collective over this group: ranks passing the same `color` form a new group, ordered by `key` (ties by
  // rank here). `name` labels the new group in messages.
  virtual std::unique_ptr<Communicator> split(int color, int key, const std::string& name) = 0;
  std::unique_ptr<Communicator> split(int color, int key);
};

// Size 1: all_reduce/broadcast leave the tensor as it is, all_gather/reduce_scatter return a copy.
std::unique_ptr<Communicator> make_single_process_communicator(const std::string& name = "world");

}  // namespace mha2mla::dist

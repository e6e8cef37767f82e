// Communicator over an MPI communicator, calling MPI directly on tensor data (LibTorch's ProcessGroupMPI is
// not built into Debian's LibTorch). Handles every dtype (half and bfloat16 reduce in float32, since MPI has
// no 16-bit float types), non-contiguous tensors (reduced in a contiguous copy, copied back), counts beyond
// INT_MAX (chunked), and CUDA tensors (staged through host memory unless Open MPI is CUDA-aware).
// MPI errors come back as Error naming the collective and group, not as MPI's default abort.
#pragma once

#include <mpi.h>

#include <memory>
#include <string>

#include "distributed/collective_watchdog.h"
#include "distributed/communicator.h"

namespace mha2mla::dist {

class MpiCommunicator final : public Communicator {
 public:
  // `comm` is freed on destruction when `owned` (results of split); MPI_COMM_WORLD never is. MPI must be
  // initialised. `watchdog` may be null (no timeout).
  MpiCommunicator(MPI_Comm comm, bool owned, std::string name, std::shared_ptr<CollectiveWatchdog> watchdog);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }
  const std::string& name() const override { return name_; }

  void all_reduce(const at::Tensor& tensor, ReduceOp op = ReduceOp::sum) override;
  at::Tensor all_gather(const at::Tensor& tensor) override;
  at::Tensor reduce_scatter(const at::Tensor& tensor, ReduceOp op = ReduceOp::sum) override;
  void broadcast(const at::Tensor& tensor, int root) override;
  void barrier() override;
  double all_reduce_double(double value, ReduceOp op = ReduceOp::sum) override;
  int64_t all_reduce_int(int64_t value, ReduceOp op = ReduceOp::sum) override;

  using Communicator::split;
  std::unique_ptr<Communicator> split(int color, int key, const std::string& name) override;
  // The same, typed, for backends layered on MPI (NCCL exchanges its unique id over it).
  std::unique_ptr<MpiCommunicator> split_mpi(int color, int key, const std::string& name);

  MPI_Comm handle() const { return comm_; }
  const std::shared_ptr<CollectiveWatchdog>& watchdog() const { return watchdog_; }

  // Whether Open MPI reports CUDA-aware support at run time (MPIX_Query_cuda_support).
  static bool cuda_aware();

 private:
  // "all_reduce(sum) of 4.00 MiB on group 'dp' (rank 1 of 2)", for errors and the watchdog.
  std::string describe(const char* collective, size_t bytes, const char* detail = nullptr) const;
  void check(int code, const char* collective) const;
  CollectiveWatchdog::Scope watch(const char* collective, size_t bytes, const char* detail = nullptr) const;

  MPI_Comm comm_;
  bool owned_;
  std::string name_;
  std::shared_ptr<CollectiveWatchdog> watchdog_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace mha2mla::dist

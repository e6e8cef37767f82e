// Communicator over NCCL for CUDA tensors. Only compiled when the build found CUDA and NCCL
// (MHA2MLA_HAVE_NCCL); a CPU build never includes this file's body.
//
// One ncclComm per group, created collectively over an MPI communicator of the same ranks (rank 0's
// ncclUniqueId is broadcast over MPI). The MPI communicator is kept for what NCCL does not do: CPU tensors,
// scalars, barriers and splitting. Collectives are enqueued on the current CUDA stream of the tensor's device
// (as LibTorch's own ops), so they order with surrounding computation without host synchronisation; the
// watchdog therefore covers the host-side waits (barrier, scalars, communicator creation), where a hung
// NCCL collective becomes visible.
#pragma once

#if defined(MHA2MLA_HAVE_NCCL)

#include <nccl.h>

#include <memory>
#include <string>

#include "distributed/communicator.h"
#include "distributed/mpi_communicator.h"

namespace mha2mla::dist {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `mpi`'s ranks. `device` is this rank's CUDA device index (the launcher's local rank
  // modulo the visible devices).
  NcclCommunicator(std::unique_ptr<MpiCommunicator> mpi, int device);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return mpi_->rank(); }
  int size() const override { return mpi_->size(); }
  std::string backend() const override { return "nccl"; }
  const std::string& name() const override { return mpi_->name(); }

  void all_reduce(const at::Tensor& tensor, ReduceOp op = ReduceOp::sum) override;
  at::Tensor all_gather(const at::Tensor& tensor) override;
  at::Tensor reduce_scatter(const at::Tensor& tensor, ReduceOp op = ReduceOp::sum) override;
  void broadcast(const at::Tensor& tensor, int root) override;
  void barrier() override;
  double all_reduce_double(double value, ReduceOp op = ReduceOp::sum) override { return mpi_->all_reduce_double(value, op); }
  int64_t all_reduce_int(int64_t value, ReduceOp op = ReduceOp::sum) override { return mpi_->all_reduce_int(value, op); }

  using Communicator::split;
  std::unique_ptr<Communicator> split(int color, int key, const std::string& name) override;

  int device() const { return device_; }

 private:
  void check(ncclResult_t result, const char* collective) const;
  void check_device(const at::Tensor& tensor, const char* collective) const;
  // Waits for the current stream of our device, polling for NCCL errors, under the watchdog.
  void synchronize(const char* collective);

  std::unique_ptr<MpiCommunicator> mpi_;
  int device_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace mha2mla::dist

#endif  // MHA2MLA_HAVE_NCCL

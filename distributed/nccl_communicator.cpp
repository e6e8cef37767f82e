// Built only with MHA2MLA_HAVE_NCCL (see distributed/CMakeLists.txt); the guard keeps a stray inclusion harmless.
#if defined(MHA2MLA_HAVE_NCCL)

#include "distributed/nccl_communicator.h"

#include <cuda_runtime_api.h>

#include <chrono>
#include <climits>
#include <thread>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <fmt/format.h>

#include "common/error.h"
#include "common/strings.h"

namespace mha2mla::dist {
namespace {

// ncclAvg (and ncclBfloat16) arrived in NCCL 2.10; before that avg is a sum followed by a division.
ncclRedOp_t nccl_reduction(ReduceOp op, at::ScalarType type, bool& divide_after) {
  divide_after = false;
  if (op == ReduceOp::max || type == at::kBool) return ncclMax;  // max of bools = logical or
  if (op == ReduceOp::avg) {
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 10, 0)
    return ncclAvg;
#else
    divide_after = true;
#endif
  }
  return ncclSum;
}

// False when NCCL cannot move this dtype natively (the caller widens or fails).
bool nccl_datatype(at::ScalarType type, ncclDataType_t& out) {
  switch (type) {
    case at::kFloat: out = ncclFloat32; return true;
    case at::kDouble: out = ncclFloat64; return true;
    case at::kHalf: out = ncclFloat16; return true;
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 10, 0)
    case at::kBFloat16: out = ncclBfloat16; return true;
#endif
    case at::kChar: out = ncclInt8; return true;
    case at::kByte: out = ncclUint8; return true;
    case at::kBool: out = ncclUint8; return true;  // reduced with max = logical or
    case at::kInt: out = ncclInt32; return true;
    case at::kLong: out = ncclInt64; return true;
    default: return false;
  }
}

cudaStream_t current_stream(int device) { return c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).stream(); }

size_t tensor_bytes(const at::Tensor& tensor) { return static_cast<size_t>(tensor.numel()) * tensor.element_size(); }

}  // namespace

NcclCommunicator::NcclCommunicator(std::unique_ptr<MpiCommunicator> mpi, int device)
    : mpi_(std::move(mpi)), device_(device) {
  ncclUniqueId id{};
  if (mpi_->rank() == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  // Over MPI, under its watchdog: if rank 0 failed above, the others time out instead of waiting forever.
  mpi_->broadcast(at::from_blob(&id, {static_cast<int64_t>(sizeof(id))}, at::kByte), 0);
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  auto scope = watch_if(mpi_->watchdog().get(),
                        fmt::format("ncclCommInitRank on group '{}' (rank {} of {})", name(), rank(), size()));
  check(ncclCommInitRank(&comm_, size(), id, rank()), "ncclCommInitRank");
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_) ncclCommDestroy(comm_);
}

void NcclCommunicator::check(ncclResult_t result, const char* collective) const {
  if (result == ncclSuccess) return;
  fail_with_hint("run with NCCL_DEBUG=WARN (or INFO) for NCCL's own account", "NCCL {} on group '{}' (rank {} of {}, "
                 "cuda:{}) failed: {}", collective, name(), rank(), size(), device_, ncclGetErrorString(result));
}

void NcclCommunicator::check_device(const at::Tensor& tensor, const char* collective) const {
  if (tensor.device().index() != device_)
    fail("{} on group '{}': tensor is on {} but this rank's NCCL communicator uses cuda:{}", collective, name(),
         tensor.device().str(), device_);
}

void NcclCommunicator::synchronize(const char* collective) {
  cudaStream_t stream = current_stream(device_);
  auto scope = watch_if(mpi_->watchdog().get(),
                        fmt::format("{} (waiting for NCCL work) on group '{}' (rank {} of {})", collective, name(),
                                    rank(), size()));
  // Poll rather than block: a peer's failure shows up as an asynchronous NCCL error, not as completion.
  while (true) {
    cudaError_t status = cudaStreamQuery(stream);
    if (status == cudaSuccess) return;
    if (status != cudaErrorNotReady)
      fail("{} on group '{}': CUDA error {} while waiting for NCCL work", collective, name(),
           cudaGetErrorString(status));
    ncclResult_t async_error = ncclSuccess;
    check(ncclCommGetAsyncError(comm_, &async_error), "ncclCommGetAsyncError");
    check(async_error, collective);
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

void NcclCommunicator::all_reduce(const at::Tensor& tensor, ReduceOp op) {
  MHA2MLA_CHECK(tensor.defined(), "all_reduce of an undefined tensor on group '{}'", name());
  if (!tensor.is_cuda()) return mpi_->all_reduce(tensor, op);
  at::NoGradGuard no_grad;
  check_device(tensor, "all_reduce");
  at::ScalarType type = tensor.scalar_type();
  if (at::isComplexType(type)) {
    if (op == ReduceOp::max) fail("all_reduce on group '{}': max of a complex tensor is undefined", name());
    at::Tensor work = tensor.is_contiguous() ? tensor : tensor.contiguous();
    all_reduce(at::view_as_real(work), op);
    if (!work.is_same(tensor)) tensor.copy_(work);
    return;
  }
  ncclDataType_t nccl_type;
  if (!nccl_datatype(type, nccl_type)) {
    if (type == at::kBFloat16 || type == at::kShort) {  // no native NCCL type: reduce widened
      at::Tensor wide = tensor.to(type == at::kBFloat16 ? at::kFloat : at::kInt);
      all_reduce(wide, op);
      tensor.copy_(wide);
      return;
    }
    fail("all_reduce on group '{}': dtype {} is not supported by NCCL", name(), c10::toString(type));
  }
  bool floating = at::isFloatingType(type);
  if (op == ReduceOp::avg && !floating)
    fail("all_reduce on group '{}': avg needs a floating tensor but found {}; reduce with sum and divide", name(),
         c10::toString(type));
  bool divide_after = false;
  ncclRedOp_t nccl_op = nccl_reduction(op, type, divide_after);
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  at::Tensor work = tensor.is_contiguous() ? tensor : tensor.contiguous();
  check(ncclAllReduce(work.data_ptr(), work.data_ptr(), static_cast<size_t>(work.numel()), nccl_type, nccl_op, comm_,
                      current_stream(device_)),
        "all_reduce");
  if (divide_after) work.div_(size());
  if (!work.is_same(tensor)) tensor.copy_(work);
}

at::Tensor NcclCommunicator::all_gather(const at::Tensor& tensor) {
  MHA2MLA_CHECK(tensor.defined(), "all_gather of an undefined tensor on group '{}'", name());
  if (!tensor.is_cuda()) return mpi_->all_gather(tensor);
  at::NoGradGuard no_grad;
  check_device(tensor, "all_gather");
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  at::Tensor input = (tensor.dim() == 0 ? tensor.reshape({1}) : tensor).contiguous();
  std::vector<int64_t> sizes = input.sizes().vec();
  sizes[0] *= size();
  at::Tensor gathered = at::empty(sizes, input.options());
  // Gathering moves bytes only, so any dtype travels as raw bytes.
  check(ncclAllGather(input.data_ptr(), gathered.data_ptr(), tensor_bytes(input), ncclUint8, comm_,
                      current_stream(device_)),
        "all_gather");
  return gathered;
}

at::Tensor NcclCommunicator::reduce_scatter(const at::Tensor& tensor, ReduceOp op) {
  MHA2MLA_CHECK(tensor.defined(), "reduce_scatter of an undefined tensor on group '{}'", name());
  if (!tensor.is_cuda()) return mpi_->reduce_scatter(tensor, op);
  at::NoGradGuard no_grad;
  check_device(tensor, "reduce_scatter");
  if (tensor.dim() == 0 || tensor.size(0) % size() != 0)
    fail("reduce_scatter on group '{}': dim 0 of the tensor (shape {}) must divide by the group size {}", name(),
         fmt::join(tensor.sizes(), "x"), size());
  at::ScalarType type = tensor.scalar_type();
  ncclDataType_t nccl_type;
  if (!nccl_datatype(type, nccl_type) || at::isComplexType(type)) {
    if (type == at::kBFloat16) return reduce_scatter(tensor.to(at::kFloat), op).to(type);
    if (type == at::kShort) return reduce_scatter(tensor.to(at::kInt), op).to(type);
    fail("reduce_scatter on group '{}': dtype {} is not supported by NCCL", name(), c10::toString(type));
  }
  if (op == ReduceOp::avg && !at::isFloatingType(type))
    fail("reduce_scatter on group '{}': avg needs a floating tensor but found {}; reduce with sum and divide", name(),
         c10::toString(type));
  bool divide_after = false;
  ncclRedOp_t nccl_op = nccl_reduction(op, type, divide_after);
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  at::Tensor input = tensor.contiguous();
  std::vector<int64_t> sizes = input.sizes().vec();
  sizes[0] /= size();
  at::Tensor mine = at::empty(sizes, input.options());
  check(ncclReduceScatter(input.data_ptr(), mine.data_ptr(), static_cast<size_t>(mine.numel()), nccl_type, nccl_op,
                          comm_, current_stream(device_)),
        "reduce_scatter");
  if (divide_after) mine.div_(size());
  return mine;
}

void NcclCommunicator::broadcast(const at::Tensor& tensor, int root) {
  MHA2MLA_CHECK(tensor.defined(), "broadcast of an undefined tensor on group '{}'", name());
  if (!tensor.is_cuda()) return mpi_->broadcast(tensor, root);
  at::NoGradGuard no_grad;
  check_device(tensor, "broadcast");
  if (root < 0 || root >= size())
    fail("broadcast on group '{}': root {} is not a rank of this group (size {})", name(), root, size());
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  at::Tensor work = tensor.is_contiguous() ? tensor : tensor.contiguous();
  check(ncclBroadcast(work.data_ptr(), work.data_ptr(), tensor_bytes(work), ncclUint8, root, comm_,
                      current_stream(device_)),
        "broadcast");
  if (!work.is_same(tensor)) tensor.copy_(work);
}

void NcclCommunicator::barrier() {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  synchronize("barrier");
  mpi_->barrier();
}

std::unique_ptr<Communicator> NcclCommunicator::split(int color, int key, const std::string& name) {
  return std::make_unique<NcclCommunicator>(mpi_->split_mpi(color, key, name), device_);
}

}  // namespace mha2mla::dist

#endif  // MHA2MLA_HAVE_NCCL

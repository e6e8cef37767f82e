#include "distributed/mpi_communicator.h"

#if defined(OPEN_MPI) && OPEN_MPI
#include <mpi-ext.h>  // MPIX_Query_cuda_support
#endif

#include <algorithm>
#include <climits>
#include <mutex>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/strings.h"

namespace mha2mla::dist {
namespace {

// MPI counts are int; larger tensors go in chunks of this many elements.
constexpr int64_t kMaxChunkElements = int64_t{1} << 30;

bool is_half_precision(at::ScalarType type) { return type == at::kHalf || type == at::kBFloat16; }

// The MPI type that moves (and, except for the 16-bit floats, reduces) elements of `type`.
MPI_Datatype mpi_datatype(at::ScalarType type, const std::string& where) {
  switch (type) {
    case at::kFloat: return MPI_FLOAT;
    case at::kDouble: return MPI_DOUBLE;
    case at::kHalf:
    case at::kBFloat16: return MPI_UINT16_T;  // moved as raw 16-bit words; reductions widen to float32 first
    case at::kChar: return MPI_INT8_T;
    case at::kByte: return MPI_UINT8_T;
    case at::kShort: return MPI_INT16_T;
    case at::kInt: return MPI_INT32_T;
    case at::kLong: return MPI_INT64_T;
    case at::kBool: return MPI_C_BOOL;
    case at::kComplexFloat: return MPI_C_FLOAT_COMPLEX;
    case at::kComplexDouble: return MPI_C_DOUBLE_COMPLEX;
    default: break;
  }
  fail("{}: dtype {} is not supported; expected a float, integer, bool or complex tensor", where,
       c10::toString(type));
}

MPI_Op mpi_op(ReduceOp op, at::ScalarType type, const std::string& where) {
  bool floating = at::isFloatingType(type), complex = at::isComplexType(type);
  if (type == at::kBool) {
    if (op == ReduceOp::avg) fail("{}: avg of a bool tensor is undefined; use sum or max (logical or)", where);
    return MPI_LOR;
  }
  if (op == ReduceOp::avg && !floating && !complex)
    fail("{}: avg needs a floating tensor but found {}; reduce with sum and divide", where, c10::toString(type));
  if (op == ReduceOp::max && complex) fail("{}: max of a complex tensor is undefined", where);
  return op == ReduceOp::max ? MPI_MAX : MPI_SUM;
}

void warn_once_about_staging(const std::string& group) {
  static std::once_flag once;
  std::call_once(once, [&] {
    spdlog::warn("MPI is not CUDA-aware: CUDA tensors on group '{}' (and any other) are copied through host "
                 "memory for every collective; build with NCCL for GPU collectives",
                 group);
  });
}

size_t tensor_bytes(const at::Tensor& tensor) { return static_cast<size_t>(tensor.numel()) * tensor.element_size(); }

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm, bool owned, std::string name,
                                 std::shared_ptr<CollectiveWatchdog> watchdog)
    : comm_(comm), owned_(owned), name_(std::move(name)), watchdog_(std::move(watchdog)) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  MHA2MLA_CHECK(initialized, "MpiCommunicator '{}' created before MPI_Init", name_);
  // Errors come back as codes that check() turns into an Error naming the collective, instead of MPI's
  // default abort with a message that names neither.
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

MpiCommunicator::~MpiCommunicator() {
  if (!owned_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Comm_free(&comm_);
}

bool MpiCommunicator::cuda_aware() {
#if defined(MPIX_CUDA_AWARE_SUPPORT) && MPIX_CUDA_AWARE_SUPPORT
  return MPIX_Query_cuda_support() == 1;
#else
  return false;
#endif
}

std::string MpiCommunicator::describe(const char* collective, size_t bytes, const char* detail) const {
  return fmt::format("{}{}{}{} of {} on group '{}' (rank {} of {})", collective, detail ? "(" : "",
                     detail ? detail : "", detail ? ")" : "", format_bytes(static_cast<double>(bytes)), name_,
                     rank_, size_);
}

void MpiCommunicator::check(int code, const char* collective) const {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail("MPI {} on group '{}' (rank {} of {}) failed: {}", collective, name_, rank_, size_,
       std::string(text, static_cast<size_t>(length)));
}

CollectiveWatchdog::Scope MpiCommunicator::watch(const char* collective, size_t bytes, const char* detail) const {
  return watch_if(watchdog_.get(), watchdog_ ? describe(collective, bytes, detail) : std::string());
}

void MpiCommunicator::all_reduce(const at::Tensor& tensor, ReduceOp op) {
  MHA2MLA_CHECK(tensor.defined(), "all_reduce of an undefined tensor on group '{}'", name_);
  at::NoGradGuard no_grad;
  if (tensor.is_cuda() && !cuda_aware()) {
    warn_once_about_staging(name_);
    at::Tensor host = tensor.to(at::kCPU);
    all_reduce(host, op);
    tensor.copy_(host);
    return;
  }
  std::string where = fmt::format("all_reduce on group '{}'", name_);
  if (is_half_precision(tensor.scalar_type())) {
    // MPI has no 16-bit float types: accumulate in float32 (exact for sums that fit its mantissa), round once.
    at::Tensor wide = tensor.to(at::kFloat);
    all_reduce(wide, op);
    tensor.copy_(wide);
    return;
  }
  MPI_Datatype type = mpi_datatype(tensor.scalar_type(), where);
  MPI_Op reduction = mpi_op(op, tensor.scalar_type(), where);
  at::Tensor work = tensor.is_contiguous() ? tensor : tensor.contiguous();
  {
    auto scope = watch("all_reduce", tensor_bytes(work), reduce_op_name(op));
    char* data = static_cast<char*>(work.data_ptr());
    const int64_t total = work.numel(), element = static_cast<int64_t>(work.element_size());
    for (int64_t offset = 0; offset < total; offset += kMaxChunkElements) {
      int count = static_cast<int>(std::min(kMaxChunkElements, total - offset));
      check(MPI_Allreduce(MPI_IN_PLACE, data + offset * element, count, type, reduction, comm_), "all_reduce");
    }
  }
  if (op == ReduceOp::avg) work.div_(size_);
  if (!work.is_same(tensor)) tensor.copy_(work);
}

at::Tensor MpiCommunicator::all_gather(const at::Tensor& tensor) {
  MHA2MLA_CHECK(tensor.defined(), "all_gather of an undefined tensor on group '{}'", name_);
  at::NoGradGuard no_grad;
  at::Tensor input = tensor.dim() == 0 ? tensor.reshape({1}) : tensor;
  if (input.is_cuda() && !cuda_aware()) {
    warn_once_about_staging(name_);
    return all_gather(input.to(at::kCPU)).to(input.device());
  }
  std::string where = fmt::format("all_gather on group '{}'", name_);
  MPI_Datatype type = mpi_datatype(input.scalar_type(), where);
  input = input.contiguous();
  if (input.numel() > INT_MAX)
    fail("{}: {} elements per rank exceed MPI's int count; gather the tensor in slices", where, input.numel());
  std::vector<int64_t> sizes = input.sizes().vec();
  sizes[0] *= size_;
  at::Tensor gathered = at::empty(sizes, input.options());
  int count = static_cast<int>(input.numel());
  auto scope = watch("all_gather", tensor_bytes(input));
  check(MPI_Allgather(input.data_ptr(), count, type, gathered.data_ptr(), count, type, comm_), "all_gather");
  return gathered;
}

at::Tensor MpiCommunicator::reduce_scatter(const at::Tensor& tensor, ReduceOp op) {
  MHA2MLA_CHECK(tensor.defined(), "reduce_scatter of an undefined tensor on group '{}'", name_);
  at::NoGradGuard no_grad;
  std::string where = fmt::format("reduce_scatter on group '{}'", name_);
  if (tensor.dim() == 0 || tensor.size(0) % size_ != 0)
    fail("{}: dim 0 of the tensor (shape {}) must divide by the group size {}", where, fmt::join(tensor.sizes(), "x"),
         size_);
  if (tensor.is_cuda() && !cuda_aware()) {
    warn_once_about_staging(name_);
    return reduce_scatter(tensor.to(at::kCPU), op).to(tensor.device());
  }
  if (is_half_precision(tensor.scalar_type()))
    return reduce_scatter(tensor.to(at::kFloat), op).to(tensor.scalar_type());
  MPI_Datatype type = mpi_datatype(tensor.scalar_type(), where);
  MPI_Op reduction = mpi_op(op, tensor.scalar_type(), where);
  at::Tensor input = tensor.contiguous();
  std::vector<int64_t> sizes = input.sizes().vec();
  sizes[0] /= size_;
  at::Tensor mine = at::empty(sizes, input.options());
  if (mine.numel() > INT_MAX)
    fail("{}: {} elements per rank exceed MPI's int count; reduce the tensor in slices", where, mine.numel());
  {
    auto scope = watch("reduce_scatter", tensor_bytes(input), reduce_op_name(op));
    check(MPI_Reduce_scatter_block(input.data_ptr(), mine.data_ptr(), static_cast<int>(mine.numel()), type, reduction,
                                   comm_),
          "reduce_scatter");
  }
  if (op == ReduceOp::avg) mine.div_(size_);
  return mine;
}

void MpiCommunicator::broadcast(const at::Tensor& tensor, int root) {
  MHA2MLA_CHECK(tensor.defined(), "broadcast of an undefined tensor on group '{}'", name_);
  at::NoGradGuard no_grad;
  if (root < 0 || root >= size_)
    fail("broadcast on group '{}': root {} is not a rank of this group (size {})", name_, root, size_);
  if (tensor.is_cuda() && !cuda_aware()) {
    warn_once_about_staging(name_);
    at::Tensor host = tensor.to(at::kCPU);
    broadcast(host, root);
    tensor.copy_(host);
    return;
  }
  MPI_Datatype type = mpi_datatype(tensor.scalar_type(), fmt::format("broadcast on group '{}'", name_));
  at::Tensor work = tensor.is_contiguous() ? tensor : tensor.contiguous();
  {
    auto scope = watch("broadcast", tensor_bytes(work), nullptr);
    char* data = static_cast<char*>(work.data_ptr());
    const int64_t total = work.numel(), element = static_cast<int64_t>(work.element_size());
    for (int64_t offset = 0; offset < total; offset += kMaxChunkElements) {
      int count = static_cast<int>(std::min(kMaxChunkElements, total - offset));
      check(MPI_Bcast(data + offset * element, count, type, root, comm_), "broadcast");
    }
  }
  if (!work.is_same(tensor)) tensor.copy_(work);
}

void MpiCommunicator::barrier() {
  auto scope = watch("barrier", 0);
  check(MPI_Barrier(comm_), "barrier");
}

double MpiCommunicator::all_reduce_double(double value, ReduceOp op) {
  double result = 0;
  {
    auto scope = watch("all_reduce_double", sizeof(double), reduce_op_name(op));
    check(MPI_Allreduce(&value, &result, 1, MPI_DOUBLE, op == ReduceOp::max ? MPI_MAX : MPI_SUM, comm_),
          "all_reduce_double");
  }
  return op == ReduceOp::avg ? result / size_ : result;
}

int64_t MpiCommunicator::all_reduce_int(int64_t value, ReduceOp op) {
  if (op == ReduceOp::avg)
    fail("all_reduce_int on group '{}': avg of integers would truncate; use sum and divide", name_);
  int64_t result = 0;
  auto scope = watch("all_reduce_int", sizeof(int64_t), reduce_op_name(op));
  check(MPI_Allreduce(&value, &result, 1, MPI_INT64_T, op == ReduceOp::max ? MPI_MAX : MPI_SUM, comm_),
        "all_reduce_int");
  return result;
}

std::unique_ptr<MpiCommunicator> MpiCommunicator::split_mpi(int color, int key, const std::string& name) {
  if (color < 0) fail("split of group '{}' into '{}': color must be >= 0, found {}", name_, name, color);
  MPI_Comm child = MPI_COMM_NULL;
  {
    auto scope = watch("split", 0, name.c_str());
    check(MPI_Comm_split(comm_, color, key, &child), "split");
  }
  return std::make_unique<MpiCommunicator>(child, /*owned=*/true, name, watchdog_);
}

std::unique_ptr<Communicator> MpiCommunicator::split(int color, int key, const std::string& name) {
  return split_mpi(color, key, name);
}

}  // namespace mha2mla::dist

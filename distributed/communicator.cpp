#include "distributed/communicator.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "common/error.h"

namespace mha2mla::dist {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::avg: return "avg";
    case ReduceOp::max: return "max";
  }
  return "?";
}

std::vector<at::Tensor> Communicator::all_gather_list(const at::Tensor& tensor) {
  return all_gather(tensor).chunk(size(), 0);
}

std::unique_ptr<Communicator> Communicator::split(int color, int key) {
  return split(color, key, fmt::format("{}/{}", name(), color));
}

namespace {

// One rank: nothing to exchange, but the same argument checks as the real backends, so that code which
// is wrong under mpirun is also wrong without it.
class SingleProcessCommunicator final : public Communicator {
 public:
  explicit SingleProcessCommunicator(std::string name) : name_(std::move(name)) {}

  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "single"; }
  const std::string& name() const override { return name_; }

  void all_reduce(const at::Tensor& tensor, ReduceOp op) override {
    MHA2MLA_CHECK(tensor.defined(), "all_reduce of an undefined tensor on group '{}'", name_);
    check_op(op, tensor.scalar_type(), "all_reduce");
  }
  at::Tensor all_gather(const at::Tensor& tensor) override {
    MHA2MLA_CHECK(tensor.defined(), "all_gather of an undefined tensor on group '{}'", name_);
    return (tensor.dim() == 0 ? tensor.reshape({1}) : tensor).clone(at::MemoryFormat::Contiguous);
  }
  at::Tensor reduce_scatter(const at::Tensor& tensor, ReduceOp op) override {
    MHA2MLA_CHECK(tensor.defined(), "reduce_scatter of an undefined tensor on group '{}'", name_);
    if (tensor.dim() == 0)
      fail("reduce_scatter on group '{}': dim 0 of the tensor (a scalar) must divide by the group size 1", name_);
    check_op(op, tensor.scalar_type(), "reduce_scatter");
    return tensor.clone(at::MemoryFormat::Contiguous);
  }
  void broadcast(const at::Tensor& tensor, int root) override {
    MHA2MLA_CHECK(tensor.defined(), "broadcast of an undefined tensor on group '{}'", name_);
    if (root != 0) fail("broadcast on group '{}': root {} is not a rank of this group (size 1)", name_, root);
  }
  void barrier() override {}
  double all_reduce_double(double value, ReduceOp) override { return value; }
  int64_t all_reduce_int(int64_t value, ReduceOp op) override {
    if (op == ReduceOp::avg)
      fail("all_reduce_int on group '{}': avg of integers would truncate; use sum and divide", name_);
    return value;
  }
  using Communicator::split;
  std::unique_ptr<Communicator> split(int color, int, const std::string& name) override {
    if (color < 0) fail("split of group '{}' into '{}': color must be >= 0, found {}", name_, name, color);
    return std::make_unique<SingleProcessCommunicator>(name);
  }

 private:
  void check_op(ReduceOp op, at::ScalarType type, const char* collective) const {
    bool floating = at::isFloatingType(type) || at::isComplexType(type);
    if (op == ReduceOp::avg && !floating)
      fail("{} on group '{}': avg needs a floating tensor but found {}; reduce with sum and divide", collective,
           name_, c10::toString(type));
    if (op == ReduceOp::max && at::isComplexType(type))
      fail("{} on group '{}': max of a complex tensor is undefined", collective, name_);
  }

  std::string name_;
};

}  // namespace

std::unique_ptr<Communicator> make_single_process_communicator(const std::string& name) {
  return std::make_unique<SingleProcessCommunicator>(name);
}

}  // namespace mha2mla::dist

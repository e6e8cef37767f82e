#include "model/io/load_parameters.h"

#include <ATen/ATen.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/strings.h"
#include "model/io/tensor_io.h"

namespace mha2mla {
namespace {

std::string shape_text(at::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace

std::set<std::string> load_parameters(const io::SafetensorsCheckpoint& checkpoint,
                                      const std::function<void(const ParamVisitor&)>& walk, const LoadSpec& spec) {
  at::NoGradGuard no_grad;
  std::set<std::string> used;
  std::vector<std::string> missing;
  walk([&](ParamRef& ref) {
    const std::string name = spec.file_name(ref.name);
    if (!checkpoint.contains(name)) {
      missing.push_back(fmt::format("{} {}", name, shape_text(ref.tensor->sizes())));
      return;
    }
    used.insert(name);
    const io::TensorInfo info = checkpoint.info(name);
    std::vector<int64_t> expected = ref.tensor->sizes().vec();
    if (ref.shard_dim >= 0) expected[static_cast<size_t>(ref.shard_dim)] = ref.full_size;
    if (info.shape != expected)
      fail_with_hint("the checkpoint and its config.json disagree; check that they belong together",
                     "{}: tensor '{}' has shape {} but the model config expects {}", checkpoint.file_of(name), name,
                     shape_text(info.shape), shape_text(expected));
    at::Tensor value = io::to_tensor(checkpoint.view(name));
    if (!at::isFloatingType(value.scalar_type()))
      fail("{}: tensor '{}' has dtype {} but a floating-point parameter is expected", checkpoint.file_of(name), name,
           io::dtype_name(info.dtype));
    if (ref.shard_dim >= 0)
      value = value.index_select(ref.shard_dim, at::tensor(ref.shard_indices, at::kLong));
    ref.tensor->copy_(value);
  });
  if (!missing.empty())
    fail_with_hint("is this checkpoint for a different architecture or size than its config.json says?",
                   "{}: {} tensor(s) missing, e.g. {}", checkpoint.source(), missing.size(),
                   join(std::vector<std::string>(missing.begin(), missing.begin() + std::min<size_t>(missing.size(), 5)), "; "));
  std::vector<std::string> unexpected;
  for (const auto& name : checkpoint.names())
    if (!used.count(name) && !(spec.ignorable && spec.ignorable(name))) unexpected.push_back(name);
  if (!unexpected.empty()) {
    std::string listed = join(std::vector<std::string>(unexpected.begin(), unexpected.begin() + std::min<size_t>(unexpected.size(), 5)), ", ");
    if (spec.strict_unexpected)
      fail_with_hint("the checkpoint holds tensors the model config does not account for (more layers? another "
                     "architecture?)",
                     "{}: {} unexpected tensor(s): {}", checkpoint.source(), unexpected.size(), listed);
    spdlog::warn("{}: {} tensor(s) not used: {}", checkpoint.source(), unexpected.size(), listed);
  }
  return used;
}

}  // namespace mha2mla

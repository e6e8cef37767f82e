#include "model/io/tensor_io.h"

#include <cstring>
#include <limits>
#include <type_traits>

#include <ATen/ATen.h>

#include "common/error.h"
#include "model/io/float8.h"
#include "model/io/safetensors_writer.h"

namespace mha2mla::io {
namespace {

std::string where(const TensorView& view) {
  return fmt::format("tensor '{}' ({})", view.info.name, dtype_name(view.info.dtype));
}

// Widens unsigned integers into the next signed torch type; U64 values past int64's range are refused.
template <typename Source, typename Target>
at::Tensor widen(const TensorView& view, at::ScalarType type) {
  at::Tensor out = at::empty(view.info.shape, at::TensorOptions().dtype(type));
  auto* target = out.data_ptr<Target>();
  const int64_t count = view.info.numel();
  for (int64_t i = 0; i < count; ++i) {
    Source value;
    std::memcpy(&value, view.data + i * sizeof(Source), sizeof(Source));
    if (value > static_cast<std::make_unsigned_t<Target>>(std::numeric_limits<Target>::max()))
      fail("{} holds {} at element {}, beyond the int64 range LibTorch can hold", where(view), value, i);
    target[i] = static_cast<Target>(value);
  }
  return out;
}

void check_bool_bytes(const TensorView& view) {
  for (uint64_t i = 0; i < view.nbytes; ++i)
    if (view.data[i] > 1)
      fail("{} holds byte {} at element {}; BOOL elements must be 0 or 1", where(view), view.data[i], i);
}

}  // namespace

std::optional<at::ScalarType> exact_scalar_type(DType dtype) {
  switch (dtype) {
    case DType::BOOL: return at::kBool;
    case DType::U8: return at::kByte;
    case DType::I8: return at::kChar;
    case DType::I16: return at::kShort;
    case DType::I32: return at::kInt;
    case DType::I64: return at::kLong;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::F32: return at::kFloat;
    case DType::F64: return at::kDouble;
    case DType::C64: return at::kComplexFloat;
    default: return std::nullopt;
  }
}

at::ScalarType loaded_scalar_type(DType dtype) {
  if (auto exact = exact_scalar_type(dtype)) return *exact;
  if (is_float8(dtype)) return at::kFloat;
  switch (dtype) {
    case DType::U16: return at::kInt;
    case DType::U32:
    case DType::U64: return at::kLong;
    default:
      fail("safetensors dtype {} ({}-bit packed MX format) cannot be loaded as a LibTorch tensor", dtype_name(dtype),
           dtype_bits(dtype));
  }
}

DType dtype_for(at::ScalarType type) {
  for (DType dtype : all_dtypes()) {
    auto exact = exact_scalar_type(dtype);
    if (exact && *exact == type) return dtype;
  }
  fail("torch dtype {} has no safetensors equivalent (supported: bool, uint8, int8, int16, int32, int64, float16, "
       "bfloat16, float32, float64, complex64)",
       c10::toString(type));
}

bool aliases_on_load(const TensorView& view) {
  auto exact = exact_scalar_type(view.info.dtype);
  if (!exact || !view.owner || !view.writable) return false;
  return reinterpret_cast<uintptr_t>(view.data) % c10::elementSize(*exact) == 0;
}

at::Tensor to_tensor(const TensorView& view) {
  const TensorInfo& info = view.info;
  MHA2MLA_CHECK(view.nbytes == info.nbytes(), "view of '{}' spans {} bytes, its info {}", info.name, view.nbytes,
                info.nbytes());
  if (auto exact = exact_scalar_type(info.dtype)) {
    if (info.dtype == DType::BOOL) check_bool_bytes(view);
    auto options = at::TensorOptions().dtype(*exact);
    if (aliases_on_load(view)) {
      // The deleter owns a reference to the mapping: the tensor keeps the file mapped as long as it lives.
      std::shared_ptr<const void> owner = view.owner;
      return at::from_blob(const_cast<uint8_t*>(view.data), info.shape, [owner](void*) {}, options);
    }
    at::Tensor out = at::empty(info.shape, options);
    if (view.nbytes) std::memcpy(out.data_ptr(), view.data, view.nbytes);
    return out;
  }
  switch (loaded_scalar_type(info.dtype)) {
    case at::kFloat: {
      at::Tensor out = at::empty(info.shape, at::TensorOptions().dtype(at::kFloat));
      decode_float8(info.dtype, view.data, view.nbytes, out.data_ptr<float>());
      return out;
    }
    case at::kInt: return widen<uint16_t, int32_t>(view, at::kInt);
    default:
      if (info.dtype == DType::U32) return widen<uint32_t, int64_t>(view, at::kLong);
      return widen<uint64_t, int64_t>(view, at::kLong);
  }
}

void add_tensor(SafetensorsWriter& writer, const std::string& name, const at::Tensor& tensor) {
  if (!tensor.defined()) fail("cannot save tensor '{}': it is undefined", name);
  if (tensor.layout() != at::kStrided)
    fail("cannot save tensor '{}': its layout is not dense (convert it with to_dense())", name);
  DType dtype = dtype_for(tensor.scalar_type());
  at::Tensor dense = tensor.detach().to(at::kCPU).resolve_conj().resolve_neg().contiguous();
  const auto nbytes = static_cast<size_t>(dense.numel()) * dense.element_size();
  std::vector<uint8_t> bytes(nbytes);
  if (nbytes) std::memcpy(bytes.data(), dense.data_ptr(), nbytes);
  writer.add(name, dtype, dense.sizes().vec(), std::move(bytes));
}

}  // namespace mha2mla::io

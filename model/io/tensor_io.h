// The LibTorch side of safetensors: tensors from views (zero-copy over the file mapping when possible) and
// tensors into the writer.
//
// dtype mapping on load:
//   BOOL U8 I8 I16 I32 I64 F16 BF16 F32 F64 C64   the same torch type, bit for bit (aliasing when possible)
//   F8_E4M3 F8_E5M2 F8_E4M3FNUZ F8_E5M2FNUZ F8_E8M0   float32, decoded in software (no float8 in LibTorch 1.13)
//   U16 -> int32, U32 -> int64, U64 -> int64 (values must fit)   widened: LibTorch 1.13 has no wide unsigned
//   F4 F6_E2M3 F6_E3M2   refused with an Error (packed MX formats need their block scales to mean anything)
#pragma once

#include <optional>
#include <string>

#include <ATen/core/Tensor.h>

#include "model/io/safetensors.h"

namespace mha2mla::io {

class SafetensorsWriter;

// The torch type holding `dtype` bit for bit, or nullopt when LibTorch 1.13 has none.
std::optional<at::ScalarType> exact_scalar_type(DType dtype);

// The torch type to_tensor() returns for `dtype` (see the table above); throws Error for F4/F6.
at::ScalarType loaded_scalar_type(DType dtype);

// The safetensors dtype for a torch type; throws Error naming the type when safetensors has none.
DType dtype_for(at::ScalarType type);

// True when to_tensor(view) aliases the view's bytes: exact dtype, bytes kept alive by view.owner and
// writable (copy-on-write), and aligned for the element type.
bool aliases_on_load(const TensorView& view);

// A CPU tensor with the view's values and shape. When it aliases the file mapping it keeps the mapping
// alive; the mapping is copy-on-write, so writing into the tensor never touches the file (but is seen by
// later tensors of the same name taken from the same open file). Otherwise the values are copied or
// decoded. BOOL bytes other than 0 and 1 are refused.
at::Tensor to_tensor(const TensorView& view);

// Adds a contiguous CPU copy of `tensor` (any device, conjugate/negative views resolved) to the writer:
// a copy, so that training can keep updating the tensor in place before the file is written.
void add_tensor(SafetensorsWriter& writer, const std::string& name, const at::Tensor& tensor);

}  // namespace mha2mla::io

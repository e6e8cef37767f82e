// Software decoding of the 8-bit float formats safetensors can hold. LibTorch 1.13 has no float8 type,
// yet real checkpoints ship FP8 weights (DeepSeek-V3: F8_E4M3 with F32 block scales), so they are widened
// to float32 on load. Every code decodes exactly: float32 holds every FP8 value.
#pragma once

#include <cstddef>
#include <cstdint>

#include "model/io/safetensors.h"

namespace mha2mla::io {

// F8_E4M3, F8_E5M2, F8_E4M3FNUZ, F8_E5M2FNUZ, F8_E8M0.
bool is_float8(DType dtype);

// The value of one code. NaN codes give a quiet NaN; E5M2's infinities give infinities; the FNUZ formats'
// 0x80 and E8M0's 0xFF are NaN. Calling this for a dtype that is not FP8 is a bug (internal check).
float decode_float8(DType dtype, uint8_t code);

// Decodes `count` codes into `out`.
void decode_float8(DType dtype, const uint8_t* codes, size_t count, float* out);

}  // namespace mha2mla::io

// Quantisation of cached rows (the MLA latent c and the RoPE keys k_R; shared/method.md section 6).
//
// A row is one token's `width` values of one cached tensor (the latent row of d_c values, or one KV head's r
// RoPE-key values). It is cut into groups of `group_size` consecutive values (the last group may be shorter);
// each group gets one scale, stored as float16:
//
//   scale = fp16(max|x| / qmax)        qmax = 127 (int8) or 7 (int4): symmetric, no zero point
//   code  = clamp(round(x / scale), -qmax, qmax)     round half to even
//   x^    = code * scale
//
// int8 codes take one byte each; int4 codes are stored as code + 8 (1..15) in nibbles, two per byte, the even
// element in the low nibble. So every |x - x^| <= scale / 2 (barring float16 saturation of huge scales).
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "model/kv_cache.h"

namespace mha2mla {

struct QuantisedRows {
  at::Tensor codes;   // int8 [..., width] (int8), or uint8 [..., ceil(width / 2)] packed nibbles (int4)
  at::Tensor scales;  // float16 [..., groups(width)]
};

// rows [..., width] (any float dtype) -> codes and scales. `quantization` must not be none.
QuantisedRows quantize_rows(const at::Tensor& rows, KvQuantization quantization, int64_t group_size);
// The inverse up to rounding: [..., width] in `dtype`.
at::Tensor dequantize_rows(const QuantisedRows& rows, KvQuantization quantization, int64_t group_size, int64_t width,
                           at::ScalarType dtype);

// Storage of one row: groups, code bytes, and all bytes (codes + float16 scales; element_bytes * width unquantised).
int64_t quantization_groups(int64_t width, int64_t group_size);
int64_t quantized_code_bytes(int64_t width, KvQuantization quantization);
int64_t cached_row_bytes(int64_t width, const LatentCacheOptions& options, int64_t element_bytes);

// Rows [B, H, t, width] appended along t, kept as given or quantised (then read back dequantised).
class CachedRows {
 public:
  explicit CachedRows(const LatentCacheOptions& options = {});
  void append(const at::Tensor& rows);
  at::Tensor values() const;  // [B, H, length, width] in the dtype appended
  int64_t length() const;
  int64_t bytes() const;      // bytes held by the cached tokens: values, or codes + scales

 private:
  LatentCacheOptions options_;
  GrowingBuffer plain_, codes_, scales_;
  int64_t width_ = 0;
  at::ScalarType dtype_ = at::kFloat;
};

}  // namespace mha2mla

#include "model/mla/kv_quantization.h"

#include <ATen/ATen.h>

#include "common/error.h"

namespace mha2mla {
namespace {

constexpr double kFloat16Max = 65504.0;

double code_limit(KvQuantization quantization) {
  return static_cast<double>((1 << (kv_quantization_bits(quantization) - 1)) - 1);  // 127 or 7
}

std::vector<int64_t> with_last(const at::Tensor& x, std::initializer_list<int64_t> last) {
  std::vector<int64_t> sizes = x.sizes().vec();
  sizes.pop_back();
  sizes.insert(sizes.end(), last);
  return sizes;
}

// [..., width] -> [..., groups, group_size], zero-padded (zeros change no group's max|x|).
at::Tensor grouped(const at::Tensor& x, int64_t group_size) {
  const int64_t width = x.size(-1), groups = quantization_groups(width, group_size);
  at::Tensor padded = groups * group_size == width ? x : at::constant_pad_nd(x, {0, groups * group_size - width});
  return padded.reshape(with_last(x, {groups, group_size}));
}

}  // namespace

int64_t quantization_groups(int64_t width, int64_t group_size) { return (width + group_size - 1) / group_size; }

int64_t quantized_code_bytes(int64_t width, KvQuantization quantization) {
  return (width * kv_quantization_bits(quantization) + 7) / 8;
}

int64_t cached_row_bytes(int64_t width, const LatentCacheOptions& options, int64_t element_bytes) {
  if (options.quantization == KvQuantization::none) return width * element_bytes;
  return quantized_code_bytes(width, options.quantization) +
         quantization_groups(width, options.group_size) * static_cast<int64_t>(sizeof(uint16_t));
}

QuantisedRows quantize_rows(const at::Tensor& rows, KvQuantization quantization, int64_t group_size) {
  MHA2MLA_CHECK(quantization != KvQuantization::none, "quantize_rows needs int8 or int4");
  MHA2MLA_CHECK(group_size >= 1, "group_size {} must be positive", group_size);
  const double limit = code_limit(quantization);
  const int64_t width = rows.size(-1);
  at::Tensor groups = grouped(rows.to(at::kFloat), group_size);
  QuantisedRows out;
  out.scales = (groups.abs().amax(-1) / limit).clamp_max(kFloat16Max).to(at::kHalf);
  at::Tensor divisor = out.scales.to(at::kFloat);
  divisor = at::where(divisor == 0, at::ones_like(divisor), divisor);  // an all-zero group (or underflow): codes 0
  at::Tensor codes = at::round(groups / divisor.unsqueeze(-1)).clamp(-limit, limit);
  codes = codes.reshape(with_last(rows, {-1})).narrow(-1, 0, width);
  if (quantization == KvQuantization::int8) {
    out.codes = codes.to(at::kChar).contiguous();
    return out;
  }
  at::Tensor nibbles = (codes + 8).to(at::kByte);  // 1..15
  if (width % 2) nibbles = at::constant_pad_nd(nibbles, {0, 1});
  nibbles = nibbles.reshape(with_last(nibbles, {-1, 2}));
  out.codes = (nibbles.select(-1, 0) + nibbles.select(-1, 1) * 16).contiguous();  // low nibble: even element
  return out;
}

at::Tensor dequantize_rows(const QuantisedRows& rows, KvQuantization quantization, int64_t group_size, int64_t width,
                           at::ScalarType dtype) {
  MHA2MLA_CHECK(quantization != KvQuantization::none, "dequantize_rows needs int8 or int4");
  // Decoding reads the whole cache every step: convert once to float (a vectorised pass; mixed int8 * float
  // arithmetic is several times slower), then scale in place.
  at::Tensor codes;
  if (quantization == KvQuantization::int8) {
    codes = rows.codes.to(at::kFloat);
  } else {
    at::Tensor low = at::bitwise_and(rows.codes, 15), high = at::bitwise_right_shift(rows.codes, 4);
    codes = at::stack({low, high}, -1).reshape(with_last(rows.codes, {-1})).to(at::kFloat).sub_(8);
    if (codes.size(-1) != width) codes = codes.narrow(-1, 0, width);
  }
  at::Tensor values = grouped(codes, group_size);
  values.mul_(rows.scales.to(at::kFloat).unsqueeze(-1));
  values = values.reshape(with_last(codes, {-1}));
  if (values.size(-1) != width) values = values.narrow(-1, 0, width);
  return values.scalar_type() == dtype ? values : values.to(dtype);
}

CachedRows::CachedRows(const LatentCacheOptions& options) : options_(options) {
  if (options.quantization != KvQuantization::none && options.group_size < 1)
    fail("KV-cache group_size {} must be at least 1", options.group_size);
}

void CachedRows::append(const at::Tensor& rows) {
  if (length() == 0) {
    width_ = rows.size(-1);
    dtype_ = rows.scalar_type();
  }
  MHA2MLA_CHECK(rows.size(-1) == width_ && rows.scalar_type() == dtype_, "cached rows change width or dtype");
  if (options_.quantization == KvQuantization::none) {
    plain_.append(rows);
    return;
  }
  QuantisedRows quantised = quantize_rows(rows, options_.quantization, options_.group_size);
  codes_.append(quantised.codes);
  scales_.append(quantised.scales);
}

at::Tensor CachedRows::values() const {
  MHA2MLA_CHECK(length() > 0, "reading an empty cache");
  if (options_.quantization == KvQuantization::none) return plain_.view();
  return dequantize_rows({codes_.view(), scales_.view()}, options_.quantization, options_.group_size, width_, dtype_);
}

int64_t CachedRows::length() const {
  return options_.quantization == KvQuantization::none ? plain_.length() : codes_.length();
}

int64_t CachedRows::bytes() const {
  return options_.quantization == KvQuantization::none ? plain_.bytes() : codes_.bytes() + scales_.bytes();
}

}  // namespace mha2mla

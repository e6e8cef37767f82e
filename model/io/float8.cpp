#include "model/io/float8.h"

#include <array>
#include <cstring>

#include "common/error.h"

namespace mha2mla::io {
namespace {

// How a format spends its codes beyond ordinary numbers.
enum class Specials {
  kIeee,         // top exponent: infinity (mantissa 0) or NaN (E5M2)
  kFiniteOnly,   // only S.1111.111 is NaN; no infinities (OCP E4M3 "fn")
  kUnsignedZero  // 0x80 ("negative zero") is the only NaN; no infinities (the FNUZ formats)
};

struct Format {
  int exponent_bits;
  int mantissa_bits;
  int bias;
  Specials specials;
};

float from_bits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

// Builds the float32 bit pattern directly: re-bias the exponent and left-align the mantissa; subnormal
// FP8 values become normal float32 values after shifting the mantissa up to its leading one.
float decode(const Format& format, uint8_t code) {
  const uint32_t sign = static_cast<uint32_t>(code >> 7) << 31;
  const int mantissa_bits = format.mantissa_bits;
  const uint32_t exponent_max = (1u << format.exponent_bits) - 1;
  uint32_t exponent = (code >> mantissa_bits) & exponent_max;
  uint32_t mantissa = code & ((1u << mantissa_bits) - 1);
  const uint32_t quiet_nan = 0x7FC00000u;

  switch (format.specials) {
    case Specials::kIeee:
      if (exponent == exponent_max) return from_bits(sign | (mantissa == 0 ? 0x7F800000u : quiet_nan));
      break;
    case Specials::kFiniteOnly:
      if (exponent == exponent_max && mantissa == (1u << mantissa_bits) - 1) return from_bits(sign | quiet_nan);
      break;
    case Specials::kUnsignedZero:
      if (code == 0x80) return from_bits(quiet_nan);
      break;
  }
  if (exponent == 0 && mantissa == 0) return from_bits(sign);  // signed zero

  int unbiased = static_cast<int>(exponent) - format.bias;
  if (exponent == 0) {  // subnormal: 0.mantissa * 2^(1 - bias)
    unbiased = 1 - format.bias;
    while ((mantissa & (1u << mantissa_bits)) == 0) {
      mantissa <<= 1;
      --unbiased;
    }
    mantissa &= (1u << mantissa_bits) - 1;
  }
  return from_bits(sign | static_cast<uint32_t>(unbiased + 127) << 23 | mantissa << (23 - mantissa_bits));
}

// E8M0 is a bare exponent: 2^(code - 127); code 0 is 2^-127, a float32 subnormal.
float decode_e8m0(uint8_t code) {
  if (code == 0xFF) return from_bits(0x7FC00000u);
  if (code == 0) return from_bits(0x00400000u);
  return from_bits(static_cast<uint32_t>(code) << 23);
}

using Table = std::array<float, 256>;

Table make_table(DType dtype) {
  Table table{};
  for (int code = 0; code < 256; ++code) {
    auto c = static_cast<uint8_t>(code);
    switch (dtype) {
      case DType::F8_E4M3: table[code] = decode({4, 3, 7, Specials::kFiniteOnly}, c); break;
      case DType::F8_E5M2: table[code] = decode({5, 2, 15, Specials::kIeee}, c); break;
      case DType::F8_E4M3FNUZ: table[code] = decode({4, 3, 8, Specials::kUnsignedZero}, c); break;
      case DType::F8_E5M2FNUZ: table[code] = decode({5, 2, 16, Specials::kUnsignedZero}, c); break;
      case DType::F8_E8M0: table[code] = decode_e8m0(c); break;
      default: MHA2MLA_CHECK(false, "{} is not an FP8 dtype", dtype_name(dtype));
    }
  }
  return table;
}

const Table& table_for(DType dtype) {
  MHA2MLA_CHECK(is_float8(dtype), "{} is not an FP8 dtype", dtype_name(dtype));
  static const std::array<Table, 5> tables = {make_table(DType::F8_E4M3), make_table(DType::F8_E5M2),
                                              make_table(DType::F8_E4M3FNUZ), make_table(DType::F8_E5M2FNUZ),
                                              make_table(DType::F8_E8M0)};
  switch (dtype) {
    case DType::F8_E4M3: return tables[0];
    case DType::F8_E5M2: return tables[1];
    case DType::F8_E4M3FNUZ: return tables[2];
    case DType::F8_E5M2FNUZ: return tables[3];
    default: return tables[4];
  }
}

}  // namespace

bool is_float8(DType dtype) {
  return dtype == DType::F8_E4M3 || dtype == DType::F8_E5M2 || dtype == DType::F8_E4M3FNUZ ||
         dtype == DType::F8_E5M2FNUZ || dtype == DType::F8_E8M0;
}

float decode_float8(DType dtype, uint8_t code) { return table_for(dtype)[code]; }

void decode_float8(DType dtype, const uint8_t* codes, size_t count, float* out) {
  const Table& table = table_for(dtype);
  for (size_t i = 0; i < count; ++i) out[i] = table[codes[i]];
}

}  // namespace mha2mla::io

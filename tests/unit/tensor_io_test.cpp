// The LibTorch bridge: tensors of every torch dtype survive tensor -> file -> tensor bit for bit; loads
// alias the mapping when aligned and copy otherwise; FP8 codes decode to the values the formats' closed-form
// definitions give (sign, exponent, mantissa, bias; OCP FP8 and the FNUZ variants); unsigned types widen.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <ATen/ATen.h>

#include "common/error.h"
#include "common/files.h"
#include "model/io/float8.h"
#include "model/io/safetensors.h"
#include "model/io/safetensors_writer.h"
#include "model/io/tensor_io.h"

namespace mha2mla::io {
namespace {

namespace fs = std::filesystem;

std::string scratch_dir(const std::string& name) {
  const char* root = std::getenv("MHA2MLA_TEST_TMP");
  std::string dir = path_join(root ? root : fs::temp_directory_path().string(), "tensor_io_test/" + name);
  fs::remove_all(dir);
  ensure_directory(dir);
  return dir;
}

std::string bytes_of(const at::Tensor& tensor) {
  at::Tensor dense = tensor.contiguous();
  return std::string(static_cast<const char*>(dense.data_ptr()), dense.numel() * dense.element_size());
}

// ---- FP8: closed-form definitions, written independently of float8.cpp's bit manipulation ----

struct Fp8Format {
  DType dtype;
  int exponent_bits, mantissa_bits, bias;
};

// (-1)^s * 2^(e - bias) * (1 + m / 2^M) for normal codes, (-1)^s * 2^(1 - bias) * (m / 2^M) for e = 0.
double closed_form(const Fp8Format& f, int code) {
  int sign = code >> 7;
  int exponent = (code >> f.mantissa_bits) & ((1 << f.exponent_bits) - 1);
  int mantissa = code & ((1 << f.mantissa_bits) - 1);
  double fraction = mantissa / std::pow(2.0, f.mantissa_bits);
  double magnitude = exponent == 0 ? std::pow(2.0, 1 - f.bias) * fraction
                                   : std::pow(2.0, exponent - f.bias) * (1.0 + fraction);
  return sign ? -magnitude : magnitude;
}

// The codes each format reserves, from the format definitions.
bool is_nan_code(DType dtype, int code) {
  switch (dtype) {
    case DType::F8_E4M3: return (code & 0x7F) == 0x7F;                          // S.1111.111
    case DType::F8_E5M2: return (code & 0x7C) == 0x7C && (code & 0x03) != 0;    // S.11111.mm, mm != 0
    case DType::F8_E4M3FNUZ:
    case DType::F8_E5M2FNUZ: return code == 0x80;
    default: return false;
  }
}

TEST(Float8, EveryCodeMatchesTheClosedFormDefinition) {
  const Fp8Format formats[] = {{DType::F8_E4M3, 4, 3, 7},
                               {DType::F8_E5M2, 5, 2, 15},
                               {DType::F8_E4M3FNUZ, 4, 3, 8},
                               {DType::F8_E5M2FNUZ, 5, 2, 16}};
  for (const auto& format : formats) {
    for (int code = 0; code < 256; ++code) {
      float value = decode_float8(format.dtype, static_cast<uint8_t>(code));
      SCOPED_TRACE(fmt::format("{} code 0x{:02x}", dtype_name(format.dtype), code));
      if (is_nan_code(format.dtype, code)) {
        EXPECT_TRUE(std::isnan(value));
      } else if (format.dtype == DType::F8_E5M2 && (code & 0x7F) == 0x7C) {
        EXPECT_TRUE(std::isinf(value));
        EXPECT_EQ(std::signbit(value), code >= 0x80);
      } else {
        double expected = closed_form(format, code);
        EXPECT_EQ(static_cast<double>(value), expected);
        EXPECT_EQ(std::signbit(value), std::signbit(expected));  // -0 stays -0 (not in the FNUZ formats)
      }
    }
  }
  // E8M0: 2^(code - 127), 0xFF is NaN.
  for (int code = 0; code < 255; ++code)
    EXPECT_EQ(static_cast<double>(decode_float8(DType::F8_E8M0, static_cast<uint8_t>(code))),
              std::pow(2.0, code - 127))
        << code;
  EXPECT_TRUE(std::isnan(decode_float8(DType::F8_E8M0, 0xFF)));
}

TEST(Float8, KnownExtremesOfEachFormat) {
  // Largest finite and smallest subnormal values as the format papers list them.
  EXPECT_EQ(decode_float8(DType::F8_E4M3, 0x7E), 448.0f);
  EXPECT_EQ(decode_float8(DType::F8_E4M3, 0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(decode_float8(DType::F8_E4M3, 0x08), std::ldexp(1.0f, -6));
  EXPECT_EQ(decode_float8(DType::F8_E5M2, 0x7B), 57344.0f);
  EXPECT_EQ(decode_float8(DType::F8_E5M2, 0x01), std::ldexp(1.0f, -16));
  EXPECT_EQ(decode_float8(DType::F8_E5M2, 0xFC), -INFINITY);
  EXPECT_EQ(decode_float8(DType::F8_E4M3FNUZ, 0x7F), 240.0f);
  EXPECT_EQ(decode_float8(DType::F8_E4M3FNUZ, 0x01), std::ldexp(1.0f, -10));
  EXPECT_EQ(decode_float8(DType::F8_E5M2FNUZ, 0x7F), 57344.0f);
  EXPECT_EQ(decode_float8(DType::F8_E5M2FNUZ, 0x01), std::ldexp(1.0f, -17));
  EXPECT_EQ(decode_float8(DType::F8_E8M0, 0x7F), 1.0f);
  EXPECT_EQ(decode_float8(DType::F8_E8M0, 0x00), std::ldexp(1.0f, -127));
  EXPECT_EQ(decode_float8(DType::F8_E4M3, 0x38), 1.0f);
  EXPECT_EQ(decode_float8(DType::F8_E5M2, 0x3C), 1.0f);
}

// ---- tensors through files ----

at::Tensor special_halves(at::ScalarType type) {
  std::vector<int16_t> bits = type == at::kBFloat16
                                  ? std::vector<int16_t>{0x0000, int16_t(0x8000), 0x7F80, int16_t(0xFF80), 0x7FC0,
                                                         int16_t(0xFFC1), 0x7F81, 0x0001, int16_t(0x807F), 0x7F7F}
                                  : std::vector<int16_t>{0x0000, int16_t(0x8000), 0x7C00, int16_t(0xFC00), 0x7E00,
                                                         int16_t(0xFE01), 0x7C01, 0x0001, int16_t(0x83FF), 0x7BFF};
  return at::tensor(bits, at::kShort).view(type).reshape({2, 5});
}

std::map<std::string, at::Tensor> one_tensor_per_dtype() {
  at::manual_seed(7);
  std::map<std::string, at::Tensor> tensors;
  tensors["bool"] = at::randint(0, 2, {3, 5}).to(at::kBool);
  tensors["uint8"] = at::randint(0, 256, {4, 3}).to(at::kByte);
  tensors["int8"] = at::randint(-128, 128, {7}).to(at::kChar);
  tensors["int16"] = at::randint(-32768, 32768, {2, 2, 2}).to(at::kShort);
  tensors["int32"] = at::randint(-100000, 100000, {5}).to(at::kInt);
  tensors["int64"] = at::tensor(std::vector<int64_t>{INT64_MIN, INT64_MAX, 0, -1});
  tensors["float16"] = at::randn({6, 2}).to(at::kHalf);
  tensors["bfloat16"] = at::randn({6, 2}).to(at::kBFloat16);
  tensors["float32"] = at::randn({3, 4}) * 1e30;
  tensors["float64"] = at::randn({2, 3}, at::kDouble);
  tensors["complex64"] = at::randn({3}, at::kComplexFloat);
  tensors["scalar"] = at::scalar_tensor(2.5);
  tensors["empty"] = at::empty({0, 4});
  tensors["bf16.specials"] = special_halves(at::kBFloat16);
  tensors["f16.specials"] = special_halves(at::kHalf);
  tensors["f32.denormal"] = at::tensor({1e-45f, -1e-45f, -0.0f, INFINITY, NAN});
  return tensors;
}

TEST(TensorIo, EveryTorchDTypeRoundTripsBitForBit) {
  std::string dir = scratch_dir("round_trip");
  auto tensors = one_tensor_per_dtype();
  SafetensorsWriter writer;
  for (const auto& [name, tensor] : tensors) add_tensor(writer, name, tensor);
  writer.write(path_join(dir, "all.safetensors"));

  SafetensorsFile file(path_join(dir, "all.safetensors"));
  for (const auto& [name, original] : tensors) {
    at::Tensor loaded = to_tensor(file.view(name));
    SCOPED_TRACE(name);
    EXPECT_EQ(loaded.scalar_type(), original.scalar_type());
    EXPECT_EQ(loaded.sizes(), original.sizes());
    EXPECT_EQ(bytes_of(loaded), bytes_of(original));
    EXPECT_EQ(file.info(name).dtype, dtype_for(original.scalar_type()));
  }
}

TEST(TensorIo, LoadsAliasTheMappingAndKeepItAlive) {
  std::string dir = scratch_dir("alias");
  SafetensorsWriter writer;
  add_tensor(writer, "w", at::arange(12, at::kFloat).reshape({3, 4}));
  std::string path = path_join(dir, "w.safetensors");
  writer.write(path);
  std::string on_disk = read_file(path);

  at::Tensor tensor;
  {
    SafetensorsFile file(path);
    TensorView view = file.view("w");
    ASSERT_TRUE(aliases_on_load(view));
    tensor = to_tensor(view);
    EXPECT_EQ(tensor.data_ptr(), static_cast<const void*>(view.data));  // no copy
  }
  // The file object is gone; the tensor still reads the mapping, and writing into it (copy-on-write)
  // leaves the file unchanged.
  EXPECT_TRUE(at::equal(tensor, at::arange(12, at::kFloat).reshape({3, 4})));
  tensor.mul_(2);
  EXPECT_EQ(tensor[2][3].item<float>(), 22.0f);
  EXPECT_EQ(read_file(path), on_disk);
}

// A file whose F32 tensor starts at an odd offset: legal, but not aliasable.
std::string misaligned_file() {
  std::string header =
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  uint64_t length = header.size();
  std::string bytes(reinterpret_cast<const char*>(&length), 8);
  bytes += header;
  bytes += '\x07';
  float values[2] = {1.5f, -3.25f};
  bytes.append(reinterpret_cast<const char*>(values), sizeof(values));
  return bytes;
}

TEST(TensorIo, MisalignedTensorsAreCopied) {
  std::string dir = scratch_dir("misaligned");
  std::string path = path_join(dir, "m.safetensors");
  write_file_atomic(path, misaligned_file());
  SafetensorsFile file(path);
  TensorView view = file.view("b");
  EXPECT_FALSE(aliases_on_load(view));
  at::Tensor tensor = to_tensor(view);
  EXPECT_NE(tensor.data_ptr(), static_cast<const void*>(view.data));
  EXPECT_TRUE(at::equal(tensor, at::tensor({1.5f, -3.25f})));
  EXPECT_EQ(to_tensor(file.view("a")).item<uint8_t>(), 7);
}

TEST(TensorIo, ViewsWithoutOwnerAreCopied) {
  std::string bytes = misaligned_file();
  auto header = parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "memory");
  TensorView view;
  view.info = header.tensors[0];
  view.data = reinterpret_cast<const uint8_t*>(bytes.data()) + header.data_start;
  view.nbytes = 1;
  EXPECT_FALSE(aliases_on_load(view));
  EXPECT_NE(to_tensor(view).data_ptr(), static_cast<const void*>(view.data));
}

TEST(TensorIo, Fp8FilesDecodeToFloat32) {
  std::string dir = scratch_dir("fp8");
  std::vector<uint8_t> codes(256);
  for (int i = 0; i < 256; ++i) codes[i] = static_cast<uint8_t>(i);
  SafetensorsWriter writer;
  for (DType dtype : {DType::F8_E4M3, DType::F8_E5M2, DType::F8_E4M3FNUZ, DType::F8_E5M2FNUZ, DType::F8_E8M0})
    writer.add(std::string(dtype_name(dtype)), dtype, {16, 16}, codes);
  writer.write(path_join(dir, "fp8.safetensors"));
  SafetensorsFile file(path_join(dir, "fp8.safetensors"));
  for (DType dtype : {DType::F8_E4M3, DType::F8_E5M2, DType::F8_E4M3FNUZ, DType::F8_E5M2FNUZ, DType::F8_E8M0}) {
    at::Tensor tensor = to_tensor(file.view(std::string(dtype_name(dtype))));
    ASSERT_EQ(tensor.scalar_type(), at::kFloat);
    ASSERT_EQ(tensor.sizes(), at::IntArrayRef({16, 16}));
    auto flat = tensor.reshape({256});
    for (int code = 0; code < 256; ++code) {
      float expected = decode_float8(dtype, static_cast<uint8_t>(code));
      float got = flat[code].item<float>();
      EXPECT_TRUE(std::memcmp(&expected, &got, 4) == 0 || (std::isnan(expected) && std::isnan(got)))
          << dtype_name(dtype) << " code " << code;
    }
  }
}

TEST(TensorIo, UnsignedTypesWidenAndOverflowIsRefused) {
  std::string dir = scratch_dir("unsigned");
  SafetensorsWriter writer;
  auto raw = [](auto values) {
    std::vector<uint8_t> bytes(values.size() * sizeof(values[0]));
    std::memcpy(bytes.data(), values.data(), bytes.size());
    return bytes;
  };
  writer.add("u16", DType::U16, {3}, raw(std::vector<uint16_t>{0, 1, 65535}));
  writer.add("u32", DType::U32, {2}, raw(std::vector<uint32_t>{4294967295u, 7}));
  writer.add("u64", DType::U64, {2}, raw(std::vector<uint64_t>{uint64_t{INT64_MAX}, 3}));
  writer.add("u64.big", DType::U64, {2}, raw(std::vector<uint64_t>{1, uint64_t{1} << 63}));
  writer.add("f4", DType::F4, {4}, {0x21, 0x43});
  writer.add("bool.bad", DType::BOOL, {3}, {0, 1, 2});
  writer.write(path_join(dir, "u.safetensors"));
  SafetensorsFile file(path_join(dir, "u.safetensors"));

  at::Tensor u16 = to_tensor(file.view("u16"));
  EXPECT_EQ(u16.scalar_type(), at::kInt);
  EXPECT_TRUE(at::equal(u16, at::tensor({0, 1, 65535}, at::kInt)));
  at::Tensor u32 = to_tensor(file.view("u32"));
  EXPECT_EQ(u32.scalar_type(), at::kLong);
  EXPECT_TRUE(at::equal(u32, at::tensor(std::vector<int64_t>{4294967295LL, 7})));
  EXPECT_TRUE(at::equal(to_tensor(file.view("u64")), at::tensor(std::vector<int64_t>{INT64_MAX, 3})));

  auto message = [&](const char* name) -> std::string {
    try {
      to_tensor(file.view(name));
    } catch (const Error& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_NE(message("u64.big").find("'u64.big' (U64) holds 9223372036854775808 at element 1"), std::string::npos)
      << message("u64.big");
  EXPECT_NE(message("f4").find("F4"), std::string::npos) << message("f4");
  EXPECT_NE(message("bool.bad").find("'bool.bad' (BOOL) holds byte 2 at element 2"), std::string::npos)
      << message("bool.bad");
}

TEST(TensorIo, SavingMakesADenseCopyOfAnyView) {
  at::Tensor base = at::arange(12, at::kFloat).reshape({3, 4});
  at::Tensor complex = at::randn({3}, at::kComplexFloat);
  SafetensorsWriter writer;
  add_tensor(writer, "transposed", base.t());
  add_tensor(writer, "conj", complex.conj());
  base.zero_();  // the writer holds a copy, not the tensor
  std::string bytes = writer.to_bytes();
  auto header = parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "memory");
  for (const auto& info : header.tensors) {
    TensorView view{info, reinterpret_cast<const uint8_t*>(bytes.data()) + header.data_start + info.begin,
                    info.nbytes(), nullptr, false};
    at::Tensor loaded = to_tensor(view);
    if (info.name == "transposed") {
      EXPECT_EQ(loaded.sizes(), at::IntArrayRef({4, 3}));
      EXPECT_TRUE(at::equal(loaded, at::arange(12, at::kFloat).reshape({3, 4}).t()));
    } else {
      EXPECT_TRUE(at::equal(loaded, complex.conj().resolve_conj()));
    }
  }
  EXPECT_THROW(add_tensor(writer, "cd", at::zeros({2}, at::kComplexDouble)), Error);
  EXPECT_THROW(dtype_for(at::kQInt8), Error);
}

TEST(TensorIo, DTypeMappingCoversEveryTorchType) {
  for (auto type : {at::kBool, at::kByte, at::kChar, at::kShort, at::kInt, at::kLong, at::kHalf, at::kBFloat16,
                    at::kFloat, at::kDouble, at::kComplexFloat})
    EXPECT_EQ(exact_scalar_type(dtype_for(type)), type) << c10::toString(type);
  EXPECT_EQ(loaded_scalar_type(DType::F8_E4M3), at::kFloat);
  EXPECT_EQ(loaded_scalar_type(DType::U16), at::kInt);
  EXPECT_THROW(loaded_scalar_type(DType::F6_E2M3), Error);
}

}  // namespace
}  // namespace mha2mla::io

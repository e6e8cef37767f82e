// Reads the committed reference checkpoints of tests/data/safetensors/, written by the independent Python
// writer (tests/python/make_safetensors_reference.py), and checks every tensor against the closed form
// that script used, recomputed here. reference.safetensors has an unpadded header, so its tensors start
// at odd offsets: loads must copy rather than alias.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include <ATen/ATen.h>

#include "common/files.h"
#include "model/io/safetensors.h"
#include "model/io/safetensors_checkpoint.h"
#include "model/io/tensor_io.h"

namespace mha2mla::io {
namespace {

std::string data_path(const std::string& name) {
  return path_join(MHA2MLA_SOURCE_DIR, "tests/data/safetensors/" + name);
}

template <typename T>
std::vector<uint8_t> bytes_of(const std::vector<T>& values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(T));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

std::vector<uint8_t> bytes_of(const TensorView& view) { return {view.data, view.data + view.nbytes}; }

std::vector<uint8_t> all_codes() {
  std::vector<uint8_t> codes(256);
  for (int i = 0; i < 256; ++i) codes[i] = static_cast<uint8_t>(i);
  return codes;
}

TEST(SafetensorsReference, EveryTensorMatchesItsClosedForm) {
  SafetensorsFile file(data_path("reference.safetensors"));
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.metadata().at("note"), "caf\xC3\xA9");
  EXPECT_EQ(file.size(), 19u);
  EXPECT_NE(file.header().data_start % 8, 0u) << "the reference file is meant to be unaligned";

  std::vector<float> ramp(12);
  for (int i = 0; i < 12; ++i) ramp[i] = static_cast<float>(i) * 0.25f - 1.0f;
  std::vector<double> powers(5);
  for (int i = 0; i < 5; ++i) powers[i] = std::pow(-0.5, i);

  struct Expected {
    const char* name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  const std::vector<Expected> expected = {
      {"f32.ramp", DType::F32, {3, 4}, bytes_of(ramp)},
      {"u8.values", DType::U8, {3}, {0, 255, 7}},
      {"f64.powers", DType::F64, {5}, bytes_of(powers)},
      {"bf16.specials", DType::BF16, {8},
       bytes_of(std::vector<uint16_t>{0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x0001, 0x807F, 0x3F80})},
      {"f16.specials", DType::F16, {9},
       bytes_of(std::vector<uint16_t>{0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x0001, 0x83FF, 0x3C00, 0x7BFF})},
      {"i64.extremes", DType::I64, {2}, bytes_of(std::vector<int64_t>{INT64_MIN, INT64_MAX})},
      {"i32.values", DType::I32, {2, 2}, bytes_of(std::vector<int32_t>{-1, -2, 3, INT32_MAX})},
      {"i16.extremes", DType::I16, {2}, bytes_of(std::vector<int16_t>{INT16_MIN, INT16_MAX})},
      {"i8.values", DType::I8, {3}, bytes_of(std::vector<int8_t>{-128, 127, 0})},
      {"bool.mask", DType::BOOL, {3}, {1, 0, 1}},
      {"u16.values", DType::U16, {2}, bytes_of(std::vector<uint16_t>{65535, 1})},
      {"u32.values", DType::U32, {2}, bytes_of(std::vector<uint32_t>{UINT32_MAX, 0})},
      {"u64.values", DType::U64, {2}, bytes_of(std::vector<uint64_t>{UINT64_MAX, 5})},
      {"c64.values", DType::C64, {2}, bytes_of(std::vector<float>{1.0f, 2.0f, -0.5f, 0.0f})},
      {"f8_e4m3.codes", DType::F8_E4M3, {16, 16}, all_codes()},
      {"f8_e5m2.codes", DType::F8_E5M2, {16, 16}, all_codes()},
      {"f4.packed", DType::F4, {4}, {0x21, 0x43}},
      {"scalar", DType::F32, {}, bytes_of(std::vector<float>{3.5f})},
      {"empty", DType::F32, {0, 3}, {}},
  };
  for (const auto& tensor : expected) {
    SCOPED_TRACE(tensor.name);
    TensorView view = file.view(tensor.name);
    EXPECT_EQ(view.info.dtype, tensor.dtype);
    EXPECT_EQ(view.info.shape, tensor.shape);
    EXPECT_EQ(bytes_of(view), tensor.bytes);
  }
}

TEST(SafetensorsReference, UnalignedTensorsLoadAsCopiesWithTheRightValues) {
  SafetensorsFile file(data_path("reference.safetensors"));
  TensorView ramp = file.view("f32.ramp");
  ASSERT_FALSE(aliases_on_load(ramp));
  EXPECT_TRUE(at::equal(to_tensor(ramp), at::arange(12, at::kFloat).reshape({3, 4}) * 0.25 - 1.0));
  EXPECT_TRUE(at::equal(to_tensor(file.view("i64.extremes")), at::tensor(std::vector<int64_t>{INT64_MIN, INT64_MAX})));
  at::Tensor complex = to_tensor(file.view("c64.values"));
  EXPECT_EQ(at::real(complex)[0].item<float>(), 1.0f);
  EXPECT_EQ(at::imag(complex)[0].item<float>(), 2.0f);
  EXPECT_EQ(to_tensor(file.view("scalar")).dim(), 0);
  EXPECT_EQ(to_tensor(file.view("scalar")).item<float>(), 3.5f);
  EXPECT_EQ(to_tensor(file.view("empty")).sizes(), at::IntArrayRef({0, 3}));
  at::Tensor e4m3 = to_tensor(file.view("f8_e4m3.codes")).reshape({256});
  EXPECT_EQ(e4m3[0x7E].item<float>(), 448.0f);  // the format's largest finite value
  EXPECT_EQ(e4m3[0xB8].item<float>(), -1.0f);
}

TEST(SafetensorsReference, ShardedCheckpointFromThePythonWriter) {
  SafetensorsCheckpoint checkpoint(data_path("sharded"));
  EXPECT_TRUE(checkpoint.is_sharded());
  EXPECT_EQ(checkpoint.names(), (std::vector<std::string>{"lm_head.weight", "model.embed_tokens.weight",
                                                          "model.layers.0.self_attn.q_proj.weight",
                                                          "model.norm.weight"}));
  EXPECT_EQ(checkpoint.files().size(), 2u);
  EXPECT_EQ(checkpoint.file_of("lm_head.weight"), data_path("sharded/model-00002-of-00002.safetensors"));
  EXPECT_EQ(checkpoint.file_of("model.embed_tokens.weight"), data_path("sharded/model-00001-of-00002.safetensors"));

  EXPECT_TRUE(at::equal(to_tensor(checkpoint.view("model.embed_tokens.weight")),
                        at::arange(12, at::kFloat).reshape({4, 3}) / 8));
  std::vector<uint16_t> q_bits(9), head_bits(6);
  for (int i = 0; i < 9; ++i) q_bits[i] = static_cast<uint16_t>(0x3F80 + i);
  for (int i = 0; i < 6; ++i) head_bits[i] = static_cast<uint16_t>(0x3C00 + i);
  EXPECT_EQ(bytes_of(checkpoint.view("model.layers.0.self_attn.q_proj.weight")), bytes_of(q_bits));
  EXPECT_EQ(bytes_of(checkpoint.view("lm_head.weight")), bytes_of(head_bits));
  EXPECT_EQ(checkpoint.info("lm_head.weight").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(at::equal(to_tensor(checkpoint.view("model.norm.weight")), at::ones({3})));
  checkpoint.check_all();
  EXPECT_TRUE(checkpoint.unlisted_tensors().empty());
}

}  // namespace
}  // namespace mha2mla::io

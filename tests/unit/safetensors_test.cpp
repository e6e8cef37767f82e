// The safetensors reader and writer (torch-free): every dtype round trips bytewise, the writer's layout
// follows the spec (space-padded header, 8-aligned data, tiled buffer), and malformed files are refused
// with messages naming the problem. Files come from hand-built bytes (the spec's layout, written out in
// this file) or from our writer read back by the reader and checked byte for byte.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "model/io/safetensors.h"
#include "model/io/safetensors_writer.h"

namespace mha2mla::io {
namespace {

namespace fs = std::filesystem;

std::string scratch_dir(const std::string& name) {
  const char* root = std::getenv("MHA2MLA_TEST_TMP");
  std::string dir = path_join(root ? root : fs::temp_directory_path().string(), "safetensors_test/" + name);
  fs::remove_all(dir);
  ensure_directory(dir);
  return dir;
}

// A file as the spec lays it out: u64 little-endian header length, header, data buffer.
std::string file_bytes(const std::string& header, const std::string& data = {}) {
  uint64_t length = header.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((length >> (8 * i)) & 0xFF);
  return out + header + data;
}

SafetensorsHeader parse(const std::string& bytes) {
  return parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "test.safetensors");
}

std::string error_of(const std::string& bytes) {
  try {
    parse(bytes);
  } catch (const Error& e) {
    return e.what();
  }
  return "(accepted)";
}

std::vector<uint8_t> pattern_bytes(size_t count, uint32_t seed) {
  std::mt19937 random(seed);
  std::vector<uint8_t> bytes(count);
  for (auto& b : bytes) b = static_cast<uint8_t>(random());
  return bytes;
}

std::vector<uint8_t> halves(const std::vector<uint16_t>& bits) {
  std::vector<uint8_t> bytes(bits.size() * 2);
  std::memcpy(bytes.data(), bits.data(), bytes.size());
  return bytes;
}

TEST(SafetensorsDType, NamesSizesAndLookupAgree) {
  EXPECT_EQ(all_dtypes().size(), kDTypeCount);
  for (DType dtype : all_dtypes()) {
    auto back = dtype_from_name(dtype_name(dtype));
    ASSERT_TRUE(back.has_value()) << dtype_name(dtype);
    EXPECT_EQ(*back, dtype);
  }
  EXPECT_EQ(dtype_bits(DType::BF16), 16);
  EXPECT_EQ(dtype_bits(DType::C64), 64);
  EXPECT_EQ(dtype_bits(DType::F8_E4M3), 8);
  EXPECT_EQ(dtype_bits(DType::F4), 4);
  EXPECT_EQ(dtype_bits(DType::F6_E3M2), 6);
  EXPECT_TRUE(is_sub_byte(DType::F6_E2M3));
  EXPECT_FALSE(is_sub_byte(DType::BOOL));
  EXPECT_FALSE(dtype_from_name("f32").has_value());  // names are case-sensitive
  EXPECT_EQ(tensor_bytes(DType::F4, {3, 2}), 3u);
  EXPECT_FALSE(tensor_bytes(DType::F4, {3}).has_value());
  EXPECT_EQ(tensor_bytes(DType::F32, {}), 4u);
  EXPECT_FALSE(tensor_bytes(DType::F64, {int64_t{1} << 40, int64_t{1} << 40}).has_value());
}

TEST(SafetensorsUtf8, AcceptsValidAndFindsInvalidBytes) {
  EXPECT_EQ(utf8_error_offset("plain ascii"), std::string_view::npos);
  EXPECT_EQ(utf8_error_offset("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), std::string_view::npos);
  EXPECT_EQ(utf8_error_offset("ab\xFF"), 2u);
  EXPECT_EQ(utf8_error_offset("a\xC0\xAF"), 1u);          // overlong '/'
  EXPECT_EQ(utf8_error_offset("\xED\xA0\x80"), 0u);       // surrogate
  EXPECT_EQ(utf8_error_offset("\xF4\x90\x80\x80"), 0u);   // past U+10FFFF
  EXPECT_EQ(utf8_error_offset("x\xE2\x82"), 1u);          // truncated sequence
}

TEST(SafetensorsReader, ParsesAHandBuiltFile) {
  // Two F32 tensors (out of name order in the buffer), a scalar I8 and an empty tensor, trailing spaces.
  std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("a":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]},"s":{"dtype":"I8","shape":[],"data_offsets":[12,13]},)"
      R"("e":{"dtype":"BF16","shape":[0,4],"data_offsets":[13,13]}}   )";
  auto header_info = parse(file_bytes(header, std::string(13, 'x')));
  ASSERT_EQ(header_info.tensors.size(), 4u);
  EXPECT_EQ(header_info.metadata.at("format"), "pt");
  EXPECT_EQ(header_info.header_bytes, header.size());
  EXPECT_EQ(header_info.data_start, 8 + header.size());
  EXPECT_EQ(header_info.data_bytes, 13u);
  EXPECT_EQ(header_info.tensors[0].name, "b");  // sorted by offset
  EXPECT_EQ(header_info.tensors[1].name, "a");
  EXPECT_EQ(header_info.tensors[1].shape, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(header_info.tensors[2].name, "s");
  EXPECT_TRUE(header_info.tensors[2].shape.empty());
  EXPECT_EQ(header_info.tensors[2].numel(), 1);
  EXPECT_EQ(header_info.tensors[3].name, "e");
  EXPECT_EQ(header_info.tensors[3].nbytes(), 0u);
}

TEST(SafetensorsReader, AcceptsEmptyHeaderAndWhitespacePadding) {
  EXPECT_TRUE(parse(file_bytes("{}")).tensors.empty());
  EXPECT_TRUE(parse(file_bytes("{}      ")).tensors.empty());
  EXPECT_TRUE(parse(file_bytes("\n{}\t ")).tensors.empty());  // the reference reader accepts JSON whitespace
}

struct Malformed {
  const char* what;
  std::string bytes;
  std::vector<std::string> expected;  // substrings of the message
};

std::string big_length_prefix(uint64_t length) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &length, 8);
  return out;
}

std::vector<Malformed> malformed_files() {
  auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape, uint64_t begin,
                  uint64_t end) {
    return fmt::format(R"("{}":{{"dtype":"{}","shape":{},"data_offsets":[{},{}]}})", name, dtype, shape, begin, end);
  };
  std::vector<Malformed> cases;
  cases.push_back({"truncated before the length", std::string("\x05\x00\x00", 3), {"3 bytes", "too short"}});
  cases.push_back({"header length past the file", big_length_prefix(100) + "{}", {"header length 100", "truncated"}});
  cases.push_back({"absurd header length", big_length_prefix(uint64_t{1} << 60) + "{}", {"maximum"}});
  cases.push_back({"zero header length", file_bytes(""), {"not valid JSON"}});
  cases.push_back({"bad JSON", file_bytes(R"({"w":{"dtype":)"), {"not valid JSON"}});
  cases.push_back({"trailing garbage after JSON", file_bytes("{} x"), {"not valid JSON"}});
  cases.push_back({"invalid UTF-8", file_bytes("{\"w\xFF\":{}}"), {"not valid UTF-8", "0xff"}});
  cases.push_back({"array header", file_bytes("[1,2]"), {"header is a JSON array", "must be a JSON object"}});
  cases.push_back({"unknown dtype", file_bytes("{" + entry("w", "F128", "[1]", 0, 16) + "}", std::string(16, 0)),
                   {"tensor 'w'", "unknown dtype 'F128'", "BF16"}});
  cases.push_back({"dtype not a string",
                   file_bytes(R"({"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", std::string(4, 0)),
                   {"tensor 'w'", "'dtype' is the number 7"}});
  cases.push_back({"bytes do not match shape",
                   file_bytes("{" + entry("w", "F32", "[2,2]", 0, 8) + "}", std::string(8, 0)),
                   {"tensor 'w'", "span 8 bytes", "shape [2, 2] of F32 needs 16 bytes"}});
  cases.push_back({"overlapping tensors",
                   file_bytes("{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[2]", 4, 12) + "}",
                              std::string(12, 0)),
                   {"'a'", "'b'", "overlap"}});
  cases.push_back({"hole between tensors",
                   file_bytes("{" + entry("a", "F32", "[1]", 0, 4) + "," + entry("b", "F32", "[1]", 8, 12) + "}",
                              std::string(12, 0)),
                   {"bytes [4, 8)", "belong to no tensor", "between tensor 'a' and tensor 'b'"}});
  cases.push_back({"hole before the first tensor",
                   file_bytes("{" + entry("a", "F32", "[1]", 4, 8) + "}", std::string(8, 0)),
                   {"bytes [0, 4)", "before tensor 'a'"}});
  cases.push_back({"trailing bytes after the last tensor",
                   file_bytes("{" + entry("a", "F32", "[1]", 0, 4) + "}", std::string(9, 0)),
                   {"last 5 bytes", "belong to no tensor"}});
  cases.push_back({"offsets past the end", file_bytes("{" + entry("a", "F32", "[4]", 0, 16) + "}", std::string(8, 0)),
                   {"tensor 'a'", "end past the data buffer", "holds 8 bytes"}});
  cases.push_back({"reversed offsets", file_bytes("{" + entry("a", "U8", "[0]", 8, 0) + "}", std::string(8, 0)),
                   {"tensor 'a'", "reversed"}});
  cases.push_back({"negative dimension", file_bytes("{" + entry("a", "F32", "[-1,2]", 0, 8) + "}", std::string(8, 0)),
                   {"tensor 'a'", "dimension 0 of 'shape' is -1", "non-negative"}});
  cases.push_back({"fractional dimension", file_bytes("{" + entry("a", "U8", "[2.5]", 0, 2) + "}", std::string(2, 0)),
                   {"tensor 'a'", "the number 2.5", "non-negative integer"}});
  cases.push_back({"dimension past int64",
                   file_bytes("{" + entry("a", "U8", "[18446744073709551615]", 0, 2) + "}", std::string(2, 0)),
                   {"tensor 'a'", "larger than 2^63 - 1"}});
  cases.push_back({"element count overflows",
                   file_bytes("{" + entry("a", "F32", "[4611686018427387904,8]", 0, 4) + "}", std::string(4, 0)),
                   {"tensor 'a'", "overflows"}});
  cases.push_back({"sub-byte tensor with a partial byte",
                   file_bytes("{" + entry("a", "F4", "[3]", 0, 2) + "}", std::string(2, 0)),
                   {"tensor 'a'", "F4", "whole number of bytes"}});
  cases.push_back({"duplicate tensor names",
                   file_bytes("{" + entry("a", "U8", "[1]", 0, 1) + "," + entry("a", "U8", "[1]", 1, 2) + "}",
                              std::string(2, 0)),
                   {"key 'a' appears twice", "top-level object"}});
  cases.push_back({"duplicate key inside an entry",
                   file_bytes(R"({"a":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}})", "x"),
                   {"key 'dtype' appears twice", "nested object"}});
  cases.push_back({"metadata value not a string",
                   file_bytes(R"({"__metadata__":{"format":"pt","step":7}})"),
                   {"'__metadata__' value of 'step' is the number 7", "must be a string"}});
  cases.push_back({"metadata not an object", file_bytes(R"({"__metadata__":["pt"]})"),
                   {"'__metadata__' is a JSON array"}});
  cases.push_back({"missing data_offsets", file_bytes(R"({"a":{"dtype":"U8","shape":[0]}})"),
                   {"tensor 'a'", "missing 'data_offsets'"}});
  cases.push_back({"data_offsets with three values",
                   file_bytes(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,1]}})", "x"),
                   {"tensor 'a'", "an array of 3 values", "[begin, end]"}});
  cases.push_back({"entry not an object", file_bytes(R"({"a":"F32"})"), {"tensor 'a'", "entry is a JSON string"}});
  cases.push_back({"unexpected key in an entry",
                   file_bytes(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"offset":3}})", "x"),
                   {"tensor 'a'", "unexpected key 'offset'"}});
  return cases;
}

TEST(SafetensorsReader, RefusesMalformedFilesNamingTheProblem) {
  for (const auto& test : malformed_files()) {
    std::string message = error_of(test.bytes);
    EXPECT_NE(message, "(accepted)") << test.what;
    EXPECT_NE(message.find("test.safetensors"), std::string::npos) << test.what << ": " << message;
    for (const auto& expected : test.expected)
      EXPECT_NE(message.find(expected), std::string::npos)
          << test.what << ": message lacks '" << expected << "': " << message;
  }
}

TEST(SafetensorsReader, RefusesEveryTruncationOfAValidFile) {
  SafetensorsWriter writer;
  writer.add("w", DType::F32, {3}, pattern_bytes(12, 1));
  writer.add("b", DType::I8, {5}, pattern_bytes(5, 2));
  std::string bytes = writer.to_bytes();
  ASSERT_NO_THROW(parse(bytes));
  for (size_t size = 0; size < bytes.size(); ++size)
    EXPECT_NE(error_of(bytes.substr(0, size)), "(accepted)") << "prefix of " << size << " bytes";
}

TEST(SafetensorsReader, OpensFilesAndNamesMissingTensors) {
  std::string dir = scratch_dir("open");
  SafetensorsWriter writer;
  writer.add("model.norm.weight", DType::F32, {4}, pattern_bytes(16, 3));
  writer.write(path_join(dir, "x.safetensors"));
  SafetensorsFile file(path_join(dir, "x.safetensors"));
  EXPECT_TRUE(file.contains("model.norm.weight"));
  EXPECT_FALSE(file.contains("model.norm"));
  try {
    file.view("model.norm.weights");
    FAIL() << "a missing tensor was served";
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("x.safetensors"), std::string::npos) << message;
    EXPECT_NE(message.find("no tensor 'model.norm.weights'"), std::string::npos) << message;
    EXPECT_NE(message.find("did you mean 'model.norm.weight'"), std::string::npos) << message;
  }
  EXPECT_THROW(SafetensorsFile file(path_join(dir, "absent.safetensors")), Error);
  EXPECT_THROW(SafetensorsFile folder(dir), Error);  // a folder is not a file
}

TEST(SafetensorsWriter, EveryDTypeRoundTripsBytewise) {
  std::string dir = scratch_dir("round_trip");
  SafetensorsWriter writer;
  std::map<std::string, std::vector<uint8_t>> expected;
  uint32_t seed = 10;
  for (DType dtype : all_dtypes()) {
    std::string name = "t." + std::string(dtype_name(dtype));
    std::vector<int64_t> shape = {2, 4};  // 8 elements fill whole bytes for the 4- and 6-bit types too
    auto bytes = pattern_bytes(*tensor_bytes(dtype, shape), seed++);
    if (dtype == DType::BOOL)
      for (auto& b : bytes) b &= 1;
    expected[name] = bytes;
    writer.add(name, dtype, shape, bytes);
  }
  // IEEE corner cases: zeros of both signs, infinities, quiet and signalling NaNs with payloads, smallest
  // and largest denormals, the largest finite values.
  expected["bf16.specials"] = halves({0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0xFFC1, 0x7F81, 0x0001, 0x807F,
                                      0x7F7F, 0xFF7F, 0x3F80});
  expected["f16.specials"] = halves({0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0xFE01, 0x7C01, 0x0001, 0x83FF,
                                     0x7BFF, 0xFBFF, 0x3C00});
  writer.add("bf16.specials", DType::BF16, {12}, expected["bf16.specials"]);
  writer.add("f16.specials", DType::F16, {3, 4}, expected["f16.specials"]);
  writer.add("empty", DType::F32, {0, 7}, {});
  expected["empty"] = {};
  writer.set_metadata("format", "pt");
  writer.set_metadata("note", "caf\xC3\xA9");

  std::string path = path_join(dir, "all.safetensors");
  writer.write(path);
  EXPECT_EQ(read_file(path), writer.to_bytes());

  SafetensorsFile file(path);
  EXPECT_EQ(file.metadata(), writer.metadata());
  ASSERT_EQ(file.size(), expected.size());
  for (const auto& [name, bytes] : expected) {
    TensorView view = file.view(name);
    ASSERT_EQ(view.nbytes, bytes.size()) << name;
    EXPECT_EQ(std::memcmp(view.data, bytes.data(), bytes.size()), 0) << name;
    EXPECT_TRUE(view.owner) << name;
  }
  EXPECT_EQ(file.info("t.F6_E2M3").shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(file.info("t.F6_E2M3").dtype, DType::F6_E2M3);
}

TEST(SafetensorsWriter, LayoutIsPaddedAlignedAndIndependentOfInsertionOrder) {
  auto fill = [](SafetensorsWriter& writer, bool reversed) {
    std::vector<std::tuple<std::string, DType, int64_t>> tensors = {
        {"a.u8", DType::U8, 3}, {"b.f64", DType::F64, 3}, {"c.bf16", DType::BF16, 5},
        {"d.f32", DType::F32, 1}, {"e.i64", DType::I64, 2}, {"f.f4", DType::F4, 6}};
    if (reversed) std::reverse(tensors.begin(), tensors.end());
    for (const auto& [name, dtype, count] : tensors)
      writer.add(name, dtype, {count}, pattern_bytes(*tensor_bytes(dtype, {count}), static_cast<uint32_t>(name[0])));
  };
  SafetensorsWriter forward, backward;
  fill(forward, false);
  fill(backward, true);
  std::string bytes = forward.to_bytes();
  EXPECT_EQ(bytes, backward.to_bytes());

  // The header length and the data start are multiples of 8; the padding is spaces after the JSON.
  uint64_t length = 0;
  std::memcpy(&length, bytes.data(), 8);
  EXPECT_EQ(length % 8, 0u);
  std::string header = bytes.substr(8, length);
  size_t json_end = header.find_last_not_of(' ') + 1;
  EXPECT_EQ(header[json_end - 1], '}');
  EXPECT_LT(header.size() - json_end, 8u);
  auto parsed = nlohmann::json::parse(header);
  EXPECT_EQ(parsed.size(), 6u);

  // Each tensor starts at a multiple of its element size; wider dtypes come first.
  auto info = parse(bytes);
  int previous_bits = 64;
  for (const auto& tensor : info.tensors) {
    int bits = dtype_bits(tensor.dtype);
    EXPECT_EQ(tensor.begin % std::max(1, bits / 8), 0u) << tensor.name;
    EXPECT_LE(bits, previous_bits) << tensor.name;
    previous_bits = bits;
  }
}

TEST(SafetensorsWriter, RefusesInvalidTensors) {
  SafetensorsWriter writer;
  writer.add("w", DType::F32, {2}, std::vector<uint8_t>(8));
  auto message = [&](auto&& add) -> std::string {
    try {
      add();
    } catch (const Error& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_NE(message([&] { writer.add("w", DType::F32, {2}, std::vector<uint8_t>(8)); }).find("added twice"),
            std::string::npos);
  EXPECT_NE(message([&] { writer.add("x", DType::F32, {3}, std::vector<uint8_t>(8)); }).find("needs 12"),
            std::string::npos);
  EXPECT_NE(message([&] { writer.add("__metadata__", DType::U8, {0}, {}); }).find("reserved"), std::string::npos);
  EXPECT_NE(message([&] { writer.add("bad\xFF", DType::U8, {0}, {}); }).find("UTF-8"), std::string::npos);
  EXPECT_NE(message([&] { writer.add("neg", DType::U8, {-1}, {}); }).find("negative"), std::string::npos);
  EXPECT_NE(message([&] { writer.add("", DType::U8, {0}, {}); }).find("empty"), std::string::npos);
}

TEST(SafetensorsWriter, ViewsOfAnotherFileAreReSavedWithoutCopy) {
  std::string dir = scratch_dir("resave");
  SafetensorsWriter first;
  first.add("w", DType::BF16, {4}, pattern_bytes(8, 5));
  first.write(path_join(dir, "a.safetensors"));
  SafetensorsFile a(path_join(dir, "a.safetensors"));
  SafetensorsWriter second;
  second.add("renamed", a.view("w"));
  second.write(path_join(dir, "b.safetensors"));
  SafetensorsFile b(path_join(dir, "b.safetensors"));
  EXPECT_EQ(std::memcmp(b.view("renamed").data, a.view("w").data, 8), 0);
}

}  // namespace
}  // namespace mha2mla::io

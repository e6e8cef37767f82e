// Hugging Face safetensors, read side: dtypes, tensor descriptions, and a strict reader over an mmap.
//
// File layout (https://github.com/huggingface/safetensors, "Format"):
//   8 bytes   N, little-endian u64: the header length
//   N bytes   UTF-8 JSON object {"__metadata__": {str: str}, NAME: {"dtype", "shape", "data_offsets"}, ...},
//             possibly padded with whitespace
//   rest      the data buffer; data_offsets [begin, end) are relative to its start
//
// Nothing in a file is trusted: parse_safetensors() checks every field and that the tensors tile the data
// buffer exactly (no overlaps, no holes, no trailing bytes) before any view is handed out. The reader is
// torch-free and logging-free so that the fuzzer (tests/fuzz/) builds it alone.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mha2mla::io {

// Every dtype name of the safetensors spec (Rust crate `safetensors`, enum Dtype).
enum class DType : uint8_t {
  BOOL,
  U8,
  I8,
  I16,
  U16,
  I32,
  U32,
  I64,
  U64,
  F16,
  BF16,
  F32,
  F64,
  C64,          // complex: two F32 (real, imaginary)
  F8_E4M3,      // OCP FP8 E4M3 ("fn": no infinities, S.1111.111 is NaN), bias 7
  F8_E5M2,      // OCP FP8 E5M2 (IEEE-like: infinities and NaNs), bias 15
  F8_E4M3FNUZ,  // E4M3 with bias 8, no infinities, no negative zero (0x80 is NaN)
  F8_E5M2FNUZ,  // E5M2 with bias 16, no infinities, no negative zero (0x80 is NaN)
  F8_E8M0,      // MX scale: 2^(e - 127), 0xFF is NaN, no sign and no zero
  F4,           // MXFP4 E2M1, two per byte
  F6_E2M3,      // MXFP6, packed
  F6_E3M2,      // MXFP6, packed
};

inline constexpr size_t kDTypeCount = 22;
const std::array<DType, kDTypeCount>& all_dtypes();

// Width of one element in bits (4 and 6 for the packed MX types).
int dtype_bits(DType dtype);
bool is_sub_byte(DType dtype);
std::string_view dtype_name(DType dtype);
std::optional<DType> dtype_from_name(std::string_view name);
// "BOOL, U8, I8, ..." for error messages.
std::string all_dtype_names();

// Bytes that `shape` elements of `dtype` occupy. Empty when the element count or the byte count overflows
// 64 bits, or when a sub-byte dtype does not fill a whole number of bytes (safetensors cannot store that).
std::optional<uint64_t> tensor_bytes(DType dtype, const std::vector<int64_t>& shape);

// "[2, 3]".
std::string format_shape(const std::vector<int64_t>& shape);

// Offset of the first byte that is not valid UTF-8 (overlong forms, surrogates and code points past
// U+10FFFF included), or npos when the whole text is valid.
size_t utf8_error_offset(std::string_view text);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data buffer, [begin, end)
  uint64_t end = 0;

  uint64_t nbytes() const { return end - begin; }
  int64_t numel() const;
};

// A tensor's bytes where they lie. `owner` keeps them alive (the file mapping); it is null when the bytes
// belong to the caller (parse_safetensors over caller memory), and then the view lives no longer than them.
// `writable`: the bytes may be written through (a private copy-on-write mapping) without touching the
// file, so a tensor may alias them.
struct TensorView {
  TensorInfo info;
  const uint8_t* data = nullptr;
  uint64_t nbytes = 0;
  std::shared_ptr<const void> owner;
  bool writable = false;
};

// What a validated header says.
struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // sorted by data offset
  std::map<std::string, std::string> metadata;
  uint64_t header_bytes = 0;  // N
  uint64_t data_start = 0;    // 8 + N: where the data buffer begins in the file
  uint64_t data_bytes = 0;    // size of the data buffer
};

// Headers larger than this are refused before they are parsed (the reference implementation's limit).
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Parses and validates a whole safetensors file held in memory. `source` names it in error messages.
// Throws mha2mla::Error naming the source, the tensor and what was found against what was expected.
// This is the entry point the fuzzer drives.
SafetensorsHeader parse_safetensors(const uint8_t* bytes, size_t size, const std::string& source);

// A whole file through mmap, shared by every view and tensor made from it. The mapping is private and
// copy-on-write, so a tensor aliasing it may be written to without touching the file; where the kernel
// refuses to map that much writable memory (strict overcommit, vm.overcommit_memory=2) it falls back to a
// read-only mapping, and writable() says so.
class MappedFile {
 public:
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  bool writable() const { return writable_; }

 private:
  MappedFile(std::string path, uint8_t* data, size_t size, bool writable)
      : path_(std::move(path)), data_(data), size_(size), writable_(writable) {}
  std::string path_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool writable_ = false;
};

// One validated .safetensors file. Opening reads the header only; tensor bytes are paged in when used.
// Copies share the mapping.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return mapping_->path(); }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }  // by data offset
  std::vector<std::string> names() const;                                      // sorted
  size_t size() const { return header_.tensors.size(); }
  bool contains(std::string_view name) const;

  // Throw an Error naming the file and the closest existing name when `name` is absent.
  const TensorInfo& info(std::string_view name) const;
  TensorView view(std::string_view name) const;

  const SafetensorsHeader& header() const { return header_; }

 private:
  std::shared_ptr<const MappedFile> mapping_;
  SafetensorsHeader header_;
  std::unordered_map<std::string, size_t> index_;  // name -> position in header_.tensors
};

}  // namespace mha2mla::io

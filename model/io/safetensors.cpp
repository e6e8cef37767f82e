#include "model/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "common/error.h"
#include "common/strings.h"
#include "model/io/strict_json.h"

// Tensor bytes are little-endian in the file and are handed out as they lie.
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the safetensors reader hands out file bytes as they lie, which needs a little-endian host"
#endif

namespace mha2mla::io {
namespace {

using json = nlohmann::json;

struct DTypeEntry {
  DType dtype;
  std::string_view name;
  int bits;
};

// Order matches enum DType.
constexpr std::array<DTypeEntry, kDTypeCount> kDTypes = {{
    {DType::BOOL, "BOOL", 8},
    {DType::U8, "U8", 8},
    {DType::I8, "I8", 8},
    {DType::I16, "I16", 16},
    {DType::U16, "U16", 16},
    {DType::I32, "I32", 32},
    {DType::U32, "U32", 32},
    {DType::I64, "I64", 64},
    {DType::U64, "U64", 64},
    {DType::F16, "F16", 16},
    {DType::BF16, "BF16", 16},
    {DType::F32, "F32", 32},
    {DType::F64, "F64", 64},
    {DType::C64, "C64", 64},
    {DType::F8_E4M3, "F8_E4M3", 8},
    {DType::F8_E5M2, "F8_E5M2", 8},
    {DType::F8_E4M3FNUZ, "F8_E4M3FNUZ", 8},
    {DType::F8_E5M2FNUZ, "F8_E5M2FNUZ", 8},
    {DType::F8_E8M0, "F8_E8M0", 8},
    {DType::F4, "F4", 4},
    {DType::F6_E2M3, "F6_E2M3", 6},
    {DType::F6_E3M2, "F6_E3M2", 6},
}};

const DTypeEntry& entry_of(DType dtype) { return kDTypes.at(static_cast<size_t>(dtype)); }

enum class ByteCount { kOk, kOverflow, kPartialByte };

ByteCount count_bytes(DType dtype, const std::vector<int64_t>& shape, uint64_t& bytes) {
  uint64_t elements = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return ByteCount::kOverflow;  // callers reject negative dimensions before asking
    if (__builtin_mul_overflow(elements, static_cast<uint64_t>(dim), &elements)) return ByteCount::kOverflow;
  }
  uint64_t bits = 0;
  if (__builtin_mul_overflow(elements, static_cast<uint64_t>(dtype_bits(dtype)), &bits)) return ByteCount::kOverflow;
  if (bits % 8 != 0) return ByteCount::kPartialByte;
  bytes = bits / 8;
  return ByteCount::kOk;
}

// "a string", "the number -3", ... for "found X" in messages.
std::string describe_json(const json& value) {
  if (value.is_number() || value.is_boolean() || value.is_null()) {
    std::string text = value.dump();
    if (text.size() > 40) text = text.substr(0, 40) + "...";
    return fmt::format("{} {}", value.is_number() ? "the number" : "the value", text);
  }
  return fmt::format("a JSON {}", value.type_name());
}

struct EntryContext {
  const std::string& source;
  const std::string& name;
};

[[noreturn]] void fail_entry(const EntryContext& where, const std::string& problem) {
  fail("safetensors file '{}', tensor '{}': {}", where.source, where.name, problem);
}

uint64_t parse_unsigned(const EntryContext& where, const json& value, const std::string& field) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() < 0)
    fail_entry(where, fmt::format("{} is {} but must be non-negative", field, value.get<int64_t>()));
  fail_entry(where, fmt::format("{} is {} but must be a non-negative integer", field, describe_json(value)));
}

DType parse_dtype(const EntryContext& where, const json& value) {
  if (!value.is_string()) fail_entry(where, fmt::format("'dtype' is {} but must be a string", describe_json(value)));
  const auto& text = value.get_ref<const std::string&>();
  auto dtype = dtype_from_name(text);
  if (!dtype) fail_entry(where, fmt::format("unknown dtype '{}' (expected one of {})", text, all_dtype_names()));
  return *dtype;
}

std::vector<int64_t> parse_shape(const EntryContext& where, const json& value) {
  if (!value.is_array())
    fail_entry(where, fmt::format("'shape' is {} but must be an array of dimensions", describe_json(value)));
  std::vector<int64_t> shape;
  shape.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    uint64_t dim = parse_unsigned(where, value[i], fmt::format("dimension {} of 'shape'", i));
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail_entry(where, fmt::format("dimension {} of 'shape' is {}, larger than 2^63 - 1", i, dim));
    shape.push_back(static_cast<int64_t>(dim));
  }
  return shape;
}

TensorInfo parse_entry(const std::string& source, const std::string& name, const json& entry, uint64_t data_bytes) {
  EntryContext where{source, name};
  if (!entry.is_object())
    fail_entry(where, fmt::format("entry is {} but must be an object with dtype, shape and data_offsets",
                                  describe_json(entry)));
  for (const auto& [key, value] : entry.items()) {
    (void)value;
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      fail_entry(where, fmt::format("unexpected key '{}' (a tensor entry holds only dtype, shape and data_offsets)",
                                    key));
  }
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!entry.contains(key)) fail_entry(where, fmt::format("missing '{}'", key));

  TensorInfo info;
  info.name = name;
  info.dtype = parse_dtype(where, entry["dtype"]);
  info.shape = parse_shape(where, entry["shape"]);

  const json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2)
    fail_entry(where, fmt::format("'data_offsets' is {} but must be an array [begin, end]",
                                  offsets.is_array() ? fmt::format("an array of {} values", offsets.size())
                                                     : describe_json(offsets)));
  info.begin = parse_unsigned(where, offsets[0], "data_offsets begin");
  info.end = parse_unsigned(where, offsets[1], "data_offsets end");
  if (info.begin > info.end)
    fail_entry(where, fmt::format("data_offsets [{}, {}] are reversed (begin must not exceed end)", info.begin,
                                  info.end));
  if (info.end > data_bytes)
    fail_entry(where, fmt::format("data_offsets [{}, {}] end past the data buffer, which holds {} bytes", info.begin,
                                  info.end, data_bytes));

  uint64_t expected = 0;
  switch (count_bytes(info.dtype, info.shape, expected)) {
    case ByteCount::kOverflow:
      fail_entry(where, fmt::format("shape {} of {} overflows a 64-bit byte count", format_shape(info.shape),
                                    dtype_name(info.dtype)));
    case ByteCount::kPartialByte:
      fail_entry(where, fmt::format("shape {} of {} ({}-bit elements) does not fill a whole number of bytes",
                                    format_shape(info.shape), dtype_name(info.dtype), dtype_bits(info.dtype)));
    case ByteCount::kOk:
      break;
  }
  if (info.nbytes() != expected)
    fail_entry(where, fmt::format("data_offsets [{}, {}] span {} bytes but shape {} of {} needs {} bytes", info.begin,
                                  info.end, info.nbytes(), format_shape(info.shape), dtype_name(info.dtype),
                                  expected));
  return info;
}

std::map<std::string, std::string> parse_metadata(const std::string& source, const json& value) {
  if (!value.is_object())
    fail("safetensors file '{}': '__metadata__' is {} but must be an object mapping strings to strings", source,
         describe_json(value));
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string())
      fail("safetensors file '{}': '__metadata__' value of '{}' is {} but must be a string (metadata maps strings "
           "to strings)",
           source, key, describe_json(item));
    metadata.emplace(key, item.get<std::string>());
  }
  return metadata;
}

// The spec requires the tensors to cover the data buffer exactly: overlaps would alias, and holes or trailing
// bytes could smuggle a second file format (a polyglot) past a reader.
void check_tiling(const std::string& source, const std::vector<TensorInfo>& tensors, uint64_t data_bytes) {
  uint64_t covered = 0;  // every byte below this belongs to a tensor seen so far
  const TensorInfo* last = nullptr;
  for (const auto& tensor : tensors) {
    if (tensor.begin < covered) {
      fail("safetensors file '{}': tensors '{}' (bytes [{}, {})) and '{}' (bytes [{}, {})) overlap", source,
           last->name, last->begin, last->end, tensor.name, tensor.begin, tensor.end);
    }
    if (tensor.begin > covered) {
      fail("safetensors file '{}': bytes [{}, {}) of the data buffer belong to no tensor (a hole {} tensor '{}'); "
           "the spec requires the tensors to cover the buffer without gaps",
           source, covered, tensor.begin, last ? fmt::format("between tensor '{}' and", last->name) : "before",
           tensor.name);
    }
    if (tensor.end > covered || last == nullptr) {
      covered = tensor.end;
      last = &tensor;
    }
  }
  if (covered != data_bytes) {
    fail("safetensors file '{}': the last {} bytes of the data buffer (bytes [{}, {})) belong to no tensor; the "
         "spec requires the tensors to cover the buffer exactly",
         source, data_bytes - covered, covered, data_bytes);
  }
}

}  // namespace

const std::array<DType, kDTypeCount>& all_dtypes() {
  static const std::array<DType, kDTypeCount> dtypes = [] {
    std::array<DType, kDTypeCount> out{};
    for (size_t i = 0; i < kDTypeCount; ++i) out[i] = kDTypes[i].dtype;
    return out;
  }();
  return dtypes;
}

int dtype_bits(DType dtype) { return entry_of(dtype).bits; }
bool is_sub_byte(DType dtype) { return dtype_bits(dtype) < 8; }
std::string_view dtype_name(DType dtype) { return entry_of(dtype).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& entry : kDTypes)
    if (entry.name == name) return entry.dtype;
  return std::nullopt;
}

std::string all_dtype_names() {
  std::string out;
  for (const auto& entry : kDTypes) {
    if (!out.empty()) out += ", ";
    out += entry.name;
  }
  return out;
}

std::optional<uint64_t> tensor_bytes(DType dtype, const std::vector<int64_t>& shape) {
  uint64_t bytes = 0;
  if (count_bytes(dtype, shape, bytes) != ByteCount::kOk) return std::nullopt;
  return bytes;
}

std::string format_shape(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += fmt::format("{}{}", i ? ", " : "", shape[i]);
  return out + "]";
}

size_t utf8_error_offset(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    unsigned char c = bytes[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    uint32_t code = 0;
    uint32_t minimum = 0;
    if ((c & 0xE0) == 0xC0) {
      length = 2, code = c & 0x1F, minimum = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3, code = c & 0x0F, minimum = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4, code = c & 0x07, minimum = 0x10000;
    } else {
      return i;  // a continuation byte with no lead, or 0xF8..0xFF
    }
    if (n - i < length) return i;
    for (size_t k = 1; k < length; ++k) {
      if ((bytes[i + k] & 0xC0) != 0x80) return i;
      code = (code << 6) | (bytes[i + k] & 0x3F);
    }
    if (code < minimum || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return i;
    i += length;
  }
  return std::string_view::npos;
}

int64_t TensorInfo::numel() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

SafetensorsHeader parse_safetensors(const uint8_t* bytes, size_t size, const std::string& source) {
  if (size < 8)
    fail("safetensors file '{}': {} bytes is too short to hold the 8-byte header length (truncated file?)", source,
         size);
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes, 8);
  if (header_bytes > kMaxHeaderBytes)
    fail("safetensors file '{}': header length {} is larger than the {}-byte maximum (not a safetensors file?)",
         source, header_bytes, kMaxHeaderBytes);
  if (header_bytes > size - 8)
    fail("safetensors file '{}': header length {} is larger than the {} bytes after the length prefix "
         "(truncated file?)",
         source, header_bytes, size - 8);

  SafetensorsHeader header;
  header.header_bytes = header_bytes;
  header.data_start = 8 + header_bytes;
  header.data_bytes = size - header.data_start;

  std::string_view text(reinterpret_cast<const char*>(bytes + 8), header_bytes);
  size_t bad = utf8_error_offset(text);
  if (bad != std::string_view::npos)
    fail("safetensors file '{}': header is not valid UTF-8 (byte 0x{:02x} at header offset {})", source,
         static_cast<unsigned>(static_cast<unsigned char>(text[bad])), bad);

  json root = parse_strict_json(text, fmt::format("safetensors file '{}': header", source),
                                "tensor names and keys must be unique");
  if (!root.is_object())
    fail("safetensors file '{}': header is {} but must be a JSON object", source, describe_json(root));

  for (const auto& [name, entry] : root.items()) {
    if (name == "__metadata__") {
      header.metadata = parse_metadata(source, entry);
      continue;
    }
    header.tensors.push_back(parse_entry(source, name, entry, header.data_bytes));
  }
  std::sort(header.tensors.begin(), header.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  check_tiling(source, header.tensors, header.data_bytes);
  return header;
}

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open safetensors file '{}': {}", path, std::strerror(errno));
  struct stat status {};
  if (::fstat(fd, &status) != 0) {
    int error = errno;
    ::close(fd);
    fail("cannot stat safetensors file '{}': {}", path, std::strerror(error));
  }
  if (!S_ISREG(status.st_mode)) {
    ::close(fd);
    fail("safetensors file '{}' is not a regular file", path);
  }
  auto size = static_cast<size_t>(status.st_size);
  uint8_t* data = nullptr;
  bool writable = true;
  if (size > 0) {
    // Private + writable = copy-on-write: tensors aliasing the mapping may be modified in place without
    // touching the file. MAP_NORESERVE: untouched pages cost no swap reservation. Under strict overcommit
    // the kernel charges the whole writable mapping up front and may refuse it; read-only costs nothing.
    void* mapped = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
    if (mapped == MAP_FAILED && errno == ENOMEM) {
      writable = false;
      mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    }
    if (mapped == MAP_FAILED) {
      int error = errno;
      ::close(fd);
      fail("cannot map safetensors file '{}' ({} bytes): {}", path, size, std::strerror(error));
    }
    data = static_cast<uint8_t*>(mapped);
  }
  ::close(fd);
  return std::shared_ptr<const MappedFile>(new MappedFile(path, data, size, writable));
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(data_, size_);
}

SafetensorsFile::SafetensorsFile(const std::string& path) : mapping_(MappedFile::open(path)) {
  header_ = parse_safetensors(mapping_->data(), mapping_->size(), path);
  index_.reserve(header_.tensors.size());
  for (size_t i = 0; i < header_.tensors.size(); ++i) index_.emplace(header_.tensors[i].name, i);
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(header_.tensors.size());
  for (const auto& tensor : header_.tensors) out.push_back(tensor.name);
  std::sort(out.begin(), out.end());
  return out;
}

bool SafetensorsFile::contains(std::string_view name) const { return index_.count(std::string(name)) > 0; }

const TensorInfo& SafetensorsFile::info(std::string_view name) const {
  auto it = index_.find(std::string(name));
  if (it == index_.end()) {
    std::string suggestion = nearest_match(name, names());
    fail("safetensors file '{}' has no tensor '{}'{}", path(), name,
         suggestion.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", suggestion));
  }
  return header_.tensors[it->second];
}

TensorView SafetensorsFile::view(std::string_view name) const {
  const TensorInfo& tensor = info(name);
  TensorView view;
  view.info = tensor;
  view.data = mapping_->data() + header_.data_start + tensor.begin;
  view.nbytes = tensor.nbytes();
  view.owner = mapping_;
  view.writable = mapping_->writable();
  return view;
}

}  // namespace mha2mla::io

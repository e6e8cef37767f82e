#include "data/image/image_decode.h"

#include <cstring>

#include "common/error.h"
#include "common/files.h"
#include "data/image/decoders.h"

namespace mha2mla::image {

namespace {

bool starts_with_bytes(const uint8_t* data, size_t size, const char* magic, size_t magic_size) {
  return size >= magic_size && std::memcmp(data, magic, magic_size) == 0;
}

}  // namespace

ImageFormat detect_image_format(const uint8_t* data, size_t size) {
  if (starts_with_bytes(data, size, "\xFF\xD8\xFF", 3)) return ImageFormat::kJpeg;
  if (starts_with_bytes(data, size, "\x89PNG\r\n\x1A\n", 8)) return ImageFormat::kPng;
  return ImageFormat::kUnknown;
}

std::string describe_image_magic(const uint8_t* data, size_t size) {
  if (size == 0) return "nothing (empty data)";
  if (starts_with_bytes(data, size, "GIF87a", 6) || starts_with_bytes(data, size, "GIF89a", 6)) return "a GIF image";
  if (size >= 12 && starts_with_bytes(data, size, "RIFF", 4) && std::memcmp(data + 8, "WEBP", 4) == 0)
    return "a WebP image";
  if (starts_with_bytes(data, size, "BM", 2)) return "a BMP image";
  if (starts_with_bytes(data, size, "II*\0", 4) || starts_with_bytes(data, size, "MM\0*", 4)) return "a TIFF image";
  if (size >= 12 && std::memcmp(data + 4, "ftyp", 4) == 0) return "an ISO media file (HEIC/AVIF/MP4)";
  if (starts_with_bytes(data, size, "\xFF\xD8", 2)) return "a JPEG start marker without a following segment";
  if (starts_with_bytes(data, size, "\x89PNG", 4)) return "a damaged PNG signature";
  std::string hex;
  for (size_t i = 0; i < size && i < 8; ++i) hex += fmt::format("{}{:02X}", i ? " " : "", data[i]);
  bool text = true;
  for (size_t i = 0; i < size && i < 8; ++i) text = text && data[i] >= 0x20 && data[i] < 0x7F;
  return text ? fmt::format("bytes {} (text, not an image?)", hex) : fmt::format("bytes {}", hex);
}

RgbImage decode_image(const uint8_t* data, size_t size, const std::string& source) {
  switch (detect_image_format(data, size)) {
    case ImageFormat::kJpeg: return detail::decode_jpeg(data, size, source);
    case ImageFormat::kPng: return detail::decode_png(data, size, source);
    case ImageFormat::kUnknown: break;
  }
  if (size == 0) fail("{}: empty data (0 bytes) where a JPEG or PNG image was expected", source);
  fail_with_hint("convert the image to JPEG or PNG",
                 "{}: not a JPEG or PNG image: the data starts with {} ({} bytes in all)", source,
                 describe_image_magic(data, size), size);
}

RgbImage decode_image(std::string_view bytes, const std::string& source) {
  return decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), source);
}

RgbImage read_image_file(const std::string& path) {
  std::string bytes = read_file(path);
  return decode_image(bytes, path);
}

namespace detail {

void check_image_size(int64_t width, int64_t height, const char* format, const std::string& source) {
  if (width <= 0 || height <= 0)
    fail("{}: corrupt {}: its header gives an empty image ({}x{})", source, format, width, height);
  if (width * height > kMaxImagePixels)
    fail_with_hint("downscale the image; PIL refuses it too (DecompressionBombError)",
                   "{}: {} image of {}x{} = {} pixels exceeds the limit of {} pixels", source, format, width, height,
                   width * height, kMaxImagePixels);
}

}  // namespace detail
}  // namespace mha2mla::image

// Image decoding that gives the pixels PIL gives: Image.open(...).convert("RGB"), which is what the Hugging Face
// processors run (transformers' convert_to_rgb). JPEG goes through libjpeg-turbo with PIL's settings (accurate
// integer IDCT, fancy upsampling), PNG through libpng. The format is read from the magic bytes, never from a
// file name. Conversions follow PIL exactly:
//   gray -> replicated; gray+alpha, RGBA -> alpha dropped (not composited); palette -> looked up, indices past
//   the palette give (i, i, i) like PIL's default palette; 16-bit RGB(A) and gray+alpha -> high byte;
//   16-bit gray -> clipped at 255 (PIL's "I" -> "RGB"); CMYK / YCCK JPEG -> PIL's Adobe-inverted CMYK -> RGB.
//   EXIF orientation is not applied (PIL does not apply it either).
// Failures (corrupt or truncated data, unsupported formats, absurd sizes) throw mha2mla::Error naming `source`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "data/image/rgb_image.h"

namespace mha2mla::image {

enum class ImageFormat { kJpeg, kPng, kUnknown };

// Detects JPEG (FF D8 FF) and PNG (89 'PNG' 0D 0A 1A 0A) from the first bytes.
ImageFormat detect_image_format(const uint8_t* data, size_t size);

// A human name for what the first bytes look like ("GIF", "WebP", "empty data", ...), for error messages.
std::string describe_image_magic(const uint8_t* data, size_t size);

// PIL refuses images above 2 * Image.MAX_IMAGE_PIXELS (DecompressionBombError); so do we.
constexpr int64_t kMaxImagePixels = 2 * int64_t{89478485};

// Decodes an in-memory JPEG or PNG. `source` names where the bytes came from (a path, or "<shard>:<key>" for a
// WebDataset member) and appears in every error message.
RgbImage decode_image(const uint8_t* data, size_t size, const std::string& source);
RgbImage decode_image(std::string_view bytes, const std::string& source);

// Reads and decodes a file; errors name the path.
RgbImage read_image_file(const std::string& path);

}  // namespace mha2mla::image

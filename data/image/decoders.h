// Internal: the per-format decoders behind decode_image(). Both return PIL-equivalent RGB and throw
// mha2mla::Error naming `source`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "data/image/rgb_image.h"

namespace mha2mla::image::detail {

RgbImage decode_jpeg(const uint8_t* data, size_t size, const std::string& source);
RgbImage decode_png(const uint8_t* data, size_t size, const std::string& source);

// Throws when width x height is not a sane image size (zero, or above kMaxImagePixels).
void check_image_size(int64_t width, int64_t height, const char* format, const std::string& source);

}  // namespace mha2mla::image::detail

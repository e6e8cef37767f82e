// Resizing that reproduces PIL's Image.resize(size, BICUBIC | BILINEAR) on 8-bit RGB bit for bit, which is what
// every Hugging Face image processor calls (transformers' image_transforms.resize). PIL resizes in two separable
// passes (horizontal, then vertical), each a convolution whose support widens with the downscale factor
// (antialiasing), with coefficients normalised to sum 1 in double precision, then rounded to 22-bit fixed point;
// each pass rounds and clips to uint8. Mirroring those steps gives identical pixels.
#pragma once

#include <cstdint>

#include "data/image/rgb_image.h"

namespace mha2mla::image {

enum class ResampleFilter { kBilinear, kBicubic };

// A rectangle of an image, in pixels.
struct PixelWindow {
  int64_t x = 0, y = 0, width = 0, height = 0;
};

// PIL: source.resize((out_width, out_height), filter). Same size returns a copy, as PIL does.
RgbImage resize_like_pil(const RgbImage& source, int64_t out_width, int64_t out_height, ResampleFilter filter);

// The same pixels as resize_like_pil(...) cropped to `window` (which must lie inside the output), computing only
// that window: each output pixel of PIL's resize depends only on its own coefficients, so skipping the pixels a
// later crop would drop changes nothing.
RgbImage resize_window_like_pil(const RgbImage& source, int64_t out_width, int64_t out_height, ResampleFilter filter,
                                const PixelWindow& window);

}  // namespace mha2mla::image

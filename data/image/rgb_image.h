// A decoded image as the Hugging Face processors see it after `convert_to_rgb`: 8-bit RGB, interleaved,
// rows top to bottom, no padding between rows. Every decoder produces this and every processor consumes it.
#pragma once

#include <cstdint>
#include <vector>

namespace mha2mla::image {

struct RgbImage {
  int64_t width = 0;
  int64_t height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3 bytes: R, G, B of (0,0), (1,0), ...

  RgbImage() = default;
  RgbImage(int64_t width_, int64_t height_) : width(width_), height(height_), pixels(width_ * height_ * 3) {}

  uint8_t* row(int64_t y) { return pixels.data() + y * width * 3; }
  const uint8_t* row(int64_t y) const { return pixels.data() + y * width * 3; }
};

}  // namespace mha2mla::image

// The benchmarks' stand-in for a photo: smooth gradients, a checker of sharp edges and Gaussian noise, deterministic
// (fixed seed), so that JPEG decoding and resizing do realistic work. Shared by the image and data-pipeline benches.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

#include "data/image/rgb_image.h"

namespace mha2mla::bench {

inline image::RgbImage photo_like_image(int width, int height) {
  image::RgbImage image(width, height);
  std::mt19937 rng(1234);
  std::normal_distribution<double> noise(0.0, 12.0);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const double values[3] = {127 + 120 * std::sin(x / static_cast<double>(width) * 6.3),
                                127 + 120 * std::cos(y / static_cast<double>(height) * 4.1),
                                ((x / 7 + y / 5) % 2 == 0) ? 220.0 : 30.0};
      for (int c = 0; c < 3; ++c)
        image.row(y)[x * 3 + c] = static_cast<uint8_t>(std::clamp(values[c] + noise(rng), 0.0, 255.0));
    }
  return image;
}

}  // namespace mha2mla::bench

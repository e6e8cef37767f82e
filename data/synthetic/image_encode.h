// JPEG (libjpeg-turbo) and PNG (libpng) encoding of RGB images, for the synthetic datasets and benchmarks.
#pragma once

#include <string>

#include "data/image/rgb_image.h"

namespace mha2mla::data {

// Baseline JPEG, 4:2:0 chroma subsampling, accurate DCT. Throws Error on failure.
std::string encode_jpeg(const image::RgbImage& image, int quality = 90);

// 8-bit RGB PNG, default compression.
std::string encode_png(const image::RgbImage& image);

}  // namespace mha2mla::data

#include "data/image/pixel_normalize.h"

#include <cstring>

#include "common/error.h"

namespace mha2mla::image {

NormalizationTable::NormalizationTable(const ImageNormalization& normalization) {
  for (int c = 0; c < 3; ++c) {
    const auto mean = static_cast<float>(normalization.mean[c]);
    const auto std = static_cast<float>(normalization.std[c]);
    for (int v = 0; v < 256; ++v) {
      float x = normalization.do_rescale ? static_cast<float>(static_cast<double>(v) * normalization.rescale_factor)
                                         : static_cast<float>(v);
      if (normalization.do_normalize) x = (x - mean) / std;
      table_[c][v] = x;
    }
  }
}

void write_channels_first(const RgbImage& image, const NormalizationTable& table, float* out) {
  const int64_t plane = image.width * image.height;
  const float* lut[3] = {table.channel(0), table.channel(1), table.channel(2)};
  float* r = out;
  float* g = out + plane;
  float* b = out + 2 * plane;
  const uint8_t* p = image.pixels.data();
  for (int64_t i = 0; i < plane; ++i, p += 3) {
    r[i] = lut[0][p[0]];
    g[i] = lut[1][p[1]];
    b[i] = lut[2][p[2]];
  }
}

void write_qwen_vl_patches(const RgbImage& image, const NormalizationTable& table, int64_t patch_size,
                           int64_t temporal_patch_size, int64_t merge_size, float* out) {
  const int64_t block = patch_size * merge_size;
  MHA2MLA_CHECK(image.height % block == 0 && image.width % block == 0, "{}x{} image is not a multiple of {}",
                image.width, image.height, block);
  const int64_t blocks_y = image.height / block, blocks_x = image.width / block;
  const int64_t frame_values = patch_size * patch_size;
  const int64_t row_values = 3 * temporal_patch_size * frame_values;
  float* row = out;
  for (int64_t by = 0; by < blocks_y; ++by) {
    for (int64_t bx = 0; bx < blocks_x; ++bx) {
      for (int64_t my = 0; my < merge_size; ++my) {
        for (int64_t mx = 0; mx < merge_size; ++mx, row += row_values) {
          const int64_t y0 = (by * merge_size + my) * patch_size;
          const int64_t x0 = (bx * merge_size + mx) * patch_size;
          for (int c = 0; c < 3; ++c) {
            const float* lut = table.channel(c);
            float* frame0 = row + c * temporal_patch_size * frame_values;
            for (int64_t py = 0; py < patch_size; ++py) {
              const uint8_t* src = image.row(y0 + py) + x0 * 3 + c;
              float* dst = frame0 + py * patch_size;
              for (int64_t px = 0; px < patch_size; ++px) dst[px] = lut[src[px * 3]];
            }
            // A still image is its own second frame: the processor repeats it to fill the temporal patch.
            for (int64_t t = 1; t < temporal_patch_size; ++t)
              std::memcpy(frame0 + t * frame_values, frame0, sizeof(float) * frame_values);
          }
        }
      }
    }
  }
}

}  // namespace mha2mla::image

#include "data/image/image_processing.h"

#include <ATen/ops/empty.h>

#include <algorithm>
#include <cstring>

#include "common/error.h"

namespace mha2mla::image {

namespace {

ImageSize size_of(const RgbImage& image) { return {image.height, image.width}; }

// Copies `source` into `target` with its top-left corner at (y, x); the source must fit.
void paste(const RgbImage& source, RgbImage& target, int64_t y, int64_t x) {
  for (int64_t row = 0; row < source.height; ++row)
    std::memcpy(target.row(y + row) + x * 3, source.row(row), static_cast<size_t>(source.width) * 3);
}

RgbImage filled(int64_t width, int64_t height, const std::array<uint8_t, 3>& color) {
  RgbImage image(width, height);
  for (int64_t i = 0; i < width * height; ++i) std::memcpy(&image.pixels[i * 3], color.data(), 3);
  return image;
}

RgbImage crop(const RgbImage& image, int64_t y, int64_t x, int64_t height, int64_t width) {
  RgbImage out(width, height);
  for (int64_t row = 0; row < height; ++row)
    std::memcpy(out.row(row), image.row(y + row) + x * 3, static_cast<size_t>(width) * 3);
  return out;
}

RgbImage pad_to_square(const RgbImage& image, const ImageNormalization& normalization) {
  const SquarePadPlan plan = square_pad_plan(size_of(image));
  if (plan.side == image.width && plan.side == image.height) return image;
  std::array<uint8_t, 3> background{};
  for (int c = 0; c < 3; ++c) background[c] = static_cast<uint8_t>(background_channel_value(normalization.mean[c]));
  RgbImage square = filled(plan.side, plan.side, background);
  paste(image, square, plan.offset_y, plan.offset_x);
  return square;
}

at::Tensor empty_float(std::initializer_list<int64_t> shape) { return at::empty(shape, at::kFloat); }

}  // namespace

RgbImage clip_resize_and_crop(const RgbImage& input, const ClipImageConfig& config) {
  MHA2MLA_CHECK(config.shortest_edge > 0 && config.crop.height > 0 && config.crop.width > 0,
                "CLIP config: shortest_edge {} crop {}x{}", config.shortest_edge, config.crop.width,
                config.crop.height);
  RgbImage padded;
  const RgbImage* image = &input;
  if (config.pad_to_square) {
    padded = pad_to_square(input, config.normalization);
    image = &padded;
  }
  const ImageSize resized = shortest_edge_resize_size(size_of(*image), config.shortest_edge);
  const CenterCropPlan plan = center_crop_plan(resized, config.crop);
  const PixelWindow kept{plan.source_x, plan.source_y, plan.width, plan.height};
  // Only the part of the resized image that survives the crop is computed.
  RgbImage cropped = resize_window_like_pil(*image, resized.width, resized.height, config.resample, kept);
  if (!plan.needs_padding) return cropped;
  RgbImage canvas = filled(config.crop.width, config.crop.height, {0, 0, 0});
  paste(cropped, canvas, plan.target_y, plan.target_x);
  return canvas;
}

at::Tensor preprocess_clip(const RgbImage& image, const ClipImageConfig& config) {
  RgbImage pixels = clip_resize_and_crop(image, config);
  at::Tensor out = empty_float({3, pixels.height, pixels.width});
  write_channels_first(pixels, NormalizationTable(config.normalization), out.data_ptr<float>());
  return out;
}

LlavaNextImage preprocess_llava_next(const RgbImage& image, const LlavaNextImageConfig& config) {
  const ImageSize original = size_of(image);
  const ImageSize best = select_best_resolution(original, config.grid_pinpoints);

  // _resize_for_patching + _pad_for_patching: fit inside the best resolution, centre on black.
  const ImageSize fitted = patch_output_size(original, best);
  RgbImage canvas = filled(best.width, best.height, {0, 0, 0});
  const auto [pad_top, pad_left] = patching_pad_offsets(fitted, best);
  paste(resize_like_pil(image, fitted.width, fitted.height, config.clip.resample), canvas, pad_top, pad_left);

  // The whole image squashed to the base size comes first, then the tiles row by row.
  ClipImageConfig tile_config = config.clip;
  tile_config.pad_to_square = false;
  std::vector<RgbImage> tiles;
  const int64_t base = config.clip.shortest_edge;
  tiles.push_back(clip_resize_and_crop(resize_like_pil(image, base, base, config.clip.resample), tile_config));
  const int64_t tile = config.clip.crop.height;  // divide_to_patches cuts square tiles of crop_size["height"]
  for (int64_t y = 0; y < best.height; y += tile) {
    for (int64_t x = 0; x < best.width; x += tile) {
      RgbImage piece = crop(canvas, y, x, std::min(tile, best.height - y), std::min(tile, best.width - x));
      tiles.push_back(clip_resize_and_crop(piece, tile_config));
    }
  }

  const ImageSize tile_size = config.clip.crop;
  LlavaNextImage out;
  out.pixel_values = empty_float({static_cast<int64_t>(tiles.size()), 3, tile_size.height, tile_size.width});
  const NormalizationTable table(config.clip.normalization);
  float* data = out.pixel_values.data_ptr<float>();
  for (const RgbImage& t : tiles) {
    write_channels_first(t, table, data);
    data += 3 * tile_size.height * tile_size.width;
  }
  out.image_size = original;
  out.num_image_tokens = llava_next_num_image_tokens(original, config);
  return out;
}

int64_t llava_next_num_image_tokens(ImageSize original, const LlavaNextImageConfig& config) {
  int64_t features = llava_next_number_of_features(original, config.clip.crop, config.grid_pinpoints,
                                                   config.vision_patch_size, config.num_additional_image_tokens);
  return config.drop_cls_feature ? features - 1 : features;
}

Qwen2VlImage preprocess_qwen2_vl(const RgbImage& image, const Qwen2VlImageConfig& config) {
  const int64_t factor = config.patch_size * config.merge_size;
  const ImageSize target = qwen_smart_resize(size_of(image), factor, config.min_pixels, config.max_pixels);
  RgbImage resized = resize_like_pil(image, target.width, target.height, config.resample);

  Qwen2VlImage out;
  const int64_t grid_h = target.height / config.patch_size, grid_w = target.width / config.patch_size;
  out.grid_thw = {1, grid_h, grid_w};
  out.num_image_tokens = grid_h * grid_w / (config.merge_size * config.merge_size);
  out.pixel_values =
      empty_float({grid_h * grid_w, 3 * config.temporal_patch_size * config.patch_size * config.patch_size});
  write_qwen_vl_patches(resized, NormalizationTable(config.normalization), config.patch_size,
                        config.temporal_patch_size, config.merge_size, out.pixel_values.data_ptr<float>());
  return out;
}

}  // namespace mha2mla::image

// preprocessor_config.json, the image processor settings every Hugging Face VLM checkpoint ships, read into the
// configs of image_processing.h and written back in the real files' layout:
//   CLIPImageProcessor / LlavaImageProcessor  size.shortest_edge, crop_size, resample, rescale/normalize (+ do_pad)
//   LlavaNextImageProcessor                   the same plus image_grid_pinpoints
//   Qwen2VLImageProcessor                     min_pixels / max_pixels (or size.shortest_edge / longest_edge),
//                                             patch_size, temporal_patch_size, merge_size, mean/std
// Settings these processors have but mha2mla does not implement (do_resize false, another resample filter, a
// size given as height/width for CLIP) are refused with the key named, rather than silently ignored.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "data/image/image_processing.h"

namespace mha2mla::image {

enum class ImageProcessorKind { kClip, kLlava, kLlavaNext, kQwen2Vl };

struct PreprocessorConfig {
  ImageProcessorKind kind = ImageProcessorKind::kClip;
  std::string processor_class;     // e.g. "LlavaProcessor" (written back as found; "" when absent)
  ClipImageConfig clip;            // kClip, kLlava; the tile steps of kLlavaNext (llava_next.clip)
  LlavaNextImageConfig llava_next; // kLlavaNext
  Qwen2VlImageConfig qwen;         // kQwen2Vl
  std::string source;              // the file, for messages
};

const char* image_processor_type_name(ImageProcessorKind kind);  // "CLIPImageProcessor", ...

// `source` names the document in errors.
PreprocessorConfig parse_preprocessor_config(const nlohmann::json& document, const std::string& source);
// Reads `path`, or `path`/preprocessor_config.json when `path` is a folder.
PreprocessorConfig load_preprocessor_config(const std::string& path);

// The document as the hub files spell it (every field written, so parse(to_json(x)) gives x back).
nlohmann::json preprocessor_config_json(const PreprocessorConfig& config);
void save_preprocessor_config(const PreprocessorConfig& config, const std::string& path);  // atomic write

}  // namespace mha2mla::image

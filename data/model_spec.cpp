#include "data/model_spec.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/strings.h"

namespace mha2mla::data {

using json = nlohmann::json;

const char* vision_family_name(VisionFamily family) {
  switch (family) {
    case VisionFamily::kNone: return "none";
    case VisionFamily::kLlava: return "llava";
    case VisionFamily::kLlavaNext: return "llava_next";
    case VisionFamily::kQwenVl: return "qwen_vl";
  }
  return "?";
}

namespace {

json read_json(const std::string& path) {
  try {
    return json::parse(read_file(path));
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
}

int64_t int_or(const json& object, const char* key, int64_t fallback, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) fail("{}: '{}' is {}, expected an integer", where, key, it->type_name());
  return it->get<int64_t>();
}

std::string string_or(const json& object, const char* key, const std::string& fallback) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// An HF size entry: an int, or {"height", "width"}, or {"shortest_edge"}.
image::ImageSize size_entry(const json& value, image::ImageSize fallback, const std::string& where) {
  if (value.is_number_integer()) return {value.get<int64_t>(), value.get<int64_t>()};
  if (value.is_object()) {
    if (value.contains("height") && value.contains("width"))
      return {value["height"].get<int64_t>(), value["width"].get<int64_t>()};
    if (value.contains("shortest_edge"))
      return {value["shortest_edge"].get<int64_t>(), value["shortest_edge"].get<int64_t>()};
  }
  if (value.is_null()) return fallback;
  fail("{}: unsupported size entry {}", where, value.dump());
}

image::ImageNormalization normalization_from(const json& p, const std::string& where) {
  image::ImageNormalization n;
  n.do_rescale = p.value("do_rescale", true);
  n.rescale_factor = p.value("rescale_factor", 1.0 / 255.0);
  n.do_normalize = p.value("do_normalize", true);
  for (const char* key : {"image_mean", "image_std"}) {
    if (!p.contains(key)) continue;
    const json& v = p[key];
    if (!v.is_array() || v.size() != 3) fail("{}: '{}' must be a list of 3 numbers", where, key);
    auto& target = std::string(key) == "image_mean" ? n.mean : n.std;
    for (int c = 0; c < 3; ++c) target[c] = v[c].get<double>();
  }
  return n;
}

image::ResampleFilter resample_from(const json& p, const std::string& where) {
  int64_t code = int_or(p, "resample", 3, where);
  if (code == 3) return image::ResampleFilter::kBicubic;
  if (code == 2) return image::ResampleFilter::kBilinear;
  fail("{}: resample = {} is not supported (2 = bilinear, 3 = bicubic)", where, code);
}

void read_clip(const json& p, image::ClipImageConfig& clip, const std::string& where) {
  if (p.contains("size")) clip.shortest_edge = size_entry(p["size"], {clip.shortest_edge, clip.shortest_edge}, where).height;
  if (p.contains("crop_size")) clip.crop = size_entry(p["crop_size"], clip.crop, where);
  clip.resample = resample_from(p, where);
  clip.normalization = normalization_from(p, where);
  clip.pad_to_square = p.value("do_pad", false) && string_or(p, "image_processor_type", "") != "LlavaNextImageProcessor";
}

}  // namespace

std::string read_chat_template_text(const std::string& folder) {
  const std::string config_path = path_join(folder, "tokenizer_config.json");
  if (file_exists(config_path)) {
    json config = read_json(config_path);
    auto it = config.find("chat_template");
    if (it != config.end() && it->is_string()) return it->get<std::string>();
    if (it != config.end() && it->is_array())
      for (const json& entry : *it)
        if (entry.value("name", "") == "default") return entry.value("template", "");
  }
  const std::string template_json = path_join(folder, "chat_template.json");
  if (file_exists(template_json)) return string_or(read_json(template_json), "chat_template", "");
  const std::string jinja = path_join(folder, "chat_template.jinja");
  if (file_exists(jinja)) return read_file(jinja);
  return "";
}

ModelDataSpec read_model_data_spec(const std::string& folder) {
  const std::string config_path = path_join(folder, "config.json");
  if (!file_exists(config_path)) fail("model folder '{}': no config.json", folder);
  const json config = read_json(config_path);
  ModelDataSpec spec;
  spec.source = folder;
  spec.model_type = string_or(config, "model_type", "");
  if (spec.model_type.empty()) fail("{}: no 'model_type'", config_path);
  spec.chat_template_text = read_chat_template_text(folder);

  const std::string preprocessor_path = path_join(folder, "preprocessor_config.json");
  const json preprocessor = file_exists(preprocessor_path) ? read_json(preprocessor_path) : json::object();
  const json vision = config.value("vision_config", json::object());

  if (spec.model_type == "llava" || spec.model_type == "llava_next") {
    // LlavaConfig with no vision_config at all uses CLIP ViT-L/14 at 336 px; a partial one completes from
    // CLIPVisionConfig (patch 32, 224 px).
    const bool default_tower = !config.contains("vision_config") || config["vision_config"].is_null();
    const int64_t patch = int_or(vision, "patch_size", default_tower ? 14 : 32, config_path + ": vision_config");
    const int64_t tower_size = int_or(vision, "image_size", default_tower ? 336 : 224, config_path + ": vision_config");
    const bool keep_cls = string_or(config, "vision_feature_select_strategy", "default") == "full";
    spec.image_tokens.image_token_id = static_cast<int32_t>(int_or(config, "image_token_index", 32000, config_path));
    // Without a preprocessor file: the processor matching the tower (shortest edge = crop = tower size).
    spec.clip.shortest_edge = tower_size;
    spec.clip.crop = {tower_size, tower_size};
    read_clip(preprocessor, spec.clip, preprocessor_path);
    if (spec.model_type == "llava") {
      spec.vision = VisionFamily::kLlava;
      spec.llava_image_features = (spec.clip.crop.height / patch) * (spec.clip.crop.width / patch) + (keep_cls ? 1 : 0);
    } else {
      spec.vision = VisionFamily::kLlavaNext;
      spec.llava_next.clip = spec.clip;
      spec.llava_next.vision_patch_size = patch;
      spec.llava_next.drop_cls_feature = !keep_cls;
      const json& pinpoints = preprocessor.contains("image_grid_pinpoints") ? preprocessor["image_grid_pinpoints"]
                                                                             : config.value("image_grid_pinpoints", json());
      if (pinpoints.is_array() && !pinpoints.empty()) {
        spec.llava_next.grid_pinpoints.clear();
        for (const json& p : pinpoints) spec.llava_next.grid_pinpoints.push_back({p.at(0).get<int64_t>(), p.at(1).get<int64_t>()});
      }
    }
  } else if (spec.model_type == "qwen2_vl" || spec.model_type == "qwen2_5_vl") {
    spec.vision = VisionFamily::kQwenVl;
    spec.image_tokens.image_token_id = static_cast<int32_t>(int_or(config, "image_token_id", 151655, config_path));
    spec.image_tokens.vision_start_id = static_cast<int32_t>(int_or(config, "vision_start_token_id", 151652, config_path));
    spec.image_tokens.vision_end_id = static_cast<int32_t>(int_or(config, "vision_end_token_id", 151653, config_path));
    auto& q = spec.qwen;
    q.patch_size = int_or(preprocessor, "patch_size", int_or(vision, "patch_size", 14, config_path), preprocessor_path);
    q.temporal_patch_size = int_or(preprocessor, "temporal_patch_size",
                                   int_or(vision, "temporal_patch_size", 2, config_path), preprocessor_path);
    q.merge_size = int_or(preprocessor, "merge_size", int_or(vision, "spatial_merge_size", 2, config_path),
                          preprocessor_path);
    // Newer files spell the pixel bounds as size {shortest_edge: min_pixels, longest_edge: max_pixels}.
    const json size = preprocessor.value("size", json::object());
    q.min_pixels = int_or(preprocessor, "min_pixels", int_or(size, "shortest_edge", q.min_pixels, preprocessor_path),
                          preprocessor_path);
    q.max_pixels = int_or(preprocessor, "max_pixels", int_or(size, "longest_edge", q.max_pixels, preprocessor_path),
                          preprocessor_path);
    q.resample = resample_from(preprocessor, preprocessor_path);
    q.normalization = normalization_from(preprocessor, preprocessor_path);
  }
  return spec;
}

}  // namespace mha2mla::data

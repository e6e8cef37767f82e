#include "data/image/preprocessor_config.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"

namespace mha2mla::image {
namespace {

using json = nlohmann::json;

struct Reader {
  const json& doc;
  const std::string& source;

  bool has(const char* key) const { return doc.contains(key) && !doc.at(key).is_null(); }
  [[noreturn]] void bad(const char* key, const std::string& what) const {
    fail("{}: key '{}' {}", source, key, what);
  }
  int64_t integer(const char* key, int64_t fallback) const {
    if (!has(key)) return fallback;
    if (!doc.at(key).is_number_integer()) bad(key, "must be an integer, found " + doc.at(key).dump());
    return doc.at(key).get<int64_t>();
  }
  double number(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    if (!doc.at(key).is_number()) bad(key, "must be a number, found " + doc.at(key).dump());
    return doc.at(key).get<double>();
  }
  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!doc.at(key).is_boolean()) bad(key, "must be true or false, found " + doc.at(key).dump());
    return doc.at(key).get<bool>();
  }
  std::array<double, 3> triple(const char* key, const std::array<double, 3>& fallback) const {
    if (!has(key)) return fallback;
    const json& v = doc.at(key);
    if (v.is_number()) return {v.get<double>(), v.get<double>(), v.get<double>()};
    if (!v.is_array() || v.size() != 3 || !v[0].is_number() || !v[1].is_number() || !v[2].is_number())
      bad(key, "must be a number or a list of 3 numbers (one per RGB channel), found " + v.dump());
    return {v[0].get<double>(), v[1].get<double>(), v[2].get<double>()};
  }
};

ImageNormalization parse_normalization(const Reader& r) {
  ImageNormalization n;
  n.do_rescale = r.boolean("do_rescale", n.do_rescale);
  n.rescale_factor = r.number("rescale_factor", n.rescale_factor);
  n.do_normalize = r.boolean("do_normalize", n.do_normalize);
  n.mean = r.triple("image_mean", n.mean);
  n.std = r.triple("image_std", n.std);
  return n;
}

ResampleFilter parse_resample(const Reader& r) {
  const int64_t value = r.integer("resample", 3);
  if (value == 3) return ResampleFilter::kBicubic;
  if (value == 2) return ResampleFilter::kBilinear;
  r.bad("resample", "= " + std::to_string(value) + " is not supported (2 = bilinear, 3 = bicubic)");
}

void require_true(const Reader& r, const char* key) {
  if (!r.boolean(key, true)) r.bad(key, "is false; mha2mla implements the processor with this step on only");
}

ClipImageConfig parse_clip(const Reader& r, int64_t default_size) {
  ClipImageConfig c;
  c.shortest_edge = default_size;
  c.crop = {default_size, default_size};
  require_true(r, "do_resize");
  require_true(r, "do_center_crop");
  if (r.has("size")) {
    const json& size = r.doc.at("size");
    if (size.is_number_integer())
      c.shortest_edge = size.get<int64_t>();
    else if (size.is_object() && size.contains("shortest_edge") && size.size() == 1)
      c.shortest_edge = size.at("shortest_edge").get<int64_t>();
    else
      r.bad("size", "must be {\"shortest_edge\": N} (or N), found " + size.dump());
  }
  if (r.has("crop_size")) {
    const json& crop = r.doc.at("crop_size");
    if (crop.is_number_integer())
      c.crop = {crop.get<int64_t>(), crop.get<int64_t>()};
    else if (crop.is_object() && crop.contains("height") && crop.contains("width"))
      c.crop = {crop.at("height").get<int64_t>(), crop.at("width").get<int64_t>()};
    else
      r.bad("crop_size", "must be {\"height\": H, \"width\": W} (or N), found " + crop.dump());
  }
  if (c.shortest_edge <= 0 || c.crop.height <= 0 || c.crop.width <= 0)
    r.bad("size", "and crop_size must be positive");
  c.resample = parse_resample(r);
  c.normalization = parse_normalization(r);
  return c;
}

json normalization_json(const ImageNormalization& n) {
  return {{"do_rescale", n.do_rescale},
          {"rescale_factor", n.rescale_factor},
          {"do_normalize", n.do_normalize},
          {"image_mean", n.mean},
          {"image_std", n.std}};
}

int resample_code(ResampleFilter filter) { return filter == ResampleFilter::kBicubic ? 3 : 2; }

}  // namespace

const char* image_processor_type_name(ImageProcessorKind kind) {
  switch (kind) {
    case ImageProcessorKind::kClip: return "CLIPImageProcessor";
    case ImageProcessorKind::kLlava: return "LlavaImageProcessor";
    case ImageProcessorKind::kLlavaNext: return "LlavaNextImageProcessor";
    case ImageProcessorKind::kQwen2Vl: return "Qwen2VLImageProcessor";
  }
  return "";
}

PreprocessorConfig parse_preprocessor_config(const json& doc, const std::string& source) {
  if (!doc.is_object()) fail("{}: expected a JSON object", source);
  Reader r{doc, source};
  PreprocessorConfig c;
  c.source = source;
  if (!r.has("image_processor_type") || !doc.at("image_processor_type").is_string())
    fail("{}: missing image_processor_type (expected CLIPImageProcessor, LlavaImageProcessor, "
         "LlavaNextImageProcessor or Qwen2VLImageProcessor)",
         source);
  std::string type = doc.at("image_processor_type").get<std::string>();
  // The fast variants (transformers' torchvision processors) compute the same thing and keep the same keys.
  if (type.size() > 4 && type.compare(type.size() - 4, 4, "Fast") == 0) type.resize(type.size() - 4);
  if (r.has("processor_class") && doc.at("processor_class").is_string())
    c.processor_class = doc.at("processor_class").get<std::string>();
  if (type == "CLIPImageProcessor" || type == "LlavaImageProcessor") {
    c.kind = type == "CLIPImageProcessor" ? ImageProcessorKind::kClip : ImageProcessorKind::kLlava;
    c.clip = parse_clip(r, 224);
    c.clip.pad_to_square = c.kind == ImageProcessorKind::kLlava && r.boolean("do_pad", false);
  } else if (type == "LlavaNextImageProcessor") {
    c.kind = ImageProcessorKind::kLlavaNext;
    c.llava_next.clip = parse_clip(r, 224);
    if (r.has("image_grid_pinpoints")) {
      c.llava_next.grid_pinpoints.clear();
      const json& pins = doc.at("image_grid_pinpoints");
      if (!pins.is_array()) r.bad("image_grid_pinpoints", "must be a list of [height, width] pairs");
      for (const json& p : pins) {
        if (!p.is_array() || p.size() != 2 || !p[0].is_number_integer() || !p[1].is_number_integer())
          r.bad("image_grid_pinpoints", "must be a list of [height, width] pairs, found " + p.dump());
        c.llava_next.grid_pinpoints.push_back({p[0].get<int64_t>(), p[1].get<int64_t>()});
      }
    }
  } else if (type == "Qwen2VLImageProcessor") {
    c.kind = ImageProcessorKind::kQwen2Vl;
    Qwen2VlImageConfig& q = c.qwen;
    require_true(r, "do_resize");
    // min_pixels / max_pixels win over size (transformers >= 4.47 writes both; older files only the former).
    if (r.has("size")) {
      const json& size = doc.at("size");
      if (!size.is_object() || !size.contains("shortest_edge") || !size.contains("longest_edge"))
        r.bad("size", "must hold shortest_edge and longest_edge (pixel counts), found " + size.dump());
      q.min_pixels = size.at("shortest_edge").get<int64_t>();
      q.max_pixels = size.at("longest_edge").get<int64_t>();
    }
    q.min_pixels = r.integer("min_pixels", q.min_pixels);
    q.max_pixels = r.integer("max_pixels", q.max_pixels);
    q.patch_size = r.integer("patch_size", q.patch_size);
    q.temporal_patch_size = r.integer("temporal_patch_size", q.temporal_patch_size);
    q.merge_size = r.integer("merge_size", q.merge_size);
    if (q.patch_size <= 0 || q.temporal_patch_size <= 0 || q.merge_size <= 0 || q.min_pixels <= 0 ||
        q.max_pixels < q.min_pixels)
      fail("{}: patch_size, temporal_patch_size, merge_size and min_pixels must be positive and max_pixels >= "
           "min_pixels",
           source);
    q.resample = parse_resample(r);
    q.normalization = parse_normalization(r);
  } else {
    r.bad("image_processor_type", "= '" + type +
                                      "' is not supported (expected CLIPImageProcessor, LlavaImageProcessor, "
                                      "LlavaNextImageProcessor or Qwen2VLImageProcessor)");
  }
  return c;
}

PreprocessorConfig load_preprocessor_config(const std::string& path) {
  const std::string file = directory_exists(path) ? path_join(path, "preprocessor_config.json") : path;
  if (!file_exists(file)) fail("preprocessor config '{}' not found", file);
  json doc = json::parse(read_file(file), nullptr, false);
  if (doc.is_discarded()) fail("{}: not valid JSON", file);
  return parse_preprocessor_config(doc, file);
}

json preprocessor_config_json(const PreprocessorConfig& c) {
  json out = json::object();
  out["image_processor_type"] = image_processor_type_name(c.kind);
  if (!c.processor_class.empty()) out["processor_class"] = c.processor_class;
  out["do_convert_rgb"] = true;
  out["do_resize"] = true;
  if (c.kind == ImageProcessorKind::kQwen2Vl) {
    const Qwen2VlImageConfig& q = c.qwen;
    out.update(normalization_json(q.normalization));
    out["min_pixels"] = q.min_pixels;
    out["max_pixels"] = q.max_pixels;
    out["size"] = {{"shortest_edge", q.min_pixels}, {"longest_edge", q.max_pixels}};
    out["patch_size"] = q.patch_size;
    out["temporal_patch_size"] = q.temporal_patch_size;
    out["merge_size"] = q.merge_size;
    out["resample"] = resample_code(q.resample);
    return out;
  }
  const ClipImageConfig& clip = c.kind == ImageProcessorKind::kLlavaNext ? c.llava_next.clip : c.clip;
  out.update(normalization_json(clip.normalization));
  out["do_center_crop"] = true;
  out["size"] = {{"shortest_edge", clip.shortest_edge}};
  out["crop_size"] = {{"height", clip.crop.height}, {"width", clip.crop.width}};
  out["resample"] = resample_code(clip.resample);
  if (c.kind == ImageProcessorKind::kLlava) out["do_pad"] = clip.pad_to_square;
  if (c.kind == ImageProcessorKind::kLlavaNext) {
    json pins = json::array();
    for (const ImageSize& p : c.llava_next.grid_pinpoints) pins.push_back({p.height, p.width});
    out["image_grid_pinpoints"] = pins;
    out["do_pad"] = true;
    out["aspect_ratio_setting"] = "anyres";
  }
  return out;
}

void save_preprocessor_config(const PreprocessorConfig& config, const std::string& path) {
  write_file_atomic(path, preprocessor_config_json(config).dump(2) + "\n");
}

}  // namespace mha2mla::image

#include "model/mla/mla_config.h"

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace mha2mla {

std::vector<MlaLayerLayout> MlaConfig::layouts(const DecoderConfig& decoder) const {
  if (static_cast<int64_t>(rope_pairs.size()) != decoder.layers)
    fail("mla block lists {} layers but the model has {}", rope_pairs.size(), decoder.layers);
  std::vector<MlaLayerLayout> result;
  for (size_t l = 0; l < rope_pairs.size(); ++l) {
    MlaLayerLayout layout;
    layout.heads = decoder.heads;
    layout.kv_heads = decoder.kv_heads;
    layout.head_dim = decoder.head_dim;
    layout.rope_dims = rope_dims;
    layout.latent_rank = partial_rope_only ? 0 : latent_rank;
    layout.variant = partial_rope_only ? MlaVariant::joint : variant;
    layout.identity_down = partial_rope_only;
    layout.rope_pairs = rope_pairs[l];
    layout.validate(fmt::format("mla layer {}", l));
    result.push_back(layout);
  }
  return result;
}

nlohmann::json to_json(const MlaConfig& c) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& pairs : c.rope_pairs) layers.push_back({{"rope_pairs", pairs}});
  nlohmann::json block = {{"version", 1},
          {"rope_dims", c.rope_dims},
          {"latent_rank", c.latent_rank},
          {"strategy", c.strategy},
          {"variant", to_string(c.variant)},
          {"init", c.init},
          {"stage", c.partial_rope_only ? "partial_rope" : "mla"},
          {"layers", layers}};
  if (c.student_only) block["student_only"] = true;
  if (!c.student_copies.empty()) block["student_copies"] = c.student_copies;
  if (c.lora.rank > 0) block["lora"] = {{"rank", c.lora.rank}, {"alpha", c.lora.alpha}, {"targets", c.lora.targets}};
  return block;
}

MlaConfig mla_config_from_json(const nlohmann::json& block, const std::string& source) {
  auto get = [&](const char* key) -> const nlohmann::json& {
    if (!block.contains(key)) fail("{}: mla.{} is missing", source, key);
    return block.at(key);
  };
  MlaConfig c;
  try {
    if (get("version").get<int64_t>() != 1)
      fail("{}: mla.version {} is not supported (this build reads version 1)", source, block.at("version").dump());
    c.rope_dims = get("rope_dims").get<int64_t>();
    c.latent_rank = get("latent_rank").get<int64_t>();
    c.strategy = block.value("strategy", "");
    c.variant = parse_mla_variant(get("variant").get<std::string>());
    c.init = block.value("init", "");
    std::string stage = block.value("stage", "mla");
    if (stage != "mla" && stage != "partial_rope") fail("{}: mla.stage '{}': expected mla or partial_rope", source, stage);
    c.partial_rope_only = stage == "partial_rope";
    c.student_only = block.value("student_only", false);
    if (block.contains("student_copies")) c.student_copies = block.at("student_copies").get<std::vector<std::string>>();
    if (block.contains("lora")) {
      const auto& lora = block.at("lora");
      c.lora.rank = lora.at("rank").get<int64_t>();
      c.lora.alpha = lora.at("alpha").get<double>();
      c.lora.targets = lora.at("targets").get<std::vector<std::string>>();
      if (c.lora.rank < 0) fail("{}: mla.lora.rank {} is negative", source, c.lora.rank);
    }
    for (const auto& layer : get("layers")) c.rope_pairs.push_back(layer.at("rope_pairs").get<std::vector<std::vector<int64_t>>>());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed mla block: {}", source, e.what());
  }
  return c;
}

double teacher_kv_bytes_per_token(const DecoderConfig& decoder, int64_t element_bytes) {
  return static_cast<double>(decoder.layers * teacher_cache_elements(decoder.kv_heads, decoder.head_dim) * element_bytes);
}

double mla_kv_bytes_per_token(const std::vector<MlaLayerLayout>& layouts, int64_t element_bytes) {
  double bytes = 0;
  for (const auto& layout : layouts) bytes += static_cast<double>(mla_cache_elements(layout) * element_bytes) + 1.0 / 8;
  return bytes;
}

}  // namespace mha2mla

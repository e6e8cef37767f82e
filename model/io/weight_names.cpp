#include "model/io/weight_names.h"

#include <cctype>

#include "common/error.h"
#include "common/strings.h"

namespace mha2mla::hf {

namespace {

// One prefix rewrite. `whole`: the rule names one tensor (image_newline), not a module prefix.
// `unless`: hub prefixes that this rule's prefix also matches but that belong to another rule or naming
// (Qwen's legacy "model." must not swallow the current "model.language_model." - transformers uses the
// regex "^model(?!\.(language_model|visual))" for the same reason).
struct Rule {
  const char* hub;
  const char* canonical;
  bool whole = false;
  std::vector<const char*> unless = {};
};

enum class Family { kLlm, kLlava, kLlavaNext, kQwenVl };

Family family_of(ModelType type) {
  switch (type) {
    case ModelType::kLlama:
    case ModelType::kQwen2:
    case ModelType::kDeepseekV3:
      return Family::kLlm;
    case ModelType::kLlava:
      return Family::kLlava;
    case ModelType::kLlavaNext:
      return Family::kLlavaNext;
    case ModelType::kQwen2Vl:
    case ModelType::kQwen2_5Vl:
      return Family::kQwenVl;
  }
  MHA2MLA_CHECK(false, "unhandled ModelType {}", static_cast<int>(type));
  return Family::kLlm;
}

const std::vector<Rule>& rules(ModelType type, HubNaming naming) {
  static const std::vector<Rule> llm = {{"model.", "text."}, {"lm_head.", "lm_head."}};
  static const std::vector<Rule> llava_legacy = {{"language_model.model.", "text."},
                                                 {"language_model.lm_head.", "lm_head."},
                                                 {"vision_tower.vision_model.", "vision."},
                                                 {"multi_modal_projector.", "projector."}};
  static const std::vector<Rule> llava_current = {{"model.language_model.", "text."},
                                                  {"lm_head.", "lm_head."},
                                                  {"model.vision_tower.vision_model.", "vision."},
                                                  {"model.multi_modal_projector.", "projector."}};
  static const std::vector<Rule> llava_next_legacy = [] {
    auto r = llava_legacy;
    r.push_back({"image_newline", "image_newline", true});
    return r;
  }();
  static const std::vector<Rule> llava_next_current = [] {
    auto r = llava_current;
    r.push_back({"model.image_newline", "image_newline", true});
    return r;
  }();
  static const std::vector<Rule> qwen_legacy = {{"model.", "text.", false, {"model.language_model.", "model.visual."}},
                                                {"visual.", "vision."},
                                                {"lm_head.", "lm_head."}};
  static const std::vector<Rule> qwen_current = {
      {"model.language_model.", "text."}, {"model.visual.", "vision."}, {"lm_head.", "lm_head."}};

  const bool legacy = naming == HubNaming::kLegacy;
  switch (family_of(type)) {
    case Family::kLlm:
      return llm;
    case Family::kLlava:
      return legacy ? llava_legacy : llava_current;
    case Family::kLlavaNext:
      return legacy ? llava_next_legacy : llava_next_current;
    case Family::kQwenVl:
      return legacy ? qwen_legacy : qwen_current;
  }
  return llm;
}

// A module path below a prefix: dot-separated, non-empty segments of [A-Za-z0-9_].
bool is_module_path(const std::string& path) {
  if (path.empty()) return false;
  for (const std::string& segment : split(path, '.')) {
    if (segment.empty()) return false;
    for (char ch : segment)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') return false;
  }
  return true;
}

// Rewrites `name` from the `from` side of a rule to its `to` side; nullopt when no rule fits.
std::optional<std::string> rewrite(const std::vector<Rule>& table, const std::string& name, bool hub_to_canon) {
  for (const Rule& rule : table) {
    const std::string from = hub_to_canon ? rule.hub : rule.canonical;
    const std::string to = hub_to_canon ? rule.canonical : rule.hub;
    if (rule.whole) {
      if (name == from) return to;
      continue;
    }
    if (!starts_with(name, from)) continue;
    bool excluded = false;
    if (hub_to_canon)
      for (const char* other : rule.unless) excluded = excluded || starts_with(name, other);
    if (excluded) continue;
    std::string rest = name.substr(from.size());
    if (!is_module_path(rest)) return std::nullopt;
    return to + rest;
  }
  return std::nullopt;
}

std::string expected_prefixes(ModelType type, HubNaming naming) {
  std::vector<std::string> prefixes;
  for (const Rule& rule : rules(type, naming)) prefixes.push_back(std::string(rule.hub) + (rule.whole ? "" : "*"));
  return join(prefixes, ", ");
}

HubNaming other(HubNaming naming) { return naming == HubNaming::kLegacy ? HubNaming::kCurrent : HubNaming::kLegacy; }

}  // namespace

const char* hub_naming_name(HubNaming naming) {
  return naming == HubNaming::kLegacy ? "legacy (transformers < 4.52)" : "current (transformers >= 4.52)";
}

std::string hub_to_canonical(ModelType type, HubNaming naming, const std::string& hub_name, const std::string& source) {
  if (auto canonical = rewrite(rules(type, naming), hub_name, true)) return *canonical;
  if (rewrite(rules(type, other(naming)), hub_name, true))
    fail_with_hint("a checkpoint must use one naming throughout; re-save it with one transformers version",
                   "{}: tensor '{}' uses the {} naming of {} weights, but this checkpoint uses the {} naming", source,
                   hub_name, hub_naming_name(other(naming)), model_type_name(type), hub_naming_name(naming));
  fail("{}: tensor '{}' is not a {} weight name: expected one of {} (legacy) or {} (current)", source, hub_name,
       model_type_name(type), expected_prefixes(type, HubNaming::kLegacy),
       expected_prefixes(type, HubNaming::kCurrent));
}

std::string canonical_to_hub(ModelType type, HubNaming naming, const std::string& canonical_name) {
  if (auto hub = rewrite(rules(type, naming), canonical_name, false)) return *hub;
  std::vector<std::string> prefixes;
  for (const Rule& rule : rules(type, naming))
    prefixes.push_back(std::string(rule.canonical) + (rule.whole ? "" : "*"));
  fail("'{}' is not a canonical {} tensor name: expected one of {}", canonical_name, model_type_name(type),
       join(prefixes, ", "));
}

HubNaming detect_hub_naming(ModelType type, const std::vector<std::string>& hub_names, const std::string& source) {
  const std::string* legacy_only = nullptr;
  const std::string* current_only = nullptr;
  for (const std::string& name : hub_names) {
    bool legacy = rewrite(rules(type, HubNaming::kLegacy), name, true).has_value();
    bool current = rewrite(rules(type, HubNaming::kCurrent), name, true).has_value();
    if (!legacy && !current) hub_to_canonical(type, HubNaming::kLegacy, name, source);  // fails with the details
    if (legacy && !current && !legacy_only) legacy_only = &name;
    if (current && !legacy && !current_only) current_only = &name;
  }
  if (legacy_only && current_only)
    fail_with_hint("a checkpoint must use one naming throughout; re-save it with one transformers version",
                   "{}: the tensor names mix both namings of {} weights: '{}' is {} but '{}' is {}", source,
                   model_type_name(type), *legacy_only, hub_naming_name(HubNaming::kLegacy), *current_only,
                   hub_naming_name(HubNaming::kCurrent));
  return current_only ? HubNaming::kCurrent : HubNaming::kLegacy;
}

std::map<std::string, std::string> canonical_names(ModelType type, const std::vector<std::string>& hub_names,
                                                   const std::string& source, HubNaming* detected) {
  HubNaming naming = detect_hub_naming(type, hub_names, source);
  if (detected) *detected = naming;
  std::map<std::string, std::string> out;
  for (const std::string& name : hub_names) {
    std::string canonical = hub_to_canonical(type, naming, name, source);
    auto [it, inserted] = out.emplace(canonical, name);
    if (!inserted) fail("{}: tensors '{}' and '{}' both map to '{}'", source, it->second, name, canonical);
  }
  return out;
}

std::string text_layer_name(int64_t layer, const std::string& suffix) {
  return fmt::format("text.layers.{}.{}", layer, suffix);
}

std::optional<std::pair<int64_t, std::string>> parse_text_layer_name(const std::string& canonical_name) {
  static const std::string prefix = "text.layers.";
  if (!starts_with(canonical_name, prefix)) return std::nullopt;
  size_t start = prefix.size();
  size_t dot = canonical_name.find('.', start);
  if (dot == std::string::npos || dot == start || dot + 1 == canonical_name.size()) return std::nullopt;
  int64_t layer = 0;
  for (size_t i = start; i < dot; ++i) {
    char ch = canonical_name[i];
    if (!std::isdigit(static_cast<unsigned char>(ch))) return std::nullopt;
    if (layer > (INT64_MAX - 9) / 10) return std::nullopt;
    layer = layer * 10 + (ch - '0');
  }
  return std::make_pair(layer, canonical_name.substr(dot + 1));
}

}  // namespace mha2mla::hf

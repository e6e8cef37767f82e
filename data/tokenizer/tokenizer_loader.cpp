// load_tokenizer(): picks tokenizer.json or tokenizer.model and applies tokenizer_config.json the way
// transformers' from_pretrained does where it changes ids.
#include <algorithm>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/files.h"
#include "common/strings.h"
#include "data/tokenizer/hf_tokenizer.h"
#include "data/tokenizer/json_fields.h"
#include "data/tokenizer/sentencepiece_tokenizer.h"
#include "data/tokenizer/tokenizer.h"

namespace mha2mla::tokenizer {
namespace {

struct TokenizerConfig {
  std::string path;  // empty when the folder has no tokenizer_config.json
  std::string tokenizer_class;
  std::optional<bool> add_bos_token, add_eos_token;
  std::optional<std::string> bos, eos, pad, unk;  // role token texts
  std::vector<AddedToken> added_tokens;           // added_tokens_decoder, with declared ids
};

nlohmann::json read_json(const std::string& path) {
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
}

// "bos_token": "<s>" or {"content": "<s>", ...} or null.
std::optional<std::string> role_text(const nlohmann::json& config, const char* key, const std::string& path) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) return json_string(*it, "content", fmt::format("{}: {}", path, key));
  fail("{}: key '{}' must be a string, an object with \"content\", or null; found {}", path, key, it->type_name());
}

std::optional<bool> optional_bool(const nlohmann::json& config, const char* key, const std::string& path) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) fail("{}: key '{}' must be true or false, found {}", path, key, it->dump());
  return it->get<bool>();
}

TokenizerConfig read_config(const std::string& folder) {
  TokenizerConfig config;
  const std::string config_path = path_join(folder, "tokenizer_config.json");
  const std::string map_path = path_join(folder, "special_tokens_map.json");
  if (file_exists(config_path)) {
    config.path = config_path;
    nlohmann::json json = read_json(config_path);
    if (!json.is_object()) fail("{}: expected a JSON object, found {}", config_path, json.type_name());
    config.tokenizer_class = json_string_or(json, "tokenizer_class", config_path, "");
    config.add_bos_token = optional_bool(json, "add_bos_token", config_path);
    config.add_eos_token = optional_bool(json, "add_eos_token", config_path);
    config.bos = role_text(json, "bos_token", config_path);
    config.eos = role_text(json, "eos_token", config_path);
    config.pad = role_text(json, "pad_token", config_path);
    config.unk = role_text(json, "unk_token", config_path);
    if (json.contains("added_tokens_decoder") && json["added_tokens_decoder"].is_object()) {
      for (const auto& [key, item] : json["added_tokens_decoder"].items()) {
        const std::string where = fmt::format("{}: added_tokens_decoder['{}']", config_path, key);
        AddedToken token;
        try {
          token.id = std::stoi(key);
        } catch (const std::exception&) {
          fail("{}: the key must be a token id", where);
        }
        token.content = json_string(item, "content", where);
        token.single_word = json_bool(item, "single_word", where, false);
        token.lstrip = json_bool(item, "lstrip", where, false);
        token.rstrip = json_bool(item, "rstrip", where, false);
        token.special = json_bool(item, "special", where, false);
        token.normalized = json_bool(item, "normalized", where, !token.special);
        config.added_tokens.push_back(token);
      }
      std::sort(config.added_tokens.begin(), config.added_tokens.end(),
                [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
    }
  }
  // Older checkpoints keep the role tokens in special_tokens_map.json only.
  if (file_exists(map_path) && (!config.bos || !config.eos || !config.pad || !config.unk)) {
    nlohmann::json map = read_json(map_path);
    if (!config.bos) config.bos = role_text(map, "bos_token", map_path);
    if (!config.eos) config.eos = role_text(map, "eos_token", map_path);
    if (!config.pad) config.pad = role_text(map, "pad_token", map_path);
    if (!config.unk) config.unk = role_text(map, "unk_token", map_path);
  }
  return config;
}

RoleToken resolve_role(const Tokenizer& tokenizer, const std::optional<std::string>& text, const char* key,
                       const TokenizerConfig& config) {
  RoleToken role;
  if (!text) return role;
  role.text = *text;
  role.id = tokenizer.token_to_id(*text);
  if (role.id < 0)
    spdlog::warn("{}: {} '{}' is not a token of this tokenizer; it is ignored",
                 config.path.empty() ? "special_tokens_map.json" : config.path, key, *text);
  return role;
}

RoleTokens resolve_roles(const Tokenizer& tokenizer, const TokenizerConfig& config) {
  return RoleTokens{resolve_role(tokenizer, config.bos, "bos_token", config),
                    resolve_role(tokenizer, config.eos, "eos_token", config),
                    resolve_role(tokenizer, config.pad, "pad_token", config),
                    resolve_role(tokenizer, config.unk, "unk_token", config)};
}

// transformers' LlamaTokenizerFast (and its relatives) rebuild the post-processor from add_bos_token /
// add_eos_token (defaults true / false) whatever tokenizer.json says.
bool rebuilds_post_processor(const std::string& tokenizer_class) {
  static const std::vector<std::string> classes = {"LlamaTokenizer",     "LlamaTokenizerFast",
                                                   "CodeLlamaTokenizer", "CodeLlamaTokenizerFast",
                                                   "GemmaTokenizer",     "GemmaTokenizerFast"};
  return std::find(classes.begin(), classes.end(), tokenizer_class) != classes.end();
}

void apply_config(HfTokenizer& tokenizer, const TokenizerConfig& config) {
  std::vector<AddedToken> missing;
  for (const auto& token : config.added_tokens)
    if (tokenizer.token_to_id(token.content) < 0) missing.push_back(token);
  if (!missing.empty()) {
    std::vector<int32_t> ids = tokenizer.add_tokens(missing);
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] != missing[i].id)
        spdlog::warn("{}: added token '{}' is declared with id {} but gets id {}", config.path, missing[i].content,
                     missing[i].id, ids[i]);
  }
  RoleTokens roles = resolve_roles(tokenizer, config);
  if (rebuilds_post_processor(config.tokenizer_class)) {
    bool add_bos = config.add_bos_token.value_or(true), add_eos = config.add_eos_token.value_or(false);
    if (add_bos && !roles.bos.present())
      fail("{}: add_bos_token is true but bos_token is missing or not a token", config.path);
    if (add_eos && !roles.eos.present())
      fail("{}: add_eos_token is true but eos_token is missing or not a token", config.path);
    tokenizer.set_post_processor(std::make_unique<TemplatePostProcessor>(
        add_bos ? std::vector<int32_t>{roles.bos.id} : std::vector<int32_t>{},
        add_eos ? std::vector<int32_t>{roles.eos.id} : std::vector<int32_t>{}));
  }
  tokenizer.set_role_tokens(std::move(roles));
}

void apply_config(SentencePieceTokenizer& tokenizer, const TokenizerConfig& config) {
  tokenizer.add_tokens(config.added_tokens);
  tokenizer.set_add_bos_eos(config.add_bos_token.value_or(true), config.add_eos_token.value_or(false));
  TokenizerConfig with_defaults = config;
  // Without a config the model's own control pieces stand in.
  if (!with_defaults.bos && tokenizer.token_to_id("<s>") >= 0) with_defaults.bos = "<s>";
  if (!with_defaults.eos && tokenizer.token_to_id("</s>") >= 0) with_defaults.eos = "</s>";
  if (!with_defaults.unk && tokenizer.token_to_id("<unk>") >= 0) with_defaults.unk = "<unk>";
  tokenizer.set_role_tokens(resolve_roles(tokenizer, with_defaults));
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  std::string folder, json_path, model_path;
  if (directory_exists(path)) {
    folder = path;
    json_path = path_join(path, "tokenizer.json");
    model_path = path_join(path, "tokenizer.model");
  } else if (file_exists(path)) {
    folder = parent_directory(path);
    (ends_with(path, ".json") ? json_path : model_path) = path;
  } else {
    fail("{}: no such tokenizer file or model folder", path);
  }
  TokenizerConfig config = read_config(folder.empty() ? "." : folder);
  if (!json_path.empty() && file_exists(json_path)) {
    auto tokenizer = HfTokenizer::from_file(json_path);
    apply_config(*tokenizer, config);
    return tokenizer;
  }
  if (!model_path.empty() && file_exists(model_path)) {
    auto tokenizer = std::make_unique<SentencePieceTokenizer>(model_path);
    apply_config(*tokenizer, config);
    return tokenizer;
  }
  fail_with_hint("a Hugging Face model folder holds tokenizer.json (or a SentencePiece tokenizer.model)",
                 "{}: neither tokenizer.json nor tokenizer.model is there", folder);
}

}  // namespace mha2mla::tokenizer

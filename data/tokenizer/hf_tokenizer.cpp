#include "data/tokenizer/hf_tokenizer.h"

#include <algorithm>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/files.h"
#include "data/tokenizer/json_fields.h"
#include "data/tokenizer/unicode.h"

namespace mha2mla::tokenizer {

std::unique_ptr<HfTokenizer> HfTokenizer::from_file(const std::string& path) {
  if (!file_exists(path)) fail("{}: file not found", path);
  nlohmann::json spec;
  try {
    spec = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
  return from_json(spec, path);
}

std::unique_ptr<HfTokenizer> HfTokenizer::from_json(const nlohmann::json& spec, const std::string& path) {
  if (!spec.is_object()) fail("{}: expected a JSON object at the top level, found {}", path, spec.type_name());
  std::unique_ptr<HfTokenizer> t(new HfTokenizer);
  t->path_ = path;
  auto section = [&](const char* key) -> const nlohmann::json& {
    static const nlohmann::json null;
    auto it = spec.find(key);
    return it == spec.end() ? null : *it;
  };
  const auto& model = json_field(spec, "model", path);
  const std::string model_type = json_string_or(model, "type", path + ": model", "BPE");
  if (model_type != "BPE")
    fail_with_hint("only BPE tokenizers (Qwen2, Llama-2/3, Mistral...) are supported; a checkpoint that also ships "
                   "tokenizer.model can be loaded through SentencePiece by removing tokenizer.json",
                   "{}: model.type is '{}'", path, model_type);
  t->model_ = std::make_unique<BpeModel>(parse_bpe_model(model, path + ": model"));
  t->normalizer_ = parse_normalizer(section("normalizer"), path + ": normalizer");
  t->pre_tokenizer_ = parse_pre_tokenizer(section("pre_tokenizer"), path + ": pre_tokenizer");
  t->post_processor_ = parse_post_processor(section("post_processor"), path + ": post_processor");
  t->decoder_ = parse_decoder(section("decoder"), path + ": decoder");
  if (section("truncation").is_object() || section("padding").is_object())
    spdlog::warn("{}: truncation/padding settings are ignored; the data pipeline does its own", path);

  std::vector<AddedToken> tokens;
  std::vector<int32_t> declared_ids;
  const auto& added = section("added_tokens");
  for (size_t i = 0; i < added.size(); ++i) {
    const std::string where = fmt::format("{}: added_tokens[{}]", path, i);
    const auto& item = added[i];
    AddedToken token;
    token.content = json_string(item, "content", where);
    token.single_word = json_bool(item, "single_word", where, false);
    token.lstrip = json_bool(item, "lstrip", where, false);
    token.rstrip = json_bool(item, "rstrip", where, false);
    token.special = json_bool(item, "special", where, false);
    token.normalized = json_bool(item, "normalized", where, !token.special);
    const auto& id = json_field(item, "id", where);
    if (!id.is_number_integer()) fail("{}.id: expected an integer, found {}", where, id.type_name());
    declared_ids.push_back(id.get<int32_t>());
    tokens.push_back(std::move(token));
  }
  t->added_ = std::make_unique<AddedVocabulary>(std::vector<AddedToken>{}, t->normalizer_.get());
  std::vector<int32_t> ids = t->add_tokens(tokens);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] != declared_ids[i])
      spdlog::warn("{}: added token '{}' is declared with id {} but gets id {} (as Hugging Face assigns it)", path,
                   tokens[i].content, declared_ids[i], ids[i]);
  }
  return t;
}

void HfTokenizer::rebuild_added_vocabulary(std::vector<AddedToken> tokens) {
  std::sort(tokens.begin(), tokens.end(), [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  added_ = std::make_unique<AddedVocabulary>(std::move(tokens), normalizer_.get());
}

std::vector<int32_t> HfTokenizer::add_tokens(const std::vector<AddedToken>& new_tokens) {
  std::vector<AddedToken> tokens = added_->tokens();
  const int64_t model_size = static_cast<int64_t>(model_->vocab_size());
  int64_t next_id = model_size;
  if (!tokens.empty()) {
    int64_t max_added = 0;
    for (const auto& t : tokens) max_added = std::max<int64_t>(max_added, t.id);
    if (max_added >= model_size || model_size == 0) next_id = max_added + 1;
  }
  std::vector<int32_t> ids;
  for (AddedToken token : new_tokens) {
    if (token.content.empty()) {
      ids.push_back(-1);
      continue;
    }
    auto same_content = std::find_if(tokens.begin(), tokens.end(),
                                     [&](const AddedToken& t) { return t.content == token.content; });
    int32_t id = same_content != tokens.end() ? same_content->id : model_->token_to_id(token.content);
    if (id < 0) id = static_cast<int32_t>(next_id++);
    token.id = id;
    // One entry per id and per content: a later token replaces an earlier one, as in Hugging Face's maps.
    tokens.erase(std::remove_if(tokens.begin(), tokens.end(),
                                [&](const AddedToken& t) { return t.id == id || t.content == token.content; }),
                 tokens.end());
    tokens.push_back(token);
    ids.push_back(id);
  }
  rebuild_added_vocabulary(std::move(tokens));
  return ids;
}

std::vector<int32_t> HfTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<Piece> pieces = is_valid_utf8(text)
                                  ? added_->extract_and_normalize(text, normalizer_.get())
                                  : added_->extract_and_normalize(to_valid_utf8(text), normalizer_.get());
  if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(pieces);
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  for (const auto& piece : pieces) {
    if (piece.added_token_id >= 0) ids.push_back(piece.added_token_id);
    else model_->tokenize(piece.text, ids);
  }
  if (post_processor_) post_processor_->process(ids, add_special_tokens);
  return ids;
}

std::string HfTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  // As Hugging Face does: an id becomes its added-token text (the normalized form for normalized tokens) or
  // its model token, and is skipped when that text is the content of a special added token.
  auto is_special_text = [&](const std::string& text) {
    const AddedToken* same = added_->find_by_content(text);
    return same != nullptr && same->special;
  };
  for (int32_t id : ids) {
    const std::string* text = nullptr;
    if (const AddedToken* added = added_->find_by_id(id)) text = &added_->decoded_text(*added);
    else text = model_->id_to_token(id);
    if (text == nullptr || (skip_special_tokens && is_special_text(*text))) continue;
    tokens.push_back(*text);
  }
  if (!decoder_) {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) joined += (i ? " " : "") + tokens[i];
    return joined;
  }
  decoder_->decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

int32_t HfTokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* added = added_->find_by_content(token)) return added->id;
  return model_->token_to_id(token);
}

std::optional<std::string> HfTokenizer::id_to_token(int32_t id) const {
  if (const AddedToken* added = added_->find_by_id(id)) return added->content;
  if (const std::string* token = model_->id_to_token(id)) return *token;
  return std::nullopt;
}

int64_t HfTokenizer::vocab_size() const {
  int64_t count = static_cast<int64_t>(model_->vocab_size());
  for (const auto& t : added_->tokens())
    if (model_->id_to_token(t.id) == nullptr) ++count;
  return count;
}

int64_t HfTokenizer::id_limit() const {
  int64_t limit = model_->max_id() + 1;
  for (const auto& t : added_->tokens()) limit = std::max<int64_t>(limit, t.id + 1);
  return limit;
}

std::vector<AddedToken> HfTokenizer::added_tokens() const { return added_->tokens(); }

bool HfTokenizer::is_special(int32_t id) const {
  const AddedToken* added = added_->find_by_id(id);
  return added && added->special;
}

std::string HfTokenizer::describe() const {
  return fmt::format("{} (BPE{}{}), {} ids, {} added tokens", path_, is_byte_level() ? ", byte-level" : "",
                     model_->options().byte_fallback ? ", byte fallback" : "", vocab_size(), added_->tokens().size());
}

}  // namespace mha2mla::tokenizer

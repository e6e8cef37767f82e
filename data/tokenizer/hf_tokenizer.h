// Hugging Face tokenizer.json, run as the `tokenizers` library runs it: added tokens are split out
// first, the rest is normalized, pre-tokenized and cut by the BPE model, then the post-processor adds
// special tokens. Decoding maps ids to token strings and runs the decoder chain.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "data/tokenizer/bpe_model.h"
#include "data/tokenizer/decoders.h"
#include "data/tokenizer/normalizers.h"
#include "data/tokenizer/post_processors.h"
#include "data/tokenizer/pre_tokenizers.h"
#include "data/tokenizer/tokenizer.h"

namespace mha2mla::tokenizer {

class HfTokenizer : public Tokenizer {
 public:
  // `path` names the file in errors.
  static std::unique_ptr<HfTokenizer> from_json(const nlohmann::json& spec, const std::string& path);
  static std::unique_ptr<HfTokenizer> from_file(const std::string& path);

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const override;
  int32_t token_to_id(std::string_view token) const override;
  std::optional<std::string> id_to_token(int32_t id) const override;
  int64_t vocab_size() const override;
  int64_t id_limit() const override;
  std::vector<AddedToken> added_tokens() const override;
  bool is_special(int32_t id) const override;
  std::string describe() const override;

  // Adds tokens the way Hugging Face's add_tokens does: a token already known keeps its id, a new one
  // takes the next free id. Returns the ids in order.
  std::vector<int32_t> add_tokens(const std::vector<AddedToken>& tokens);

  // Replaces the post-processor (transformers' Llama tokenizers rebuild it from add_bos/eos_token).
  void set_post_processor(std::unique_ptr<PostProcessor> post_processor) {
    post_processor_ = std::move(post_processor);
  }

  const BpeModel& model() const { return *model_; }
  bool is_byte_level() const { return pre_tokenizer_ && pre_tokenizer_->is_byte_level(); }

 private:
  HfTokenizer() = default;
  void rebuild_added_vocabulary(std::vector<AddedToken> tokens);

  std::string path_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::unique_ptr<Decoder> decoder_;
  std::unique_ptr<AddedVocabulary> added_;
};

}  // namespace mha2mla::tokenizer

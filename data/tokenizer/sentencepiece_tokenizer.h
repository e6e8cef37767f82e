// SentencePiece tokenizer.model through libsentencepiece, for checkpoints that ship no tokenizer.json.
// Added tokens (from tokenizer_config.json) are split out of the text first, as transformers' slow
// tokenizers do; bos/eos are added by encode() when the config asks for them. libsentencepiece is
// reached through the shim module libmha2mla_sentencepiece.so (sentencepiece_shim.h says why), found
// via $MHA2MLA_SENTENCEPIECE_SHIM, next to the running executable, or in the build tree.
#pragma once

#include <memory>
#include <string>

#include "data/tokenizer/tokenizer.h"

namespace mha2mla::tokenizer {

struct SentencePieceModule;  // the shim's functions, resolved once per process

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& model_path);
  ~SentencePieceTokenizer() override;

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const override;
  int32_t token_to_id(std::string_view token) const override;
  std::optional<std::string> id_to_token(int32_t id) const override;
  int64_t vocab_size() const override;
  int64_t id_limit() const override;
  std::vector<AddedToken> added_tokens() const override { return added_->tokens(); }
  bool is_special(int32_t id) const override;
  std::string describe() const override;

  // Adds tokens (a known token keeps its id; a new one takes the id it declares, or the next free id).
  void add_tokens(const std::vector<AddedToken>& tokens);
  void set_add_bos_eos(bool add_bos, bool add_eos) {
    add_bos_ = add_bos;
    add_eos_ = add_eos;
  }

  int piece_count() const { return piece_count_; }
  SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
  SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;

 private:
  std::string path_;
  const struct SentencePieceModule* module_ = nullptr;
  void* handle_ = nullptr;  // the shim's processor
  int piece_count_ = 0;
  std::unique_ptr<AddedVocabulary> added_;
  bool add_bos_ = true;
  bool add_eos_ = false;
};

}  // namespace mha2mla::tokenizer

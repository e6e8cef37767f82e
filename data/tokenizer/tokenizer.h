// The tokenizer interface the data pipeline uses, and loading one from a model folder.
//
// Two implementations: HfTokenizer reads Hugging Face's tokenizer.json and gives exactly the ids of the
// `tokenizers` library (Qwen2/2.5, Llama-3, Llama-2/llava-hf layouts); SentencePieceTokenizer wraps
// libsentencepiece for checkpoints that ship only tokenizer.model. Both are safe to share between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/tokenizer/added_vocabulary.h"

namespace mha2mla::tokenizer {

// A role token of the model (from tokenizer_config.json / special_tokens_map.json): its text and id.
struct RoleToken {
  std::string text;
  int32_t id = -1;  // -1: the tokenizer has no such token
  bool present() const { return id >= 0; }
};

struct RoleTokens {
  RoleToken bos, eos, pad, unk;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Ids of `text` (UTF-8; ill-formed bytes are read as U+FFFD). With add_special_tokens the
  // post-processor's tokens (e.g. <s> for Llama-2) are added, as Hugging Face's encode does by default.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const = 0;

  // Text of `ids`; with skip_special_tokens the special added tokens are left out. Unknown ids are skipped.
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const = 0;

  virtual int32_t token_to_id(std::string_view token) const = 0;  // -1 when unknown
  virtual std::optional<std::string> id_to_token(int32_t id) const = 0;

  // Number of distinct ids, added tokens included (Python's len(tokenizer)).
  virtual int64_t vocab_size() const = 0;
  // One past the largest id: what an embedding table must hold.
  virtual int64_t id_limit() const = 0;

  // Added tokens (special or not) with their flags, in id order.
  virtual std::vector<AddedToken> added_tokens() const = 0;
  virtual bool is_special(int32_t id) const = 0;

  // "tokenizer.json (BPE, byte-level), 151665 ids" and the like, for logs.
  virtual std::string describe() const = 0;

  const RoleTokens& role_tokens() const { return roles_; }
  int32_t bos_id() const { return roles_.bos.id; }
  int32_t eos_id() const { return roles_.eos.id; }
  int32_t pad_id() const { return roles_.pad.id; }
  void set_role_tokens(RoleTokens roles) { roles_ = std::move(roles); }

 private:
  RoleTokens roles_;
};

// Loads the tokenizer of a model folder: tokenizer.json when present, else tokenizer.model (SentencePiece);
// tokenizer_config.json (when present) adds its added tokens, the bos/eos/pad/unk roles and, for Llama
// tokenizer classes, the add_bos_token/add_eos_token behaviour. `path` may also name a tokenizer.json or
// .model file directly. Errors name the file and key at fault.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

}  // namespace mha2mla::tokenizer

// Tiny tokenizers for the tiny test models (make-tiny): the exact file layout of a real family
// (tokenizer.json, tokenizer_config.json, special_tokens_map.json, chat template where the family has
// one) with a small vocabulary learned by bpe_trainer on a built-in English corpus, and the family's
// special tokens at the ids right after the vocabulary. Deterministic: same arguments, same bytes.
//
// Families:
//   qwen2       Qwen2/Qwen2.5(-VL): byte-level BPE, NFC, Qwen's split regex; <|endoftext|>, <|im_start|>,
//               <|im_end|>, ..., <|vision_start|>, <|vision_end|>, <|vision_pad|>, <|image_pad|>, <|video_pad|>
//   llama3      Llama-3: byte-level BPE, ignore_merges, Llama-3's regex, <|begin_of_text|> added by the
//               post-processor; <|begin_of_text|>, <|end_of_text|>, <|start_header_id|>, <|end_header_id|>,
//               <|eot_id|> (with Llama-3's reserved tokens between them, so relative ids match)
//   llava_next  llama3 plus <image> and <pad>
//   llama2      Llama-2 (SentencePiece-style BPE): <unk>=0, <s>=1, </s>=2, <0x00>..<0xFF>, Prepend/Replace
//               normalizer, byte fallback, <s> added by the post-processor
//   llava       llama2 plus <image> and <pad> (llava-hf's llava-1.5 layout)
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mha2mla::tokenizer {

struct TinyTokenizerInfo {
  int64_t vocab_size = 0;                   // model vocabulary (without added tokens beyond it)
  int64_t id_limit = 0;                     // one past the largest id: the embedding rows a model needs
  std::map<std::string, int32_t> token_ids;  // every added/special token by its text
  int32_t bos_id = -1, eos_id = -1, pad_id = -1, unk_id = -1, image_id = -1, video_id = -1;
  std::map<std::string, int32_t> special_ids;  // the non-negative ones above by role name ("bos", "image", ...)
};

// The families write_tiny_tokenizer knows.
const std::vector<std::string>& tiny_tokenizer_families();

// The family that make-tiny uses for an architecture (llama, qwen2, llava, llava_next, qwen2_5_vl).
std::string tiny_tokenizer_family_for_arch(const std::string& arch);

// Writes the tokenizer files of `family` into `out_dir` (created if needed). `vocab_size_target` is the
// size of the model vocabulary before the added tokens: 256 byte tokens (plus 3 specials for llama2) and
// learned merges up to that size; it must leave room for at least one merge and at most a few thousand.
TinyTokenizerInfo write_tiny_tokenizer(const std::string& family, int64_t vocab_size_target,
                                       const std::string& out_dir);

}  // namespace mha2mla::tokenizer

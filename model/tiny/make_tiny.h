// Tiny random checkpoints in the exact layout of the real models (config.json keys, tensor names, tokenizer
// files), deterministic from a seed: what the tests and the demo run on, so that the same code paths load a
// real 7B checkpoint on a user's cluster. The special-token ids of the tiny configs are listed in
// model/tiny/README.md (the tiny tokenizers place their added tokens at the same ids).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/image/preprocessor_config.h"
#include "model/io/hf_config.h"

namespace mha2mla {

struct TinyModelOptions {
  std::string arch;          // llama | qwen2 | llava | llava_next | qwen2_5_vl
  std::string out;           // folder to write
  uint64_t seed = 1234;
  // The vocabulary of the tokenizer written beside the model (0 / -1: keep the tiny config's defaults).
  int64_t vocab_size = 0;
  int64_t bos_token_id = -1;
  int64_t eos_token_id = -1;
  int64_t pad_token_id = -1;
  std::string size = "tiny";  // tiny | demo (tiny_sizes()); last, so that {arch, out, seed} initialisers still work
};

const std::vector<std::string>& tiny_architectures();

// Sizes: `tiny` (the test models: a few hundred thousand parameters, random weights are all they need) and `demo`
// (the built-in demo's teacher before it is trained from scratch: the same layout with more layers and a wider
// MLP and vision tower, meant to learn the synthetic shapes task in a few CPU minutes; docs/quickstart.md says how
// far it gets). `demo` exists for the VLM architectures.
const std::vector<std::string>& tiny_sizes();

// The config of a tiny model of `arch`: small, but every structural feature of the real family (GQA with
// fewer KV than query heads, head_dim 32, qkv biases for Qwen2, llama3 RoPE scaling and tied embeddings for
// the llama tiny, M-RoPE and window attention for Qwen2.5-VL, a CLIP tower read at layer -2 for LLaVA, AnyRes
// pinpoints for LLaVA-NeXT, ...).
hf::HfConfig tiny_config(const std::string& arch, const std::string& size = "tiny");

// Embedding rows the tiny models are sized for.
constexpr int64_t kTinyVocabularyTarget = 512;

// The vocabulary size the tiny tokenizer of `arch` is built with: its added tokens follow at this id, which puts
// them where the tiny configs' special ids expect them (model/tiny/README.md).
int64_t tiny_tokenizer_target(const std::string& arch);

// The preprocessor_config.json of a tiny VLM (nullopt for LLMs): the real processor class with the tiny model's
// sizes (56-pixel CLIP tiles, Qwen pixel budgets of a few dozen merged tokens).
std::optional<image::PreprocessorConfig> tiny_preprocessor_config(const std::string& arch,
                                                                  const std::string& size = "tiny");

// Writes the checkpoint folder (config.json, model.safetensors, preprocessor_config.json for VLMs); returns the
// config written.
hf::HfConfig make_tiny_model(const TinyModelOptions& options);

}  // namespace mha2mla

// Tiny random checkpoints in the exact layout of the real models (config.json keys, tensor names, tokenizer
// files), deterministic from a seed: what the tests and the demo run on, so that the same code paths load a
// real 7B checkpoint on a user's cluster.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/io/hf_config.h"

namespace mha2mla {

struct TinyModelOptions {
  std::string arch;          // llama | qwen2 (llava | llava_next | qwen2_5_vl with the VLM parts)
  std::string out;           // folder to write
  uint64_t seed = 1234;
  // The vocabulary of the tokenizer written beside the model (0 / -1: keep the tiny config's defaults).
  int64_t vocab_size = 0;
  int64_t bos_token_id = -1;
  int64_t eos_token_id = -1;
  int64_t pad_token_id = -1;
};

const std::vector<std::string>& tiny_architectures();

// The config of a tiny model of `arch`: small, but every structural feature of the real family (GQA with
// fewer KV than query heads, head_dim 32, qkv biases for Qwen2, llama3 RoPE scaling and tied embeddings for
// the llama tiny, M-RoPE for Qwen2.5-VL, ...).
hf::HfConfig tiny_config(const std::string& arch);

// Embedding rows the tiny models are sized for; the tokenizer generator aims at this many ids.
constexpr int64_t kTinyVocabularyTarget = 512;

// Writes the checkpoint folder; returns the config written.
hf::HfConfig make_tiny_model(const TinyModelOptions& options);

}  // namespace mha2mla

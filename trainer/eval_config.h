// Recipe sections `eval`, `generate` and `export`: measuring and shipping the converted model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config_schema.h"

namespace mha2mla {

struct KvCacheConfig {
  std::string quantization = "none";
  int64_t group_size = 32;

  void describe(config::Visitor& v) {
    v.field("quantization", quantization, "latent cache storage: none, int8 or int4 (per-token groups with scales)",
            config::Constraint::one_of({"none", "int8", "int4"}));
    v.field("group_size", group_size, "elements sharing one scale in the quantised cache", config::Constraint::at_least(2));
  }
};

struct EvalConfig {
  std::string student;          // checkpoint evaluated against the teacher (default: train.output, else convert.output)
  int64_t samples = 64;
  int64_t max_new_tokens = 32;
  std::string output = "eval.json";
  KvCacheConfig kv_cache;

  void describe(config::Visitor& v) {
    v.field("student", student, "student checkpoint; default: train.output if it exists, else convert.output");
    v.field("samples", samples, "held-out samples evaluated", config::Constraint::at_least(1));
    v.field("max_new_tokens", max_new_tokens, "greedy answer length for exact-match", config::Constraint::at_least(1));
    v.field("output", output, "JSON report (relative paths are under run.output_dir)");
    v.section("kv_cache", "latent KV cache used for decoding", kv_cache);
  }
};

struct GenerateConfig {
  std::string prompt = "Describe the image.";
  std::vector<std::string> images;
  int64_t max_new_tokens = 64;
  std::string which = "both";

  void describe(config::Visitor& v) {
    v.field("prompt", prompt, "user message");
    v.field("images", images, "image files placed before the prompt");
    v.field("max_new_tokens", max_new_tokens, "tokens generated greedily", config::Constraint::at_least(1));
    v.field("which", which, "teacher, student or both", config::Constraint::one_of({"teacher", "student", "both"}));
  }
};

struct ExportConfig {
  std::string format = "hf-mla";
  std::string output = "export";
  std::string dtype = "auto";

  void describe(config::Visitor& v) {
    v.field("format", format, "hf-mla: self-contained HF-style folder; deepseek-v3: DeepSeek-V3 MLA naming",
            config::Constraint::one_of({"hf-mla", "deepseek-v3"}));
    v.field("output", output, "export folder (relative paths are under run.output_dir)");
    v.field("dtype", dtype, "tensor dtype written: auto (the checkpoint's torch_dtype, else float32), float32, bfloat16 "
            "or float16", config::Constraint::one_of({"auto", "float32", "bfloat16", "float16"}));
  }
};

}  // namespace mha2mla

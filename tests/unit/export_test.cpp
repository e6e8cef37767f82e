// Exports (docs/export.md): an hf-mla folder reloads as a student-only model with the in-memory student's logits
// (LoRA merged), without teacher or adapter tensors, with the side files; deepseek-v3 refuses what it cannot
// express, naming why, and writes DeepSeek-V3's config keys and tensor shapes for what it can. (The deepseek-v3
// numbers are checked against an independent DeepSeek-V3 attention in tests/python/test_deepseek_export.py.)
#include <cstdlib>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "model/export/export.h"
#include "model/io/safetensors_checkpoint.h"
#include "tests/unit/converted_model.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

using testing::relative_difference;

// A tiny checkpoint written to disk (with a tokenizer config beside it), loaded, converted and perturbed.
std::unique_ptr<Model> converted_from_disk(const std::string& dir, const std::string& arch, const std::string& variant) {
  TinyModelOptions tiny;
  tiny.arch = arch;
  tiny.out = path_join(dir, "original");
  make_tiny_model(tiny);
  testing::write_text(path_join(tiny.out, "tokenizer_config.json"), "{\"model_max_length\": 64}\n");
  auto model = load_model(tiny.out, ModelLoadOptions{});
  ConversionOptions options;
  options.rope_dims = 8;
  options.latent_rank = 8;
  options.strategy = "uniform";
  options.variant = variant;
  options.init = "svd";
  convert_to_mla(*model, options, nullptr);
  testing::perturb_student(*model, 5);
  return model;
}

void add_lora(Linear& linear, int64_t rank, uint64_t seed) {
  at::manual_seed(seed);
  linear.lora.a = at::randn({rank, linear.in_features()}) * 0.1;
  linear.lora.b = at::randn({linear.out_features(), rank}) * 0.1;
  linear.lora.scale = 2.0;
}

at::Tensor logits(Model& model, AttentionPath path) {
  at::NoGradGuard no_grad;
  at::manual_seed(9);
  at::Tensor ids = at::randint(0, model.text->config().vocab_size, {2, 12}, at::kLong);
  TextBatch batch;
  batch.positions = default_positions(2, 12, at::Tensor(), at::kCPU);
  batch.image_mask = (at::arange(12) % 4 == 1).unsqueeze(0).expand({2, 12}).contiguous();
  ForwardOptions options;
  options.path = path;
  return model.text->logits(model.text->forward(model.text->embed(ids), batch, options));
}

TEST(Export, HfMlaReloadsAStudentOnlyModelWithTheSameLogits) {
  for (const std::string arch : {"llama", "qwen2"}) {
    const std::string dir = testing::scratch_dir() + "/" + arch;
    auto model = converted_from_disk(dir, arch, arch == "llama" ? "joint" : "split");

    // Without adapters the exported tensors are the student's own: identical logits.
    export_hf_mla(*model, path_join(dir, "plain"));
    auto plain = load_model(path_join(dir, "plain"), ModelLoadOptions{});
    EXPECT_TRUE(at::equal(logits(*plain, AttentionPath::student), logits(*model, AttentionPath::student))) << arch;

    // With LoRA on q_proj and o_proj: merged into the weights, equal to float rounding.
    for (auto& layer : model->text->layers) {
      auto& student = static_cast<MlaAttention&>(*layer.student);
      add_lora(student.q_proj, 4, 1);
      add_lora(student.o_proj, 4, 2);
    }
    const std::string out = path_join(dir, "merged");
    export_hf_mla(*model, out);
    auto reloaded = load_model(out, ModelLoadOptions{});
    ASSERT_TRUE(reloaded->mla && reloaded->mla->student_only);
    at::Tensor expected = logits(*model, AttentionPath::student);
    EXPECT_LT(relative_difference(logits(*reloaded, AttentionPath::student), expected), 1e-5) << arch;
    EXPECT_GT(relative_difference(logits(*plain, AttentionPath::student), expected), 1e-3) << "the adapters mattered";

    for (const std::string& name : io::SafetensorsCheckpoint(out).names()) {
      EXPECT_EQ(name.find("k_proj."), std::string::npos) << name;
      EXPECT_EQ(name.find("v_proj."), std::string::npos) << name;
      EXPECT_EQ(name.find("lora"), std::string::npos) << name;
    }
    EXPECT_EQ(read_file(path_join(out, "tokenizer_config.json")), "{\"model_max_length\": 64}\n");
    EXPECT_ERROR_CONTAINS(logits(*reloaded, AttentionPath::teacher), "without the teacher's k_proj / v_proj");

    // The reloaded model decodes with its latent cache exactly as the in-memory one.
    GreedyResult from_export = generate_greedy(*reloaded->text, testing::left_padded_request(*reloaded, 10, 4, 1));
    GreedyResult in_memory = generate_greedy(*model->text, testing::left_padded_request(*model, 10, 4, 1));
    EXPECT_TRUE(at::equal(in_memory.tokens, from_export.tokens)) << arch;
  }
}

TEST(Export, HfMlaRefusesUnconvertedAndStageOneCheckpoints) {
  const std::string dir = testing::scratch_dir();
  TinyModelOptions tiny;
  tiny.arch = "llama";
  tiny.out = path_join(dir, "original");
  make_tiny_model(tiny);
  auto model = load_model(tiny.out, ModelLoadOptions{});
  EXPECT_ERROR_CONTAINS(export_hf_mla(*model, path_join(dir, "out")), "is not converted to MLA", "mha2mla convert");
  ConversionOptions stage_one;
  stage_one.rope_dims = 8;
  stage_one.strategy = "high";
  stage_one.init = "svd";
  stage_one.partial_rope_only = true;
  convert_to_mla(*model, stage_one, nullptr);
  EXPECT_ERROR_CONTAINS(export_hf_mla(*model, path_join(dir, "out")), "stage-1 (partial_rope)");
}

std::unique_ptr<Model> tiny_llama(int64_t kv_heads, const std::string& strategy, bool attention_bias) {
  hf::HfConfig config = tiny_config("llama");
  config.text.num_key_value_heads = kv_heads;
  config.text.qkv_bias = config.text.o_proj_bias = attention_bias;
  auto model = build_model(config, ModelLoadOptions{});
  init_random([&](const ParamVisitor& v) { model->visit(v); }, 3, 0.1);
  ConversionOptions options;
  options.rope_dims = 8;
  options.latent_rank = 8;
  options.strategy = strategy;
  options.init = "svd";
  convert_to_mla(*model, options, nullptr);
  return model;
}

TEST(Export, DeepseekRefusesWhatItsFormatCannotExpressAndSaysWhy) {
  const std::string dir = testing::scratch_dir();
  // Qwen2: q_proj bias. Two KV heads keeping the same pairs: one shared k_rope cannot serve both.
  auto qwen = testing::converted_tiny(testing::TinyConversion{"qwen2", "joint", "high"});
  EXPECT_ERROR_CONTAINS(export_deepseek_v3(*qwen, dir), "q_proj has a bias", "KV heads keep the same frequency pair",
                        "export.format = hf-mla");
  // One KV head, but the kept pairs do not start at pair 0 (S_low).
  EXPECT_ERROR_CONTAINS(export_deepseek_v3(*tiny_llama(1, "low", false), dir), "start at 12, not 0");
  // A llama with attention_bias whose q bias is non-zero.
  EXPECT_ERROR_CONTAINS(export_deepseek_v3(*tiny_llama(1, "high", true), dir), "q_proj has a bias");
  EXPECT_TRUE(deepseek_v3_misfits(*tiny_llama(1, "high", false)).empty());
  EXPECT_TRUE(deepseek_v3_misfits(*tiny_llama(1, "uniform", false)).empty());
}

TEST(Export, DeepseekWritesItsConfigKeysAndTensorShapes) {
  const std::string dir = testing::scratch_dir();
  auto model = tiny_llama(1, "uniform", false);  // pairs {0, 4, 8, 12}: stride 4
  export_deepseek_v3(*model, dir);
  hf::HfConfig config = hf::load_hf_config(dir);
  ASSERT_EQ(config.model_type, hf::ModelType::kDeepseekV3);
  const hf::DeepseekV3Fields& d = config.deepseek;
  EXPECT_FALSE(d.q_lora_rank.has_value());
  EXPECT_EQ(d.kv_lora_rank, 8 + 1);  // d_c = 1 KV head x 8, plus the constant channel
  EXPECT_EQ(d.qk_rope_head_dim, 8);
  EXPECT_EQ(d.qk_nope_head_dim, 24);
  EXPECT_EQ(d.v_head_dim, 32);
  EXPECT_EQ(d.first_k_dense_replace, 2);
  EXPECT_EQ(d.rope_interleave, std::optional<bool>(true));
  EXPECT_EQ(config.text.num_key_value_heads, 4);
  EXPECT_TRUE(config.text.qkv_bias && config.text.o_proj_bias);
  // Frequency j of 8 RoPE dims must be pair 4j of 32: theta' = theta^(4 * 8 / 32) = theta.
  EXPECT_DOUBLE_EQ(config.text.rope_theta, model->config.text.rope_theta);
  EXPECT_EQ(config.text.rope_scaling, model->config.text.rope_scaling);

  io::SafetensorsCheckpoint checkpoint(dir);
  auto shape = [&](const std::string& name) { return checkpoint.info(name).shape; };
  EXPECT_EQ(shape("model.layers.0.self_attn.q_proj.weight"), (std::vector<int64_t>{4 * (24 + 8), 128}));
  EXPECT_EQ(shape("model.layers.0.self_attn.kv_a_proj_with_mqa.weight"), (std::vector<int64_t>{9 + 8, 128}));
  EXPECT_EQ(shape("model.layers.0.self_attn.kv_a_proj_with_mqa.bias"), (std::vector<int64_t>{9 + 8}));
  EXPECT_EQ(shape("model.layers.0.self_attn.kv_a_layernorm.weight"), (std::vector<int64_t>{9}));
  EXPECT_EQ(shape("model.layers.0.self_attn.kv_b_proj.weight"), (std::vector<int64_t>{4 * (24 + 32), 9}));
  EXPECT_EQ(shape("model.layers.1.self_attn.o_proj.weight"), (std::vector<int64_t>{128, 4 * 32}));
  EXPECT_EQ(shape("model.layers.1.self_attn.o_proj.bias"), (std::vector<int64_t>{128}));
  EXPECT_EQ(shape("model.layers.1.mlp.down_proj.weight")[0], 128);
  // Per layer: q_proj, kv_a_proj_with_mqa (+ bias), kv_a_layernorm, kv_b_proj, o_proj (+ bias), 3 MLP, 2 norms;
  // then embed_tokens and norm (tied embeddings: no lm_head.weight).
  EXPECT_EQ(checkpoint.names().size(), 2 * 12 + 2u);
}

// The command: convert.output exported as the recipe asks; a refusal exits non-zero with the reasons.
TEST(Export, TheExportCommandWritesWhatTheRecipeAsks) {
  const std::string dir = testing::scratch_dir();
  auto converted = converted_from_disk(dir, "llama", "joint");  // what `mha2mla convert` leaves in convert.output
  save_model(*converted, path_join(dir, "run/converted"));
  copy_side_files(path_join(dir, "original"), path_join(dir, "run/converted"));
  const std::string recipe = testing::write_text(
      path_join(dir, "recipe.yaml"), "run:\n  output_dir: " + path_join(dir, "run") + "\nexport:\n  dtype: bfloat16\n");
  auto run = [&](const std::string& arguments) {
    return std::system((testing::binary() + " " + arguments + " > " + path_join(dir, "log.txt") + " 2>&1").c_str());
  };
  ASSERT_EQ(run("export " + recipe), 0) << read_file(path_join(dir, "log.txt"));
  auto exported = load_model(path_join(dir, "run/export"), ModelLoadOptions{});
  EXPECT_TRUE(exported->mla && exported->mla->student_only);
  EXPECT_EQ(io::SafetensorsCheckpoint(path_join(dir, "run/export")).info("model.norm.weight").dtype, io::DType::BF16);
  EXPECT_TRUE(file_exists(path_join(dir, "run/export/tokenizer_config.json")));
  // Two KV heads keeping the same pairs do not fit DeepSeek-V3's shared k_rope.
  EXPECT_NE(run("export " + recipe + " export.output=deepseek --format deepseek-v3"), 0);
  EXPECT_NE(read_file(path_join(dir, "log.txt")).find("KV heads keep the same frequency pair"), std::string::npos);
  EXPECT_FALSE(file_exists(path_join(dir, "run/deepseek/config.json")));
}

}  // namespace
}  // namespace mha2mla

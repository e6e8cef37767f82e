// The writer: parse(to_json(x)) == x for every published file and for configs built in code, and the
// keys it writes are the ones the transformers config classes take.
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/io/hf_config.h"

namespace mha2mla::hf {
namespace {

using nlohmann::json;

const char* kRepos[] = {"llava-1.5-7b-hf",          "llama3-llava-next-8b-hf",
                        "Qwen2.5-VL-7B-Instruct",   "Qwen2.5-VL-7B-Instruct-transformers-4.54",
                        "Meta-Llama-3-8B-Instruct", "Llama-3.1-8B-Instruct",
                        "Qwen2.5-0.5B-Instruct",    "DeepSeek-V3"};

HfConfig load_repo(const std::string& repo) {
  return load_hf_config(std::string(MHA2MLA_SOURCE_DIR) + "/tests/data/hf_configs/" + repo);
}

HfConfig round_trip(const HfConfig& config) { return parse_hf_config(to_json(config), "written/config.json"); }

TEST(HfConfigWrite, PublishedFilesRoundTrip) {
  for (const char* repo : kRepos) {
    SCOPED_TRACE(repo);
    HfConfig original = load_repo(repo);
    HfConfig again = round_trip(original);
    EXPECT_EQ(again, original);
    // A second generation of writing changes nothing.
    EXPECT_EQ(to_json(again), to_json(original));
  }
}

// Keys of the transformers classes (constructor arguments, plus PretrainedConfig's common ones that the
// writer uses). A writer key outside these would be silently ignored by transformers.
const std::set<std::string> kCommon = {"model_type",   "architectures", "torch_dtype", "tie_word_embeddings",
                                       "bos_token_id", "eos_token_id",  "pad_token_id"};
const std::set<std::string> kLlamaConfigArgs = {"vocab_size",
                                                "hidden_size",
                                                "intermediate_size",
                                                "num_hidden_layers",
                                                "num_attention_heads",
                                                "num_key_value_heads",
                                                "hidden_act",
                                                "max_position_embeddings",
                                                "rms_norm_eps",
                                                "rope_theta",
                                                "rope_scaling",
                                                "attention_bias",
                                                "mlp_bias",
                                                "head_dim"};
const std::set<std::string> kQwen2ConfigArgs = {
    "vocab_size",          "hidden_size",         "intermediate_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "hidden_act",        "max_position_embeddings",
    "rms_norm_eps",        "rope_theta",          "rope_scaling",      "use_sliding_window"};
const std::set<std::string> kClipVisionConfigArgs = {
    "model_type",   "hidden_size", "intermediate_size", "projection_dim", "num_hidden_layers", "num_attention_heads",
    "num_channels", "image_size",  "patch_size",        "hidden_act",     "layer_norm_eps"};
const std::set<std::string> kLlavaConfigArgs = {"text_config",
                                                "vision_config",
                                                "image_token_index",
                                                "projector_hidden_act",
                                                "vision_feature_select_strategy",
                                                "vision_feature_layer",
                                                "image_seq_length",
                                                "multimodal_projector_bias",
                                                "image_grid_pinpoints"};
// Qwen2_5_VLVisionConfig's arguments, and the original Qwen names (in_chans, spatial_patch_size) the hub
// files carry next to them.
const std::set<std::string> kQwen25VisionArgs = {"model_type",         "depth",
                                                 "hidden_size",        "hidden_act",
                                                 "intermediate_size",  "num_heads",
                                                 "in_channels",        "in_chans",
                                                 "patch_size",         "spatial_patch_size",
                                                 "spatial_merge_size", "temporal_patch_size",
                                                 "tokens_per_second",  "window_size",
                                                 "out_hidden_size",    "fullatt_block_indexes"};
const std::set<std::string> kQwen25VlTopArgs = {"text_config",    "vision_config",         "image_token_id",
                                                "video_token_id", "vision_start_token_id", "vision_end_token_id",
                                                "vision_token_id"};

void expect_keys_within(const json& object, std::initializer_list<const std::set<std::string>*> allowed) {
  for (const auto& item : object.items()) {
    bool known = false;
    for (const auto* set : allowed) known = known || set->count(item.key());
    EXPECT_TRUE(known) << "written key '" << item.key() << "' is not a transformers config argument";
  }
}

TEST(HfConfigWrite, KeysAreTransformersArguments) {
  json llama = to_json(load_repo("Llama-3.1-8B-Instruct"));
  expect_keys_within(llama, {&kCommon, &kLlamaConfigArgs});
  EXPECT_EQ(llama.at("rope_scaling").at("rope_type"), "llama3");
  EXPECT_EQ(llama.at("eos_token_id"), json::array({128001, 128008, 128009}));

  expect_keys_within(to_json(load_repo("Qwen2.5-0.5B-Instruct")), {&kCommon, &kQwen2ConfigArgs});

  json llava = to_json(load_repo("llama3-llava-next-8b-hf"));
  expect_keys_within(llava, {&kCommon, &kLlavaConfigArgs});
  expect_keys_within(llava.at("text_config"), {&kCommon, &kLlamaConfigArgs});
  expect_keys_within(llava.at("vision_config"), {&kClipVisionConfigArgs});
  EXPECT_EQ(llava.at("vision_config").at("model_type"), "clip_vision_model");
  EXPECT_EQ(llava.at("architectures"), json::array({"LlavaNextForConditionalGeneration"}));

  json qwen_flat = to_json(load_repo("Qwen2.5-VL-7B-Instruct"));
  expect_keys_within(qwen_flat, {&kCommon, &kQwen2ConfigArgs, &kQwen25VlTopArgs});
  expect_keys_within(qwen_flat.at("vision_config"), {&kQwen25VisionArgs});
  EXPECT_FALSE(qwen_flat.contains("text_config"));
  EXPECT_EQ(qwen_flat.at("rope_scaling"), json::parse(R"({"type": "mrope", "mrope_section": [16, 24, 24]})"));

  // The nested generation is written with both the flat keys (transformers < 4.52) and text_config.
  json qwen_nested = to_json(load_repo("Qwen2.5-VL-7B-Instruct-transformers-4.54"));
  ASSERT_TRUE(qwen_nested.contains("text_config"));
  EXPECT_EQ(qwen_nested.at("text_config").at("model_type"), "qwen2_5_vl_text");
  EXPECT_EQ(qwen_nested.at("num_key_value_heads"), 4);
  EXPECT_EQ(qwen_nested.at("text_config").at("num_key_value_heads"), 4);
}

// A tiny config of each type built in code, as make-tiny will.
HfConfig tiny(ModelType type) {
  HfConfig c;
  c.model_type = type;
  c.source = "tiny";
  c.torch_dtype = "float32";
  TextConfig& t = c.text;
  t.vocab_size = 256;
  t.hidden_size = 64;
  t.intermediate_size = 128;
  t.num_hidden_layers = 2;
  t.num_attention_heads = 4;
  t.num_key_value_heads = 2;
  t.head_dim = 16;
  t.max_position_embeddings = 512;
  t.eos_token_ids = {2, 3};
  t.bos_token_id = 1;
  if (type == ModelType::kQwen2 || is_qwen_vl_family(type)) {
    t.model_type = type == ModelType::kQwen2     ? "qwen2"
                   : type == ModelType::kQwen2Vl ? "qwen2_vl_text"
                                                 : "qwen2_5_vl_text";
    t.qkv_bias = true;
  }
  if (is_llava_family(type)) {
    ClipVisionConfig v;
    v.hidden_size = 32;
    v.intermediate_size = 64;
    v.num_hidden_layers = 2;
    v.num_attention_heads = 2;
    v.image_size = 28;
    v.patch_size = 14;
    c.clip_vision = v;
    c.llava.image_token_index = 255;
    c.llava.image_seq_length = 4;
    c.llava.vision_feature_layers = {-1, -2};
    c.llava.vision_feature_layer_is_list = true;
    if (type == ModelType::kLlavaNext) c.llava.image_grid_pinpoints = {{28, 56}, {56, 28}};
  }
  if (is_qwen_vl_family(type)) {
    t.rope_scaling.type = "mrope";
    t.rope_scaling.mrope_section = {2, 3, 3};
    QwenVisionConfig v = type == ModelType::kQwen2Vl ? qwen2_vl_default_vision() : QwenVisionConfig{};
    v.depth = 2;
    v.hidden_size = 32;
    v.intermediate_size = type == ModelType::kQwen2Vl ? 128 : 48;
    v.num_heads = 2;
    v.out_hidden_size = 64;
    if (type == ModelType::kQwen2_5Vl) v.fullatt_block_indexes = {1};
    c.qwen_vision = v;
    c.qwen_vl.vision_token_id = 151654;
  }
  if (type == ModelType::kDeepseekV3) {
    t.model_type = "deepseek_v3";
    t.num_key_value_heads = 4;
    c.deepseek.q_lora_rank = std::nullopt;  // uncompressed queries
    c.deepseek.kv_lora_rank = 32;
    c.deepseek.qk_nope_head_dim = 8;
    c.deepseek.qk_rope_head_dim = 8;
    c.deepseek.v_head_dim = 16;
    c.deepseek.first_k_dense_replace = 2;
    c.deepseek.rope_interleave = false;
    t.head_dim = 16;
    t.rope_scaling.type = "yarn";
    t.rope_scaling.factor = 4.0;
    t.rope_scaling.beta_fast = 32.0;
  }
  if (type == ModelType::kLlama) {
    t.head_dim = 32;  // not hidden / heads: must survive through the explicit head_dim key
    t.rope_scaling.type = "linear";
    t.rope_scaling.factor = 2.0;
  }
  return c;
}

TEST(HfConfigWrite, CodeBuiltConfigsRoundTrip) {
  for (ModelType type : {ModelType::kLlama, ModelType::kQwen2, ModelType::kDeepseekV3, ModelType::kLlava,
                         ModelType::kLlavaNext, ModelType::kQwen2Vl, ModelType::kQwen2_5Vl}) {
    SCOPED_TRACE(model_type_name(type));
    HfConfig c = tiny(type);
    EXPECT_EQ(round_trip(c), c);
    if (is_qwen_vl_family(type)) {
      c.text_nested = true;
      EXPECT_EQ(round_trip(c), c);
    }
  }
  json deepseek = to_json(tiny(ModelType::kDeepseekV3));
  EXPECT_TRUE(deepseek.at("q_lora_rank").is_null());
  EXPECT_EQ(deepseek.at("kv_lora_rank"), 32);
  EXPECT_EQ(deepseek.at("rope_scaling").at("type"), "yarn");
  EXPECT_EQ(deepseek.at("architectures"), json::array({"DeepseekV3ForCausalLM"}));
}

TEST(HfConfigWrite, RefusesWhatTheFormatCannotSay) {
  HfConfig qwen = tiny(ModelType::kQwen2);
  qwen.text.o_proj_bias = true;
  EXPECT_THROW(to_json(qwen), Error);
  HfConfig llama = tiny(ModelType::kLlama);
  llama.text.qkv_bias = true;  // o_proj_bias false: one attention_bias cannot say that
  EXPECT_THROW(to_json(llama), Error);
  HfConfig bad_gqa = tiny(ModelType::kLlama);
  bad_gqa.text.num_key_value_heads = 3;
  EXPECT_THROW(to_json(bad_gqa), Error);
}

TEST(HfConfigWrite, SaveAndLoadAFolder) {
  const char* tmp = std::getenv("MHA2MLA_TEST_TMP");
  std::filesystem::path dir =
      std::filesystem::path(tmp ? tmp : std::filesystem::temp_directory_path().string()) / "hf_config_write_test";
  std::filesystem::create_directories(dir);
  HfConfig c = tiny(ModelType::kLlavaNext);
  save_hf_config(c, (dir / "config.json").string());
  HfConfig loaded = load_hf_config(dir.string());
  EXPECT_EQ(loaded, c);
  EXPECT_EQ(loaded.source, (dir / "config.json").string());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mha2mla::hf

// Every validation case fails with a message naming the file and the key at fault and what was expected.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"
#include "model/io/hf_config.h"

namespace mha2mla::hf {
namespace {

// The message of the Error parsing `text` throws; fails the test when it does not throw.
std::string error_of(const std::string& text) {
  try {
    parse_hf_config_text(text, "models/broken/config.json");
  } catch (const Error& e) {
    return std::string(e.what()) + (e.hint().empty() ? "" : " HINT: " + e.hint());
  }
  ADD_FAILURE() << "no error for: " << text;
  return {};
}

void expect_error(const std::string& text, const std::vector<std::string>& parts) {
  std::string message = error_of(text);
  EXPECT_NE(message.find("models/broken/config.json"), std::string::npos) << message;
  for (const std::string& part : parts)
    EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
}

const char* kLlamaKeys = R"("vocab_size": 1000, "hidden_size": 1024, "intermediate_size": 2048,
  "num_hidden_layers": 2)";

std::string llama(const std::string& extra) {
  return std::string(R"({"model_type": "llama", )") + kLlamaKeys + ", " + extra + "}";
}

std::string qwen_vl(const std::string& rope) {
  return R"({"model_type": "qwen2_5_vl", "vocab_size": 1000, "hidden_size": 3584, "intermediate_size": 256,
    "num_hidden_layers": 2, "num_attention_heads": 28, "num_key_value_heads": 4, )" +
         rope + "}";
}

TEST(HfConfigErrors, MissingModelType) {
  expect_error(R"({"hidden_size": 8})", {"missing required key 'model_type'", "llava", "qwen2_5_vl"});
}

TEST(HfConfigErrors, UnknownModelTypeListsTheSupportedOnes) {
  expect_error(R"({"model_type": "qwen2_5_v1"})",
               {"key 'model_type'", "'qwen2_5_v1'", "did you mean 'qwen2_5_vl'",
                "llama, qwen2, deepseek_v3, llava, llava_next, qwen2_vl, qwen2_5_vl"});
  expect_error(R"({"model_type": "mistral"})", {"'mistral'", "not supported"});
}

TEST(HfConfigErrors, MissingRequiredKey) {
  expect_error(R"({"model_type": "llama", "vocab_size": 1000, "intermediate_size": 2048, "num_hidden_layers": 2,
    "num_attention_heads": 8})",
               {"missing required key 'hidden_size'", "model_type llama"});
  expect_error(R"({"model_type": "qwen2_5_vl", "vocab_size": 1000})",
               {"missing required key", "qwen2_5_vl", "flat text keys"});
}

TEST(HfConfigErrors, WrongJsonType) {
  expect_error(llama(R"("num_attention_heads": "32")"),
               {"key 'num_attention_heads' must be an integer", "string \"32\""});
  expect_error(llama(R"("num_attention_heads": 8, "rms_norm_eps": "1e-5")"), {"key 'rms_norm_eps' must be a number"});
  expect_error(llama(R"("num_attention_heads": 8, "tie_word_embeddings": 1)"),
               {"key 'tie_word_embeddings' must be true or false"});
  expect_error(llama(R"("num_attention_heads": 8.5)"), {"key 'num_attention_heads' must be an integer", "8.5"});
  expect_error(R"({"model_type": "llava", "text_config": {"num_attention_heads": [32]}})",
               {"key 'text_config.num_attention_heads' must be an integer", "list [32]"});
  expect_error(R"({"model_type": "llava", "vision_config": 5})", {"key 'vision_config' must be an object"});
  expect_error(R"({"model_type": "llava_next", "image_grid_pinpoints": [[336, 672], [672]]})",
               {"key 'image_grid_pinpoints'", "[height, width] pairs"});
  expect_error(R"(["llama"])", {"top level must be a JSON object"});
}

TEST(HfConfigErrors, InvalidJsonSyntax) { expect_error(R"({"model_type": "llama",})", {"not valid JSON"}); }

TEST(HfConfigErrors, HiddenNotDivisibleByHeadsWithoutHeadDim) {
  expect_error(llama(R"("num_attention_heads": 24)"),
               {"key 'hidden_size'", "1024 is not divisible by num_attention_heads = 24", "head_dim"});
  // With head_dim, LlamaConfig accepts it.
  std::string ok = llama(R"("num_attention_heads": 24, "num_key_value_heads": 8, "head_dim": 64)");
  EXPECT_EQ(parse_hf_config_text(ok, "ok.json").text.head_dim, 64);
  expect_error(R"({"model_type": "llava", "text_config": {"hidden_size": 1000}})",
               {"key 'text_config.hidden_size'", "not divisible"});
}

TEST(HfConfigErrors, HeadsNotDivisibleByKeyValueHeads) {
  expect_error(llama(R"("num_attention_heads": 32, "num_key_value_heads": 5)"),
               {"key 'num_key_value_heads'", "5 does not divide num_attention_heads = 32"});
  expect_error(llama(R"("num_attention_heads": 32, "num_key_value_heads": 0)"),
               {"key 'num_key_value_heads'", "must be positive"});
}

TEST(HfConfigErrors, MropeSectionMustSumToHalfTheHeadDim) {
  // head_dim = 3584 / 28 = 128, so the sections must sum to 64.
  expect_error(qwen_vl(R"("rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 16]})"),
               {"mrope_section' sums to 56", "head_dim / 2 = 128 / 2 = 64"});
  expect_error(qwen_vl(R"("rope_scaling": {"type": "mrope", "mrope_section": [32, 32]})"), {"must have 3 entries"});
  expect_error(qwen_vl(R"("rope_theta": 1000000.0)"), {"uses M-RoPE", "no mrope_section"});
  expect_error(llama(R"("num_attention_heads": 8, "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]})"),
               {"only qwen2_vl and qwen2_5_vl"});
}

TEST(HfConfigErrors, RopeTypesAndTheirParameters) {
  expect_error(llama(R"("num_attention_heads": 8, "rope_scaling": {"rope_type": "longrope", "factor": 2.0})"),
               {"key 'rope_scaling.rope_type'", "'longrope'", "default, linear, dynamic, llama3, yarn, mrope"});
  expect_error(llama(R"("num_attention_heads": 8, "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
    "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})"),
               {"rope type 'llama3' needs 'rope_scaling.low_freq_factor'"});
  expect_error(llama(R"("num_attention_heads": 8, "rope_scaling": {"type": "linear"})"),
               {"rope type 'linear' needs 'rope_scaling.factor'"});
  expect_error(llama(R"("num_attention_heads": 8, "rope_parameters": {"full_attention": {"rope_theta": 1e6}})"),
               {"rope_parameters.full_attention", "per-layer-type"});
}

TEST(HfConfigErrors, LlavaSubConfigs) {
  expect_error(R"({"model_type": "llava", "vision_feature_select_strategy": "cls"})",
               {"key 'vision_feature_select_strategy'", "\"default\" or \"full\"", "\"cls\""});
  expect_error(R"({"model_type": "llava", "text_config": {"model_type": "mistral"}})",
               {"key 'text_config.model_type'", "'mistral'", "llama, qwen2"});
  expect_error(R"({"model_type": "llava", "vision_config": {"model_type": "siglip_vision_model"}})",
               {"key 'vision_config.model_type'", "clip_vision_model"});
  expect_error(R"({"model_type": "llava", "vision_feature_layer": -26})",
               {"'vision_feature_layer' = -26", "expected -25..24"});
  expect_error(R"({"model_type": "llava", "vision_config": {"hidden_size": 1000, "num_attention_heads": 16}})",
               {"vision_config.hidden_size = 1000 is not divisible"});
}

TEST(HfConfigErrors, QwenVision) {
  const char* rope = R"("rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}, )";
  expect_error(qwen_vl(std::string(rope) + R"("vision_config": {"out_hidden_size": 2048})"),
               {"output width 2048", "hidden_size 3584"});
  expect_error(qwen_vl(std::string(rope) + R"("vision_config": {"in_channels": 3, "in_chans": 4})"),
               {"key 'vision_config.in_channels'", "in_chans = 4"});
  expect_error(qwen_vl(std::string(rope) + R"("vision_config": {"fullatt_block_indexes": [7, 40]})"),
               {"fullatt_block_indexes has 40"});
  // The Qwen-VL attention computes hidden_size / heads and would silently ignore another head_dim.
  expect_error(qwen_vl(std::string(rope) + R"("head_dim": 64)"), {"key 'head_dim'", "ignores it"});
  expect_error(qwen_vl(std::string(rope) + R"("use_sliding_window": true, "max_window_layers": 1)"),
               {"key 'use_sliding_window'", "sliding-window attention"});
}

TEST(HfConfigErrors, LoadNamesTheMissingFile) {
  try {
    load_hf_config("/nonexistent/model");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mha2mla::hf

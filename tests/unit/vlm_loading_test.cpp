// Tiny VLM checkpoints: save/load round trips in both hub naming generations, the real checkpoints' tensor names,
// strict loading of the vision tensors, and preprocessor_config.json read back as written.
#include <set>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "model/io/safetensors_checkpoint.h"
#include "model/io/safetensors_writer.h"
#include "model/io/tensor_io.h"
#include "model/model.h"
#include "model/tiny/make_tiny.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

const std::vector<std::string> kVlms = {"llava", "llava_next", "qwen2_5_vl"};

std::map<std::string, at::Tensor> parameters(Model& model) {
  std::map<std::string, at::Tensor> out;
  model.visit([&](ParamRef& ref) { out[ref.name] = *ref.tensor; });
  return out;
}

std::set<std::string> file_names(const std::string& dir) {
  io::SafetensorsCheckpoint checkpoint(dir);
  auto names = checkpoint.names();
  return {names.begin(), names.end()};
}

TEST(VlmLoading, TinyVlmsRoundTripInBothNamings) {
  const std::string root = testing::scratch_dir();
  for (const std::string& arch : kVlms) {
    SCOPED_TRACE(arch);
    const std::string dir = root + "/" + arch;
    make_tiny_model({arch, dir, 7});
    auto model = load_model(dir, ModelLoadOptions{});
    EXPECT_EQ(model->naming, hf::HubNaming::kLegacy);
    ASSERT_NE(model->vision, nullptr);
    const auto first = parameters(*model);

    for (hf::HubNaming naming : {hf::HubNaming::kLegacy, hf::HubNaming::kCurrent}) {
      const std::string again = dir + (naming == hf::HubNaming::kLegacy ? "-legacy" : "-current");
      model->naming = naming;
      save_model(*model, again);
      auto reloaded = load_model(again, ModelLoadOptions{});
      EXPECT_EQ(reloaded->naming, naming);
      EXPECT_EQ(model->config, reloaded->config);
      const auto second = parameters(*reloaded);
      ASSERT_EQ(first.size(), second.size());
      for (const auto& [name, tensor] : first) EXPECT_TRUE(at::equal(tensor, second.at(name))) << name;
    }
  }
}

TEST(VlmLoading, TinyCheckpointsUseThePublishedTensorNames) {
  const std::string root = testing::scratch_dir();
  // Names as in llava-hf/llava-1.5-7b-hf, llava-hf/llama3-llava-next-8b-hf and Qwen/Qwen2.5-VL-7B-Instruct.
  const std::map<std::string, std::vector<std::string>> expected = {
      {"llava",
       {"vision_tower.vision_model.embeddings.class_embedding",
        "vision_tower.vision_model.embeddings.patch_embedding.weight",
        "vision_tower.vision_model.embeddings.position_embedding.weight",
        "vision_tower.vision_model.pre_layrnorm.weight", "vision_tower.vision_model.post_layernorm.bias",
        "vision_tower.vision_model.encoder.layers.2.self_attn.out_proj.bias",
        "vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight",
        "vision_tower.vision_model.encoder.layers.1.layer_norm2.bias", "multi_modal_projector.linear_1.weight",
        "multi_modal_projector.linear_2.bias", "language_model.model.embed_tokens.weight",
        "language_model.model.layers.1.self_attn.o_proj.weight", "language_model.lm_head.weight"}},
      {"llava_next", {"image_newline", "multi_modal_projector.linear_1.bias", "language_model.lm_head.weight"}},
      {"qwen2_5_vl",
       {"visual.patch_embed.proj.weight", "visual.blocks.0.norm1.weight", "visual.blocks.3.attn.qkv.bias",
        "visual.blocks.1.attn.proj.weight", "visual.blocks.2.mlp.gate_proj.bias", "visual.blocks.2.mlp.down_proj.weight",
        "visual.merger.ln_q.weight", "visual.merger.mlp.0.weight", "visual.merger.mlp.2.bias",
        "model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.bias", "lm_head.weight"}}};
  for (const auto& [arch, names] : expected) {
    const std::string dir = root + "/" + arch;
    make_tiny_model({arch, dir, 3});
    const auto found = file_names(dir);
    for (const std::string& name : names) EXPECT_TRUE(found.count(name)) << arch << " lacks " << name;
  }
  // Shapes that only the real layouts give: the Conv3d patch embedding, the 4x-wide merger.
  io::SafetensorsCheckpoint qwen(root + "/qwen2_5_vl");
  EXPECT_EQ(qwen.info("visual.patch_embed.proj.weight").shape, (std::vector<int64_t>{64, 3, 2, 14, 14}));
  EXPECT_EQ(qwen.info("visual.merger.mlp.0.weight").shape, (std::vector<int64_t>{256, 256}));
  io::SafetensorsCheckpoint llava(root + "/llava");
  EXPECT_EQ(llava.info("vision_tower.vision_model.embeddings.position_embedding.weight").shape,
            (std::vector<int64_t>{17, 64}));
}

TEST(VlmLoading, MissingOrExtraVisionTensorsAreNamed) {
  const std::string dir = testing::scratch_dir() + "/qwen";
  make_tiny_model({"qwen2_5_vl", dir, 5});
  std::map<std::string, at::Tensor> tensors;
  {
    io::SafetensorsCheckpoint checkpoint(dir);
    for (const auto& name : checkpoint.names()) tensors[name] = io::to_tensor(checkpoint.view(name)).clone();
  }
  auto write = [&](const std::map<std::string, at::Tensor>& content) {
    io::SafetensorsWriter writer;
    for (const auto& [name, tensor] : content) io::add_tensor(writer, name, tensor);
    writer.write(dir + "/model.safetensors");
  };
  auto without = tensors;
  without.erase("visual.merger.mlp.2.bias");
  write(without);
  EXPECT_ERROR_CONTAINS(load_model(dir, ModelLoadOptions{}), "visual.merger.mlp.2.bias");
  auto extra = tensors;
  extra["visual.blocks.9.attn.qkv.weight"] = at::zeros({192, 64});
  write(extra);
  EXPECT_ERROR_CONTAINS(load_model(dir, ModelLoadOptions{}), "visual.blocks.9.attn.qkv.weight");
}

TEST(VlmLoading, OldClipPositionIdsBuffersAreAccepted) {
  const std::string dir = testing::scratch_dir() + "/llava";
  make_tiny_model({"llava", dir, 5});
  std::map<std::string, at::Tensor> tensors;
  {
    io::SafetensorsCheckpoint checkpoint(dir);
    for (const auto& name : checkpoint.names()) tensors[name] = io::to_tensor(checkpoint.view(name)).clone();
  }
  // transformers < 4.31 saved CLIP's position_ids buffer (int64 [1, positions]).
  io::SafetensorsWriter writer;
  for (const auto& [name, tensor] : tensors) io::add_tensor(writer, name, tensor);
  io::add_tensor(writer, "vision_tower.vision_model.embeddings.position_ids", at::arange(17, at::kLong).view({1, 17}));
  writer.write(dir + "/model.safetensors");
  EXPECT_NO_THROW(load_model(dir, ModelLoadOptions{}));
}

TEST(VlmLoading, PreprocessorConfigReadsBackAsWritten) {
  const std::string root = testing::scratch_dir();
  for (const std::string& arch : kVlms) {
    SCOPED_TRACE(arch);
    const std::string dir = root + "/" + arch;
    make_tiny_model({arch, dir, 1});
    image::PreprocessorConfig expected = *tiny_preprocessor_config(arch);
    image::PreprocessorConfig read = image::load_preprocessor_config(dir);
    EXPECT_EQ(read.kind, expected.kind);
    EXPECT_EQ(read.processor_class, expected.processor_class);
    nlohmann::json document = nlohmann::json::parse(read_file(dir + "/preprocessor_config.json"));
    EXPECT_EQ(image::preprocessor_config_json(read), document);
    if (arch == "llava") {
      EXPECT_EQ(document["image_processor_type"], "CLIPImageProcessor");
      EXPECT_EQ(read.clip.shortest_edge, 56);
      EXPECT_EQ(read.clip.crop, (image::ImageSize{56, 56}));
    } else if (arch == "llava_next") {
      EXPECT_EQ(read.llava_next.grid_pinpoints.size(), 5u);
      EXPECT_EQ(read.llava_next.grid_pinpoints[0], (image::ImageSize{56, 112}));
    } else {
      EXPECT_EQ(document["image_processor_type"], "Qwen2VLImageProcessor");
      EXPECT_EQ(read.qwen.min_pixels, 4 * 28 * 28);
      EXPECT_EQ(read.qwen.max_pixels, 64 * 28 * 28);
    }
  }
}

TEST(VlmLoading, PreprocessorConfigRefusesWhatItCannotDo) {
  EXPECT_ERROR_CONTAINS(image::parse_preprocessor_config(nlohmann::json{{"image_processor_type", "SiglipImageProcessor"}},
                                                         "p.json"),
                        "p.json", "image_processor_type", "SiglipImageProcessor");
  EXPECT_ERROR_CONTAINS(image::parse_preprocessor_config(
                            nlohmann::json{{"image_processor_type", "CLIPImageProcessor"}, {"resample", 1}}, "p.json"),
                        "resample", "1");
  EXPECT_ERROR_CONTAINS(
      image::parse_preprocessor_config(
          nlohmann::json{{"image_processor_type", "CLIPImageProcessor"}, {"size", {{"height", 5}, {"width", 5}}}},
          "p.json"),
      "size", "shortest_edge");
  EXPECT_ERROR_CONTAINS(image::parse_preprocessor_config(
                            nlohmann::json{{"image_processor_type", "LlavaImageProcessor"}, {"do_center_crop", false}},
                            "p.json"),
                        "do_center_crop");
}

}  // namespace
}  // namespace mha2mla

// Loading HF checkpoints strictly: round trip of make-tiny, and clear errors for missing tensors, wrong
// shapes, wrong dtypes, and configs that disagree with their tensors.
#include <filesystem>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "model/generation.h"
#include "model/io/safetensors_checkpoint.h"
#include "model/io/safetensors_writer.h"
#include "model/io/tensor_io.h"
#include "model/model.h"
#include "model/tiny/make_tiny.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

std::string tiny(const std::string& arch) {
  std::string dir = testing::scratch_dir() + "/" + arch;
  make_tiny_model({arch, dir, 99});
  return dir;
}

// Rewrites model.safetensors through `edit` (name -> tensor; return undefined to drop it).
void rewrite(const std::string& dir, const std::function<at::Tensor(const std::string&, at::Tensor)>& edit,
             const std::map<std::string, at::Tensor>& extra = {}) {
  std::map<std::string, at::Tensor> tensors;
  {
    io::SafetensorsCheckpoint checkpoint(dir);
    for (const auto& name : checkpoint.names()) tensors[name] = io::to_tensor(checkpoint.view(name)).clone();
  }
  io::SafetensorsWriter writer;
  for (auto& [name, tensor] : tensors) {
    at::Tensor edited = edit(name, tensor);
    if (edited.defined()) io::add_tensor(writer, name, edited);
  }
  for (const auto& [name, tensor] : extra) io::add_tensor(writer, name, tensor);
  writer.write(dir + "/model.safetensors");
}

TEST(ModelLoading, TinyCheckpointsRoundTripExactly) {
  for (std::string arch : {"llama", "qwen2"}) {
    std::string dir = tiny(arch);
    auto model = load_model(dir, ModelLoadOptions{});
    std::string again = dir + "-saved";
    save_model(*model, again);
    auto reloaded = load_model(again, ModelLoadOptions{});
    std::map<std::string, at::Tensor> first;
    model->visit([&](ParamRef& ref) { first[ref.name] = *ref.tensor; });
    size_t compared = 0;
    reloaded->visit([&](ParamRef& ref) {
      EXPECT_TRUE(at::equal(first.at(ref.name), *ref.tensor)) << ref.name;
      ++compared;
    });
    EXPECT_EQ(compared, first.size());
    EXPECT_EQ(model->config, reloaded->config);
  }
}

TEST(ModelLoading, Bfloat16ComputeConvertsTensorByTensor) {
  std::string dir = tiny("qwen2");
  auto model = load_model(dir, ModelLoadOptions{at::kBFloat16, "cpu"});
  auto reference = load_model(dir, ModelLoadOptions{});
  EXPECT_EQ(model->text->embed_tokens.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(model->text->embed_tokens, reference->text->embed_tokens.to(at::kBFloat16)));
}

TEST(ModelLoading, MissingTensorIsNamed) {
  std::string dir = tiny("llama");
  rewrite(dir, [](const std::string& name, at::Tensor t) {
    return name == "model.layers.1.mlp.up_proj.weight" ? at::Tensor() : t;
  });
  EXPECT_ERROR_CONTAINS(load_model(dir, ModelLoadOptions{}), "missing", "model.layers.1.mlp.up_proj.weight", "[256, 128]");
}

TEST(ModelLoading, WrongShapeNamesTheTensorAndBothShapes) {
  std::string dir = tiny("qwen2");
  rewrite(dir, [](const std::string& name, at::Tensor t) {
    return name == "model.layers.0.self_attn.k_proj.weight" ? at::zeros({96, 128}) : t;
  });
  EXPECT_ERROR_CONTAINS(load_model(dir, ModelLoadOptions{}), "model.layers.0.self_attn.k_proj.weight",
                        "has shape [96, 128]", "expects [64, 128]");
}

TEST(ModelLoading, WrongDtypeIsRefused) {
  std::string dir = tiny("qwen2");
  rewrite(dir, [](const std::string& name, at::Tensor t) {
    return name == "model.norm.weight" ? at::ones({128}, at::kInt) : t;
  });
  EXPECT_ERROR_CONTAINS(load_model(dir, ModelLoadOptions{}), "model.norm.weight", "dtype I32", "floating-point");
}

TEST(ModelLoading, ConfigDisagreeingWithTheTensorsIsAnError) {
  std::string dir = tiny("llama");
  // config says 3 layers, the file has 2: missing tensors
  auto edit_config = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json config = nlohmann::json::parse(read_file(dir + "/config.json"));
    edit(config);
    write_file_atomic(dir + "/config.json", config.dump(2));
  };
  edit_config([](nlohmann::json& c) { c["num_hidden_layers"] = 3; });
  EXPECT_ERROR_CONTAINS(load_model(dir, ModelLoadOptions{}), "missing", "model.layers.2.");
  // config says 1 layer, the file has 2: unexpected tensors
  edit_config([](nlohmann::json& c) { c["num_hidden_layers"] = 1; });
  EXPECT_ERROR_CONTAINS(load_model(dir, ModelLoadOptions{}), "unexpected tensor", "model.layers.1.");
  // config says untied embeddings, the file has no lm_head
  edit_config([](nlohmann::json& c) {
    c["num_hidden_layers"] = 2;
    c["tie_word_embeddings"] = false;
  });
  EXPECT_ERROR_CONTAINS(load_model(dir, ModelLoadOptions{}), "lm_head.weight");
}

TEST(ModelLoading, RotaryBuffersOfOldExportsAreIgnored) {
  std::string dir = tiny("llama");
  rewrite(dir, [](const std::string&, at::Tensor t) { return t; },
          {{"model.layers.0.self_attn.rotary_emb.inv_freq", at::ones({16})}});
  EXPECT_NO_THROW(load_model(dir, ModelLoadOptions{}));
}

TEST(ModelLoading, CachedGenerationOnACheckpointEqualsFullRecomputation) {
  auto model = load_model(tiny("qwen2"), ModelLoadOptions{});
  at::Tensor ids = at::tensor({5, 9, 2, 77, 31, 400, 12, 8, 100, 3}, at::kLong).view({2, 5});
  GreedyRequest request;
  request.prompt_embeddings = model->text->embed(ids);
  request.prompt.attention_mask = at::tensor({0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, at::kLong).view({2, 5});
  request.prompt.positions = default_positions(2, 5, request.prompt.attention_mask, at::kCPU);
  request.max_new_tokens = 8;
  GreedyResult cached = generate_greedy(*model->text, request);
  request.use_cache = false;
  GreedyResult rerun = generate_greedy(*model->text, request);
  EXPECT_TRUE(at::equal(cached.tokens, rerun.tokens)) << cached.tokens << rerun.tokens;
}

}  // namespace
}  // namespace mha2mla

// Test helper for the vision-language oracles (tests/python/test_vlm_reference.py).
//   vlm_forward forward MODEL_DIR REQUEST.json OUT_DIR
//       loads the checkpoint, prepares the batch (image features merged, positions, image mask) and writes
//       logits.npy [B, T, V], positions.npy, image_mask.npy (int64) and, for M-RoPE models, rope_deltas.npy.
//       REQUEST.json: {"input_ids": [[...]], "attention_mask": [[...]], "segments": [[...]] (optional),
//                      "images": [{"pixels": "a.npy", "grid_thw": [t, h, w], "image_size": [h, w]}, ...]}
//   vlm_forward rope-index MODEL_DIR REQUEST.json OUT_DIR
//       Qwen-VL 3-D positions from config.json alone: positions.npy, rope_deltas.npy.
//       REQUEST.json: {"input_ids", "attention_mask", "image_grid_thw": [[t, h, w], ...],
//                      "video_grid_thw": [...], "second_per_grid_ts": [...]}
//   vlm_forward make-variant NAME OUT_DIR SEED
//       a tiny checkpoint that make-tiny does not offer: llava_layers (LLaVA reading layers [-3, -1] with the
//       "full" strategy) or qwen2_vl (Qwen2-VL: LayerNorm blocks, fc1/fc2 MLP, no windows).
#include <cstdio>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "model/model.h"
#include "model/random_init.h"
#include "model/tiny/make_tiny.h"
#include "model/vlm/mrope_positions.h"
#include "tests/helpers/npy.h"

using namespace mha2mla;

namespace {

at::Tensor matrix(const nlohmann::json& rows) {
  std::vector<int64_t> values;
  for (const auto& row : rows)
    for (const auto& v : row) values.push_back(v.get<int64_t>());
  return at::tensor(values, at::kLong).view({static_cast<int64_t>(rows.size()), -1});
}

std::vector<PatchGrid> grids(const nlohmann::json& list) {
  std::vector<PatchGrid> out;
  for (const auto& g : list) out.push_back({g.at(0).get<int64_t>(), g.at(1).get<int64_t>(), g.at(2).get<int64_t>()});
  return out;
}

int forward(const std::string& model_dir, const nlohmann::json& request, const std::string& out_dir) {
  auto model = load_model(model_dir, ModelLoadOptions{});
  MultimodalBatch batch;
  batch.input_ids = matrix(request.at("input_ids"));
  batch.attention_mask = matrix(request.at("attention_mask"));
  if (request.contains("segments")) batch.segments = matrix(request.at("segments"));
  for (const auto& image : request.value("images", nlohmann::json::array())) {
    batch.pixel_values.push_back(testing::read_npy(image.at("pixels").get<std::string>()));
    if (image.contains("grid_thw")) batch.image_grid_thw.push_back(image.at("grid_thw").get<std::vector<int64_t>>());
    if (image.contains("image_size"))
      batch.image_sizes.emplace_back(image.at("image_size").at(0).get<int64_t>(), image.at("image_size").at(1).get<int64_t>());
  }
  at::NoGradGuard no_grad;
  PreparedInputs prepared = model->prepare(batch);
  at::Tensor logits = model->text->logits(model->text->forward(prepared.embeddings, prepared.text));
  ensure_directory(out_dir);
  testing::write_npy(path_join(out_dir, "logits.npy"), logits);
  testing::write_npy(path_join(out_dir, "positions.npy"), prepared.text.positions);
  testing::write_npy(path_join(out_dir, "image_mask.npy"), prepared.text.image_mask.to(at::kLong));
  if (prepared.rope_deltas.defined()) testing::write_npy(path_join(out_dir, "rope_deltas.npy"), prepared.rope_deltas);
  return 0;
}

int rope_index(const std::string& model_dir, const nlohmann::json& request, const std::string& out_dir) {
  hf::HfConfig config = hf::load_hf_config(model_dir);
  MropeTokens tokens;
  tokens.image_token_id = config.qwen_vl.image_token_id;
  tokens.video_token_id = config.qwen_vl.video_token_id;
  tokens.vision_start_token_id = config.qwen_vl.vision_start_token_id;
  tokens.spatial_merge_size = config.qwen_vision->spatial_merge_size;
  tokens.scale_video_time = config.model_type == hf::ModelType::kQwen2_5Vl;
  tokens.tokens_per_second = config.qwen_vision->tokens_per_second;
  VisualGrids visual;
  visual.images = grids(request.value("image_grid_thw", nlohmann::json::array()));
  visual.videos = grids(request.value("video_grid_thw", nlohmann::json::array()));
  visual.seconds_per_grid = request.value("second_per_grid_ts", std::vector<double>{});
  at::Tensor segments = request.contains("segments") ? matrix(request.at("segments")) : at::Tensor();
  MropeIndex index = mrope_position_ids(matrix(request.at("input_ids")), matrix(request.at("attention_mask")), segments,
                                        tokens, visual);
  ensure_directory(out_dir);
  testing::write_npy(path_join(out_dir, "positions.npy"), index.positions);
  testing::write_npy(path_join(out_dir, "rope_deltas.npy"), index.rope_deltas);
  return 0;
}

int make_variant(const std::string& name, const std::string& out_dir, uint64_t seed) {
  hf::HfConfig config;
  if (name == "llava_layers") {
    config = tiny_config("llava");
    config.llava.vision_feature_layers = {-3, -1};
    config.llava.vision_feature_layer_is_list = true;
    config.llava.vision_feature_select_strategy = "full";
    config.llava.image_seq_length = 17;
  } else if (name == "qwen2_vl") {
    config = tiny_config("qwen2_5_vl");
    config.model_type = hf::ModelType::kQwen2Vl;
    config.text.model_type = "qwen2_vl_text";
    hf::QwenVisionConfig vision = hf::qwen2_vl_default_vision();
    vision.depth = 2;
    vision.hidden_size = 64;
    vision.mlp_ratio = 2.0;
    vision.intermediate_size = 128;
    vision.num_heads = 4;
    vision.out_hidden_size = config.text.hidden_size;
    config.qwen_vision = vision;
  } else {
    fail("make-variant: unknown variant '{}' (llava_layers, qwen2_vl)", name);
  }
  config.source = "vlm_forward make-variant " + name;
  auto model = build_model(config, ModelLoadOptions{});
  init_random([&](const ParamVisitor& v) { model->visit(v); }, seed);
  save_model(*model, out_dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage =
      "usage: vlm_forward forward|rope-index MODEL_DIR REQUEST.json OUT_DIR\n"
      "       vlm_forward make-variant NAME OUT_DIR SEED\n";
  if (argc != 5) {
    std::fputs(usage.c_str(), stderr);
    return 2;
  }
  try {
    const std::string mode = argv[1];
    if (mode == "make-variant") return make_variant(argv[2], argv[3], std::stoull(argv[4]));
    nlohmann::json request = nlohmann::json::parse(std::ifstream(argv[3]));
    if (mode == "forward") return forward(argv[2], request, argv[4]);
    if (mode == "rope-index") return rope_index(argv[2], request, argv[4]);
    std::fputs(usage.c_str(), stderr);
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

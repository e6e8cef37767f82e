// Model::prepare for the VLMs: placeholder counts that do not match the images are errors naming the row and
// both counts; the feature count of each image equals what the image processor (data/image) says it inserts;
// rope_deltas continue the positions as decoding expects.
#include <ATen/ATen.h>

#include "data/image/image_processing.h"
#include "model/generation.h"
#include "model/model.h"
#include "model/random_init.h"
#include "model/tiny/make_tiny.h"
#include "model/vlm/vision_encoder.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

std::unique_ptr<Model> tiny_model(const std::string& arch) {
  auto model = build_model(tiny_config(arch), ModelLoadOptions{});
  init_random([&](const ParamVisitor& v) { model->visit(v); }, 17);
  return model;
}

// A row of `length` text tokens (ids 3, 4, ...) with `runs` of `id` inserted at the given offsets.
std::vector<int64_t> row_with(int64_t length, const std::vector<std::pair<int64_t, int64_t>>& runs, int64_t id) {
  std::vector<int64_t> row;
  for (int64_t i = 0; i < length; ++i) row.push_back(3 + i % 100);
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) row.insert(row.begin() + it->first, it->second, id);
  return row;
}

at::Tensor rows_tensor(const std::vector<std::vector<int64_t>>& rows) {
  size_t length = 0;
  for (const auto& r : rows) length = std::max(length, r.size());
  std::vector<int64_t> flat;
  for (auto r : rows) {
    r.resize(length, 0);
    flat.insert(flat.end(), r.begin(), r.end());
  }
  return at::tensor(flat, at::kLong).view({static_cast<int64_t>(rows.size()), static_cast<int64_t>(length)});
}

// A synthetic RGB image with a smooth gradient (any content will do; only its size matters here).
image::RgbImage gradient(int64_t width, int64_t height) {
  image::RgbImage img(width, height);
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) img.row(y)[x * 3 + c] = static_cast<uint8_t>((x * 7 + y * 3 + c * 50) % 256);
  return img;
}

TEST(VlmInputs, LlavaPlaceholderMismatchesNameTheRowAndBothCounts) {
  auto model = tiny_model("llava");
  const int64_t image = model->config.llava.image_token_index;
  at::Tensor pixels = at::randn({3, 56, 56});
  MultimodalBatch batch;
  batch.pixel_values = {pixels};
  batch.input_ids = rows_tensor({row_with(6, {{2, 15}}, image)});
  EXPECT_ERROR_CONTAINS(model->prepare(batch), "batch row 0", "15 <image> (id 500)", "image(s) 0..0 give 16");

  batch.pixel_values = {pixels, pixels, pixels};
  batch.input_ids = rows_tensor({row_with(6, {{2, 16}}, image), row_with(6, {{1, 16}, {3, 4}}, image)});
  EXPECT_ERROR_CONTAINS(model->prepare(batch), "batch row 1", "20 <image>", "image(s) 1..2 give 32");

  batch.input_ids = rows_tensor({row_with(6, {{2, 16}}, image), row_with(6, {{1, 16}}, image)});
  EXPECT_ERROR_CONTAINS(model->prepare(batch), "3 image(s)", "take only 2", "image 2 has no placeholders");

  batch.pixel_values = {};
  EXPECT_ERROR_CONTAINS(model->prepare(batch), "batch row 0", "16 <image>", "no image is left");
}

TEST(VlmInputs, QwenRunsMustMatchTheirGridsAndVideosAreRefused) {
  auto model = tiny_model("qwen2_5_vl");
  const auto& q = model->config.qwen_vl;
  auto image_item = [&](int64_t pads) {
    std::vector<int64_t> item = {q.vision_start_token_id};
    item.insert(item.end(), pads, q.image_token_id);
    item.push_back(q.vision_end_token_id);
    return item;
  };
  // Two images of 4 and 8 merged tokens whose runs hold 5 and 7 pads: the row total matches, the runs do not.
  std::vector<int64_t> row = {3, 4};
  for (int64_t pads : {5, 7}) {
    auto item = image_item(pads);
    row.insert(row.end(), item.begin(), item.end());
    row.push_back(9);
  }
  MultimodalBatch batch;
  batch.input_ids = rows_tensor({row});
  batch.image_grid_thw = {{1, 4, 4}, {1, 4, 8}};
  batch.pixel_values = {at::randn({16, 3 * 2 * 14 * 14}), at::randn({32, 3 * 2 * 14 * 14})};
  EXPECT_ERROR_CONTAINS(model->prepare(batch), "row 0", "image 0 has grid (1, 4, 4)", "needs 4 <|image_pad|>",
                        "has 5");

  batch.input_ids = rows_tensor({{3, q.vision_start_token_id, q.video_token_id, q.vision_end_token_id}});
  batch.pixel_values = {};
  batch.image_grid_thw = {};
  EXPECT_ERROR_CONTAINS(model->prepare(batch), "<|video_pad|>", "not supported");

  // A grid that the pixel rows do not match.
  auto item = image_item(4);
  batch.input_ids = rows_tensor({item});
  batch.image_grid_thw = {{1, 4, 4}};
  batch.pixel_values = {at::randn({12, 3 * 2 * 14 * 14})};
  EXPECT_ERROR_CONTAINS(model->prepare(batch), "image 0", "grid (1, 4, 4)", "expected 16 patch rows");
}

TEST(VlmInputs, LlavaNextFeatureCountsEqualTheProcessorsTokenCounts) {
  auto model = tiny_model("llava_next");
  const image::LlavaNextImageConfig processor = tiny_preprocessor_config("llava_next")->llava_next;
  const std::vector<std::pair<int64_t, int64_t>> sizes = {{40, 90}, {100, 60}, {70, 70}, {56, 56}, {30, 200},
                                                          {200, 31}, {57, 113}};
  MultimodalBatch batch;
  std::vector<int64_t> expected;
  for (auto [h, w] : sizes) {
    image::LlavaNextImage processed = image::preprocess_llava_next(gradient(w, h), processor);
    batch.pixel_values.push_back(processed.pixel_values);
    batch.image_sizes.emplace_back(processed.image_size.height, processed.image_size.width);
    expected.push_back(image::llava_next_num_image_tokens({h, w}, processor));
    EXPECT_EQ(processed.num_image_tokens, expected.back());
  }
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> features = model->vision->encode(batch);
  ASSERT_EQ(features.size(), sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i)
    EXPECT_EQ(features[i].size(0), expected[i]) << sizes[i].first << "x" << sizes[i].second;
}

TEST(VlmInputs, QwenFeatureCountsEqualTheProcessorsTokenCounts) {
  auto model = tiny_model("qwen2_5_vl");
  const image::Qwen2VlImageConfig processor = tiny_preprocessor_config("qwen2_5_vl")->qwen;
  MultimodalBatch batch;
  std::vector<int64_t> expected;
  for (auto [w, h] : std::vector<std::pair<int64_t, int64_t>>{{60, 40}, {300, 90}, {33, 400}, {500, 500}}) {
    image::Qwen2VlImage processed = image::preprocess_qwen2_vl(gradient(w, h), processor);
    batch.pixel_values.push_back(processed.pixel_values);
    batch.image_grid_thw.push_back({processed.grid_thw[0], processed.grid_thw[1], processed.grid_thw[2]});
    expected.push_back(processed.num_image_tokens);
  }
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> features = model->vision->encode(batch);
  ASSERT_EQ(features.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(features[i].size(0), expected[i]);
    EXPECT_EQ(features[i].size(1), model->config.text.hidden_size);
  }
}

TEST(VlmInputs, RopeDeltasContinueThePromptPositions) {
  auto model = tiny_model("qwen2_5_vl");
  const auto& q = model->config.qwen_vl;
  std::vector<int64_t> item = {q.vision_start_token_id};
  item.insert(item.end(), 6, q.image_token_id);  // grid (1, 4, 6): 2 x 3 merged tokens
  item.push_back(q.vision_end_token_id);
  std::vector<int64_t> with_image = {3, 4, 5};
  with_image.insert(with_image.end(), item.begin(), item.end());
  with_image.push_back(6);
  MultimodalBatch batch;
  // Row 1 left-padded text only.
  batch.input_ids = rows_tensor({with_image, {0, 0, 0, 0, 0, 3, 4, 5, 6, 7, 8, 9}});
  batch.attention_mask = rows_tensor({std::vector<int64_t>(12, 1), {0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1}});
  batch.image_grid_thw = {{1, 4, 6}};
  batch.pixel_values = {at::randn({24, 3 * 2 * 14 * 14})};
  at::NoGradGuard no_grad;
  PreparedInputs prepared = model->prepare(batch);
  // Row 0: text 0..2, vision_start 3, image at base 4 with h in 0..1 and w in 0..2 (largest 4 + 2 = 6),
  // vision_end 7, text 8: 9 positions used in 12 tokens.
  EXPECT_TRUE(at::equal(prepared.rope_deltas, at::tensor({9 - 12, 7 - 12}, at::kLong).view({2, 1})))
      << prepared.rope_deltas;
  at::Tensor next = next_positions(prepared.text.positions, batch.attention_mask);
  EXPECT_TRUE(at::equal(next, (12 + prepared.rope_deltas).unsqueeze(0).expand({3, 2, 1}))) << next;
  // Image mask: vision_start, the 6 pads and vision_end.
  at::Tensor expected_mask = at::zeros({2, 12}, at::kBool);
  expected_mask[0].narrow(0, 3, 8).fill_(true);
  EXPECT_TRUE(at::equal(prepared.text.image_mask, expected_mask));
}

TEST(VlmInputs, GradientsReachTheVisionTowerAndProjector) {
  // Training the projector (LLaVA stage 1) or the tower itself: the in-place shortcuts of the inference path must
  // step aside when autograd needs the values.
  for (const std::string arch : {"llava", "qwen2_5_vl"}) {
    SCOPED_TRACE(arch);
    auto model = tiny_model(arch);
    std::vector<std::pair<std::string, at::Tensor*>> trained;
    model->visit([&](ParamRef& ref) {
      if (ref.name.rfind("vision.", 0) == 0 || ref.name.rfind("projector.", 0) == 0) {
        ref.tensor->set_requires_grad(true);
        // LLaVA reads layer -2 of the 3-layer tiny tower: the last layer and post_layernorm take no part.
        if (ref.name.find("post_layernorm") == std::string::npos && ref.name.find("layers.2.") == std::string::npos)
          trained.emplace_back(ref.name, ref.tensor);
      }
    });
    MultimodalBatch batch;
    if (arch == "llava") {
      batch.input_ids = rows_tensor({row_with(4, {{1, 16}}, model->config.llava.image_token_index)});
      batch.pixel_values = {at::randn({3, 56, 56})};
    } else {
      const auto& q = model->config.qwen_vl;
      std::vector<int64_t> row = {3, q.vision_start_token_id, q.image_token_id, q.image_token_id, q.image_token_id,
                                  q.image_token_id, q.vision_end_token_id, 4};
      batch.input_ids = rows_tensor({row});
      batch.image_grid_thw = {{1, 4, 4}};
      batch.pixel_values = {at::randn({16, 3 * 2 * 14 * 14})};
    }
    PreparedInputs prepared = model->prepare(batch);
    model->text->logits(model->text->forward(prepared.embeddings, prepared.text)).square().mean().backward();
    for (const auto& [name, t] : trained) {
      ASSERT_TRUE(t->grad().defined()) << name;
      EXPECT_GT(t->grad().abs().sum().item<double>(), 0.0) << name;
    }
  }
}

TEST(VlmInputs, Bfloat16ModelsTrackFloat32) {
  // The same tiny checkpoint in bfloat16 (vision tower, projector / merger and language model converted tensor by
  // tensor on load) gives logits close to float32's: every op runs in the lower precision without falling over.
  const std::string root = testing::scratch_dir();
  at::manual_seed(8);
  for (const std::string arch : {"llava_next", "qwen2_5_vl"}) {
    SCOPED_TRACE(arch);
    const std::string dir = root + "/" + arch;
    make_tiny_model({arch, dir, 4});
    auto f32 = load_model(dir, ModelLoadOptions{});
    auto bf16 = load_model(dir, ModelLoadOptions{at::kBFloat16, "cpu"});
    MultimodalBatch batch;
    std::vector<int64_t> ids = {3, 4, 5};
    if (arch == "llava_next") {
      batch.pixel_values = {at::randn({3, 3, 56, 56})};  // a 56x112 image: 1x2 tiles + base
      batch.image_sizes = {{56, 112}};
      ids.insert(ids.end(), 16 + 4 * 9, f32->config.llava.image_token_index);  // base 16 + 4 rows of 8 + newline
    } else {
      batch.pixel_values = {at::randn({16, 3 * 2 * 14 * 14})};
      batch.image_grid_thw = {{1, 4, 4}};
      ids.push_back(f32->config.qwen_vl.vision_start_token_id);
      ids.insert(ids.end(), 4, f32->config.qwen_vl.image_token_id);
      ids.push_back(f32->config.qwen_vl.vision_end_token_id);
    }
    ids.push_back(6);
    batch.input_ids = at::tensor(ids, at::kLong).view({1, -1});
    at::NoGradGuard no_grad;
    auto logits = [&](Model& model) {
      PreparedInputs prepared = model.prepare(batch);
      return model.text->logits(model.text->forward(prepared.embeddings, prepared.text)).to(at::kFloat);
    };
    at::Tensor reference = logits(*f32), low = logits(*bf16);
    EXPECT_EQ(low.sizes(), reference.sizes());
    const double difference = (low - reference).abs().max().item<double>() / reference.abs().max().item<double>();
    EXPECT_LT(difference, 0.05);
  }
}

}  // namespace
}  // namespace mha2mla

// Packing: samples with images packed into one row (segments) give each sample the same logits and positions as
// running it alone. For Qwen2.5-VL this checks the M-RoPE positions restart in every packed sample (3-D, with
// the image grids taken in order across samples) and that attention stays inside each sample.
#include <ATen/ATen.h>

#include "model/model.h"
#include "model/random_init.h"
#include "model/tiny/make_tiny.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

struct Sample {
  std::vector<int64_t> ids;
  std::vector<at::Tensor> pixels;
  std::vector<std::vector<int64_t>> grids;
};

std::unique_ptr<Model> tiny_model(const std::string& arch) {
  auto model = build_model(tiny_config(arch), ModelLoadOptions{});
  init_random([&](const ParamVisitor& v) { model->visit(v); }, 23);
  return model;
}

// Text tokens, then for every grid: <|vision_start|>, its pads, <|vision_end|>, more text.
Sample qwen_sample(const hf::QwenVlFields& q, const std::vector<std::vector<int64_t>>& grids, int64_t first_text) {
  Sample s;
  for (int64_t i = 0; i < 3; ++i) s.ids.push_back(first_text + i);
  for (const auto& g : grids) {
    s.ids.push_back(q.vision_start_token_id);
    s.ids.insert(s.ids.end(), g[0] * g[1] * g[2] / 4, q.image_token_id);
    s.ids.push_back(q.vision_end_token_id);
    s.ids.push_back(first_text + 7);
    s.pixels.push_back(at::randn({g[0] * g[1] * g[2], 3 * 2 * 14 * 14}));
    s.grids.push_back(g);
  }
  return s;
}

Sample llava_sample(int64_t image_token, int images, int64_t first_text) {
  Sample s;
  for (int64_t i = 0; i < 4; ++i) s.ids.push_back(first_text + i);
  for (int i = 0; i < images; ++i) {
    s.ids.insert(s.ids.end(), 16, image_token);
    s.ids.push_back(first_text + 9);
    s.pixels.push_back(at::randn({3, 56, 56}));
  }
  return s;
}

// Runs the samples unpacked (one per row, right padding) and packed (one row, segments, trailing padding) and
// compares every sample's logits and positions.
void expect_packing_matches(Model& model, const std::vector<Sample>& samples) {
  at::NoGradGuard no_grad;
  size_t longest = 0, total = 0;
  for (const Sample& s : samples) {
    longest = std::max(longest, s.ids.size());
    total += s.ids.size();
  }
  MultimodalBatch unpacked, packed;
  std::vector<int64_t> ids, mask, packed_ids, packed_mask, segments;
  for (size_t k = 0; k < samples.size(); ++k) {
    const Sample& s = samples[k];
    for (size_t i = 0; i < longest; ++i) {
      ids.push_back(i < s.ids.size() ? s.ids[i] : 0);
      mask.push_back(i < s.ids.size());
    }
    packed_ids.insert(packed_ids.end(), s.ids.begin(), s.ids.end());
    packed_mask.insert(packed_mask.end(), s.ids.size(), 1);
    segments.insert(segments.end(), s.ids.size(), static_cast<int64_t>(k));
    for (const auto& p : s.pixels) unpacked.pixel_values.push_back(p);
    for (const auto& g : s.grids) unpacked.image_grid_thw.push_back(g);
  }
  // Two padding tokens at the end of the packed row, in the last sample's segment.
  packed_ids.insert(packed_ids.end(), {0, 0});
  packed_mask.insert(packed_mask.end(), {0, 0});
  segments.insert(segments.end(), 2, static_cast<int64_t>(samples.size() - 1));
  const auto B = static_cast<int64_t>(samples.size()), T = static_cast<int64_t>(longest);
  unpacked.input_ids = at::tensor(ids, at::kLong).view({B, T});
  unpacked.attention_mask = at::tensor(mask, at::kLong).view({B, T});
  packed.input_ids = at::tensor(packed_ids, at::kLong).view({1, -1});
  packed.attention_mask = at::tensor(packed_mask, at::kLong).view({1, -1});
  packed.segments = at::tensor(segments, at::kLong).view({1, -1});
  packed.pixel_values = unpacked.pixel_values;
  packed.image_grid_thw = unpacked.image_grid_thw;

  PreparedInputs a = model.prepare(unpacked), b = model.prepare(packed);
  at::Tensor logits_a = model.text->logits(model.text->forward(a.embeddings, a.text));
  at::Tensor logits_b = model.text->logits(model.text->forward(b.embeddings, b.text));
  const bool mrope = a.text.positions.dim() == 3;
  int64_t offset = 0;
  for (int64_t k = 0; k < B; ++k) {
    const auto n = static_cast<int64_t>(samples[static_cast<size_t>(k)].ids.size());
    at::Tensor alone = logits_a[k].narrow(0, 0, n), in_pack = logits_b[0].narrow(0, offset, n);
    const double difference = (alone - in_pack).abs().max().item<double>() / alone.abs().max().item<double>();
    EXPECT_LT(difference, 1e-5) << "sample " << k;
    at::Tensor positions_alone = mrope ? a.text.positions.select(1, k).narrow(-1, 0, n) : a.text.positions[k].narrow(0, 0, n);
    at::Tensor positions_packed = mrope ? b.text.positions.select(1, 0).narrow(-1, offset, n)
                                        : b.text.positions[0].narrow(0, offset, n);
    EXPECT_TRUE(at::equal(positions_alone, positions_packed)) << "sample " << k << "\n" << positions_alone << "\n"
                                                              << positions_packed;
    offset += n;
  }
  EXPECT_EQ(offset, static_cast<int64_t>(total));
}

TEST(VlmPacking, QwenPackedSamplesMatchUnpackedRuns) {
  auto model = tiny_model("qwen2_5_vl");
  const auto& q = model->config.qwen_vl;
  at::manual_seed(5);
  std::vector<Sample> samples = {qwen_sample(q, {{1, 4, 6}}, 10), qwen_sample(q, {{1, 4, 4}, {1, 6, 4}}, 40),
                                 qwen_sample(q, {}, 80), qwen_sample(q, {{1, 6, 6}}, 120)};
  expect_packing_matches(*model, samples);
}

TEST(VlmPacking, LlavaPackedSamplesMatchUnpackedRuns) {
  auto model = tiny_model("llava");
  at::manual_seed(6);
  const int64_t image = model->config.llava.image_token_index;
  expect_packing_matches(*model, {llava_sample(image, 1, 10), llava_sample(image, 0, 30), llava_sample(image, 2, 50)});
}

}  // namespace
}  // namespace mha2mla

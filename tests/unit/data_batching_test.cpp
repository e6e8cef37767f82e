// Batching: padding, first-fit packing with segment ids and per-sample positions (model/model.h's
// positions_per_segment against the closed form), sort windows, the batcher's saved state, truncation at image
// boundaries, image placeholders expanded to the processors' feature counts.
#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include "data/batching/batch_builder.h"
#include "data/batching/batcher.h"
#include "data/sample_processor.h"
#include "data/synthetic/image_encode.h"
#include "data/synthetic/shapes.h"
#include "model/model.h"
#include "tests/unit/data_test_support.h"

namespace mha2mla::data {
namespace {

// A sample of `length` tokens: ids seq*100 + t, the first token unsupervised, the rest supervised.
ProcessedSample sample(int64_t seq, int64_t length) {
  ProcessedSample s;
  s.id = "s" + std::to_string(seq);
  s.seq = seq;
  s.ref.index = seq;
  for (int64_t t = 0; t < length; ++t) {
    s.input_ids.push_back(static_cast<int32_t>(seq * 100 + t));
    s.labels.push_back(t == 0 ? kIgnoreLabel : static_cast<int32_t>(seq * 100 + t));
  }
  return s;
}

std::vector<std::vector<int64_t>> row_lengths(const PlannedBatch& batch) {
  std::vector<std::vector<int64_t>> rows;
  for (const Row& row : batch) {
    rows.emplace_back();
    for (const ProcessedSample& s : row) rows.back().push_back(s.length());
  }
  return rows;
}

TEST(Batching, PaddingPutsOneSamplePerRowAndPadsOnTheRight) {
  Batcher batcher({2, 16, false, 0, 0, 0});
  for (int64_t seq = 0; seq < 3; ++seq) batcher.add(sample(seq, std::vector<int64_t>{5, 3, 7}[seq]));
  ASSERT_TRUE(batcher.has_ready());
  Batch b = build_batch(batcher.take_ready(), /*pad_id=*/-7, false);
  EXPECT_FALSE(batcher.has_ready());
  EXPECT_FALSE(b.segments.defined());
  EXPECT_TRUE(at::equal(b.input_ids, at::tensor({0, 1, 2, 3, 4, 100, 101, 102, -7, -7}, at::kLong).view({2, 5})));
  EXPECT_TRUE(at::equal(b.labels, at::tensor({-100, 1, 2, 3, 4, -100, 101, 102, -100, -100}, at::kLong).view({2, 5})));
  EXPECT_TRUE(at::equal(b.attention_mask, at::tensor({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, at::kLong).view({2, 5})));
  EXPECT_EQ(b.tokens, 8);
  EXPECT_EQ(b.supervised_tokens, 6);
  batcher.flush();
  EXPECT_EQ(row_lengths(batcher.take_ready()), (std::vector<std::vector<int64_t>>{{7}}));
}

TEST(Batching, PackingIsFirstFitWithSegmentsAndPositionsRestartingPerSample) {
  // Rows of at most 10 tokens, 2 rows per batch. By hand: 6 -> row 0; 5 -> row 1; 3 -> row 0 (9); 4 -> row 1 (9);
  // 2 fits nowhere -> the batch is complete, 2 starts the next one; 7 joins it (9).
  Batcher batcher({2, 10, true, 0, 0, 0});
  const std::vector<int64_t> lengths = {6, 5, 3, 4, 2, 7};
  for (size_t i = 0; i < lengths.size(); ++i) batcher.add(sample(static_cast<int64_t>(i), lengths[i]));
  PlannedBatch first = batcher.take_ready();
  EXPECT_EQ(row_lengths(first), (std::vector<std::vector<int64_t>>{{6, 3}, {5, 4}}));
  EXPECT_FALSE(batcher.has_ready());
  batcher.flush();
  EXPECT_EQ(row_lengths(batcher.take_ready()), (std::vector<std::vector<int64_t>>{{2, 7}}));

  Batch b = build_batch(first, 0, true);
  ASSERT_TRUE(b.segments.defined());
  EXPECT_TRUE(at::equal(b.segments, at::tensor({0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1}, at::kLong).view({2, 9})));
  at::Tensor positions = positions_per_segment(b.attention_mask, b.segments, 2, 9, at::kCPU);
  EXPECT_TRUE(at::equal(positions, at::tensor({0, 1, 2, 3, 4, 5, 0, 1, 2, 0, 1, 2, 3, 4, 0, 1, 2, 3}, at::kLong).view({2, 9})))
      << positions;
  // No label at a sample's first token, so no prediction crosses from one packed sample into the next.
  for (const BatchSample& s : b.samples) EXPECT_EQ(b.labels[s.row][s.start].item<int64_t>(), kIgnoreLabel) << s.id;
}

TEST(Batching, PaddingAfterPackedSamplesContinuesTheLastSegment) {
  Batcher batcher({1, 12, true, 0, 0, 0});
  batcher.add(sample(0, 4));
  batcher.add(sample(1, 3));
  batcher.flush();
  PlannedBatch planned = batcher.take_ready();
  planned.push_back(Row{sample(2, 9)});  // a longer second row: the first gets padding
  Batch b = build_batch(planned, 0, true);
  EXPECT_TRUE(at::equal(b.segments[0], at::tensor({0, 0, 0, 0, 1, 1, 1, 1, 1}, at::kLong)));
  EXPECT_TRUE(at::equal(b.attention_mask[0], at::tensor({1, 1, 1, 1, 1, 1, 1, 0, 0}, at::kLong)));
}

TEST(Batching, SortWindowsGroupSimilarLengths) {
  Batcher batcher({2, 64, false, 4, 3, 0});
  const std::vector<int64_t> lengths = {5, 1, 4, 2, 9, 8, 7, 6};
  for (size_t i = 0; i < lengths.size(); ++i) batcher.add(sample(static_cast<int64_t>(i), lengths[i]));
  std::set<std::vector<std::vector<int64_t>>> batches;
  while (batcher.has_ready()) batches.insert(row_lengths(batcher.take_ready()));
  EXPECT_EQ(batches, (std::set<std::vector<std::vector<int64_t>>>{
                         {{1}, {2}}, {{4}, {5}}, {{6}, {7}}, {{8}, {9}}}));
}

TEST(Batching, TheSavedStateRebuildsTheSameBatcher) {
  BatchingOptions options{3, 20, true, 5, 11, 0};
  Batcher original(options);
  std::map<int64_t, ProcessedSample> by_seq;
  for (int64_t seq = 0; seq < 13; ++seq) {
    by_seq[seq] = sample(seq, 3 + (seq * 7) % 9);
    original.add(by_seq[seq]);
  }
  BatcherState state = original.state();
  Batcher restored(options);
  restored.restore(state, [&](const SampleKey& key) { return by_seq.at(key.seq); });
  for (int64_t seq = 13; seq < 30; ++seq) {
    by_seq[seq] = sample(seq, 3 + (seq * 7) % 9);
    original.add(by_seq[seq]);
    restored.add(by_seq[seq]);
  }
  original.flush();
  restored.flush();
  while (original.has_ready()) {
    ASSERT_TRUE(restored.has_ready());
    PlannedBatch a = original.take_ready(), b = restored.take_ready();
    ASSERT_EQ(a.size(), b.size());
    for (size_t r = 0; r < a.size(); ++r) {
      ASSERT_EQ(a[r].size(), b[r].size());
      for (size_t i = 0; i < a[r].size(); ++i) EXPECT_EQ(a[r][i].seq, b[r][i].seq);
    }
  }
  EXPECT_FALSE(restored.has_ready());
}

// A JSONL dataset with one hand-written record.
std::shared_ptr<const DatasetFiles> one_record_dataset(const std::string& dir, const nlohmann::json& record) {
  auto files = std::make_shared<DatasetFiles>();
  files->format = DatasetFormat::kMessagesJsonl;
  files->shards = {mha2mla::testing::write_text(path_join(dir, "d.jsonl"), record.dump() + "\n")};
  return files;
}

TEST(Truncation, NeverCutsThroughAnImage) {
  const std::string dir = mha2mla::testing::scratch_dir();
  Rng rng(3);
  for (int i = 0; i < 2; ++i)
    mha2mla::testing::write_text(path_join(dir, fmt::format("img{}.jpg", i)),
                                 encode_jpeg(render_scene(random_scene(rng, 64, 48))));
  nlohmann::json record = {
      {"messages",
       {{{"role", "user"}, {"content", "Hello there."}},
        {{"role", "assistant"}, {"content", "Hi."}},
        {{"role", "user"}, {"content", "<image>\n<image>\nWhat do you see?"}},
        {{"role", "assistant"}, {"content", "Shapes."}}}},
      {"images", {"img0.jpg", "img1.jpg"}}};
  auto tok = testing::tiny_tokenizer("qwen2");
  ModelDataSpec spec = testing::tiny_qwen_spec(*tok);
  auto conversation = std::make_shared<const ConversationTokenizer>(tok, ChatTemplateKind::kChatml, spec.image_tokens);
  auto files = one_record_dataset(dir, record);
  Record r = read_record_at(files->format, files->shards[0], RecordRef{});

  SampleProcessor full({files}, spec, conversation, {4096, false});
  ProcessedSample whole = full.process(r);
  ASSERT_EQ(whole.pixel_values.size(), 2u);
  // Where the second image's run starts: after the first run, its <|vision_end|>, and the "\n" between them.
  const int32_t start_id = spec.image_tokens.vision_start_id;
  std::vector<int64_t> starts;
  for (int64_t t = 0; t < whole.length(); ++t)
    if (whole.input_ids[t] == start_id) starts.push_back(t);
  ASSERT_EQ(starts.size(), 2u);

  SampleProcessor cut({files}, spec, conversation, {starts[1] + 3, false});  // inside the second image's tokens
  ProcessedSample truncated = cut.process(r);
  EXPECT_TRUE(truncated.truncated);
  EXPECT_EQ(truncated.length(), starts[1]);
  EXPECT_EQ(truncated.pixel_values.size(), 1u);
  EXPECT_EQ(truncated.image_grid_thw.size(), 1u);
  EXPECT_EQ(std::vector<int32_t>(whole.input_ids.begin(), whole.input_ids.begin() + starts[1]), truncated.input_ids);
  EXPECT_GT(truncated.supervised_tokens(), 0);  // "Hi.<|im_end|>" is still there

  SampleProcessor too_short({files}, spec, conversation, {8, false});  // not even the first answer fits
  EXPECT_THROW(too_short.process(r), BadSampleError);
}

TEST(ImagePlaceholders, ExpandToTheFeatureCountsOfEachFamily) {
  const std::string dir = mha2mla::testing::scratch_dir();
  DataConfig config = testing::one_dataset(testing::make_dataset(dir, "wds", 10, 0, 9, 10));
  config.batch_size = 4;
  {
    auto tok = testing::tiny_tokenizer("qwen2");
    ModelDataSpec spec = testing::tiny_qwen_spec(*tok);
    DataPipeline pipeline(config, spec, tok, {0, 1, 1, StreamSplit::kTrain, 1, ""});
    int64_t images = 0;
    for (const Batch& b : testing::read_all(pipeline)) {
      ASSERT_EQ(b.pixel_values.size(), b.image_grid_thw.size());
      size_t image = 0;
      for (const BatchSample& s : b.samples) {
        int64_t expected = 0;
        for (int64_t i = 0; i < s.images; ++i, ++image) {
          const auto& thw = b.image_grid_thw[image];
          EXPECT_EQ(b.pixel_values[image].size(0), thw[0] * thw[1] * thw[2]);
          EXPECT_EQ(b.pixel_values[image].size(1), 3 * 2 * 14 * 14);
          expected += thw[0] * thw[1] * thw[2] / 4;  // merge 2 x 2
        }
        at::Tensor ids = b.input_ids[s.row].narrow(0, s.start, s.length);
        EXPECT_EQ((ids == spec.image_tokens.image_token_id).sum().item<int64_t>(), expected) << s.id;
        EXPECT_EQ((ids == spec.image_tokens.vision_start_id).sum().item<int64_t>(), s.images) << s.id;
        images += s.images;
      }
    }
    EXPECT_GE(images, 10);
  }
  {
    auto tok = testing::tiny_tokenizer("llava");
    ModelDataSpec spec = testing::tiny_llava_spec(*tok);
    DataPipeline pipeline(config, spec, tok, {0, 1, 1, StreamSplit::kTrain, 1, ""});
    for (const Batch& b : testing::read_all(pipeline)) {
      EXPECT_TRUE(b.image_grid_thw.empty());
      for (const at::Tensor& p : b.pixel_values) EXPECT_EQ(p.sizes(), at::IntArrayRef({3, 28, 28}));
      for (const BatchSample& s : b.samples) {
        at::Tensor ids = b.input_ids[s.row].narrow(0, s.start, s.length);
        EXPECT_EQ((ids == spec.image_tokens.image_token_id).sum().item<int64_t>(), 4 * s.images) << s.id;
      }
    }
  }
}

}  // namespace
}  // namespace mha2mla::data

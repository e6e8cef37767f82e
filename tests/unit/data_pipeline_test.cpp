// The pipeline end to end on make-data output: ranks partition the data, a run interrupted anywhere and resumed
// from its cursor gives bitwise the batches of an uninterrupted run (background threads on), the output does
// not depend on the number of workers, held-out records stay out of training, datasets mix by weight.
#include <ATen/ATen.h>

#include <set>

#include <nlohmann/json.hpp>

#include "tests/unit/data_test_support.h"

namespace mha2mla::data {
namespace {

using testing::make_dataset;
using testing::one_dataset;
using testing::read_all;

std::shared_ptr<const tokenizer::Tokenizer> llava_tokenizer() { return testing::tiny_tokenizer("llava"); }
ModelDataSpec llava_spec() { return testing::tiny_llava_spec(*llava_tokenizer()); }

std::multiset<std::string> ids_of(const std::vector<Batch>& batches) {
  std::multiset<std::string> ids;
  for (const Batch& b : batches)
    for (const BatchSample& s : b.samples) ids.insert(s.id);
  return ids;
}

std::set<std::string> good_ids(int n) {
  std::set<std::string> ids;
  for (int i = 0; i < n; ++i) ids.insert(fmt::format("sample-{:06d}", i));
  return ids;
}

class RankSplit : public ::testing::TestWithParam<std::string> {};

TEST_P(RankSplit, TwoRanksSeeEverySampleExactlyOnce) {
  const std::string format = GetParam();
  const std::string dir = mha2mla::testing::scratch_dir();
  DataConfig config = one_dataset(make_dataset(dir, format, 37, 0, 11, 5));
  config.batch_size = 4;
  config.shuffle_buffer = 8;
  config.workers = 2;
  std::vector<std::multiset<std::string>> per_rank;
  for (int64_t rank = 0; rank < 2; ++rank) {
    PipelineOptions options;
    options.rank = rank;
    options.world = 2;
    options.seed = 5;
    options.max_epochs = 1;
    DataPipeline pipeline(config, llava_spec(), llava_tokenizer(), options);
    per_rank.push_back(ids_of(read_all(pipeline)));
    EXPECT_GT(per_rank.back().size(), 10u) << "rank " << rank << " got too small a share";
  }
  std::multiset<std::string> all = per_rank[0];
  all.insert(per_rank[1].begin(), per_rank[1].end());
  const std::set<std::string> expected = good_ids(37);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()), expected) << "union";
  EXPECT_EQ(all.size(), expected.size()) << "a sample was seen twice (the ranks overlap)";
}

INSTANTIATE_TEST_SUITE_P(Formats, RankSplit, ::testing::Values("llava_json", "sharegpt_jsonl", "messages_jsonl", "wds"));

TEST(RankSplit, FewerShardsThanRanksFallsBackToRecords) {
  const std::string dir = mha2mla::testing::scratch_dir();
  DataConfig config = one_dataset(make_dataset(dir, "wds", 9, 0, 3, 100));  // one shard, three ranks
  std::multiset<std::string> all;
  for (int64_t rank = 0; rank < 3; ++rank) {
    DataPipeline pipeline(config, llava_spec(), llava_tokenizer(), {rank, 3, 1, StreamSplit::kTrain, 1, ""});
    std::multiset<std::string> mine = ids_of(read_all(pipeline));
    EXPECT_EQ(mine.size(), 3u) << "rank " << rank;
    all.insert(mine.begin(), mine.end());
  }
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()), good_ids(9));
  EXPECT_EQ(all.size(), 9u);
}

void expect_same_batch(const Batch& a, const Batch& b, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(a.index, b.index);
  EXPECT_TRUE(at::equal(a.input_ids, b.input_ids));
  EXPECT_TRUE(at::equal(a.labels, b.labels));
  EXPECT_TRUE(at::equal(a.attention_mask, b.attention_mask));
  EXPECT_EQ(a.segments.defined(), b.segments.defined());
  if (a.segments.defined() && b.segments.defined()) {
    EXPECT_TRUE(at::equal(a.segments, b.segments));
  }
  ASSERT_EQ(a.pixel_values.size(), b.pixel_values.size());
  for (size_t i = 0; i < a.pixel_values.size(); ++i) EXPECT_TRUE(at::equal(a.pixel_values[i], b.pixel_values[i])) << i;
  EXPECT_EQ(a.image_grid_thw, b.image_grid_thw);
  EXPECT_EQ(a.image_sizes, b.image_sizes);
  ASSERT_EQ(a.samples.size(), b.samples.size());
  for (size_t i = 0; i < a.samples.size(); ++i) {
    EXPECT_EQ(a.samples[i].id, b.samples[i].id);
    EXPECT_EQ(a.samples[i].row, b.samples[i].row);
    EXPECT_EQ(a.samples[i].start, b.samples[i].start);
  }
  EXPECT_EQ(a.cursor, b.cursor);
}

// Two datasets mixed 2:1 (a JSON list and WebDataset shards), bad records, shuffling, a sort window, packing,
// several epochs; interrupted after various batches and resumed from the cursor.
class Resume : public ::testing::TestWithParam<bool> {};

TEST_P(Resume, ResumedRunsGiveTheUninterruptedBatchesBitForBit) {
  const bool packing = GetParam();
  const std::string dir = mha2mla::testing::scratch_dir();
  DataConfig config = one_dataset(make_dataset(path_join(dir, "a"), "llava_json", 14, 1, 21));
  config.datasets.push_back(one_dataset(make_dataset(path_join(dir, "b"), "wds", 9, 1, 22, 4)).datasets[0]);
  config.datasets[0].weight = 2;
  config.batch_size = 3;
  config.shuffle_buffer = 6;
  config.sort_window = 5;
  config.packing = packing;
  config.max_length = packing ? 400 : 512;
  config.workers = 2;
  config.prefetch = 3;
  const int kBatches = 22;  // several epochs of both datasets
  PipelineOptions options;
  options.seed = 99;

  std::vector<Batch> reference;
  {
    DataPipeline pipeline(config, llava_spec(), llava_tokenizer(), options);
    reference = read_all(pipeline, kBatches);
  }
  ASSERT_EQ(static_cast<int>(reference.size()), kBatches);
  EXPECT_GE(reference.back().epoch, 2) << "the run should cross epochs";
  if (packing) {
    bool packed = false;
    for (const Batch& b : reference) packed = packed || b.samples.size() > static_cast<size_t>(b.rows());
    EXPECT_TRUE(packed) << "no row holds two samples";
  }

  // The same run without background threads gives the same batches.
  {
    DataConfig serial = config;
    serial.workers = 0;
    DataPipeline pipeline(serial, llava_spec(), llava_tokenizer(), options);
    std::vector<Batch> again = read_all(pipeline, kBatches);
    for (int i = 0; i < kBatches; ++i) expect_same_batch(reference[i], again[i], fmt::format("serial batch {}", i));
  }

  for (int stop : {1, 2, 7, 12, 19}) {
    PipelineOptions resumed = options;
    resumed.cursor = reference[stop - 1].cursor;
    DataPipeline pipeline(config, llava_spec(), llava_tokenizer(), resumed);
    EXPECT_EQ(pipeline.start_cursor(), reference[stop - 1].cursor);
    std::vector<Batch> rest = read_all(pipeline, kBatches - stop);
    ASSERT_EQ(static_cast<int>(rest.size()), kBatches - stop);
    for (int i = stop; i < kBatches; ++i)
      expect_same_batch(reference[i], rest[i - stop], fmt::format("resumed after {}, batch {}", stop, i));
  }
}

INSTANTIATE_TEST_SUITE_P(Batching, Resume, ::testing::Values(false, true));

TEST(Resume, ACursorOfAnotherWorldSizeContinuesFromItsPositions) {
  const std::string dir = mha2mla::testing::scratch_dir();
  DataConfig config = one_dataset(make_dataset(dir, "sharegpt_jsonl", 40, 0, 5));
  config.batch_size = 2;
  config.shuffle_buffer = 0;
  DataPipeline two(config, llava_spec(), llava_tokenizer(), {0, 2, 3, StreamSplit::kTrain, 1, ""});
  std::vector<Batch> first = read_all(two, 4);  // rank 0 of 2 has read 8 of its 20 records
  DataPipeline one(config, llava_spec(), llava_tokenizer(), {0, 1, 3, StreamSplit::kTrain, 1, first.back().cursor});
  std::multiset<std::string> rest = ids_of(read_all(one));
  // Without shuffling rank 0 of 2 read the records at file positions 0, 2, ..., 14; the one rank continues with
  // positions 16..39.
  std::vector<std::string> file_order;
  auto reader = open_shard_reader(DatasetFormat::kSharegptJsonl, config.datasets[0].path);
  Record r;
  while (reader->next(r, true)) file_order.push_back(nlohmann::json::parse(r.text)["id"].get<std::string>());
  ASSERT_EQ(file_order.size(), 40u);
  EXPECT_EQ(std::set<std::string>(rest.begin(), rest.end()),
            std::set<std::string>(file_order.begin() + 16, file_order.end()));
  EXPECT_EQ(one.counters().records, 8 + 24);
}

TEST(Resume, RefusesCursorsThatDoNotFit) {
  const std::string dir = mha2mla::testing::scratch_dir();
  DataConfig config = one_dataset(make_dataset(dir, "sharegpt_jsonl", 12, 0, 5));
  DataPipeline pipeline(config, llava_spec(), llava_tokenizer(), {0, 2, 3, StreamSplit::kTrain, 0, ""});
  const std::string cursor = pipeline.next()->cursor;
  EXPECT_ERROR_CONTAINS(DataPipeline(config, llava_spec(), llava_tokenizer(), {1, 2, 3, StreamSplit::kTrain, 0, cursor}),
                        "belongs to rank 0, this is rank 1");
  EXPECT_ERROR_CONTAINS(DataPipeline(config, llava_spec(), llava_tokenizer(), {0, 2, 4, StreamSplit::kTrain, 0, cursor}),
                        "written with seed 3, this run has seed 4");
  DataConfig other = one_dataset(make_dataset(path_join(dir, "other"), "sharegpt_jsonl", 12, 0, 5));
  EXPECT_ERROR_CONTAINS(DataPipeline(other, llava_spec(), llava_tokenizer(), {0, 2, 3, StreamSplit::kTrain, 0, cursor}),
                        "written for other datasets");
  EXPECT_ERROR_CONTAINS(DataPipeline(config, llava_spec(), llava_tokenizer(), {0, 2, 3, StreamSplit::kTrain, 0, "{}"}),
                        "data cursor", "not a data cursor");
}

TEST(HeldOut, TheFirstRecordsAreKeptOutOfTraining) {
  const std::string dir = mha2mla::testing::scratch_dir();
  DataConfig config = one_dataset(make_dataset(dir, "wds", 20, 0, 8, 3));
  config.held_out = 7;  // spans three shards of 3
  std::vector<std::string> order;  // the records in file order
  for (const char* shard : {"shard-000000.tar", "shard-000001.tar", "shard-000002.tar"}) {
    auto reader = open_shard_reader(DatasetFormat::kWebDataset, path_join(dir, shard));
    Record r;
    while (reader->next(r, true)) order.push_back(r.key);
  }
  std::set<std::string> held(order.begin(), order.begin() + 7);
  DataPipeline eval(config, llava_spec(), llava_tokenizer(), {0, 1, 1, StreamSplit::kHeldOut, 0, ""});
  std::multiset<std::string> eval_ids = ids_of(read_all(eval));
  EXPECT_EQ(std::set<std::string>(eval_ids.begin(), eval_ids.end()), held);
  DataPipeline train(config, llava_spec(), llava_tokenizer(), {0, 1, 1, StreamSplit::kTrain, 2, ""});
  std::multiset<std::string> train_ids = ids_of(read_all(train));
  EXPECT_EQ(train_ids.size(), 2u * 13u);  // two epochs of the other 13
  for (const std::string& id : held) EXPECT_EQ(train_ids.count(id), 0u) << id;
}

TEST(Mixing, DatasetsAreDrawnInProportionToTheirWeights) {
  const std::string dir = mha2mla::testing::scratch_dir();
  DataConfig config = one_dataset(make_dataset(path_join(dir, "a"), "sharegpt_jsonl", 10, 0, 1));
  config.datasets.push_back(one_dataset(make_dataset(path_join(dir, "b"), "messages_jsonl", 10, 0, 2)).datasets[0]);
  config.datasets[0].weight = 3;
  config.batch_size = 8;
  DataPipeline pipeline(config, llava_spec(), llava_tokenizer(), {0, 1, 17, StreamSplit::kTrain, 0, ""});
  int64_t from_first = 0, total = 0;
  for (const Batch& b : read_all(pipeline, 100))
    for (const BatchSample& s : b.samples) {
      from_first += s.ref.dataset == 0;
      ++total;
    }
  const double share = static_cast<double>(from_first) / static_cast<double>(total);
  EXPECT_NEAR(share, 0.75, 0.05) << from_first << " of " << total;  // 800 draws: 3.5 standard deviations
}

}  // namespace
}  // namespace mha2mla::data

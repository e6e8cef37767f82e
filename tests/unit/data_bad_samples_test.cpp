// Bad input: every kind make-data writes is skipped, counted under its reason and logged with the file and line
// (or the tar member's byte offset) where it is; data.max_bad_fraction stops the run with the counts per reason.
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "common/strings.h"
#include "data/readers/shard_reader.h"
#include "tests/unit/data_test_support.h"

namespace mha2mla::data {
namespace {

using testing::make_dataset;
using testing::one_dataset;
using testing::read_all;

// Collects what spdlog's default logger prints while alive.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_)) {
    sink_->set_pattern("%v");
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  std::string text() const { return stream_.str(); }

 private:
  std::ostringstream stream_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

// The 1-based line where the record with `id` starts (the line holding its "id" for JSONL, its '{' for a list).
int64_t line_of(const std::string& file, const std::string& id) {
  const std::string text = read_file(file);
  size_t at = text.find("\"" + id + "\"");
  EXPECT_NE(at, std::string::npos) << id;
  if (ends_with(file, ".json")) at = text.rfind('{', at);
  return 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
}

const std::map<std::string, std::string> kExpectedMessage = {
    {"missing_image", "image 'images/missing-bad-missing_image-0.jpg' not found"},
    {"corrupt_image", "bad-corrupt_image-0.jpg"},
    {"malformed_json", "parse error"},
    {"unknown_role", "has role 'narrator'"},
    {"placeholder_mismatch", "2 <image> placeholder(s) for 1 image(s)"},
    {"empty_conversation", "the conversation has no messages"},
    {"too_long", "above data.max_length = 512 (truncation = drop)"},
};

class BadSamples : public ::testing::TestWithParam<std::string> {};

TEST_P(BadSamples, EachKindIsSkippedCountedAndLoggedWhereItIs) {
  const std::string format = GetParam();
  const std::string dir = mha2mla::testing::scratch_dir();
  DataConfig config = one_dataset(make_dataset(dir, format, 10, 1, 4, 5));
  config.truncation = "drop";
  config.max_length = 512;
  config.max_bad_fraction = 0.9;
  config.log_bad_samples = 5;
  auto tok = testing::tiny_tokenizer("llava");
  LogCapture log;
  DataPipeline pipeline(config, testing::tiny_llava_spec(*tok), tok, {0, 1, 2, StreamSplit::kTrain, 1, ""});
  std::vector<Batch> batches = read_all(pipeline);
  const DataCounters counters = pipeline.counters();
  const std::vector<std::string> kinds = bad_kinds_for(format);
  EXPECT_EQ(counters.samples, 10);
  EXPECT_EQ(counters.records, 10 + static_cast<int64_t>(kinds.size()));
  for (size_t r = 0; r < kBadReasonCount; ++r) {
    const std::string reason = bad_reason_name(static_cast<BadReason>(r));
    const bool expected = std::find(kinds.begin(), kinds.end(), reason) != kinds.end();
    EXPECT_EQ(counters.bad[r], expected ? 1 : 0) << reason;
  }
  for (const Batch& b : batches)
    for (const BatchSample& s : b.samples) EXPECT_EQ(s.id.rfind("sample-", 0), 0u) << s.id << " was not skipped";

  const std::string text = log.text();
  for (const std::string& kind : kinds) {
    SCOPED_TRACE(kind);
    const std::string id = "bad-" + kind + "-0";
    std::string where;
    if (format == "wds") {
      // The logged byte offset is the tar header of the record's first member.
      size_t at = text.find("skipped a sample (" + kind + ") at ");
      ASSERT_NE(at, std::string::npos) << text;
      size_t start = at + std::string("skipped a sample (" + kind + ") at ").size();
      where = text.substr(start, text.find(':', text.find('@', start)) - start);
      const std::string shard = where.substr(0, where.find('@'));
      const int64_t offset = std::stoll(where.substr(where.find('@') + 1));
      EXPECT_EQ(read_file(shard).substr(offset, id.size()), id) << where;
    } else {
      where = fmt::format("{}:{}", config.datasets[0].path, line_of(config.datasets[0].path, id));
    }
    EXPECT_NE(text.find("skipped a sample (" + kind + ") at " + where + ": "), std::string::npos) << text;
    const std::string line = text.substr(text.find("skipped a sample (" + kind + ")"));
    EXPECT_NE(line.substr(0, line.find('\n')).find(kExpectedMessage.at(kind)), std::string::npos) << line;
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, BadSamples, ::testing::Values("llava_json", "sharegpt_jsonl", "messages_jsonl", "wds"));

TEST(BadSamples, LoggingStopsAfterTheFirstFewOfAReason) {
  const std::string dir = mha2mla::testing::scratch_dir();
  DataConfig config = one_dataset(make_dataset(dir, "sharegpt_jsonl", 40, 4, 4));
  config.log_bad_samples = 2;
  config.max_bad_fraction = 0.9;
  auto tok = testing::tiny_tokenizer("llava");
  LogCapture log;
  DataPipeline pipeline(config, testing::tiny_llava_spec(*tok), tok, {0, 1, 2, StreamSplit::kTrain, 1, ""});
  read_all(pipeline);
  EXPECT_EQ(pipeline.counters().bad[static_cast<size_t>(BadReason::kUnknownRole)], 4);
  const std::string text = log.text();
  size_t logged = 0;
  for (size_t at = text.find("(unknown_role) at"); at != std::string::npos; at = text.find("(unknown_role) at", at + 1))
    ++logged;
  EXPECT_EQ(logged, 2u);
  EXPECT_NE(text.find("further 'unknown_role' samples are counted but not logged"), std::string::npos);
}

TEST(BadSamples, TooManyStopTheRunWithTheCountsPerReason) {
  const std::string dir = mha2mla::testing::scratch_dir();
  DataConfig config = one_dataset(make_dataset(dir, "llava_json", 10, 4, 4));  // 28 bad of 38
  config.max_bad_fraction = 0.2;  // allows 20 (0.2 of at least 100 records)
  config.workers = 2;
  auto tok = testing::tiny_tokenizer("llava");
  DataPipeline pipeline(config, testing::tiny_llava_spec(*tok), tok, {0, 1, 2, StreamSplit::kTrain, 0, ""});
  EXPECT_ERROR_CONTAINS(read_all(pipeline), "data: 21 of", "records on rank 0 are unusable",
                        "above data.max_bad_fraction = 0.2", "malformed_json", "unknown_role", "missing_image",
                        "fix or filter the dataset");
}

TEST(BadSamples, ImagesForATextOnlyModelAreCountedAndADatasetWithoutUsableSamplesStops) {
  const std::string dir = mha2mla::testing::scratch_dir();
  DataConfig config = one_dataset(make_dataset(dir, "wds", 12, 0, 4, 4));
  config.max_bad_fraction = 0.99;
  auto tok = testing::tiny_tokenizer("llava");
  ModelDataSpec text_only;  // VisionFamily::kNone
  text_only.model_type = "llama";
  config.chat_template = "vicuna_v1";
  DataPipeline pipeline(config, text_only, tok, {0, 1, 2, StreamSplit::kTrain, 0, ""});
  EXPECT_ERROR_CONTAINS(read_all(pipeline), "data: 100 of 100 records", "images_unsupported 100");
}

TEST(BadSamples, AnEndlessRunOfBadRecordsStopsEvenWhenEveryFractionIsAllowed) {
  const std::string dir = mha2mla::testing::scratch_dir();
  DataConfig config = one_dataset(make_dataset(dir, "sharegpt_jsonl", 6, 0, 4));
  config.max_bad_fraction = 1.0;
  config.workers = 0;
  config.chat_template = "vicuna_v1";
  ModelDataSpec text_only;
  text_only.model_type = "llama";
  DataPipeline pipeline(config, text_only, testing::tiny_tokenizer("llava"), {0, 1, 2, StreamSplit::kTrain, 0, ""});
  EXPECT_ERROR_CONTAINS(read_all(pipeline), "the last 10000 records on rank 0 were all unusable", "images_unsupported 10000");
}

}  // namespace
}  // namespace mha2mla::data

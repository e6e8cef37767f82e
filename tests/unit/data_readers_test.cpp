// Dataset readers: every format read back from make-data output, positions that point at the records they name,
// seeking to a saved position, and the JSON list scanner on hand-written edge cases.
#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "data/bad_sample.h"
#include "data/readers/dataset_files.h"
#include "data/readers/sample_parser.h"
#include "data/readers/shard_reader.h"
#include "tests/unit/data_test_support.h"

namespace mha2mla::data {
namespace {

using testing::make_dataset;
using testing::one_dataset;

std::string testing_write(const std::string& dir, const std::string& name, const std::string& text) {
  return mha2mla::testing::write_text(path_join(dir, name), text);
}

struct ReadBack {
  std::vector<Record> records;
  std::vector<std::string> good_ids;
  std::map<std::string, BadReason> bad;
};

ReadBack read_everything(const DatasetFiles& files) {
  ReadBack out;
  for (size_t s = 0; s < files.shards.size(); ++s) {
    auto reader = open_shard_reader(files.format, files.shards[s]);
    Record r;
    while (reader->next(r, true)) {
      r.ref.shard = static_cast<int32_t>(s);
      out.records.push_back(r);
      try {
        ParsedSample p = parse_record(files.format, r, files.shards[s], files.image_root_for(static_cast<int32_t>(s)));
        out.good_ids.push_back(p.id);
      } catch (const BadSampleError& e) {
        out.bad[r.key.empty() ? std::to_string(r.ref.offset) : r.key] = e.reason();
      }
    }
  }
  return out;
}

class ReaderRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(ReaderRoundTrip, ReadsEveryRecordMakeDataWrote) {
  const std::string format = GetParam();
  const std::string dir = mha2mla::testing::scratch_dir();
  const std::string path = make_dataset(dir, format, 30, 1);
  nlohmann::json manifest = nlohmann::json::parse(read_file(path_join(dir, "manifest.json")));
  DatasetFiles files = resolve_dataset(one_dataset(path).datasets[0], 0);
  EXPECT_EQ(format_name(files.format), format) << "format auto-detection";
  ReadBack back = read_everything(files);
  EXPECT_EQ(static_cast<int64_t>(back.records.size()), manifest["records"].get<int64_t>());

  // Good ids: exactly sample-000000 .. sample-000029; the only records that parse but are bad are the ones the
  // parser cannot see as bad (images are checked later) plus too_long.
  std::set<std::string> good(back.good_ids.begin(), back.good_ids.end());
  for (int i = 0; i < 30; ++i) EXPECT_TRUE(good.count(fmt::format("sample-{:06d}", i))) << i;
  std::set<std::string> parsed_bad_kinds;
  for (const std::string& id : back.good_ids)
    if (id.rfind("bad-", 0) == 0) parsed_bad_kinds.insert(id.substr(4, id.rfind('-') - 4));
  std::set<std::string> expected_parsed = {"corrupt_image", "too_long"};
  if (format != "wds") expected_parsed.insert("missing_image");
  EXPECT_EQ(parsed_bad_kinds, expected_parsed);
  // The rest fail in the parser, each with its reason.
  std::multiset<BadReason> reasons;
  for (const auto& [where, reason] : back.bad) reasons.insert(reason);
  EXPECT_EQ(reasons, (std::multiset<BadReason>{BadReason::kMalformedJson, BadReason::kUnknownRole,
                                               BadReason::kPlaceholderMismatch, BadReason::kEmptyConversation}));

  // Every position reads back the same record.
  for (const Record& r : back.records) {
    Record again = read_record_at(files.format, files.shards[r.ref.shard], r.ref);
    EXPECT_EQ(again.text, r.text);
    EXPECT_EQ(again.key, r.key);
    ASSERT_EQ(again.members.size(), r.members.size());
    for (size_t m = 0; m < r.members.size(); ++m) EXPECT_EQ(again.members[m].bytes, r.members[m].bytes);
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, ReaderRoundTrip,
                         ::testing::Values("llava_json", "sharegpt_jsonl", "messages_jsonl", "wds"));

TEST(JsonListReader, PositionsPointAtTheElementAndItsLine) {
  const std::string dir = mha2mla::testing::scratch_dir();
  const std::string path = make_dataset(dir, "llava_json", 12);
  const std::string text = read_file(path);
  auto reader = open_shard_reader(DatasetFormat::kLlavaJson, path);
  Record r;
  int n = 0;
  while (reader->next(r, true)) {
    ++n;
    ASSERT_LT(static_cast<size_t>(r.ref.offset), text.size());
    EXPECT_EQ(text.substr(r.ref.offset, r.text.size()), r.text);
    EXPECT_EQ(text[r.ref.offset], '{');
    EXPECT_EQ(1 + std::count(text.begin(), text.begin() + r.ref.offset, '\n'), r.ref.line);
    EXPECT_NO_THROW(nlohmann::json::parse(r.text));
  }
  EXPECT_EQ(n, 12);
}

TEST(JsonListReader, DelimitsStringsScalarsAndBrokenLists) {
  const std::string dir = mha2mla::testing::scratch_dir();
  // A BOM, brackets and escaped quotes inside strings, a scalar element, a missing comma, an unclosed list.
  const std::string text = "\xEF\xBB\xBF  [ {\"a\": \"]}[{\\\"\"},\n 17 ,\"x,]\"\n{\"b\": [1, {\"c\": 2}]} {\"d\": 3}";
  const std::string path = testing_write(dir, "edge.json", text);
  auto reader = open_shard_reader(DatasetFormat::kLlavaJson, path);
  std::vector<std::string> elements;
  Record r;
  while (reader->next(r, true)) elements.push_back(r.text);
  EXPECT_EQ(elements, (std::vector<std::string>{"{\"a\": \"]}[{\\\"\"}", "17", "\"x,]\"", "{\"b\": [1, {\"c\": 2}]}",
                                                "{\"d\": 3}"}));
}

TEST(JsonListReader, RefusesAFileThatIsNotAList) {
  const std::string dir = mha2mla::testing::scratch_dir();
  const std::string path = testing_write(dir, "lines.json", "{\"id\": 1}\n{\"id\": 2}\n");
  auto reader = open_shard_reader(DatasetFormat::kLlavaJson, path);
  Record r;
  EXPECT_ERROR_CONTAINS(reader->next(r, true), "lines.json", "line 1", "must be one JSON list", "sharegpt_jsonl");
}

TEST(JsonlReader, SkipsBlankLinesAndCountsLines) {
  const std::string dir = mha2mla::testing::scratch_dir();
  const std::string path = testing_write(dir, "d.jsonl", "{\"a\":1}\n\n   \n{\"a\":2}\r\n{\"a\":3}");
  auto reader = open_shard_reader(DatasetFormat::kSharegptJsonl, path);
  std::vector<std::pair<int64_t, std::string>> seen;
  Record r;
  while (reader->next(r, true)) seen.emplace_back(r.ref.line, r.text);
  EXPECT_EQ(seen, (std::vector<std::pair<int64_t, std::string>>{{1, "{\"a\":1}"}, {4, "{\"a\":2}\r"}, {5, "{\"a\":3}"}}));
}

TEST(TarReader, RejectsAHeaderWithABadChecksum) {
  const std::string dir = mha2mla::testing::scratch_dir();
  std::string block(1024, '\0');
  block.replace(0, 8, "x.json\0\0", 8);
  block.replace(124, 12, "00000000001\0", 12);
  block.replace(148, 8, "0000000\0", 8);
  const std::string path = testing_write(dir, "bad.tar", block);
  auto reader = open_shard_reader(DatasetFormat::kWebDataset, path);
  Record r;
  EXPECT_ERROR_CONTAINS(reader->next(r, true), "bad.tar", "byte 0", "bad checksum");
}

TEST(DatasetFiles, ResolvesGlobsFoldersAndFormats) {
  const std::string dir = mha2mla::testing::scratch_dir();
  make_dataset(path_join(dir, "wds"), "wds", 20, 0, 7, 6);
  DatasetFiles folder = resolve_dataset(one_dataset(path_join(dir, "wds")).datasets[0], 0);
  DatasetFiles glob = resolve_dataset(one_dataset(path_join(dir, "wds/shard-*.tar")).datasets[0], 0);
  EXPECT_EQ(folder.shards.size(), 4u);  // 20 records, 6 per shard
  EXPECT_EQ(folder.shards, glob.shards);
  EXPECT_TRUE(std::is_sorted(folder.shards.begin(), folder.shards.end()));
  EXPECT_ERROR_CONTAINS(resolve_dataset(one_dataset(path_join(dir, "nothing/*.tar")).datasets[0], 3),
                        "data.datasets[3].path", "matches no dataset files");
  EXPECT_ERROR_CONTAINS(resolve_dataset(one_dataset(path_join(dir, "wds"), "llava_json").datasets[0], 0),
                        "does not fit format llava_json");
}

}  // namespace
}  // namespace mha2mla::data

// `mha2mla make-data`: a synthetic image-text SFT dataset on disk, in one of the reader formats, with real JPEG
// and PNG files (shapes.h: coloured shapes, questions with exact answers; some samples multi-turn, some with
// two images), plus deliberately bad records on request. Deterministic from the seed.
//
// Layout: llava_json -> OUT/data.json (an indented JSON list) + OUT/images/; sharegpt_jsonl -> OUT/data.jsonl
// + OUT/images/; messages_jsonl -> OUT/data.jsonl (messages layout) + OUT/images/; wds -> OUT/shard-NNNNNN.tar
// (members <key>.json and <key>.jpg|png, or <key>.0.jpg, <key>.1.png for two images). OUT/manifest.json lists
// the counts, files and the ids of the bad records by kind.
//
// Tasks: `mixed` (the default) varies the conversation shapes; `vqa` is single-image, single-turn visual question
// answering with short exact answers (the demo's task; data.held_out keeps the file's first records apart).
//
// Bad kinds (K of each with --bad K), ids "bad-<kind>-<k>": missing_image (not for wds: a shard holds its
// images), corrupt_image (a truncated JPEG, or bytes that are no image), malformed_json, unknown_role,
// placeholder_mismatch (two <image> for one image), empty_conversation, too_long (an answer of ~1500 words;
// bad only with data.truncation = drop and a max_length below its length).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mha2mla::data {

struct MakeDataOptions {
  std::string format = "llava_json";  // llava_json | sharegpt_jsonl | messages_jsonl | wds
  std::string out;
  int64_t samples = 100;              // good samples
  int64_t bad = 0;                    // bad records of each kind
  uint64_t seed = 1234;
  int64_t shard_size = 64;            // wds: records per shard
  int64_t min_side = 96, max_side = 160;  // image width and height range, pixels
  // mixed: sentence answers, ~30% multi-turn, ~15% with two images (exercises every reader and template path);
  // vqa: one image and one question per sample, answered by a single word or phrase (short_answer_vocabulary()),
  // scored by exact match: the task of the built-in demo.
  std::string task = "mixed";
  int max_shapes = 4;                     // shapes per image: 1..max_shapes (at most 9, one per grid cell)
  std::vector<std::string> questions;     // vqa: the question kinds asked (question_kinds()); empty: all
};

struct MakeDataReport {
  int64_t records = 0;
  std::vector<std::string> files;                            // dataset files, relative to out
  std::map<std::string, std::vector<std::string>> bad_ids;   // kind -> ids
};

const std::vector<std::string>& make_data_formats();
const std::vector<std::string>& make_data_tasks();  // mixed, vqa
// The bad kinds make-data writes for `format`.
std::vector<std::string> bad_kinds_for(const std::string& format);

MakeDataReport make_synthetic_dataset(const MakeDataOptions& options);

}  // namespace mha2mla::data

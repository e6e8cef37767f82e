// Sequential readers over one dataset file ("shard"), one record at a time, resumable at a saved position:
//
//   llava_json      one big JSON list; a streaming scanner finds each top-level element by tracking brackets
//                   and strings (never holding more than one element), the element's text is the record.
//   *_jsonl         one JSON document per line (empty lines skipped).
//   wds             a tar file (ustar, GNU long names, pax path records); consecutive members sharing a key
//                   (the path up to the first '.' of its file name) form one record.
//
// Records are only delimited here; parsing happens in the workers (sample_parser.h), so a record that is not
// valid JSON is still returned, and turns into a counted bad sample there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "data/record.h"

namespace mha2mla::data {

// Where the next record of a shard starts: the byte offset, its line (1-based; JSON formats), and for
// llava_json whether the scanner is already inside the top-level list.
struct ShardPosition {
  int64_t offset = 0;
  int64_t line = 1;
  bool in_list = false;
};

class ShardReader {
 public:
  virtual ~ShardReader() = default;

  // Reads the next record: sets record.ref.offset/line, and with `keep` the text (and key/members for wds);
  // without it the record is only skipped over (another rank's). Returns false at the end of the shard.
  // Throws Error (naming the file and offset) when the file cannot be delimited at all (a JSON file that is
  // not a list, a tar header with a bad checksum).
  virtual bool next(Record& record, bool keep) = 0;

  // The position after the last record read (a resume point).
  virtual ShardPosition position() const = 0;
};

// `buffer_bytes`: the read size (large for streaming; read_record_at uses a small one for random access).
std::unique_ptr<ShardReader> open_shard_reader(DatasetFormat format, const std::string& path,
                                               const ShardPosition& start = {}, size_t buffer_bytes = size_t{1} << 20);

// Reads the one record at `ref` (its offset and line) from `path`, with its content (64 KiB reads).
Record read_record_at(DatasetFormat format, const std::string& path, const RecordRef& ref);

}  // namespace mha2mla::data

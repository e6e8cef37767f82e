// A record as a reader yields it, before any parsing: the raw JSON text of one sample (and, for WebDataset,
// the bytes of its other members), with the position it was read from. A position is enough to read the same
// record again (RecordRef), which is how a resumed run refills its shuffle buffer and batcher.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mha2mla::data {

enum class DatasetFormat { kLlavaJson, kSharegptJsonl, kMessagesJsonl, kWebDataset };

const char* format_name(DatasetFormat format);  // the recipe spelling: "llava_json", "wds", ...

// Where a record lives. `offset` is the byte offset of the record's first byte in its shard (a JSON list
// element's first character, a JSONL line's first byte, a tar member's header); `line` is 1-based (JSON
// formats; 0 for tar). `index` counts the dataset's records in the epoch's shard order, held-out ones included.
struct RecordRef {
  int32_t dataset = 0;  // index into data.datasets
  int32_t shard = 0;    // index into the dataset's sorted file list
  int64_t offset = 0;
  int64_t line = 0;
  int64_t epoch = 0;
  int64_t index = 0;

  bool operator==(const RecordRef& o) const {
    return dataset == o.dataset && shard == o.shard && offset == o.offset && line == o.line && epoch == o.epoch &&
           index == o.index;
  }
};

// One WebDataset member of a sample: its extension after the key ("jpg", "0.png", "json") and bytes.
struct TarMember {
  std::string extension;
  std::string bytes;
};

struct Record {
  RecordRef ref;
  std::string text;                // the JSON text (llava_json element, JSONL line, or the .json member)
  std::string key;                 // WebDataset sample key ("" for JSON formats)
  std::vector<TarMember> members;  // WebDataset members other than the .json one, in tar order
  int64_t seq = -1;                // this rank's stream position (assigned by the planner)
};

}  // namespace mha2mla::data

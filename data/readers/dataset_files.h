// A configured dataset resolved to files: `path` may be one file, a glob ("shards/train-*.tar"), or a folder
// (its *.tar files, else its *.jsonl / *.json files). The files are sorted by name; each is a "shard".
// format "auto": .tar -> wds; otherwise the first non-blank character decides, '[' -> llava_json, '{' -> a
// JSONL whose first record has "messages" -> messages_jsonl, else sharegpt_jsonl.
#pragma once

#include <string>
#include <vector>

#include "data/data_config.h"
#include "data/record.h"

namespace mha2mla::data {

struct DatasetFiles {
  std::string spec;                 // data.datasets[i].path as configured
  DatasetFormat format = DatasetFormat::kLlavaJson;
  std::vector<std::string> shards;  // sorted
  std::string image_root;           // "" = each shard's own folder
  double weight = 1.0;

  // The folder relative image paths of `shard`'s records resolve against.
  std::string image_root_for(int32_t shard) const;
};

// Throws Error naming data.datasets[index].path when nothing matches or the format cannot be told.
DatasetFiles resolve_dataset(const DatasetConfig& config, size_t index);

DatasetFormat parse_format(const std::string& name, const std::string& where);

}  // namespace mha2mla::data

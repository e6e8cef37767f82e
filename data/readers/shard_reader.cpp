#include "data/readers/shard_reader.h"

#include "common/error.h"

namespace mha2mla::data {

std::unique_ptr<ShardReader> make_json_list_reader(const std::string& path, const ShardPosition& start, size_t buffer);
std::unique_ptr<ShardReader> make_jsonl_reader(const std::string& path, const ShardPosition& start, size_t buffer);
std::unique_ptr<ShardReader> make_tar_reader(const std::string& path, const ShardPosition& start, size_t buffer);

const char* format_name(DatasetFormat format) {
  switch (format) {
    case DatasetFormat::kLlavaJson: return "llava_json";
    case DatasetFormat::kSharegptJsonl: return "sharegpt_jsonl";
    case DatasetFormat::kMessagesJsonl: return "messages_jsonl";
    case DatasetFormat::kWebDataset: return "wds";
  }
  return "?";
}

std::unique_ptr<ShardReader> open_shard_reader(DatasetFormat format, const std::string& path,
                                               const ShardPosition& start, size_t buffer_bytes) {
  switch (format) {
    case DatasetFormat::kLlavaJson: return make_json_list_reader(path, start, buffer_bytes);
    case DatasetFormat::kSharegptJsonl:
    case DatasetFormat::kMessagesJsonl: return make_jsonl_reader(path, start, buffer_bytes);
    case DatasetFormat::kWebDataset: return make_tar_reader(path, start, buffer_bytes);
  }
  MHA2MLA_CHECK(false, "unknown dataset format {}", static_cast<int>(format));
}

Record read_record_at(DatasetFormat format, const std::string& path, const RecordRef& ref) {
  // A list element's offset is its first character, so the scanner resumes already inside the list.
  auto reader = open_shard_reader(format, path, {ref.offset, ref.line, format == DatasetFormat::kLlavaJson}, 64 << 10);
  Record record;
  if (!reader->next(record, true) || record.ref.offset != ref.offset)
    fail_with_hint("resume with the dataset files the checkpoint was written with",
                   "{}: no record starts at byte {} (line {}) any more; the dataset changed since the checkpoint",
                   path, ref.offset, ref.line);
  record.ref = ref;
  return record;
}

}  // namespace mha2mla::data

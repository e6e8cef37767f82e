// Test-only: reads datasets with mha2mla's readers and sample parser and prints one JSON line per record, in
// file order, for tests/python/test_data_readers.py to compare with Python's json and tarfile modules.
//
//   data_dump DATASET[=FORMAT] ...      FORMAT defaults to auto
//
// Each line: {"dataset" (argument index, from 0), "shard", "offset", "line", "key", "id",
//             "messages": [[role, content], ...],
//             "images": [{"name", "bytes", "fnv1a64", "width", "height"}], "bad": reason, "error": message}
// ("bad"/"error" only for records the parser or the image decoder refuses; fnv1a64 as a hex string).
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "data/bad_sample.h"
#include "data/image/image_decode.h"
#include "data/readers/dataset_files.h"
#include "data/readers/sample_parser.h"
#include "data/readers/shard_reader.h"

namespace {

using namespace mha2mla;
using namespace mha2mla::data;

std::string fnv1a64(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return fmt::format("{:016x}", h);
}

// One dataset's records as JSON lines, tagged with `index`.
void dump_dataset(const std::string& spec, int index) {
  DatasetConfig config;
  const size_t eq = spec.find('=');
  config.path = spec.substr(0, eq);
  config.format = eq == std::string::npos ? "auto" : spec.substr(eq + 1);
  DatasetFiles files = resolve_dataset(config, 0);
  for (size_t s = 0; s < files.shards.size(); ++s) {
    auto reader = open_shard_reader(files.format, files.shards[s]);
    Record record;
    while (reader->next(record, true)) {
      nlohmann::json out = {{"dataset", index}, {"shard", s},           {"offset", record.ref.offset},
                            {"line", record.ref.line}, {"key", record.key}};
      try {
        ParsedSample p = parse_record(files.format, record, files.shards[s], files.image_root_for(static_cast<int32_t>(s)));
        out["id"] = p.id;
        out["messages"] = nlohmann::json::array();
        for (const Message& m : p.messages) out["messages"].push_back({role_name(m.role), m.content});
        out["images"] = nlohmann::json::array();
        for (const ImageSource& image : p.images) {
          std::string bytes = image.in_record ? image.bytes : read_file(image.path);
          image::RgbImage decoded = image::decode_image(bytes, image.name);
          out["images"].push_back({{"name", image.name},
                                   {"bytes", bytes.size()},
                                   {"fnv1a64", fnv1a64(bytes)},
                                   {"width", decoded.width},
                                   {"height", decoded.height}});
        }
      } catch (const BadSampleError& e) {
        out["bad"] = bad_reason_name(e.reason());
        out["error"] = e.what();
      } catch (const Error& e) {
        out["bad"] = "image";
        out["error"] = e.what();
      }
      std::cout << out.dump() << "\n";
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: data_dump DATASET[=FORMAT] ...\n";
    return 2;
  }
  try {
    for (int arg = 1; arg < argc; ++arg) dump_dataset(argv[arg], arg - 1);
  } catch (const std::exception& e) {
    std::cerr << "data_dump: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

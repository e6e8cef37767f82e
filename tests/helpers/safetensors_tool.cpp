// Test helper driven by tests/python/test_safetensors.py: exposes the safetensors reader, writer and
// LibTorch bridge to the Python oracle, which writes inputs and checks outputs with its own code.
//
//   safetensors_tool check <checkpoint>
//       opens every file, prints {"tensors": {name: {"dtype", "shape", "file"}}, "unlisted": [...],
//       "metadata": {...}} as JSON; on a malformed input prints "error: <message>" to stderr, exits 1
//   safetensors_tool copy <checkpoint> <out-folder> [--max-shard-bytes N] [--through-torch]
//       re-saves every tensor with the writer (sharded past N bytes); --through-torch converts each one
//       to an at::Tensor and back (FP8 -> F32, U16 -> I32, U32/U64 -> I64; F4/F6 are copied as they are)
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "model/io/safetensors_checkpoint.h"
#include "model/io/safetensors_writer.h"
#include "model/io/tensor_io.h"

namespace {

using namespace mha2mla;
using namespace mha2mla::io;

int check(const std::string& path) {
  SafetensorsCheckpoint checkpoint(path);
  checkpoint.check_all();
  nlohmann::json out;
  out["tensors"] = nlohmann::json::object();
  for (const auto& name : checkpoint.names()) {
    TensorInfo info = checkpoint.info(name);
    out["tensors"][name] = {{"dtype", std::string(dtype_name(info.dtype))},
                            {"shape", info.shape},
                            {"file", checkpoint.file_of(name)}};
  }
  out["unlisted"] = checkpoint.unlisted_tensors();
  out["metadata"] = checkpoint.metadata();
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

int copy(const std::string& path, const std::string& folder, uint64_t max_shard_bytes, bool through_torch) {
  SafetensorsCheckpoint checkpoint(path);
  SafetensorsWriter writer;
  for (const auto& [key, value] : checkpoint.metadata()) writer.set_metadata(key, value);
  for (const auto& name : checkpoint.names()) {
    TensorView view = checkpoint.view(name);
    if (through_torch && !is_sub_byte(view.info.dtype)) {
      add_tensor(writer, name, to_tensor(view));
    } else {
      writer.add(name, view);
    }
  }
  writer.write_sharded(folder, max_shard_bytes);
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: safetensors_tool check <checkpoint>\n"
               "       safetensors_tool copy <checkpoint> <out-folder> [--max-shard-bytes N] [--through-torch]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  std::string command = argv[1];
  try {
    if (command == "check" && argc == 3) return check(argv[2]);
    if (command == "copy" && argc >= 4) {
      uint64_t max_shard_bytes = uint64_t{1} << 62;
      bool through_torch = false;
      for (int i = 4; i < argc; ++i) {
        std::string option = argv[i];
        if (option == "--through-torch") {
          through_torch = true;
        } else if (option == "--max-shard-bytes" && i + 1 < argc) {
          max_shard_bytes = std::strtoull(argv[++i], nullptr, 10);
        } else {
          return usage();
        }
      }
      return copy(argv[2], argv[3], max_shard_bytes, through_torch);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return usage();
}

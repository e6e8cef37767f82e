// libFuzzer target: any byte string handed to the safetensors reader either parses into a header whose
// tensors tile the data buffer inside the input, or is refused with mha2mla::Error. Anything else (a
// crash, a sanitizer report, another exception type, a header breaking the invariants) is a bug.
#include <cstdint>
#include <cstdlib>
#include <cstdio>

#include "common/error.h"
#include "model/io/safetensors.h"

namespace {

[[noreturn]] void invariant_broken(const char* what) {
  std::fprintf(stderr, "safetensors_fuzzer: accepted header breaks an invariant: %s\n", what);
  std::abort();
}

void check_accepted(const mha2mla::io::SafetensorsHeader& header, const uint8_t* data, size_t size) {
  if (header.data_start + header.data_bytes != size) invariant_broken("data buffer does not end the input");
  uint64_t covered = 0;
  volatile uint8_t sink = 0;
  for (const auto& tensor : header.tensors) {
    if (tensor.begin != covered) invariant_broken("tensors do not tile the data buffer");
    if (tensor.end > header.data_bytes) invariant_broken("tensor past the data buffer");
    auto bytes = mha2mla::io::tensor_bytes(tensor.dtype, tensor.shape);
    if (!bytes || *bytes != tensor.nbytes()) invariant_broken("byte count does not match dtype and shape");
    // Read every byte of the tensor: AddressSanitizer reports any read outside the input.
    for (uint64_t i = tensor.begin; i < tensor.end; ++i) sink = sink ^ data[header.data_start + i];
    covered = tensor.end;
  }
  if (covered != header.data_bytes) invariant_broken("bytes after the last tensor");
  (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto header = mha2mla::io::parse_safetensors(data, size, "fuzz-input");
    check_accepted(header, data, size);
  } catch (const mha2mla::Error&) {
    // refused: the expected outcome for almost every input
  }
  return 0;
}

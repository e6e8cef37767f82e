// The SentencePiece shim module: libsentencepiece behind a C interface (see sentencepiece_shim.h for why).
#include "data/tokenizer/sentencepiece_shim.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <sentencepiece_processor.h>

namespace {

char* copy_out(const std::string& text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out) {
    std::memcpy(out, text.data(), text.size());
    out[text.size()] = '\0';
  }
  return out;
}

const sentencepiece::SentencePieceProcessor& processor(const void* handle) {
  return *static_cast<const sentencepiece::SentencePieceProcessor*>(handle);
}

}  // namespace

extern "C" {

void* mha2mla_spm_load(const char* path, char** error) {
  try {
    auto* p = new sentencepiece::SentencePieceProcessor();
    auto status = p->Load(path);
    if (!status.ok()) {
      *error = copy_out(status.ToString());
      delete p;
      return nullptr;
    }
    return p;
  } catch (const std::exception& e) {
    *error = copy_out(e.what());
    return nullptr;
  }
}

void mha2mla_spm_free(void* handle) { delete static_cast<sentencepiece::SentencePieceProcessor*>(handle); }

int mha2mla_spm_piece_size(const void* handle) { return processor(handle).GetPieceSize(); }

int mha2mla_spm_piece_to_id(const void* handle, const char* piece, size_t length) {
  return processor(handle).PieceToId(std::string_view(piece, length));
}

const char* mha2mla_spm_id_to_piece(const void* handle, int id, size_t* length) {
  const std::string& piece = processor(handle).IdToPiece(id);
  *length = piece.size();
  return piece.data();
}

int mha2mla_spm_is_control(const void* handle, int id) { return processor(handle).IsControl(id) ? 1 : 0; }

int mha2mla_spm_role_id(const void* handle, int which) {
  const auto& p = processor(handle);
  switch (which) {
    case 0: return p.bos_id();
    case 1: return p.eos_id();
    case 2: return p.pad_id();
    case 3: return p.unk_id();
    default: return -1;
  }
}

int mha2mla_spm_encode(const void* handle, const char* text, size_t length, int** ids, size_t* count, char** error) {
  try {
    std::vector<int> out;
    auto status = processor(handle).Encode(std::string_view(text, length), &out);
    if (!status.ok()) {
      *error = copy_out(status.ToString());
      return 1;
    }
    *count = out.size();
    *ids = static_cast<int*>(std::malloc(sizeof(int) * (out.empty() ? 1 : out.size())));
    if (!out.empty()) std::memcpy(*ids, out.data(), sizeof(int) * out.size());
    return 0;
  } catch (const std::exception& e) {
    *error = copy_out(e.what());
    return 1;
  }
}

int mha2mla_spm_decode(const void* handle, const int* ids, size_t count, char** text, size_t* length, char** error) {
  try {
    std::string out;
    auto status = processor(handle).Decode(std::vector<int>(ids, ids + count), &out);
    if (!status.ok()) {
      *error = copy_out(status.ToString());
      return 1;
    }
    *length = out.size();
    *text = copy_out(out);
    return 0;
  } catch (const std::exception& e) {
    *error = copy_out(e.what());
    return 1;
  }
}

}  // extern "C"

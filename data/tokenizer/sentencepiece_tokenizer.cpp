#include "data/tokenizer/sentencepiece_tokenizer.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "common/error.h"
#include "common/files.h"
#include "data/tokenizer/sentencepiece_shim.h"
#include "data/tokenizer/unicode.h"

namespace mha2mla::tokenizer {

// The shim's functions, resolved once per process.
struct SentencePieceModule {
  decltype(&mha2mla_spm_load) load = nullptr;
  decltype(&mha2mla_spm_free) free_handle = nullptr;
  decltype(&mha2mla_spm_piece_size) piece_size = nullptr;
  decltype(&mha2mla_spm_piece_to_id) piece_to_id = nullptr;
  decltype(&mha2mla_spm_id_to_piece) id_to_piece = nullptr;
  decltype(&mha2mla_spm_is_control) is_control = nullptr;
  decltype(&mha2mla_spm_role_id) role_id = nullptr;
  decltype(&mha2mla_spm_encode) encode = nullptr;
  decltype(&mha2mla_spm_decode) decode = nullptr;
};

namespace {

constexpr const char* kShimName = "libmha2mla_sentencepiece.so";

std::vector<std::string> shim_candidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("MHA2MLA_SENTENCEPIECE_SHIM"); env && *env) out.push_back(env);
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = '\0';
    out.push_back(path_join(parent_directory(exe), kShimName));
  }
#ifdef MHA2MLA_SENTENCEPIECE_SHIM_PATH
  out.push_back(MHA2MLA_SENTENCEPIECE_SHIM_PATH);
#endif
  return out;
}

template <typename F>
void resolve(void* library, const char* name, F& slot, const std::string& path) {
  slot = reinterpret_cast<F>(dlsym(library, name));
  if (slot == nullptr) fail("{}: symbol {} is missing", path, name);
}

// Loaded once; never closed (the processors it creates may live until exit).
const SentencePieceModule& load_module() {
  static std::once_flag once;
  static SentencePieceModule module;
  static std::string failure;
  std::call_once(once, [] {
    std::vector<std::string> tried;
    for (const auto& path : shim_candidates()) {
      if (!file_exists(path)) {
        tried.push_back(path + " (absent)");
        continue;
      }
      // RTLD_DEEPBIND: the shim and libsentencepiece bind to their own protobuf copy, not the process's.
      void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (library == nullptr) {
        tried.push_back(path + " (" + dlerror() + ")");
        continue;
      }
      try {
        resolve(library, "mha2mla_spm_load", module.load, path);
        resolve(library, "mha2mla_spm_free", module.free_handle, path);
        resolve(library, "mha2mla_spm_piece_size", module.piece_size, path);
        resolve(library, "mha2mla_spm_piece_to_id", module.piece_to_id, path);
        resolve(library, "mha2mla_spm_id_to_piece", module.id_to_piece, path);
        resolve(library, "mha2mla_spm_is_control", module.is_control, path);
        resolve(library, "mha2mla_spm_role_id", module.role_id, path);
        resolve(library, "mha2mla_spm_encode", module.encode, path);
        resolve(library, "mha2mla_spm_decode", module.decode, path);
        return;
      } catch (const Error& e) {
        tried.push_back(e.what());
        module = SentencePieceModule{};
      }
    }
    std::string list;
    for (const auto& t : tried) list += "\n  " + t;
    failure = "the SentencePiece module " + std::string(kShimName) + " could not be loaded; tried:" + list;
  });
  if (!failure.empty())
    fail_with_hint("build the target mha2mla_sentencepiece (it is built with the project) or point "
                   "MHA2MLA_SENTENCEPIECE_SHIM at it",
                   "{}", failure);
  return module;
}

std::string take_error(char* error) {
  std::string text = error ? error : "unknown error";
  std::free(error);
  return text;
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_path) : path_(model_path) {
  if (!file_exists(model_path)) fail("{}: file not found", model_path);
  module_ = &load_module();
  char* error = nullptr;
  handle_ = module_->load(model_path.c_str(), &error);
  if (handle_ == nullptr) fail("{}: not a SentencePiece model: {}", model_path, take_error(error));
  piece_count_ = module_->piece_size(handle_);
  added_ = std::make_unique<AddedVocabulary>(std::vector<AddedToken>{}, nullptr);
}

SentencePieceTokenizer::~SentencePieceTokenizer() {
  if (handle_) module_->free_handle(handle_);
}

void SentencePieceTokenizer::add_tokens(const std::vector<AddedToken>& new_tokens) {
  std::vector<AddedToken> tokens = added_->tokens();
  int32_t next_id = static_cast<int32_t>(id_limit());
  for (AddedToken token : new_tokens) {
    if (token.content.empty()) continue;
    int32_t known = token_to_id(token.content);
    token.id = known >= 0 ? known : token.id >= 0 ? token.id : next_id;
    next_id = std::max(next_id, token.id + 1);
    tokens.erase(std::remove_if(tokens.begin(), tokens.end(),
                                [&](const AddedToken& t) { return t.id == token.id || t.content == token.content; }),
                 tokens.end());
    tokens.push_back(token);
  }
  std::sort(tokens.begin(), tokens.end(), [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  added_ = std::make_unique<AddedVocabulary>(std::move(tokens), nullptr);
}

std::vector<int32_t> SentencePieceTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> ids;
  const int bos = module_->role_id(handle_, 0), eos = module_->role_id(handle_, 1);
  if (add_special_tokens && add_bos_ && bos >= 0) ids.push_back(bos);
  for (const auto& piece : added_->extract_and_normalize(to_valid_utf8(text), nullptr)) {
    if (piece.added_token_id >= 0) {
      ids.push_back(piece.added_token_id);
      continue;
    }
    int* piece_ids = nullptr;
    size_t count = 0;
    char* error = nullptr;
    if (module_->encode(handle_, piece.text.data(), piece.text.size(), &piece_ids, &count, &error) != 0)
      fail("{}: SentencePiece could not encode the text: {}", path_, take_error(error));
    ids.insert(ids.end(), piece_ids, piece_ids + count);
    std::free(piece_ids);
  }
  if (add_special_tokens && add_eos_ && eos >= 0) ids.push_back(eos);
  return ids;
}

std::string SentencePieceTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string out;
  std::vector<int> run;  // consecutive SentencePiece ids, decoded together so that spaces come out right
  auto flush = [&] {
    if (run.empty()) return;
    char* text = nullptr;
    size_t length = 0;
    char* error = nullptr;
    if (module_->decode(handle_, run.data(), run.size(), &text, &length, &error) != 0)
      fail("{}: SentencePiece could not decode ids: {}", path_, take_error(error));
    out.append(text, length);
    std::free(text);
    run.clear();
  };
  for (int32_t id : ids) {
    if (const AddedToken* added = added_->find_by_id(id)) {
      flush();
      if (!(skip_special_tokens && added->special)) out += added->content;
    } else if (id >= 0 && id < piece_count_) {
      if (module_->is_control(handle_, id)) {
        flush();
        if (!skip_special_tokens) out += *id_to_token(id);
      } else {
        run.push_back(id);
      }
    }
  }
  flush();
  return out;
}

int32_t SentencePieceTokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* added = added_->find_by_content(token)) return added->id;
  int id = module_->piece_to_id(handle_, token.data(), token.size());
  if (id < 0 || id >= piece_count_) return -1;
  size_t length = 0;
  const char* piece = module_->id_to_piece(handle_, id, &length);
  return std::string_view(piece, length) == token ? id : -1;  // unknown pieces map to <unk>'s id
}

std::optional<std::string> SentencePieceTokenizer::id_to_token(int32_t id) const {
  if (const AddedToken* added = added_->find_by_id(id)) return added->content;
  if (id < 0 || id >= piece_count_) return std::nullopt;
  size_t length = 0;
  const char* piece = module_->id_to_piece(handle_, id, &length);
  return std::string(piece, length);
}

int64_t SentencePieceTokenizer::vocab_size() const {
  int64_t count = piece_count_;
  for (const auto& t : added_->tokens())
    if (t.id >= piece_count_) ++count;
  return count;
}

int64_t SentencePieceTokenizer::id_limit() const {
  int64_t limit = piece_count_;
  for (const auto& t : added_->tokens()) limit = std::max<int64_t>(limit, t.id + 1);
  return limit;
}

bool SentencePieceTokenizer::is_special(int32_t id) const {
  if (const AddedToken* added = added_->find_by_id(id)) return added->special;
  return id >= 0 && id < piece_count_ && module_->is_control(handle_, id);
}

std::string SentencePieceTokenizer::describe() const {
  return fmt::format("{} (SentencePiece), {} ids, {} added tokens", path_, vocab_size(), added_->tokens().size());
}

}  // namespace mha2mla::tokenizer

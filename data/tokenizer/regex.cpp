#include "data/tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>


#include "common/error.h"

namespace mha2mla::tokenizer {

// Match data is per call: PCRE2 match data must not be shared between threads, and tokenizers are used
// from several data workers at once. A thread-local block is reused across calls on the same thread.
struct Regex::Impl {
  pcre2_code* code = nullptr;
  bool jit = false;
};

namespace {
pcre2_match_data* thread_match_data() {
  struct Holder {
    pcre2_match_data* data = pcre2_match_data_create(4, nullptr);
    ~Holder() { pcre2_match_data_free(data); }
  };
  thread_local Holder holder;
  return holder.data;
}
}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where) : pattern_(pattern), impl_(new Impl) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error_code, &error_offset, nullptr);
  if (impl_->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    fail("{}: regular expression '{}' does not compile at offset {}: {}", where, pattern, error_offset,
         reinterpret_cast<const char*>(message));
  }
  impl_->jit = pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() {
  if (impl_ && impl_->code) pcre2_code_free(impl_->code);
}

bool Regex::next_match(std::string_view text, size_t start, size_t& begin, size_t& end) const {
  pcre2_match_data* data = thread_match_data();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  int rc = impl_->jit ? pcre2_jit_match(impl_->code, subject, text.size(), start, 0, data, nullptr)
                      : pcre2_match(impl_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, data, nullptr);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(rc, message, sizeof(message));
    fail("regular expression '{}' failed while matching: {}", pattern_, reinterpret_cast<const char*>(message));
  }
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
  begin = ovector[0];
  end = ovector[1];
  return true;
}

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> matches;
  for_each_match(text, [&](size_t b, size_t e) { matches.emplace_back(b, e); });
  return matches;
}

bool Regex::search(std::string_view text) const {
  size_t begin = 0, end = 0;
  return next_match(text, 0, begin, end);
}

}  // namespace mha2mla::tokenizer

// Errors users see. Every message names the file, key or tensor at fault, what was found and what was
// expected; an optional hint says what to do about it (printed as "---> HINT: ...").
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace mha2mla {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, std::string hint = {})
      : std::runtime_error(message), hint_(std::move(hint)) {}
  const std::string& hint() const { return hint_; }

 private:
  std::string hint_;
};

// Throws Error with a formatted message: fail("{}: expected {} but found {}", key, want, got).
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// Same, with a hint for the user.
template <typename... Args>
[[noreturn]] void fail_with_hint(std::string hint, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...), std::move(hint));
}

namespace detail {
[[noreturn]] void fail_internal_check(const char* file, int line, const char* condition,
                                      const std::string& message);
}  // namespace detail

}  // namespace mha2mla

// Internal invariant: a failure is a bug in mha2mla, so the message carries our source location.
#define MHA2MLA_CHECK(cond, ...)                                                                  \
  do {                                                                                            \
    if (!(cond))                                                                                  \
      ::mha2mla::detail::fail_internal_check(__FILE__, __LINE__, #cond, fmt::format(__VA_ARGS__)); \
  } while (0)

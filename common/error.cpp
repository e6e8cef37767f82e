#include "common/error.h"

namespace mha2mla::detail {

void fail_internal_check(const char* file, int line, const char* condition, const std::string& message) {
  throw Error(fmt::format("internal check failed: {} ({}) at {}:{}", message, condition, file, line),
              "this is a bug in mha2mla; please report it with the command line and recipe");
}

}  // namespace mha2mla::detail

#include "data/chat/conversation.h"

namespace mha2mla::data {

const char* role_name(Role role) {
  switch (role) {
    case Role::kSystem: return "system";
    case Role::kUser: return "user";
    case Role::kAssistant: return "assistant";
  }
  return "?";
}

size_t count_image_placeholders(std::string_view text) {
  size_t count = 0;
  for (size_t at = text.find(kImagePlaceholder); at != std::string_view::npos;
       at = text.find(kImagePlaceholder, at + kImagePlaceholder.size()))
    ++count;
  return count;
}

}  // namespace mha2mla::data

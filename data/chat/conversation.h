// A conversation as every reader normalises it: messages with a role and a text in which each image appears as
// the placeholder "<image>" (LLaVA's and LLaMA-Factory's convention), plus the images in placeholder order.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mha2mla::data {

constexpr std::string_view kImagePlaceholder = "<image>";

enum class Role { kSystem, kUser, kAssistant };
const char* role_name(Role role);

struct Message {
  Role role = Role::kUser;
  std::string content;
};

// Where an image comes from: a file (path resolved against the image root) or bytes read with the record
// (a WebDataset member). `name` is how messages refer to it ("img/0001.jpg", "shard-0003.tar:000017.jpg").
struct ImageSource {
  std::string name;
  std::string path;   // set for files
  std::string bytes;  // set for in-record images
  bool in_record = false;
};

struct ParsedSample {
  std::string id;
  std::vector<Message> messages;
  std::vector<ImageSource> images;
};

// Occurrences of "<image>" in `text`.
size_t count_image_placeholders(std::string_view text);

}  // namespace mha2mla::data

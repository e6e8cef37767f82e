#include "data/readers/sample_parser.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "data/bad_sample.h"

namespace mha2mla::data {

namespace {

using json = nlohmann::json;

[[noreturn]] void bad(BadReason reason, const std::string& message) { throw BadSampleError(reason, message); }

const char* type_name(const json& v) { return v.type_name(); }

const json& required(const json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) bad(BadReason::kBadSchema, where + ": no \"" + key + "\" field");
  return *it;
}

std::string string_field(const json& value, const std::string& where) {
  if (!value.is_string())
    bad(BadReason::kBadSchema, where + " is " + type_name(value) + ", expected a string");
  return value.get<std::string>();
}

Role parse_role(const std::string& role, const std::string& where, bool sharegpt) {
  if (role == "user" || (sharegpt && role == "human")) return Role::kUser;
  if (role == "assistant" || (sharegpt && role == "gpt")) return Role::kAssistant;
  if (role == "system") return Role::kSystem;
  bad(BadReason::kUnknownRole, where + " has role '" + role + "'; expected " +
                                   (sharegpt ? "human, gpt, user, assistant or system" : "user, assistant or system"));
}

std::vector<Message> parse_conversations(const json& turns) {
  if (!turns.is_array())
    bad(BadReason::kBadSchema, std::string("\"conversations\" is ") + type_name(turns) + ", expected a list");
  std::vector<Message> messages;
  for (size_t i = 0; i < turns.size(); ++i) {
    const std::string where = "conversations[" + std::to_string(i) + "]";
    if (!turns[i].is_object()) bad(BadReason::kBadSchema, where + " is " + type_name(turns[i]) + ", expected an object");
    Message m;
    m.role = parse_role(string_field(required(turns[i], "from", where), where + ".from"), where, true);
    m.content = string_field(required(turns[i], "value", where), where + ".value");
    messages.push_back(std::move(m));
  }
  return messages;
}

std::vector<Message> parse_messages(const json& list) {
  if (!list.is_array())
    bad(BadReason::kBadSchema, std::string("\"messages\" is ") + type_name(list) + ", expected a list");
  std::vector<Message> messages;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!list[i].is_object()) bad(BadReason::kBadSchema, where + " is " + type_name(list[i]) + ", expected an object");
    Message m;
    m.role = parse_role(string_field(required(list[i], "role", where), where + ".role"), where, false);
    const json& content = required(list[i], "content", where);
    if (content.is_string()) {
      m.content = content.get<std::string>();
    } else if (content.is_array()) {
      for (size_t j = 0; j < content.size(); ++j) {
        const std::string part_where = where + ".content[" + std::to_string(j) + "]";
        const json& part = content[j];
        if (!part.is_object()) bad(BadReason::kBadSchema, part_where + " is " + type_name(part) + ", expected an object");
        std::string type = string_field(required(part, "type", part_where), part_where + ".type");
        if (type == "text") m.content += string_field(required(part, "text", part_where), part_where + ".text");
        else if (type == "image") m.content += kImagePlaceholder;
        else bad(BadReason::kBadSchema, part_where + " has type '" + type + "'; expected text or image");
      }
    } else {
      bad(BadReason::kBadSchema, where + ".content is " + type_name(content) + ", expected a string or a list");
    }
    messages.push_back(std::move(m));
  }
  return messages;
}

std::vector<std::string> image_paths(const json& doc) {
  std::vector<std::string> paths;
  for (const char* key : {"image", "images"}) {
    auto it = doc.find(key);
    if (it == doc.end() || it->is_null()) continue;
    if (it->is_string()) {
      paths.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (size_t i = 0; i < it->size(); ++i)
        paths.push_back(string_field((*it)[i], std::string("\"") + key + "\"[" + std::to_string(i) + "]"));
    } else {
      bad(BadReason::kBadSchema, std::string("\"") + key + "\" is " + type_name(*it) + ", expected a string or a list");
    }
  }
  return paths;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// WebDataset image members: "jpg" / "png" / "jpeg" first, then "<n>.<ext>" by n.
std::vector<ImageSource> wds_images(const Record& record, const std::string& shard_path) {
  struct Entry {
    int64_t order;
    size_t member;
  };
  std::vector<Entry> entries;
  for (size_t i = 0; i < record.members.size(); ++i) {
    const std::string ext = lower(record.members[i].extension);
    size_t dot = ext.rfind('.');
    std::string last = dot == std::string::npos ? ext : ext.substr(dot + 1);
    if (last != "jpg" && last != "jpeg" && last != "png") continue;
    int64_t order = -1;
    if (dot != std::string::npos) {
      std::string number = ext.substr(0, dot);
      if (number.empty() || !std::all_of(number.begin(), number.end(), ::isdigit) || number.size() > 9) continue;
      order = std::stoll(number);
    }
    entries.push_back({order, i});
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.order < b.order; });
  std::vector<ImageSource> images;
  for (const Entry& e : entries) {
    ImageSource image;
    image.name = shard_path + ":" + record.key + "." + record.members[e.member].extension;
    image.bytes = record.members[e.member].bytes;
    image.in_record = true;
    images.push_back(std::move(image));
  }
  return images;
}

}  // namespace

ParsedSample parse_record(DatasetFormat format, const Record& record, const std::string& shard_path,
                          const std::string& image_root) {
  if (format == DatasetFormat::kWebDataset && record.text.empty())
    bad(BadReason::kBadSchema, "sample '" + record.key + "' has no .json member");
  json doc;
  try {
    doc = json::parse(record.text);
  } catch (const json::parse_error& e) {
    bad(BadReason::kMalformedJson, e.what());
  }
  if (!doc.is_object()) bad(BadReason::kBadSchema, std::string("the record is ") + type_name(doc) + ", expected an object");

  ParsedSample sample;
  auto id = doc.find("id");
  if (id != doc.end() && id->is_string()) sample.id = id->get<std::string>();
  else if (id != doc.end() && id->is_number_integer()) sample.id = std::to_string(id->get<int64_t>());
  else if (format == DatasetFormat::kWebDataset) sample.id = record.key;
  else sample.id = shard_path + ":" + std::to_string(record.ref.line);

  const bool messages_layout = format == DatasetFormat::kMessagesJsonl ||
                               (format == DatasetFormat::kWebDataset && doc.contains("messages"));
  sample.messages = messages_layout ? parse_messages(required(doc, "messages", "the record"))
                                    : parse_conversations(required(doc, "conversations", "the record"));
  if (sample.messages.empty()) bad(BadReason::kEmptyConversation, "the conversation has no messages");

  if (format == DatasetFormat::kWebDataset) {
    sample.images = wds_images(record, shard_path);
  } else {
    for (const std::string& path : image_paths(doc)) {
      ImageSource image;
      image.name = path;
      image.path = (!path.empty() && path[0] == '/') ? path : path_join(image_root, path);
      sample.images.push_back(std::move(image));
    }
  }

  size_t placeholders = 0;
  for (size_t i = 0; i < sample.messages.size(); ++i) {
    size_t n = count_image_placeholders(sample.messages[i].content);
    if (n > 0 && sample.messages[i].role == Role::kAssistant)
      bad(BadReason::kPlaceholderMismatch,
          "message " + std::to_string(i) + " (assistant) contains <image>; images belong to user or system turns");
    placeholders += n;
  }
  if (placeholders != sample.images.size())
    bad(BadReason::kPlaceholderMismatch, std::to_string(placeholders) + " <image> placeholder(s) for " +
                                             std::to_string(sample.images.size()) + " image(s)");
  return sample;
}

}  // namespace mha2mla::data

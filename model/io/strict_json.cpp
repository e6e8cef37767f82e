#include "model/io/strict_json.h"

#include <set>
#include <vector>

#include "common/error.h"

namespace mha2mla::io {
namespace {

using json = nlohmann::json;

// Watches the parser's events and remembers the first key seen twice in one object.
class DuplicateKeyFinder {
 public:
  void on_event(int depth, json::parse_event_t event, const json& parsed) {
    auto level = static_cast<size_t>(depth);
    if (event == json::parse_event_t::object_start) {
      // The keys of an object that starts at depth d are reported at depth d + 1.
      if (keys_.size() < level + 2) keys_.resize(level + 2);
      keys_[level + 1].clear();
    } else if (event == json::parse_event_t::key && !found_ && parsed.is_string() && level < keys_.size()) {
      if (!keys_[level].insert(parsed.get_ref<const std::string&>()).second) {
        found_ = true;
        key_ = parsed.get<std::string>();
        depth_ = depth;
      }
    }
  }
  bool found() const { return found_; }
  const std::string& key() const { return key_; }
  int depth() const { return depth_; }

 private:
  std::vector<std::set<std::string>> keys_;
  bool found_ = false;
  std::string key_;
  int depth_ = 0;
};

}  // namespace

json parse_strict_json(std::string_view text, const std::string& what, const std::string& duplicate_note) {
  DuplicateKeyFinder duplicates;
  json root;
  try {
    root = json::parse(
        text.begin(), text.end(),
        [&duplicates](int depth, json::parse_event_t event, json& parsed) {
          duplicates.on_event(depth, event, parsed);
          return true;
        },
        /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const json::exception& e) {
    fail("{} is not valid JSON: {}", what, e.what());
  }
  if (duplicates.found()) {
    fail("{}: key '{}' appears twice in {}{}", what, duplicates.key(),
         duplicates.depth() == 1 ? "the top-level object" : "a nested object",
         duplicate_note.empty() ? std::string() : " (" + duplicate_note + ")");
  }
  return root;
}

}  // namespace mha2mla::io

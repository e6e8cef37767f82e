#include "data/tokenizer/post_processors.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/tokenizer/json_fields.h"

namespace mha2mla::tokenizer {
namespace {

class NoOpPostProcessor : public PostProcessor {
 public:
  void process(std::vector<int32_t>&, bool) const override {}
};

class SequencePostProcessor : public PostProcessor {
 public:
  explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
  void process(std::vector<int32_t>& ids, bool add_special_tokens) const override {
    for (const auto& step : steps_) step->process(ids, add_special_tokens);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

// "single": [{"SpecialToken": {"id": "<s>", ...}}, {"Sequence": {"id": "A", ...}}], with each special
// token's ids listed in "special_tokens".
std::unique_ptr<PostProcessor> parse_template(const nlohmann::json& spec, const std::string& where) {
  const auto& single = json_field(spec, "single", where);
  const auto& specials = json_field(spec, "special_tokens", where);
  if (!single.is_array()) fail("{}.single: expected a list, found {}", where, single.type_name());
  std::vector<int32_t> before, after;
  bool seen_sequence = false;
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string item_where = fmt::format("{}.single[{}]", where, i);
    const auto& item = single[i];
    if (item.is_object() && item.contains("Sequence")) {
      if (seen_sequence) fail("{}: a single-sequence template may contain $A only once", item_where);
      seen_sequence = true;
      continue;
    }
    if (!(item.is_object() && item.contains("SpecialToken")))
      fail("{}: expected {{\"SpecialToken\": ...}} or {{\"Sequence\": ...}}, found {}", item_where, item.dump());
    const std::string name = json_string(item["SpecialToken"], "id", item_where + ".SpecialToken");
    if (!specials.is_object() || !specials.contains(name))
      fail("{}: special token '{}' is not listed in {}.special_tokens", item_where, name, where);
    const auto& ids = json_field(specials[name], "ids", fmt::format("{}.special_tokens['{}']", where, name));
    for (const auto& id : ids) (seen_sequence ? after : before).push_back(id.get<int32_t>());
  }
  if (!seen_sequence) fail("{}.single: the template has no {{\"Sequence\": ...}} entry for the text", where);
  return std::make_unique<TemplatePostProcessor>(std::move(before), std::move(after));
}

// BertProcessing / RobertaProcessing: [cls] $A [sep], each given as ["token", id].
std::unique_ptr<PostProcessor> parse_cls_sep(const nlohmann::json& spec, const std::string& where) {
  auto id_of = [&](const char* key) {
    const auto& pair = json_field(spec, key, where);
    if (!pair.is_array() || pair.size() != 2 || !pair[1].is_number_integer())
      fail("{}.{}: expected [\"token\", id], found {}", where, key, pair.dump());
    return pair[1].get<int32_t>();
  };
  return std::make_unique<TemplatePostProcessor>(std::vector<int32_t>{id_of("cls")},
                                                 std::vector<int32_t>{id_of("sep")});
}

}  // namespace

void TemplatePostProcessor::process(std::vector<int32_t>& ids, bool add_special_tokens) const {
  if (!add_special_tokens) return;
  ids.insert(ids.begin(), before_.begin(), before_.end());
  ids.insert(ids.end(), after_.begin(), after_.end());
}

std::unique_ptr<PostProcessor> parse_post_processor(const nlohmann::json& spec, const std::string& where) {
  if (spec.is_null()) return nullptr;
  const std::string type = json_string(spec, "type", where);
  if (type == "TemplateProcessing") return parse_template(spec, where);
  if (type == "ByteLevel") return std::make_unique<NoOpPostProcessor>();  // it only trims offsets
  if (type == "BertProcessing" || type == "RobertaProcessing") return parse_cls_sep(spec, where);
  if (type == "Sequence") {
    const auto& list = json_field(spec, "processors", where);
    std::vector<std::unique_ptr<PostProcessor>> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      auto step = parse_post_processor(list[i], fmt::format("{}.processors[{}]", where, i));
      if (step) steps.push_back(std::move(step));
    }
    return std::make_unique<SequencePostProcessor>(std::move(steps));
  }
  fail_with_hint("supported post-processors: TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing, "
                 "Sequence",
                 "{}: post-processor type '{}' is not supported", where, type);
}

}  // namespace mha2mla::tokenizer


// Post-processors of tokenizer.json, for single sequences: TemplateProcessing (e.g. "<s> $A"), ByteLevel
// (offsets only, ids untouched), BertProcessing/RobertaProcessing and Sequence of these.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mha2mla::tokenizer {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Adds the special tokens around one sequence's ids when `add_special_tokens` is true.
  virtual void process(std::vector<int32_t>& ids, bool add_special_tokens) const = 0;
};

// A template for one sequence: ids before and after it.
class TemplatePostProcessor : public PostProcessor {
 public:
  TemplatePostProcessor(std::vector<int32_t> before, std::vector<int32_t> after)
      : before_(std::move(before)), after_(std::move(after)) {}
  void process(std::vector<int32_t>& ids, bool add_special_tokens) const override;
  const std::vector<int32_t>& before() const { return before_; }
  const std::vector<int32_t>& after() const { return after_; }

 private:
  std::vector<int32_t> before_, after_;
};

// Builds the post-processor described by `spec`; `where` names the file and key for errors. nullptr for null.
std::unique_ptr<PostProcessor> parse_post_processor(const nlohmann::json& spec, const std::string& where);

}  // namespace mha2mla::tokenizer

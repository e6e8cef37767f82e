// One record -> one training sample: parse the record, load and preprocess its images for the model, render
// the chat template, tokenize with labels, expand image placeholders to the feature counts, apply max_length.
// A pure function of the record and the configuration (so a resumed run recomputes identical samples), safe to
// call from several worker threads. Unusable records throw BadSampleError.
//
// Before rendering: a system message is honoured only as the first message (elsewhere: bad_schema); leading
// assistant messages are dropped (LLaVA's preprocess does the same); a conversation with no non-empty
// assistant turn is empty_conversation.
// max_length, truncation "right": the ids are cut at max_length, moved back to the start of an image's token
// run when the cut falls inside one; images past the cut are dropped; a sample left with no supervised token
// is too_long. truncation "drop": a sample longer than max_length is too_long.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "data/chat/conversation_tokenizer.h"
#include "data/model_spec.h"
#include "data/readers/dataset_files.h"

namespace mha2mla::data {

struct ProcessedSample {
  std::string id;
  RecordRef ref;
  int64_t seq = -1;
  std::vector<int32_t> input_ids;
  std::vector<int32_t> labels;
  // One entry per image kept, in reading order:
  std::vector<at::Tensor> pixel_values;
  std::vector<std::vector<int64_t>> image_grid_thw;        // kQwenVl
  std::vector<std::pair<int64_t, int64_t>> image_sizes;    // kLlavaNext: original (height, width)
  bool truncated = false;

  int64_t length() const { return static_cast<int64_t>(input_ids.size()); }
  int64_t supervised_tokens() const;
};

struct ProcessingOptions {
  int64_t max_length = 4096;
  bool drop_over_long = false;  // truncation = drop
};

class SampleProcessor {
 public:
  SampleProcessor(std::vector<std::shared_ptr<const DatasetFiles>> datasets, ModelDataSpec spec,
                  std::shared_ptr<const ConversationTokenizer> tokenizer, ProcessingOptions options);

  ProcessedSample process(const Record& record) const;

  const ModelDataSpec& spec() const { return spec_; }
  const ConversationTokenizer& conversation_tokenizer() const { return *tokenizer_; }

 private:
  struct PreparedImage {
    at::Tensor pixel_values;
    std::vector<int64_t> grid_thw;
    std::pair<int64_t, int64_t> size{0, 0};
    int64_t features = 0;
  };
  PreparedImage prepare_image(const ImageSource& source) const;
  void preprocess(const image::RgbImage& decoded, PreparedImage& out) const;

  std::vector<std::shared_ptr<const DatasetFiles>> datasets_;
  ModelDataSpec spec_;
  std::shared_ptr<const ConversationTokenizer> tokenizer_;
  ProcessingOptions options_;
};

}  // namespace mha2mla::data

#include "data/sample_processor.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "common/error.h"
#include "common/files.h"
#include "data/bad_sample.h"
#include "data/generation_prompt.h"
#include "data/image/image_decode.h"
#include "data/readers/sample_parser.h"

namespace mha2mla::data {

int64_t ProcessedSample::supervised_tokens() const {
  int64_t n = 0;
  for (int32_t label : labels) n += label != kIgnoreLabel;
  return n;
}

SampleProcessor::SampleProcessor(std::vector<std::shared_ptr<const DatasetFiles>> datasets, ModelDataSpec spec,
                                 std::shared_ptr<const ConversationTokenizer> tokenizer, ProcessingOptions options)
    : datasets_(std::move(datasets)), spec_(std::move(spec)), tokenizer_(std::move(tokenizer)), options_(options) {
  MHA2MLA_CHECK(tokenizer_ != nullptr, "no conversation tokenizer");
}

SampleProcessor::PreparedImage SampleProcessor::prepare_image(const ImageSource& source) const {
  std::string bytes;
  if (source.in_record) {
    bytes = source.bytes;
  } else {
    if (!file_exists(source.path))
      throw BadSampleError(BadReason::kMissingImage, "image '" + source.name + "' not found (" + source.path + ")");
    try {
      bytes = read_file(source.path);
    } catch (const Error& e) {
      throw BadSampleError(BadReason::kCorruptImage, e.what());
    }
  }
  image::RgbImage decoded;
  try {
    decoded = image::decode_image(bytes, source.in_record ? source.name : source.path);
  } catch (const Error& e) {
    throw BadSampleError(BadReason::kCorruptImage, e.what());
  }
  PreparedImage out;
  try {
    preprocess(decoded, out);
  } catch (const Error& e) {  // e.g. an aspect ratio Qwen's smart_resize refuses
    throw BadSampleError(BadReason::kCorruptImage, std::string("cannot preprocess: ") + e.what());
  }
  return out;
}

void SampleProcessor::preprocess(const image::RgbImage& decoded, PreparedImage& out) const {
  if (spec_.vision == VisionFamily::kNone)
    throw BadSampleError(BadReason::kImagesUnsupported, "the sample has images but the model is text-only");
  ModelImage image = prepare_model_image(decoded, spec_);
  out.pixel_values = image.pixel_values;
  out.grid_thw = image.grid_thw;
  out.size = image.size;
  out.features = image.features;
}

ProcessedSample SampleProcessor::process(const Record& record) const {
  const DatasetFiles& files = *datasets_.at(record.ref.dataset);
  const std::string& shard_path = files.shards.at(record.ref.shard);
  ParsedSample parsed = parse_record(files.format, record, shard_path, files.image_root_for(record.ref.shard));

  // Conversation shape rules shared by every template.
  std::vector<Message> messages;
  for (size_t i = 0; i < parsed.messages.size(); ++i) {
    Message& m = parsed.messages[i];
    if (m.role == Role::kSystem && i > 0)
      throw BadSampleError(BadReason::kBadSchema, "message " + std::to_string(i) + " is a system message; only the "
                                                  "first message may be one");
    const bool leading_assistant =
        m.role == Role::kAssistant && std::all_of(messages.begin(), messages.end(),
                                                  [](const Message& kept) { return kept.role == Role::kSystem; });
    if (leading_assistant) continue;
    messages.push_back(std::move(m));
  }
  bool has_answer = false;
  for (const Message& m : messages) has_answer = has_answer || (m.role == Role::kAssistant && !m.content.empty());
  if (!has_answer) throw BadSampleError(BadReason::kEmptyConversation, "no assistant turn with content to learn from");
  if (!parsed.images.empty() && spec_.vision == VisionFamily::kNone)
    throw BadSampleError(BadReason::kImagesUnsupported,
                         std::to_string(parsed.images.size()) + " image(s) for a text-only model (" + spec_.model_type + ")");

  ProcessedSample sample;
  sample.id = parsed.id;
  sample.ref = record.ref;
  sample.seq = record.seq;
  std::vector<PreparedImage> images;
  std::vector<int64_t> features;
  for (const ImageSource& source : parsed.images) {
    images.push_back(prepare_image(source));
    features.push_back(images.back().features);
  }

  TokenizedChat chat = tokenizer_->tokenize(render_chat(tokenizer_->kind(), messages, tokenizer_->bos_text()), features);
  const int64_t length = static_cast<int64_t>(chat.input_ids.size());
  size_t kept_images = images.size();
  if (length > options_.max_length) {
    if (options_.drop_over_long)
      throw BadSampleError(BadReason::kTooLong, std::to_string(length) + " tokens, above data.max_length = " +
                                                    std::to_string(options_.max_length) + " (truncation = drop)");
    int64_t cut = options_.max_length;
    kept_images = 0;
    for (const auto& [begin, end] : chat.image_spans) {
      if (end <= cut) ++kept_images;
      else if (begin < cut) cut = begin;  // never keep part of an image's tokens
    }
    chat.input_ids.resize(cut);
    chat.labels.resize(cut);
    sample.truncated = true;
  }
  sample.input_ids = std::move(chat.input_ids);
  sample.labels = std::move(chat.labels);
  if (sample.supervised_tokens() == 0)
    throw BadSampleError(BadReason::kTooLong, "no supervised token within data.max_length = " +
                                                  std::to_string(options_.max_length) + " after truncation");
  for (size_t i = 0; i < kept_images; ++i) {
    sample.pixel_values.push_back(images[i].pixel_values);
    if (spec_.vision == VisionFamily::kQwenVl) sample.image_grid_thw.push_back(images[i].grid_thw);
    if (spec_.vision == VisionFamily::kLlavaNext) sample.image_sizes.push_back(images[i].size);
  }
  return sample;
}

}  // namespace mha2mla::data

// Why a sample cannot be used. A worker that meets one throws BadSampleError; the pipeline counts it by reason,
// logs where it was (file and line or byte offset), and goes on with the next sample.
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace mha2mla::data {

enum class BadReason {
  kMalformedJson,        // the record is not valid JSON
  kBadSchema,            // valid JSON without the expected fields / types
  kUnknownRole,          // a turn whose role is not user/human, assistant/gpt or system
  kEmptyConversation,    // no messages, or nothing for the model to learn (no non-empty assistant turn)
  kMissingImage,         // an image file that does not exist
  kCorruptImage,         // an image that cannot be read or decoded
  kPlaceholderMismatch,  // the number of <image> placeholders differs from the number of images
  kTooLong,              // longer than data.max_length with data.truncation = drop (or nothing supervised left)
  kImagesUnsupported,    // a sample with images for a text-only model
};
constexpr size_t kBadReasonCount = 9;

const char* bad_reason_name(BadReason reason);  // "malformed_json", ...

class BadSampleError : public std::runtime_error {
 public:
  BadSampleError(BadReason reason, const std::string& message) : std::runtime_error(message), reason_(reason) {}
  BadReason reason() const { return reason_; }

 private:
  BadReason reason_;
};

using BadCounts = std::array<int64_t, kBadReasonCount>;

}  // namespace mha2mla::data

#include "data/bad_sample_log.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/error.h"

namespace mha2mla::data {

const char* bad_reason_name(BadReason reason) {
  switch (reason) {
    case BadReason::kMalformedJson: return "malformed_json";
    case BadReason::kBadSchema: return "bad_schema";
    case BadReason::kUnknownRole: return "unknown_role";
    case BadReason::kEmptyConversation: return "empty_conversation";
    case BadReason::kMissingImage: return "missing_image";
    case BadReason::kCorruptImage: return "corrupt_image";
    case BadReason::kPlaceholderMismatch: return "placeholder_mismatch";
    case BadReason::kTooLong: return "too_long";
    case BadReason::kImagesUnsupported: return "images_unsupported";
  }
  return "?";
}

BadSampleLog::BadSampleLog(double max_bad_fraction, int64_t log_first, int64_t rank)
    : max_bad_fraction_(max_bad_fraction), log_first_(log_first), rank_(rank) {}

std::string BadSampleLog::summary(const DataCounters& counters) {
  std::string out;
  for (size_t r = 0; r < kBadReasonCount; ++r) {
    if (counters.bad[r] == 0) continue;
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {}", bad_reason_name(static_cast<BadReason>(r)), counters.bad[r]);
  }
  return out.empty() ? "none" : out;
}

void BadSampleLog::record(DataCounters& counters, BadReason reason, const std::string& where,
                          const std::string& message) {
  const size_t r = static_cast<size_t>(reason);
  ++counters.bad[r];
  if (logged_[r] < log_first_) {
    ++logged_[r];
    spdlog::warn("data: skipped a sample ({}) at {}: {}", bad_reason_name(reason), where, message);
    if (logged_[r] == log_first_)
      spdlog::warn("data: further '{}' samples are counted but not logged (data.log_bad_samples = {})",
                   bad_reason_name(reason), log_first_);
  }
  check(counters);
  if (++consecutive_ >= kConsecutiveBadLimit)
    fail_with_hint("fix or filter the dataset", "data: the last {} records on rank {} were all unusable: {}",
                   consecutive_, rank_, summary(counters));
}

void BadSampleLog::check(const DataCounters& counters) const {
  const int64_t bad = counters.bad_total();
  const double allowed = max_bad_fraction_ * static_cast<double>(std::max(counters.records, kBadFractionFloor));
  if (static_cast<double>(bad) <= allowed) return;
  fail_with_hint("fix or filter the dataset, or raise data.max_bad_fraction",
                 "data: {} of {} records on rank {} are unusable ({:.1f}%), above data.max_bad_fraction = {} "
                 "(judged against at least {} records): {}",
                 bad, counters.records, rank_, 100.0 * static_cast<double>(bad) / static_cast<double>(counters.records),
                 max_bad_fraction_, kBadFractionFloor, summary(counters));
}

}  // namespace mha2mla::data

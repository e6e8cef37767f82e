// Accounting for unusable samples: counts by reason (kept in the cursor), a warning with the file and line (or
// byte offset) for the first few of each reason and then a note that further ones are only counted, and the
// data.max_bad_fraction limit.
#pragma once

#include <cstdint>
#include <string>

#include "data/bad_sample.h"
#include "data/cursor.h"

namespace mha2mla::data {

// The limit is judged against at least this many records, so that one early bad sample does not stop a run
// with a small data.max_bad_fraction: bad > max_bad_fraction * max(records, kBadFractionFloor) stops it.
constexpr int64_t kBadFractionFloor = 100;
// Unusable records in a row that stop a run even with data.max_bad_fraction = 1 (a dataset with no usable
// sample would otherwise be read forever).
constexpr int64_t kConsecutiveBadLimit = 10000;

class BadSampleLog {
 public:
  BadSampleLog(double max_bad_fraction, int64_t log_first, int64_t rank);

  // Counts one bad sample into `counters` (records must already include it) and logs it while under the
  // per-reason limit. `where` is "file:line" or "file@byte". Throws Error when the fraction limit is exceeded,
  // or after kConsecutiveBadLimit bad records in a row.
  void record(DataCounters& counters, BadReason reason, const std::string& where, const std::string& message);
  // A usable sample: ends a run of bad ones.
  void record_good() { consecutive_ = 0; }

  // Throws Error when counters exceed the limit (also used on resume).
  void check(const DataCounters& counters) const;

  // "malformed_json 3, missing_image 1" (reasons with a count only); "none" when there are none.
  static std::string summary(const DataCounters& counters);

 private:
  double max_bad_fraction_;
  int64_t log_first_;
  int64_t rank_;
  BadCounts logged_{};
  int64_t consecutive_ = 0;
};

}  // namespace mha2mla::data

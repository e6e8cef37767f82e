// Timing shared by the benchmarks: a wall-clock and process-CPU stopwatch and the median every table in
// docs/benchmarks.md reports.
#pragma once

#include <algorithm>
#include <chrono>
#include <ctime>
#include <vector>

namespace mha2mla::bench {

// CPU time of this process, all threads: with one thread, the compute itself, steadier than wall time on a machine
// shared with other jobs.
inline double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Wall-clock and CPU seconds since it was started.
class Stopwatch {
 public:
  Stopwatch() : wall_start_(std::chrono::steady_clock::now()), cpu_start_(process_cpu_seconds()) {}
  double wall_seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start_).count();
  }
  double cpu_seconds() const { return process_cpu_seconds() - cpu_start_; }

 private:
  std::chrono::steady_clock::time_point wall_start_;
  double cpu_start_;
};

// The middle value (the upper of the two middle ones for an even count); `values` must not be empty.
inline double median(std::vector<double> values) {
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2), values.end());
  return values[values.size() / 2];
}

}  // namespace mha2mla::bench

// A collective that never completes (a rank died, hangs, or called a different collective) would otherwise
// hang the whole job until the scheduler's time limit. Communicators open a Scope around every blocking call;
// one background thread notices a scope older than the timeout and calls the handler once (the runtime's
// handler logs the collective and rank, then aborts the job with MPI_Abort).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace mha2mla::dist {

class CollectiveWatchdog {
 public:
  // Called once, from the watchdog thread, with a message naming the collective, group, rank and timeout.
  using TimeoutHandler = std::function<void(const std::string& message)>;

  CollectiveWatchdog(double timeout_seconds, TimeoutHandler on_timeout);
  ~CollectiveWatchdog();
  CollectiveWatchdog(const CollectiveWatchdog&) = delete;
  CollectiveWatchdog& operator=(const CollectiveWatchdog&) = delete;

  class Scope {
   public:
    Scope() = default;
    Scope(Scope&& other) noexcept;
    Scope& operator=(Scope&&) = delete;
    ~Scope();

   private:
    friend class CollectiveWatchdog;
    Scope(CollectiveWatchdog* owner, uint64_t id) : owner_(owner), id_(id) {}
    CollectiveWatchdog* owner_ = nullptr;
    uint64_t id_ = 0;
  };

  // `what` describes the call for the timeout message, e.g. "all_reduce(sum) of 4.00 MiB on group 'dp'
  // (rank 1 of 2)".
  Scope watch(std::string what);

  double timeout_seconds() const { return timeout_seconds_; }
  bool fired() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Pending {
    std::string what;
    Clock::time_point start;
  };

  void run();
  void finish(uint64_t id);

  const double timeout_seconds_;
  const TimeoutHandler on_timeout_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<uint64_t, Pending> pending_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  bool fired_ = false;
  std::thread thread_;
};

// Opens a scope on `watchdog` when it is set; a no-op scope otherwise.
inline CollectiveWatchdog::Scope watch_if(CollectiveWatchdog* watchdog, std::string what) {
  return watchdog ? watchdog->watch(std::move(what)) : CollectiveWatchdog::Scope();
}

}  // namespace mha2mla::dist

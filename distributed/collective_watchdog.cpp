#include "distributed/collective_watchdog.h"

#include <algorithm>

#include <fmt/format.h>

namespace mha2mla::dist {

CollectiveWatchdog::CollectiveWatchdog(double timeout_seconds, TimeoutHandler on_timeout)
    : timeout_seconds_(timeout_seconds), on_timeout_(std::move(on_timeout)) {
  thread_ = std::thread([this] { run(); });
}

CollectiveWatchdog::~CollectiveWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

CollectiveWatchdog::Scope::Scope(Scope&& other) noexcept : owner_(other.owner_), id_(other.id_) {
  other.owner_ = nullptr;
}

CollectiveWatchdog::Scope::~Scope() {
  if (owner_) owner_->finish(id_);
}

CollectiveWatchdog::Scope CollectiveWatchdog::watch(std::string what) {
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t id = next_id_++;
  pending_.emplace(id, Pending{std::move(what), Clock::now()});
  return Scope(this, id);
}

void CollectiveWatchdog::finish(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.erase(id);
}

bool CollectiveWatchdog::fired() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return fired_;
}

void CollectiveWatchdog::run() {
  // Polling at a tenth of the timeout keeps watch()/finish() free of wake-ups (no syscall per collective)
  // and still fires within ~10% of the timeout.
  auto tick = std::chrono::duration<double>(std::clamp(timeout_seconds_ / 10.0, 0.01, 1.0));
  auto timeout = std::chrono::duration<double>(timeout_seconds_);
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, tick, [this] { return stopping_; });
    if (stopping_ || fired_) continue;
    auto now = Clock::now();
    for (const auto& [id, pending] : pending_) {
      std::chrono::duration<double> waited = now - pending.start;
      if (waited < timeout) continue;
      fired_ = true;
      std::string message = fmt::format(
          "{} has not completed after {:.1f} s (distributed.timeout_seconds = {:g}); another rank has probably "
          "died, hangs, or called a different collective. Aborting the job.",
          pending.what, waited.count(), timeout_seconds_);
      lock.unlock();  // the handler may log, abort, or (in tests) inspect the watchdog
      on_timeout_(message);
      lock.lock();
      break;
    }
  }
}

}  // namespace mha2mla::dist

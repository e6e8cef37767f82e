#include "distributed/preemption.h"

#include <csignal>

namespace mha2mla::dist {
namespace {

volatile std::sig_atomic_t g_signalled = 0;

void on_preemption_signal(int signal) {
  if (signal == SIGTERM && g_signalled == SIGTERM) {  // asked twice: stop now
    std::signal(SIGTERM, SIG_DFL);
    std::raise(SIGTERM);
    return;
  }
  g_signalled = signal;
}

}  // namespace

void install_preemption_handler() {
  struct sigaction action {};
  action.sa_handler = on_preemption_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // a signal during a read() or an MPI wait must not turn into EINTR errors
  sigaction(SIGUSR1, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

const char* preemption_signal_name() {
  return g_signalled == SIGUSR1 ? "SIGUSR1" : g_signalled == SIGTERM ? "SIGTERM" : "";
}

bool preemption_signalled() { return g_signalled != 0; }

bool preemption_requested(Communicator& group) {
  return group.all_reduce_int(preemption_signalled() ? 1 : 0, ReduceOp::max) > 0;
}

}  // namespace mha2mla::dist

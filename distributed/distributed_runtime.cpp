#include "distributed/distributed_runtime.h"

#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/log.h"
#include "distributed/mpi_communicator.h"

#if defined(MHA2MLA_HAVE_NCCL)
#include <c10/cuda/CUDAFunctions.h>

#include "distributed/nccl_communicator.h"
#endif

namespace mha2mla::dist {
namespace {

// The runtime that std::terminate should abort through (one per process).
DistributedRuntime* g_runtime = nullptr;
std::terminate_handler g_previous_terminate = nullptr;

[[noreturn]] void terminate_through_runtime() {
  std::string what = "std::terminate called without an active exception";
  if (std::exception_ptr current = std::current_exception()) {
    try {
      std::rethrow_exception(current);
    } catch (const std::exception& e) {
      what = fmt::format("uncaught exception: {}", e.what());
    } catch (...) {
      what = "uncaught exception of unknown type";
    }
  }
  if (g_runtime && g_runtime->multi_process()) g_runtime->abort_job(what);
  if (g_previous_terminate) g_previous_terminate();
  std::abort();
}

const char* thread_level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE: return "single";
    case MPI_THREAD_FUNNELED: return "funneled";
    case MPI_THREAD_SERIALIZED: return "serialized";
    case MPI_THREAD_MULTIPLE: return "multiple";
    default: return "unknown";
  }
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "?";
  return name;
}

}  // namespace

std::unique_ptr<Communicator> make_world_communicator(const std::string& backend, int local_rank,
                                                      std::shared_ptr<CollectiveWatchdog> watchdog) {
  auto mpi = std::make_unique<MpiCommunicator>(MPI_COMM_WORLD, /*owned=*/false, "world", std::move(watchdog));
#if defined(MHA2MLA_HAVE_NCCL)
  if (backend == "nccl" || (backend == "auto" && at::hasCUDA())) {
    int devices = static_cast<int>(c10::cuda::device_count());
    if (devices == 0)
      fail_with_hint("use distributed.backend=mpi, or run where CUDA devices are visible",
                     "distributed.backend = {}: NCCL needs a CUDA device but none is visible", backend);
    return std::make_unique<NcclCommunicator>(std::move(mpi), local_rank % devices);
  }
#else
  (void)local_rank;
  if (backend == "nccl")
    fail_with_hint("use distributed.backend=mpi (or auto), or rebuild where CUDA and NCCL are found",
                   "distributed.backend = nccl, but this build has no NCCL (CUDA/NCCL were not found at build time)");
#endif
  return mpi;
}

DistributedRuntime::DistributedRuntime(const DistributedConfig& config, const LaunchEnvironment& launch)
    : config_(config), launch_(launch) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  // A plain process never starts MPI: no launcher, no peers, and no dependence on a working PMIx singleton.
  uses_mpi_ = initialized || launch_.launcher != "single";
  if (uses_mpi_ && !initialized) start_mpi();

  if (uses_mpi_) {
    MPI_Comm_rank(MPI_COMM_WORLD, &launch_.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &launch_.world_size);
    // Under a bare PMIx launch the world size is known only now; tag log lines with the right rank.
    if (logging::rank() != launch_.rank || logging::world_size() != launch_.world_size) {
      static const char* const kLevels[] = {"trace", "debug", "info", "warn", "error", "error", "off"};
      logging::init(launch_.rank, launch_.world_size, kLevels[spdlog::default_logger()->level()]);
    }
  }
  g_runtime = this;
  g_previous_terminate = std::set_terminate(terminate_through_runtime);

  try {
    if (uses_mpi_) {
      watchdog_ = std::make_shared<CollectiveWatchdog>(
          config_.timeout_seconds, [this](const std::string& message) { abort_job(message, kExitTimeout); });
      world_ = make_world_communicator(config_.backend, launch_.local_rank, watchdog_);
    } else {
      world_ = make_single_process_communicator("world");
    }
    grid_ = std::make_unique<ProcessGrid>(world_, config_.tensor_parallel);
    log_ranks();
  } catch (const std::exception& e) {
    // Typically a configuration error that every rank sees alike; abort rather than leave MPI half set up.
    if (launch_.world_size > 1) {
      const auto* error = dynamic_cast<const Error*>(&e);
      abort_job(error && !error->hint().empty() ? fmt::format("{}\n---> HINT: {}", e.what(), error->hint())
                                                : std::string(e.what()));
    }
    grid_.reset();
    world_.reset();
    watchdog_.reset();
    std::set_terminate(g_previous_terminate);
    g_runtime = nullptr;
    if (owns_mpi_) MPI_Finalize();
    throw;
  }
}

DistributedRuntime::~DistributedRuntime() {
  // MPI_Finalize waits for every rank; if we are unwinding from an error, the others may be waiting in a
  // collective for us, so the only way out that does not hang is to abort.
  if (std::uncaught_exceptions() > 0 && multi_process())
    abort_job("an exception escaped the distributed runtime's scope (not caught by DistributedRuntime::run)");
  grid_.reset();
  world_.reset();
  if (owns_mpi_) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    // MPI_Finalize synchronises with the other ranks, so it stays under the watchdog like any collective.
    auto scope = watch_if(watchdog_.get(), fmt::format("MPI_Finalize (rank {} of {})", launch_.rank, launch_.world_size));
    if (!finalized) MPI_Finalize();
  }
  watchdog_.reset();
  std::set_terminate(g_previous_terminate);
  g_runtime = nullptr;
}

void DistributedRuntime::start_mpi() {
  // srun without PMIx gives Open MPI nothing to wire up with, and MPI_Init dies with a message naming neither
  // srun nor the fix; say it first.
  if (launch_.launcher == "slurm" && !std::getenv("PMIX_RANK") && !std::getenv("OMPI_COMM_WORLD_RANK")) {
    const char* type = std::getenv("SLURM_MPI_TYPE");
    fail_with_hint("launch with `srun --mpi=pmix ...` (or set MpiDefault=pmix in slurm.conf)",
                   "srun started this task with --mpi={}, without PMIx; Debian's Open MPI starts only under "
                   "--mpi=pmix (pmi2 and none fail in MPI_Init)",
                   type && *type ? type : "none");
  }
  // The watchdog thread calls MPI_Abort while the main thread may be inside a collective.
  int provided = MPI_THREAD_SINGLE;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
    fail_with_hint("under Slurm launch with `srun --mpi=pmix` (pmi2 and none do not work with Debian's Open MPI)",
                   "MPI_Init_thread failed (launcher: {})", launch_.describe());
  owns_mpi_ = true;
  if (provided < MPI_THREAD_MULTIPLE)
    spdlog::warn("MPI provides thread level '{}', not 'multiple': a collective timeout may not abort cleanly",
                 thread_level_name(provided));
}

void DistributedRuntime::log_ranks() const {
  std::string device;
#if defined(MHA2MLA_HAVE_NCCL)
  if (auto* nccl = dynamic_cast<NcclCommunicator*>(world_.get())) device = fmt::format(", cuda:{}", nccl->device());
#endif
  const char* node = std::getenv("SLURMD_NODENAME");
  std::string line = fmt::format("rank {}: local rank {} of {}, host {}{}, pid {}{}", launch_.rank, launch_.local_rank,
                                 launch_.local_size, host_name(), node ? fmt::format(" (node {})", node) : "",
                                 static_cast<long>(getpid()), device);
  // Fixed-width records so one all_gather collects every rank's line for rank 0 to print.
  constexpr int64_t kWidth = 200;
  at::Tensor record = at::zeros({kWidth}, at::kByte);
  std::memcpy(record.data_ptr(), line.data(), std::min<size_t>(line.size(), kWidth - 1));
  at::Tensor records = world_->all_gather(record);
  if (launch_.rank != 0) return;
  spdlog::info("distributed: {}", describe());
  constexpr int kShown = 32;
  const char* data = static_cast<const char*>(records.data_ptr());
  for (int r = 0; r < std::min(world_->size(), kShown); ++r) spdlog::info("  {}", std::string(data + r * kWidth));
  if (world_->size() > kShown) spdlog::info("  ... and {} more ranks", world_->size() - kShown);
}

std::string DistributedRuntime::describe() const {
  std::string text = fmt::format("launcher {}, world {}, backend {}, {}", launch_.launcher, world_->size(),
                                 world_->backend(), grid_ ? grid_->describe() : std::string("no grid"));
  if (!launch_.job_id.empty()) text += fmt::format(", Slurm job {} on {}", launch_.job_id, launch_.node_list);
  if (watchdog_) text += fmt::format(", collective timeout {:g} s", watchdog_->timeout_seconds());
  return text;
}

int DistributedRuntime::run(const std::function<int()>& body) {
  try {
    int code = body();
    // A rank leaving with a failure while the others carry on would leave them waiting in a collective.
    if (code != 0 && multi_process()) abort_job(fmt::format("finished with exit code {}", code), code);
    return code;
  } catch (const Error& e) {
    if (!multi_process()) throw;
    abort_job(e.hint().empty() ? e.what() : fmt::format("{}\n---> HINT: {}", e.what(), e.hint()));
  } catch (const std::exception& e) {
    if (!multi_process()) throw;
    abort_job(e.what());
  }
}

void DistributedRuntime::abort_job(const std::string& message, int exit_code) {
  int size = world_ ? world_->size() : launch_.world_size;
  spdlog::error("rank {} of {} failed: {}", launch_.rank, size, message);
  if (size > 1) spdlog::error("rank {}: aborting all {} ranks of the job (exit code {})", launch_.rank, size, exit_code);
  spdlog::default_logger()->flush();
  std::fflush(stdout);
  std::fflush(stderr);
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

}  // namespace mha2mla::dist

#include "trainer/runtime.h"

#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <thread>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <Eigen/Core>
#include <fmt/format.h>
#include <google/protobuf/stubs/common.h>
#include <spdlog/version.h>
#include <torch/csrc/api/include/torch/version.h>
#include <yaml-cpp/yaml.h>

#include "common/strings.h"

#if defined(MHA2MLA_HAVE_NCCL)
#include <nccl.h>
#endif

namespace mha2mla {

int configure_threads(long long requested, int ranks_on_this_node) {
  int threads = static_cast<int>(requested);
  if (threads <= 0) {
    const char* env = std::getenv("OMP_NUM_THREADS");
    threads = env && std::atoi(env) > 0 ? std::atoi(env) : 0;
  }
  if (threads <= 0) {
    int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::max(1, cores / std::max(1, ranks_on_this_node));
  }
  at::set_num_threads(threads);
  return threads;
}

std::string loaded_blas() {
  // Make sure BLAS is loaded and used once, then read which library the dynamic linker picked.
  at::Tensor a = at::ones({64, 64});
  (void)a.mm(a).sum().item<float>();
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    size_t slash = line.rfind('/');
    if (slash == std::string::npos) continue;
    std::string file = line.substr(slash + 1), path = line.substr(line.find('/'));
    if (starts_with(file, "libopenblas")) {
      std::string flavour = path.find("openmp") != std::string::npos     ? "openmp"
                            : path.find("pthread") != std::string::npos ? "pthread (ignores set_num_threads!)"
                                                                        : "serial";
      return "OpenBLAS (" + flavour + ") " + path;
    }
    if (starts_with(file, "libmkl")) return "MKL " + path;
    if (starts_with(file, "libblis")) return "BLIS " + path;
  }
  maps.clear();
  std::ifstream again("/proc/self/maps");
  while (std::getline(again, line))
    if (line.find("/libblas.so") != std::string::npos)
      return "reference BLAS (slow: install libopenblas0-openmp) " + line.substr(line.find('/'));
  return "unknown";
}

std::vector<std::pair<std::string, std::string>> runtime_facts() {
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("mha2mla", MHA2MLA_VERSION);
  rows.emplace_back("LibTorch", TORCH_VERSION);
  rows.emplace_back("BLAS", loaded_blas());
  rows.emplace_back("threads (intra-op)", std::to_string(at::get_num_threads()));
  rows.emplace_back("cores", std::to_string(std::thread::hardware_concurrency()));

  char mpi_version[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(mpi_version, &length);
  std::string mpi(mpi_version, static_cast<size_t>(length));
  rows.emplace_back("MPI", trim(split(mpi, ',')[0]));

  bool cuda = at::hasCUDA();
  rows.emplace_back("CUDA", cuda ? "available" : "not available (CPU build or no device)");
#if defined(MHA2MLA_HAVE_NCCL)
  rows.emplace_back("NCCL", fmt::format("compiled in ({}.{}.{})", NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH));
#else
  rows.emplace_back("NCCL", "not compiled in (CUDA/NCCL not found at build time)");
#endif
  rows.emplace_back("Eigen", fmt::format("{}.{}.{}", EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION));
  rows.emplace_back("protobuf", google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION));
  rows.emplace_back("spdlog", fmt::format("{}.{}.{}", SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH));
  return rows;
}

}  // namespace mha2mla

// Process-wide runtime settings: intra-op threads, and the facts `mha2mla info` prints.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace mha2mla {

// Threads per rank: `requested` when > 0, else OMP_NUM_THREADS when set, else cores / ranks on this node.
// Returns the count applied to ATen's intra-op pool.
int configure_threads(long long requested, int ranks_on_this_node);

// Name of the BLAS library actually loaded (after a first matrix product), e.g. "OpenBLAS 0.3.21 (openmp)".
std::string loaded_blas();

// (name, value) rows: versions, BLAS, threads, MPI, CUDA/NCCL.
std::vector<std::pair<std::string, std::string>> runtime_facts();

}  // namespace mha2mla

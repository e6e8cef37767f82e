// Shared by the MPI tests: the runtime started in mpi_test_main.cpp.
#pragma once

#include "distributed/communicator.h"
#include "distributed/distributed_runtime.h"

namespace mha2mla::mpi_test {

dist::DistributedRuntime& runtime();
dist::Communicator& world();

}  // namespace mha2mla::mpi_test

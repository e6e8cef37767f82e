# Every external dependency is found here, once. Optional parts (CUDA, NCCL) only when found.
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(Torch REQUIRED)
find_package(MPI REQUIRED COMPONENTS CXX)
find_package(yaml-cpp REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(Protobuf REQUIRED)
find_package(Eigen3 REQUIRED NO_MODULE)
find_package(PkgConfig REQUIRED)
pkg_check_modules(TURBOJPEG REQUIRED IMPORTED_TARGET libturbojpeg)
pkg_check_modules(LIBPNG REQUIRED IMPORTED_TARGET libpng)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)

# Torch's imported target marks its headers as ordinary includes; make them SYSTEM so that
# -Wall -Wextra judge our code only.
get_target_property(_torch_includes torch INTERFACE_INCLUDE_DIRECTORIES)
if(_torch_includes)
  set_target_properties(torch PROPERTIES INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${_torch_includes}")
endif()

set(MHA2MLA_HAVE_CUDA OFF)
set(MHA2MLA_HAVE_NCCL OFF)
# CUDA parts need a LibTorch built with CUDA; a CUDA toolkit next to a CPU-only LibTorch is not enough.
set(MHA2MLA_TORCH_HAS_CUDA OFF)
if(TORCH_CUDA_LIBRARIES OR TARGET torch_cuda)
  set(MHA2MLA_TORCH_HAS_CUDA ON)
endif()
if(MHA2MLA_WITH_CUDA AND MHA2MLA_TORCH_HAS_CUDA)
  find_package(CUDAToolkit QUIET)
  if(CUDAToolkit_FOUND)
    set(MHA2MLA_HAVE_CUDA ON)
    find_path(MHA2MLA_NCCL_INCLUDE_DIR nccl.h
      HINTS ENV NCCL_HOME ENV NCCL_ROOT ${CUDAToolkit_INCLUDE_DIRS}
      PATH_SUFFIXES include)
    find_library(MHA2MLA_NCCL_LIBRARY NAMES nccl libnccl.so.2
      HINTS ENV NCCL_HOME ENV NCCL_ROOT ${CUDAToolkit_LIBRARY_DIR}
      PATH_SUFFIXES lib lib64)
    if(MHA2MLA_NCCL_INCLUDE_DIR AND MHA2MLA_NCCL_LIBRARY)
      set(MHA2MLA_HAVE_NCCL ON)
    endif()
  endif()
endif()

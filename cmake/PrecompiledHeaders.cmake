# Precompiled <ATen/ATen.h>: parsing it costs about 6 s of CPU per translation unit, most of a typical file's
# compile time; precompiled once, a clean build on 2 cores is many minutes shorter. Headers of the project still
# include only <ATen/core/Tensor.h> or forward declarations, so a build without it (MHA2MLA_PCH=OFF) stays correct.
option(MHA2MLA_PCH "Precompile <ATen/ATen.h> for the library, tests and benchmarks" ON)


# mha2mla_precompiled_aten(<target>): the library builds the header; every other C++ target reuses it.
function(mha2mla_precompiled_aten target)
  if(NOT MHA2MLA_PCH)
    return()
  endif()
  if(target STREQUAL "mha2mla_lib")
    target_precompile_headers(mha2mla_lib PRIVATE "$<$<COMPILE_LANGUAGE:CXX>:<ATen/ATen.h$<ANGLE-R>>")
  else()
    # The header was compiled with the library's -fPIC; GCC ignores it for -fPIE code, which executables get by
    # default. Position-independent code links into executables just as well.
    target_compile_options(${target} PRIVATE -fPIC)
    target_precompile_headers(${target} REUSE_FROM mha2mla_lib)
  endif()
endfunction()

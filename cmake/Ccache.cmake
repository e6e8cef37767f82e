# Use ccache when present: a warm rebuild on 2 cores drops from minutes to seconds. The sloppiness settings let
# ccache cache compiles that use the precompiled ATen header (cmake/PrecompiledHeaders.cmake).
find_program(MHA2MLA_CCACHE ccache)
if(MHA2MLA_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(MHA2MLA_CCACHE_LAUNCHER ${CMAKE_COMMAND} -E env
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime ${MHA2MLA_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${MHA2MLA_CCACHE_LAUNCHER})
  set(CMAKE_C_COMPILER_LAUNCHER ${MHA2MLA_CCACHE_LAUNCHER})
endif()

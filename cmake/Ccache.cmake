# Use ccache when present: a warm rebuild on 2 cores drops from minutes to seconds.
find_program(MHA2MLA_CCACHE ccache)
if(MHA2MLA_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${MHA2MLA_CCACHE})
  set(CMAKE_C_COMPILER_LAUNCHER ${MHA2MLA_CCACHE})
endif()

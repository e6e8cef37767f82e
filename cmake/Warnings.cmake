# Our own code builds warning-clean with -Wall -Wextra; third-party headers come in as SYSTEM.
option(MHA2MLA_WERROR "Treat warnings in our own code as errors" OFF)
function(mha2mla_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(MHA2MLA_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# Compile options applied to our own targets only (never to generated code or
# third-party headers): strict warnings as errors, optional sanitizers.

set(EDGE_WARNING_FLAGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Woverloaded-virtual
    -Wimplicit-fallthrough -Werror)
# GCC 12 reports false positives inside libstdc++ at -O2/-O3 (GCC bug 105329
# and friends: string concatenation flagged by -Wrestrict); keep them visible
# as warnings but do not fail the build on them.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND EDGE_WARNING_FLAGS -Wno-error=restrict -Wno-error=stringop-overflow -Wno-error=array-bounds -Wno-error=free-nonheap-object -Wno-error=maybe-uninitialized)
endif()

if(EDGE_SANITIZE)
  set(EDGE_SANITIZE_FLAGS -fsanitize=${EDGE_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  # Sanitizers must be on for every object linked into a binary, including
  # generated code, so they are applied globally.
  add_compile_options(${EDGE_SANITIZE_FLAGS})
  add_link_options(-fsanitize=${EDGE_SANITIZE})
endif()

# Marks a target as ours: warnings as errors.
function(edge_strict target)
  target_compile_options(${target} PRIVATE ${EDGE_WARNING_FLAGS})
endfunction()

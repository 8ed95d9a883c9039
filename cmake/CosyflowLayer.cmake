# cosyflow_add_library(NAME DIR DEPS...): a library from the .cpp files under DIR (recursive).
# With no sources yet it is an INTERFACE library, so the layering is in place from day one.
function(cosyflow_add_library name dir)
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${dir}/*.cpp)
  if(sources)
    add_library(${name} ${sources})
    target_link_libraries(${name} PUBLIC ${ARGN})
  else()
    add_library(${name} INTERFACE)
    target_link_libraries(${name} INTERFACE ${ARGN})
  endif()
endfunction()

# mimo_module(NAME [DIRS dir...] [DEPS ...]): the *.cpp and *.cu of each DIRS folder (default
# lib/NAME) as one static PIC library mimo_NAME. Modules are folded into the one shared libmimo;
# tests link them directly so they can reach internal (hidden) symbols.
set(MIMO_MODULES "" CACHE INTERNAL "")
function(mimo_module name)
  cmake_parse_arguments(M "" "" "DIRS;DEPS" ${ARGN})
  if(NOT M_DIRS)
    set(M_DIRS ${PROJECT_SOURCE_DIR}/lib/${name})
  endif()
  set(sources "")
  foreach(dir IN LISTS M_DIRS)
    file(GLOB dir_sources CONFIGURE_DEPENDS ${dir}/*.cpp ${dir}/*.cu)
    list(APPEND sources ${dir_sources})
  endforeach()
  if(NOT sources)
    # Header-only so far: an interface target keeps dependents linking.
    add_library(mimo_${name} INTERFACE)
    target_include_directories(mimo_${name} INTERFACE ${PROJECT_SOURCE_DIR}/include
                               ${PROJECT_SOURCE_DIR}/lib ${PROJECT_SOURCE_DIR})
    target_link_libraries(mimo_${name} INTERFACE ${M_DEPS})
    return()
  endif()
  add_library(mimo_${name} STATIC ${sources})
  target_include_directories(mimo_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/lib
                                                 ${PROJECT_SOURCE_DIR})
  target_compile_definitions(mimo_${name} PUBLIC MIMO_BUILDING_LIBRARY)
  set_target_properties(mimo_${name} PROPERTIES CXX_VISIBILITY_PRESET hidden
                        CUDA_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  target_compile_options(mimo_${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra>)
  target_link_libraries(mimo_${name} PUBLIC ${M_DEPS})
  set(MIMO_MODULES ${MIMO_MODULES} mimo_${name} CACHE INTERNAL "")
endfunction()

# The one shared library: every module folded in, only the public API (MIMO_API) exported.
add_library(mimo SHARED ${PROJECT_SOURCE_DIR}/lib/version.cpp)
add_library(mimo::mimo ALIAS mimo)
# Every module's objects go in whole; linking the modules too brings their dependencies
# (their archive members are never pulled again: the objects already define every symbol).
foreach(module IN LISTS MIMO_MODULES)
  target_sources(mimo PRIVATE $<TARGET_OBJECTS:${module}>)
  target_link_libraries(mimo PRIVATE ${module})
endforeach()
target_include_directories(mimo PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                                       $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_definitions(mimo PRIVATE MIMO_BUILDING_LIBRARY)
target_compile_features(mimo PUBLIC cxx_std_17)
set_target_properties(mimo PROPERTIES CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON
                      VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
                      OUTPUT_NAME mimo)
if(MIMO_WITH_CUDA)
  # cudart is linked statically: no libcuda (driver) dependency, so libmimo loads without a GPU.
  target_link_libraries(mimo PRIVATE CUDA::cudart_static)
endif()

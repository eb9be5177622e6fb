# `cmake --install` produces a package consumed with find_package(mimo CONFIG REQUIRED).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
install(TARGETS mimo EXPORT mimoTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/mimo DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT mimoTargets NAMESPACE mimo:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mimo)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/mimoConfig.cmake.in
  ${PROJECT_BINARY_DIR}/mimoConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mimo)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/mimoConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/mimoConfig.cmake ${PROJECT_BINARY_DIR}/mimoConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mimo)

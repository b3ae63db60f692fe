include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(CONVKIT_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/convkit")

install(TARGETS convkit EXPORT convkitTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/convkit" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(EXPORT convkitTargets NAMESPACE convkit:: DESTINATION "${CONVKIT_INSTALL_CMAKEDIR}")

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/convkitConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/convkitConfig.cmake" INSTALL_DESTINATION "${CONVKIT_INSTALL_CMAKEDIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/convkitConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}" COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/convkitConfig.cmake"
  "${PROJECT_BINARY_DIR}/convkitConfigVersion.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/convkitDependencies.cmake"
  DESTINATION "${CONVKIT_INSTALL_CMAKEDIR}")

# pkg-config, for builds that are not CMake: the exact libraries this build linked, by full path.
file(RELATIVE_PATH CONVKIT_PC_PREFIX_FROM_PCDIR "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
set(_convkit_private_libs ${OpenBLAS_LIBRARIES})
if(CONVKIT_OPENMP)
  list(APPEND _convkit_private_libs ${OpenMP_CXX_LIBRARIES})
endif()
list(APPEND _convkit_private_libs -lstdc++ -lm)
list(JOIN _convkit_private_libs " " CONVKIT_PC_PRIVATE_LIBS)
configure_file("${PROJECT_SOURCE_DIR}/cmake/convkit.pc.in" "${PROJECT_BINARY_DIR}/convkit.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/convkit.pc" DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")

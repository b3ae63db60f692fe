# What the static library needs from Debian's packages; also included by the installed package config, so a
# consumer finds exactly the same dependencies.
include(CMakeFindDependencyMacro)

# CONVKIT_OPENMP: the build option, or in an installed package what the library was built with (convkitConfig.cmake).
if(NOT DEFINED CONVKIT_OPENMP)
  set(CONVKIT_OPENMP ON)
endif()
if(CONVKIT_OPENMP)
  find_package(OpenMP REQUIRED COMPONENTS CXX)
  set(_convkit_openblas_build openblas-openmp)
else()
  # No OpenMP anywhere in the process: OpenBLAS's OpenMP build would bring libgomp and open its regions from any
  # thread whose OpenMP default is above one; convkit calls the BLAS single-threaded anyway.
  set(_convkit_openblas_build openblas-serial)
endif()

# Debian's libopenblas-*-dev ship a config that sets variables only; give it a target.
if(NOT TARGET OpenBLAS::OpenBLAS)
  # Prefer the build that matches CONVKIT_OPENMP whatever Debian's alternatives point at (docs/embedding.md, "Threads").
  find_package(OpenBLAS CONFIG REQUIRED
    HINTS "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/${_convkit_openblas_build}/cmake/openblas")
  add_library(OpenBLAS::OpenBLAS INTERFACE IMPORTED)
  set_target_properties(OpenBLAS::OpenBLAS PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${OpenBLAS_INCLUDE_DIRS}"
    INTERFACE_LINK_LIBRARIES "${OpenBLAS_LIBRARIES}")
endif()

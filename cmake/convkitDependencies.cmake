# What the static library needs from Debian's packages; also included by the installed package config, so a
# consumer finds exactly the same dependencies.
include(CMakeFindDependencyMacro)

find_package(OpenMP REQUIRED COMPONENTS CXX)

# Debian's libopenblas-openmp-dev ships a config that sets variables only; give it a target.
if(NOT TARGET OpenBLAS::OpenBLAS)
  # Prefer the OpenMP build whatever Debian's alternatives point at: convkit's threading relies on it (docs/embedding.md, "Threads").
  find_package(OpenBLAS CONFIG REQUIRED
    HINTS "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp/cmake/openblas")
  add_library(OpenBLAS::OpenBLAS INTERFACE IMPORTED)
  set_target_properties(OpenBLAS::OpenBLAS PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${OpenBLAS_INCLUDE_DIRS}"
    INTERFACE_LINK_LIBRARIES "${OpenBLAS_LIBRARIES}")
endif()

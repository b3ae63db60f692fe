# Builds and runs one of the examples/ consumers the way its users would, against a convkit installed into a
# scratch prefix (PREFIX, by the package_install test) or, for add_subdirectory, against the source tree itself.
#   MODE: find_package | pkg_config | add_subdirectory
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  message("${out}")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "failed (${result}): ${ARGN}")
  endif()
endfunction()

set(work "${WORK_DIR}/${MODE}")
file(REMOVE_RECURSE "${work}")
if(MODE STREQUAL "install")
  file(REMOVE_RECURSE "${PREFIX}")
  run("${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" --config "${BUILD_TYPE}")
elseif(MODE STREQUAL "find_package")
  run("${CMAKE_COMMAND}" -S "${SOURCE_DIR}/examples/find_package" -B "${work}" "-DCMAKE_PREFIX_PATH=${PREFIX}"
      "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
  run("${CMAKE_COMMAND}" --build "${work}")
  run("${work}/find_package_example")
elseif(MODE STREQUAL "pkg_config")
  file(GLOB_RECURSE pc_files "${PREFIX}/*/convkit.pc")
  list(GET pc_files 0 pc_file)
  get_filename_component(pc_dir "${pc_file}" DIRECTORY)
  execute_process(COMMAND "${CMAKE_COMMAND}" -E env "PKG_CONFIG_PATH=${pc_dir}" pkg-config --cflags --libs --static convkit
                  RESULT_VARIABLE result OUTPUT_VARIABLE flags ERROR_VARIABLE error OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "pkg-config failed: ${error}")
  endif()
  message("pkg-config --cflags --libs --static convkit: ${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  file(MAKE_DIRECTORY "${work}")
  run("${C_COMPILER}" -std=c99 -pedantic-errors -Wall "${SOURCE_DIR}/examples/pkg_config/main.c" ${flags}
      -o "${work}/pkg_config_example")
  run("${work}/pkg_config_example")
elseif(MODE STREQUAL "add_subdirectory")
  run("${CMAKE_COMMAND}" -S "${SOURCE_DIR}/examples/add_subdirectory" -B "${work}" "-DCONVKIT_SOURCE_DIR=${SOURCE_DIR}"
      "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
  run("${CMAKE_COMMAND}" --build "${work}" -j 2)
  run("${work}/add_subdirectory_example")
else()
  message(FATAL_ERROR "unknown MODE ${MODE}")
endif()

# ctest fixture for the JavaScript serve tests: installs the npm packages
# pinned in PACKAGE_JSON (the openai client, and OpenTelemetry's
# contrib-test-utils for its TestCollector) into NPM_PREFIX/node_modules.
#
# Run as: cmake -DNPM_PREFIX=<dir> -DPACKAGE_JSON=<path/to/package.json> -P this_file
#
# npm is only run when a pinned package is missing from NPM_PREFIX/node_modules
# or its version differs from the pin, so repeated ctest runs need no network.
# Without npm, or when npm install fails, this fails with the reason.
if(NOT NPM_PREFIX OR NOT PACKAGE_JSON)
  message(FATAL_ERROR "usage: cmake -DNPM_PREFIX=<dir> -DPACKAGE_JSON=<package.json> -P ${CMAKE_CURRENT_LIST_FILE}")
endif()
if(NOT EXISTS "${PACKAGE_JSON}")
  message(FATAL_ERROR "PACKAGE_JSON ${PACKAGE_JSON} does not exist")
endif()

# Every package the tests import, each pinned to an exact version.
set(packages openai @opentelemetry/contrib-test-utils)

file(READ "${PACKAGE_JSON}" manifest)
set(stale "")
foreach(package IN LISTS packages)
  string(JSON pinned ERROR_VARIABLE json_err GET "${manifest}" dependencies "${package}")
  if(json_err OR NOT pinned MATCHES "^[0-9]+\\.[0-9]+\\.[0-9]+$")
    message(FATAL_ERROR "${PACKAGE_JSON} must pin dependencies.${package} to an exact version "
                        "(got '${pinned}' ${json_err})")
  endif()
  string(MAKE_C_IDENTIFIER "${package}" key)  # '@' and '/' cannot name a variable
  set(pin_${key} "${pinned}")
  set(installed_json "${NPM_PREFIX}/node_modules/${package}/package.json")
  set(installed_version "")
  if(EXISTS "${installed_json}")
    file(READ "${installed_json}" text)
    string(JSON installed_version ERROR_VARIABLE json_err GET "${text}" version)
  endif()
  if(NOT installed_version STREQUAL pinned)
    if(installed_version)
      message(STATUS "${package} ${installed_version} in ${NPM_PREFIX} differs from pin ${pinned}")
    else()
      message(STATUS "${package} ${pinned} is not installed in ${NPM_PREFIX}")
    endif()
    list(APPEND stale "${package}")
  endif()
endforeach()

# Keep the copied manifest in step with the source (npm reads it from the prefix).
file(MAKE_DIRECTORY "${NPM_PREFIX}")
configure_file("${PACKAGE_JSON}" "${NPM_PREFIX}/package.json" COPYONLY)

if(NOT stale)
  message(STATUS "npm packages already installed in ${NPM_PREFIX}: ${packages}")
  return()
endif()

find_program(NPM npm)
if(NOT NPM)
  message(FATAL_ERROR "npm not found: it is needed to install ${stale} "
                      "for the JavaScript serve tests (apt-get install nodejs npm)")
endif()

message(STATUS "installing ${stale} into ${NPM_PREFIX}")
execute_process(
  COMMAND "${NPM}" install --no-audit --no-fund --loglevel=error --prefix "${NPM_PREFIX}"
  WORKING_DIRECTORY "${NPM_PREFIX}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "npm install --prefix ${NPM_PREFIX} failed (exit ${rc}):\n${out}${err}")
endif()

foreach(package IN LISTS packages)
  set(installed_json "${NPM_PREFIX}/node_modules/${package}/package.json")
  if(NOT EXISTS "${installed_json}")
    message(FATAL_ERROR "npm install succeeded but ${installed_json} is missing")
  endif()
  file(READ "${installed_json}" text)
  string(JSON installed_version GET "${text}" version)
  string(MAKE_C_IDENTIFIER "${package}" key)
  if(NOT installed_version STREQUAL pin_${key})
    message(FATAL_ERROR "npm installed ${package} ${installed_version}, expected the pin ${pin_${key}}")
  endif()
  message(STATUS "installed ${package} ${installed_version} into ${NPM_PREFIX}")
endforeach()

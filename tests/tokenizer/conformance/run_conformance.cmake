# ctest driver for the tokenizer conformance test: npm ci (cached in WORK_DIR while the lock
# file is unchanged), node expected.mjs, then the C++ comparator. Any failing step fails.
# cmake -DSOURCE_DIR=... -DWORK_DIR=... -DCOMPARATOR=... -P run_conformance.cmake
foreach(var SOURCE_DIR WORK_DIR COMPARATOR)
  if(NOT ${var})
    message(FATAL_ERROR "run_conformance.cmake needs -D${var}=")
  endif()
endforeach()
find_program(NPM npm REQUIRED)
find_program(NODE node REQUIRED)
file(MAKE_DIRECTORY ${WORK_DIR})
foreach(name package.json package-lock.json reference.mjs expected.mjs)
  configure_file(${SOURCE_DIR}/${name} ${WORK_DIR}/${name} COPYONLY)
endforeach()

set(stamp ${WORK_DIR}/node_modules/.mimo-lock-copy)
set(need_install TRUE)
if(EXISTS ${stamp})
  file(SHA256 ${stamp} old_hash)
  file(SHA256 ${SOURCE_DIR}/package-lock.json new_hash)
  if(old_hash STREQUAL new_hash)
    set(need_install FALSE)
  endif()
endif()
if(need_install)
  execute_process(COMMAND ${NPM} ci --no-audit --no-fund WORKING_DIRECTORY ${WORK_DIR}
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "npm ci failed (${rc}) in ${WORK_DIR}")
  endif()
  configure_file(${SOURCE_DIR}/package-lock.json ${stamp} COPYONLY)
endif()

execute_process(COMMAND ${NODE} expected.mjs ${SOURCE_DIR}/corpus.json ${SOURCE_DIR}/chats.json
                        ${WORK_DIR}/out
                WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "node expected.mjs failed (${rc})")
endif()

execute_process(COMMAND ${COMPARATOR} ${SOURCE_DIR}/corpus.json ${SOURCE_DIR}/chats.json
                        ${WORK_DIR}/out/expected_tokens.json ${WORK_DIR}/out/expected_chat.json
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tokenizer conformance: mismatches against the JS references (${rc})")
endif()

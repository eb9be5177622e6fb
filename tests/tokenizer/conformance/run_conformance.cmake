# ctest driver for the tokenizer conformance test: npm ci (cached in WORK_DIR while the lock
# file is unchanged), node expected.mjs, then the C++ comparator. Any failing step fails.
# cmake -DSOURCE_DIR=... -DWORK_DIR=... -DCOMPARATOR=... -P run_conformance.cmake
foreach(var SOURCE_DIR WORK_DIR COMPARATOR)
  if(NOT ${var})
    message(FATAL_ERROR "run_conformance.cmake needs -D${var}=")
  endif()
endforeach()
include(${CMAKE_CURRENT_LIST_DIR}/../../../cmake/npm_ci.cmake)
mimo_npm_ci(${SOURCE_DIR} ${WORK_DIR} reference.mjs expected.mjs)

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

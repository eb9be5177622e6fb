# ctest driver of the mimo-server end-to-end test: installs the pinned OpenAI client (npm ci,
# cached in WORK_DIR while the lock file is unchanged), then runs e2e.mjs, which starts the
# server on the demo model itself. Any failing step fails the test.
# cmake -DSOURCE_DIR=... -DWORK_DIR=... -DSERVER=... -DMODEL=... -DDRAFTER=... -P run_e2e.cmake
foreach(var SOURCE_DIR WORK_DIR SERVER MODEL DRAFTER)
  if(NOT ${var})
    message(FATAL_ERROR "run_e2e.cmake needs -D${var}=")
  endif()
endforeach()
include(${CMAKE_CURRENT_LIST_DIR}/../../../cmake/npm_ci.cmake)
mimo_npm_ci(${SOURCE_DIR} ${WORK_DIR} e2e.mjs abort_storm.mjs json_format.mjs
            prefix_reuse.mjs)
execute_process(COMMAND ${NODE} e2e.mjs ${SERVER} ${MODEL} ${DRAFTER}
                        ${SOURCE_DIR}/chatml_tools.jinja
                WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "mimo-server end-to-end checks failed (${rc})")
endif()

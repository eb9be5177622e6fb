# ctest driver: re-renders the chat template fixture with the pinned npm packages (npm ci,
# cached in WORK_DIR while the lock file is unchanged) and fails when the committed
# templates.json / expected.json differ from what @huggingface/jinja renders now. The C++ side
# is checked against the committed files by tests/jinja/conformance_test.cpp (no network).
# Then the differential check: random templates rendered by the reference (differential.mjs)
# must render the same in mimo (DIFFERENTIAL, the mimo_jinja_differential binary).
# cmake -DSOURCE_DIR=... -DWORK_DIR=... -DDIFFERENTIAL=... -P check_fixture.cmake
foreach(var SOURCE_DIR WORK_DIR DIFFERENTIAL)
  if(NOT ${var})
    message(FATAL_ERROR "check_fixture.cmake needs -D${var}=")
  endif()
endforeach()
include(${CMAKE_CURRENT_LIST_DIR}/../../../cmake/npm_ci.cmake)
mimo_npm_ci(${SOURCE_DIR} ${WORK_DIR} render.mjs differential.mjs families.json
            conversations.json)

execute_process(COMMAND ${NODE} render.mjs ${WORK_DIR}/out WORKING_DIRECTORY ${WORK_DIR}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "node render.mjs failed (${rc})")
endif()
foreach(name templates.json expected.json)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK_DIR}/out/${name}
                          ${SOURCE_DIR}/${name} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${SOURCE_DIR}/${name} differs from what the pinned npm packages render "
                        "(${WORK_DIR}/out/${name}); regenerate it with `node render.mjs .` there")
  endif()
endforeach()
message(STATUS "chat template fixture matches @huggingface/jinja")

foreach(seed 1 2 3)
  execute_process(COMMAND ${NODE} differential.mjs ${seed} 4000 ${WORK_DIR}/out/random_${seed}.json
                  WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "node differential.mjs failed (${rc})")
  endif()
  execute_process(COMMAND ${DIFFERENTIAL} ${WORK_DIR}/out/random_${seed}.json RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "mimo differs from @huggingface/jinja on random templates (seed ${seed})")
  endif()
endforeach()

# Shared by the ctest drivers that run JavaScript references (cmake -P scripts): copies a
# package.json / package-lock.json pair and the scripts next to them into a work directory and
# installs the pinned packages there with `npm ci`, again only when the lock file changed.
#   include(<repo>/cmake/npm_ci.cmake)
#   mimo_npm_ci(SOURCE_DIR WORK_DIR file...)   # file...: more files of SOURCE_DIR to copy
# Needs node and npm (sets NODE and NPM); any failure is fatal, never a skip.
find_program(NPM npm REQUIRED)
find_program(NODE node REQUIRED)

function(mimo_npm_ci source_dir work_dir)
  file(MAKE_DIRECTORY ${work_dir})
  foreach(name package.json package-lock.json ${ARGN})
    configure_file(${source_dir}/${name} ${work_dir}/${name} COPYONLY)
  endforeach()
  set(stamp ${work_dir}/node_modules/.mimo-lock-copy)
  if(EXISTS ${stamp})
    file(SHA256 ${stamp} old_hash)
    file(SHA256 ${source_dir}/package-lock.json new_hash)
    if(old_hash STREQUAL new_hash)
      return()
    endif()
  endif()
  execute_process(COMMAND ${NPM} ci --no-audit --no-fund WORKING_DIRECTORY ${work_dir}
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "npm ci failed (${rc}) in ${work_dir}")
  endif()
  configure_file(${source_dir}/package-lock.json ${stamp} COPYONLY)
endfunction()

# The include rules of the layers (README "Layout", docs/design.md "Layers"), checked on every build:
# a lower layer that includes a higher one fails the build with the file, the line and the rule.
#   cmake -DROOT=<source dir> [-DSTAMP=<file written on success>] -P cmake/check_layers.cmake
#
# Each rule: the folder a file is in, then the include prefixes it may not use. "except:" lists the
# includes a rule lets through.
set(rules
  "include/tapewire/|src/,operators/"
  "operators/|src/"
  "src/base/|src/http/,src/config/,src/net/,src/sources/,src/kafka/,src/sink/,src/sql/,src/runtime/,src/cli,operators/"
  "src/net/|src/http/,src/config/,src/sources/,src/kafka/,src/sink/,src/sql/,src/runtime/,src/cli,operators/"
  "src/sql/|src/http/,src/config/,src/net/,src/sources/,src/kafka/,src/sink/,src/runtime/,src/cli"
  "src/kafka/|src/http/,src/config/,src/net/,src/sources/,src/sink/,src/sql/,src/runtime/,src/cli"
  "src/sources/|src/http/,src/config/,src/kafka/,src/sink/,src/sql/,src/runtime/,src/cli"
  "src/sink/|src/http/,src/config/,src/sources/,src/kafka/,src/runtime/,src/cli|except:src/kafka/producer.hpp"
  "src/http/|src/config/,src/sources/,src/kafka/,src/sink/,src/sql/,src/runtime/,src/cli,operators/"
  "src/config/|src/http/,src/sources/,src/kafka/,src/sink/,src/sql/,src/runtime/,src/cli,operators/"
)

if(NOT ROOT)
  message(FATAL_ERROR "check_layers: pass -DROOT=<source dir>")
endif()
file(GLOB_RECURSE files RELATIVE ${ROOT} ${ROOT}/include/*.hpp ${ROOT}/operators/*.hpp ${ROOT}/operators/*.cpp
     ${ROOT}/src/*.hpp ${ROOT}/src/*.cpp)
set(broken "")
foreach(f IN LISTS files)
  foreach(rule IN LISTS rules)
    string(REPLACE "|" ";" parts "${rule}")
    list(GET parts 0 folder)
    list(GET parts 1 banned)
    set(banned_list "${banned}")
    set(allowed "")
    list(LENGTH parts n)
    if(n GREATER 2)
      list(GET parts 2 allowed)
      string(REPLACE "except:" "" allowed "${allowed}")
    endif()
    string(FIND "${f}" "${folder}" at)
    if(NOT at EQUAL 0)
      continue()
    endif()
    file(STRINGS ${ROOT}/${f} lines)
    set(line_no 0)
    foreach(line IN LISTS lines)
      math(EXPR line_no "${line_no} + 1")
      if(NOT line MATCHES "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\"")
        continue()
      endif()
      set(inc "${CMAKE_MATCH_1}")
      string(REPLACE "," ";" banned_items "${banned_list}")
      foreach(b IN LISTS banned_items)
        string(FIND "${inc}" "${b}" hit)
        if(hit EQUAL 0 AND NOT inc STREQUAL allowed)
          string(APPEND broken "  ${f}:${line_no}: includes \"${inc}\": ${folder} may not include ${b}\n")
        endif()
      endforeach()
    endforeach()
  endforeach()
endforeach()
if(broken)
  message(FATAL_ERROR "A lower layer includes a higher one (cmake/check_layers.cmake):\n${broken}")
endif()
if(STAMP)
  file(TOUCH ${STAMP})
endif()

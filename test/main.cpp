// The one test binary's main; tests live in *_test.cpp beside it, tagged by area.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

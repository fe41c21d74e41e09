#include "src/cli.hpp"

int main(int argc, char** argv) { return tapewire::run_cli(argc, argv); }

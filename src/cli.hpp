// The command line: run, check-config, version. Returns the process exit code
// (0 ok, 1 runtime failure, 2 usage or configuration error).
#pragma once

namespace tapewire {

int run_cli(int argc, char** argv);

} // namespace tapewire

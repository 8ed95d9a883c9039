// `cosyflow --version`: version and build configuration.
#include <fmt/format.h>

#include "apps/cli/commands.h"
#include "runtime/build_info.h"

namespace cosyflow::cli {
namespace {
int g_exit_code = 0;
}

int ExitCode() { return g_exit_code; }
void SetExitCode(int code) { g_exit_code = code; }

void PrintVersion() { fmt::print("{}\n", BuildInfo()); }

}  // namespace cosyflow::cli

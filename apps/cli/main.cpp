// cosyflow command-line entry point: dispatches to the subcommands.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "apps/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"cosyflow: CosyVoice 2 text-to-speech engine"};
  app.require_subcommand(0, 1);
  bool version = false;
  app.add_flag("--version", version, "Print the version and build configuration");
  cosyflow::cli::RegisterInspect(app);
  cosyflow::cli::RegisterTokenize(app);
  cosyflow::cli::RegisterNormalize(app);
  cosyflow::cli::RegisterCheck(app);
  cosyflow::cli::RegisterSynth(app);
  cosyflow::cli::RegisterServe(app);
  cosyflow::cli::RegisterSay(app);
  cosyflow::cli::RegisterVoice(app);
  cosyflow::cli::RegisterHttp(app);
  cosyflow::cli::RegisterWyoming(app);
  CLI11_PARSE(app, argc, argv);
  if (version || app.get_subcommands().empty()) {
    cosyflow::cli::PrintVersion();
    return 0;
  }
  return cosyflow::cli::ExitCode();
}

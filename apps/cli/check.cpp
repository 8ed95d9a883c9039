// `cosyflow check FILE... [--load] [--model-dir DIR]`: validates graph files, printing every error.
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "apps/cli/commands.h"
#include "bridges/zmq_send_node.h"
#include "graph/graph_plan.h"

namespace cosyflow::cli {

namespace {
struct CheckArgs {
  std::vector<std::string> files;
  bool load = false;
  std::string model_dir;
};

void RunCheck(const CheckArgs& args) {
  int bad = 0;
  for (const std::string& file : args.files) {
    ErrorList errors;
    GraphLoadOptions options;
    options.model_dir = args.model_dir;
    (void)CheckGraphFile(file, bridges::FullNodeRegistry(), options, args.load, &errors);
    if (errors.empty()) {
      fmt::print("{}: ok{}\n", file, args.load ? " (loaded)" : "");
      continue;
    }
    ++bad;
    for (const ConfigError& e : errors.errors()) {
      fmt::print(stderr, "{}: {}\n", file, e.ToString());
    }
  }
  if (bad) SetExitCode(1);
}
}  // namespace

void RegisterCheck(CLI::App& app) {
  auto args = std::make_shared<CheckArgs>();
  CLI::App* cmd = app.add_subcommand(
      "check", "Validate graph files (parse + graph checks; --load also creates the nodes)");
  cmd->add_option("files", args->files, "Graph files (JSON)")->required();
  cmd->add_flag("--load", args->load, "Also run pass 3: create nodes (files, weights)");
  cmd->add_option("--model-dir", args->model_dir, "Override the files' model_dir");
  cmd->callback([args] { RunCheck(*args); });
}

}  // namespace cosyflow::cli

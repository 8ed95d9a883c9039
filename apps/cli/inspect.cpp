// `cosyflow inspect FILE...`: lists the tensors of .pt / .safetensors / .npy files.
#include <fmt/format.h>

#include <string>
#include <vector>

#include "apps/cli/commands.h"
#include "runtime/io/checkpoint.h"

namespace cosyflow::cli {
namespace {

// Prints `name dtype [d0,...]` per tensor in file order, then `N tensors, P parameters`.
int InspectFile(const std::string& path) {
  Result<Checkpoint> ckpt = Checkpoint::Open(path);
  if (!ckpt.ok()) {
    fmt::print(stderr, "cosyflow inspect: {}\n", ckpt.status().ToString());
    return 1;
  }
  fmt::print("{}", FormatCheckpointListing(*ckpt));
  return 0;
}

}  // namespace

void RegisterInspect(CLI::App& app) {
  auto files = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = app.add_subcommand(
      "inspect", "List the tensors of checkpoint files (.pt zip, .safetensors, .npy)");
  cmd->add_option("files", *files, "Checkpoint files")->required();
  cmd->callback([files] {
    int rc = 0;
    for (size_t i = 0; i < files->size(); ++i) {
      if (files->size() > 1) fmt::print("{}==> {} <==\n", i == 0 ? "" : "\n", (*files)[i]);
      if (InspectFile((*files)[i]) != 0) rc = 1;
    }
    SetExitCode(rc);
  });
}

}  // namespace cosyflow::cli

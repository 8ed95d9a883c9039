// `cosyflow inspect FILE...`: lists the tensors of .pt / .safetensors / .npy files, or
// summarises an .onnx model (opsets, inputs/outputs, initializers, op types, unsupported ops).
#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <vector>

#include "apps/cli/commands.h"
#include "runtime/io/checkpoint.h"
#include "runtime/onnx/model.h"

namespace cosyflow::cli {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// ONNX files are protobuf ModelProto messages, which open with field 1 (ir_version, varint):
// tag byte 0x08. Only a hint: a safetensors header length can start with that byte too, so
// files without the .onnx extension are tried as checkpoints first.
bool StartsLikeOnnx(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  const int c = std::fgetc(f);
  std::fclose(f);
  return c == 0x08;
}

// `plan`: also build the execution plan (loads every weight) and print its statistics.
int InspectOnnx(const std::string& path, bool plan) {
  if (plan) {
    auto model = onnx::Model::Load(path);
    if (!model.ok()) {
      fmt::print(stderr, "cosyflow inspect: {}\n", model.status().ToString());
      return 1;
    }
    fmt::print("{}", (*model)->Describe());
    return 0;
  }
  Result<std::string> text = onnx::DescribeFile(path);
  if (!text.ok()) {
    fmt::print(stderr, "cosyflow inspect: {}\n", text.status().ToString());
    return 1;
  }
  fmt::print("{}", *text);
  return 0;
}

// Prints `name dtype [d0,...]` per tensor in file order, then `N tensors, P parameters`.
int InspectFile(const std::string& path, bool plan) {
  if (EndsWith(path, ".onnx")) return InspectOnnx(path, plan);
  Result<Checkpoint> ckpt = Checkpoint::Open(path);
  if (!ckpt.ok() && StartsLikeOnnx(path)) return InspectOnnx(path, plan);
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
  auto plan = std::make_shared<bool>(false);
  CLI::App* cmd =
      app.add_subcommand("inspect",
                         "List the tensors of checkpoint files (.pt zip, .safetensors, .npy) or "
                         "summarise ONNX models (.onnx)");
  cmd->add_option("files", *files, "Checkpoint or ONNX files")->required();
  cmd->add_flag("--plan", *plan,
                "ONNX: also load the model and print its execution plan statistics");
  cmd->callback([files, plan] {
    int rc = 0;
    for (size_t i = 0; i < files->size(); ++i) {
      if (files->size() > 1) fmt::print("{}==> {} <==\n", i == 0 ? "" : "\n", (*files)[i]);
      if (InspectFile((*files)[i], *plan) != 0) rc = 1;
    }
    SetExitCode(rc);
  });
}

}  // namespace cosyflow::cli

// Graph file validation: every shipped config passes, every broken file reports its exact path.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "graph/builtin_nodes.h"
#include "graph/graph_plan.h"
#include "graph/synthesis.h"
#include "tests/test_util.h"

namespace cosyflow {
namespace {

using test::RepoDir;

ErrorList Check(const std::string& path, bool create = false) {
  ErrorList errors;
  (void)CheckGraphFile(path, BuiltinNodeRegistry(), {}, create, &errors);
  return errors;
}

// Passes 1-2 on every config; pass 3 (create: files, weights) on every config whose model_dir
// is present. Only configs for downloaded weights (model_dir under pretrained_models/, see
// configs/README.md "Files here") may lack it; their pass 3 runs once the weights are there.
TEST_CASE("Graph check: every file in configs/ passes passes 1-2, and 3 where its files exist") {
  int n = 0, loaded = 0, downloads = 0;
  for (const auto& e : std::filesystem::directory_iterator(RepoDir() + "/configs")) {
    if (e.path().extension() != ".json") continue;
    CAPTURE(e.path().string());
    ErrorList errors = Check(e.path().string(), /*create=*/false);
    CHECK_MESSAGE(errors.empty(), errors.ToString());
    ErrorList parse_errors;
    const GraphFile file = ParseGraphFile(e.path().string(), &parse_errors);
    REQUIRE(parse_errors.empty());
    CAPTURE(file.model_dir);
    if (!std::filesystem::is_directory(file.model_dir)) {
      CHECK_MESSAGE(file.model_dir.find("pretrained_models") != std::string::npos,
                    "model_dir is missing and is not a download location");
      ++downloads;
    } else {
      errors = Check(e.path().string(), /*create=*/true);
      CHECK_MESSAGE(errors.empty(), errors.ToString());
      ++loaded;
    }
    ++n;
  }
  CHECK(n >= 3);
  CHECK(loaded + downloads == n);
  // Today tts.json and tts_fast.json need downloaded weights; every other config loads here.
  CHECK(downloads <= 2);
  CHECK(loaded >= 3);
}

struct Broken {
  const char* file;
  const char* path;
  const char* fragment;
};

TEST_CASE("Graph check: broken files report the exact error path") {
  const Broken cases[] = {
      {"unknown_type.json", "nodes[0](r).type", "unknown node type 'Resampla'"},
      {"unknown_option.json", "nodes[0](r).options.output_rat", "unknown key"},
      {"wrong_value_type.json", "nodes[0](r).options.output_rate", "expected integer, got string"},
      {"missing_edge_endpoint.json", "edges[0].to", "unknown node 'sink'"},
      {"port_type_mismatch.json", "edges[1]", "r.out emits Audio, src.request expects TextRequest"},
      {"cycle.json", "edges[0]", "part of a cycle"},
      {"duplicate_id.json", "nodes[1](r).id", "duplicate id 'r' (first at nodes[0](r))"},
      {"invalid_json.json", "", "invalid JSON at line 3, column 12"},
      {"unknown_top_key.json", "edgez", "unknown key"},
      {"negative_threads.json", "limits.threads", "must be in [0, 4096]"},
      {"number_overflow.json", "", "number overflow parsing '1e999'"},
      {"deep_nesting.json", "", "nodes.0.options.x.0.0.0"},
      {"model_dir_number.json", "model_dir", "expected string, got integer 5"},
      {"type_number.json", "nodes[0](r).type", "expected string, got integer 3"},
      {"empty_input_name.json", "inputs[0].name", "must not be empty"},
      {"empty_output_name.json", "outputs[0].name", "must not be empty"},
      {"empty_node_id.json", "nodes[1].id", "must not be empty"},
  };
  for (const Broken& b : cases) {
    CAPTURE(b.file);
    ErrorList errors = Check(RepoDir() + "/tests/graph/broken/" + b.file);
    REQUIRE(!errors.empty());
    bool found = false;
    for (const ConfigError& e : errors.errors()) {
      if (e.path == b.path && e.message.find(b.fragment) != std::string::npos) found = true;
    }
    CHECK_MESSAGE(found, errors.ToString());
  }
}

// The loader every door uses patches the graph before validating it: the same files fail
// there with the same errors, never a JSON exception (abort) or a recursion deep enough to
// overflow the stack (a 100 000-level document).
TEST_CASE("Graph check: LoadPipeline reports broken files as errors, never throws") {
  for (const char* file : {"number_overflow.json", "deep_nesting.json", "model_dir_number.json",
                           "type_number.json", "invalid_json.json"}) {
    CAPTURE(file);
    tts::GraphInfo info;
    auto p = tts::LoadPipeline(RepoDir() + "/tests/graph/broken/" + file, {}, &info);
    REQUIRE(!p.ok());
    CHECK(p.status().message().find(file) != std::string::npos);
  }
  const std::string deep = (std::filesystem::temp_directory_path() / "cosyflow_deep.json").string();
  std::ofstream(deep) << std::string(100000, '[') << std::string(100000, ']');
  tts::GraphInfo info;
  auto p = tts::LoadPipeline(deep, {}, &info);
  REQUIRE(!p.ok());
  CHECK(p.status().message().find("nested deeper than 64 levels") != std::string::npos);
  // Refused while parsing, before the document is built: a deep file that never closes its
  // brackets gets the depth error, not the syntax error at its end.
  std::ofstream(deep) << std::string(100000, '[');
  p = tts::LoadPipeline(deep, {}, &info);
  REQUIRE(!p.ok());
  CHECK(p.status().message().find("nested deeper than 64 levels") != std::string::npos);
  auto loaded = Pipeline::Load(deep);
  REQUIRE(!loaded.ok());
  CHECK(loaded.status().message().find("nested deeper than 64 levels") != std::string::npos);
  std::filesystem::remove(deep);
  // A directory given as the graph file says so (it read as an empty, invalid JSON text).
  p = tts::LoadPipeline(std::filesystem::temp_directory_path().string(), {}, &info);
  REQUIRE(!p.ok());
  CHECK(p.status().message().find("is a directory") != std::string::npos);
  const ErrorList dir_errors = Check(std::filesystem::temp_directory_path().string());
  CHECK(dir_errors.ToString().find("is a directory") != std::string::npos);
  // An endless or huge file is refused at 16 MiB instead of read until the allocator throws
  // (std::bad_alloc ended the process).
  const std::string sparse = deep + ".big";
  std::ofstream(sparse).put(' ');
  std::filesystem::resize_file(sparse, (uint64_t{16} << 20) + 1);  // sparse: no disk used
  for (const std::string& big : {std::string("/dev/zero"), sparse}) {
    CAPTURE(big);
    p = tts::LoadPipeline(big, {}, &info);
    REQUIRE(!p.ok());
    CHECK(p.status().message().find("larger than 16777216 bytes") != std::string::npos);
    CHECK(Check(big).ToString().find("larger than 16777216 bytes") != std::string::npos);
  }
  std::filesystem::remove(sparse);
  // Two values for one key: refused with the object's path (nlohmann kept the last silently).
  const std::string dup = deep + ".dup.json";
  std::ofstream(dup) << R"({"format": 1, "nodes": [{"id": "r", "type": "Resample", "options":
    {"input_rate": 24000, "output_rate": 16000, "output_rate": 8000}}], "edges": []})";
  p = tts::LoadPipeline(dup, {}, &info);
  REQUIRE(!p.ok());
  CHECK(p.status().message().find("key 'output_rate' appears twice in the object at "
                                  "nodes[0].options") != std::string::npos);
  CHECK(Check(dup).ToString().find("key 'output_rate' appears twice in the object at "
                                   "nodes[0].options") != std::string::npos);
  std::filesystem::remove(dup);
  // A threads override beyond the graph files' own limit is refused, not used.
  tts::GraphOverrides o;
  o.threads = 100000;
  p = tts::LoadPipeline(RepoDir() + "/configs/resample_stream.json", o, &info);
  REQUIRE(!p.ok());
  CHECK(p.status().message().find("threads must be in [0, 4096]") != std::string::npos);
}

TEST_CASE("Graph check: all errors are collected, not just the first") {
  ErrorList errors;
  GraphFile f = ParseGraphText(R"({"format": 1, "inputs": [{"name": "a", "to": "x.in"}],
    "nodes": [{"id": "x", "type": "Resampler", "options": {"output_rate": 5, "quality": "best"}},
              {"id": "y", "type": "Nope"}]})", "<t>", "", &errors);
  REQUIRE(errors.empty());
  (void)BuildGraphPlan(std::move(f), BuiltinNodeRegistry(), &errors);
  CHECK(errors.HasPath("nodes[0](x).options.quality"));
  CHECK(errors.HasPath("nodes[1](y).type"));
  CHECK(errors.HasPath("nodes[0](x).outputs.out"));
}

TEST_CASE("Graph check: pass 3 reports missing files at the node path") {
  ErrorList errors;
  GraphFile f = ParseGraphText(R"({"format": 1, "model_dir": "/nonexistent",
    "inputs": [{"name": "r", "to": "src.request"}], "outputs": [{"name": "a", "from": "src.out"}],
    "nodes": [{"id": "src", "type": "AudioFileSource", "options": {"path": "voice.wav"}}]})",
                               "<t>", "", &errors);
  auto plan = BuildGraphPlan(std::move(f), BuiltinNodeRegistry(), &errors);
  REQUIRE(errors.empty());
  auto nodes = CreateGraphNodes(*plan, &errors);
  CHECK(nodes.empty());
  REQUIRE(errors.HasPath("nodes[0](src)"));
  CHECK(errors.errors()[0].message.find("/nonexistent/voice.wav") != std::string::npos);
}

TEST_CASE("Graph check: relative model_dir resolves against the graph file's directory") {
  ErrorList errors;
  GraphFile f = ParseGraphText(R"({"format": 1, "model_dir": "models", "inputs": [], "nodes": []})",
                               "<t>", "/srv/graphs", &errors);
  CHECK(f.model_dir == "/srv/graphs/models");
}

}  // namespace
}  // namespace cosyflow

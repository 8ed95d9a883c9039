// libFuzzer target for the voice store reader (nodes/voice/voice_store.h; build:
// -DCOSYFLOW_FUZZ=ON).
//
// Each input is the data.pkl of an spk2info.pt archive that also holds storages "0".."23"
// (8 KiB each, a fixed pattern), so the pickle, the nested "<id>.<key>" dict flattening and
// voice::VoiceFromEntry (key checks, dtype conversion, token/mel/embedding shape checks) all see
// fuzzed data. Seed: the data.pkl of tests/fixtures/voices/spk2info_torch.pt (extracted at
// configure time). Any error must be a Status naming the file; a voice read must be consistent.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "nodes/voice/voice_store.h"
#include "runtime/io/checkpoint.h"
#include "tests/runtime/io/io_test_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cosyflow;
  static const std::vector<std::pair<std::string, test::Bytes>> storages = [] {
    std::vector<std::pair<std::string, test::Bytes>> s;
    for (int k = 0; k < 24; ++k) {
      test::Bytes b(8192);
      for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>((i * 7 + k) & 0x3f);
      s.push_back({std::to_string(k), std::move(b)});
    }
    return s;
  }();
  const test::Bytes archive = test::TorchZip(test::Bytes(data, data + size), storages);
  auto ckpt = Checkpoint::OpenBytes("spk2info.pt", archive);
  if (!ckpt.ok()) {
    if (ckpt.status().message().find("spk2info.pt") != 0) std::abort();
    return 0;
  }
  // Group "<id>.<key>" as VoiceStore::ReadAll does (keys have no '.').
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, Tensor>>>> voices;
  for (const CheckpointEntry& e : ckpt->entries()) {
    const size_t dot = e.name.rfind('.');
    if (dot == std::string::npos || dot == 0) return 0;
    const std::string id = e.name.substr(0, dot);
    auto it = std::find_if(voices.begin(), voices.end(), [&](auto& v) { return v.first == id; });
    if (it == voices.end()) it = voices.insert(voices.end(), {id, {}});
    it->second.emplace_back(e.name.substr(dot + 1), e.tensor);
  }
  for (const auto& [id, entry] : voices) {
    auto v = voice::VoiceFromEntry(id, entry, "spk2info.pt voice '" + id + "'");
    if (!v.ok()) {
      if (v.status().message().empty()) std::abort();
      continue;
    }
    if (v->feat.size() % VoicePrompt::kMelBins != 0) std::abort();
    if (!v->embedding.empty() && v->embedding.size() != VoicePrompt::kEmbeddingDim) std::abort();
    // A readable voice converts back to an entry.
    if (!voice::VoiceToEntry(*v).ok()) std::abort();
  }
  return 0;
}

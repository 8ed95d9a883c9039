// libFuzzer target for the pickle VM and the torch loader behind it (build: -DCOSYFLOW_FUZZ=ON).
//
// Each input runs twice: through io::Unpickle alone, and as the data.pkl of a torch zip archive
// that also holds storages "0".."3" (64 bytes each), so tensor rebuilding, flattening and the
// storage/offset checks see fuzzed pickles too. Any error must be a Status with a message.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "runtime/io/checkpoint.h"
#include "runtime/io/pickle.h"
#include "tests/runtime/io/io_test_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cosyflow;
  const std::span<const uint8_t> bytes(data, size);
  auto doc = io::Unpickle(bytes, "fuzz.pkl");
  if (!doc.ok() && doc.status().message().find("fuzz.pkl") != 0) std::abort();

  std::vector<std::pair<std::string, test::Bytes>> storages;
  for (int k = 0; k < 4; ++k) storages.push_back({std::to_string(k), test::Bytes(64, 0x3f)});
  const test::Bytes archive = test::TorchZip(test::Bytes(bytes.begin(), bytes.end()), storages);
  auto ckpt = Checkpoint::OpenBytes("fuzz.pt", archive);
  if (!ckpt.ok()) {
    if (ckpt.status().message().find("fuzz.pt") != 0) std::abort();
    return 0;
  }
  // Touch both ends of every tensor so an out-of-bounds view trips AddressSanitizer.
  volatile uint8_t sink = 0;
  for (const CheckpointEntry& e : ckpt->entries()) {
    const Tensor& t = e.tensor;
    if (t.numel() == 0) continue;
    int64_t last = 0;
    for (int d = 0; d < t.dim(); ++d) last += (t.size(d) - 1) * t.stride(d);
    const auto* p = static_cast<const uint8_t*>(t.raw());
    sink = sink ^ p[0] ^ p[last * static_cast<int64_t>(DTypeSize(t.dtype()))];
  }
  return 0;
}

// libFuzzer target for the bridge wire decoder (build: -DCOSYFLOW_FUZZ=ON).
//
// Each input is decoded as one received frame, with and without a keeper (zero-copy tensor
// views and copies), under the default limits and under tight ones. Any error must be a Status
// whose message starts with "wire: "; a decoded message must re-encode.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "bridges/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cosyflow::bridges;
  auto copy = std::make_shared<std::vector<uint8_t>>(data, data + size);
  WireLimits tight;
  tight.max_message_bytes = 4096;
  tight.max_depth = 4;
  tight.max_tables = 16;
  for (const WireLimits& limits : {WireLimits{}, tight}) {
    for (bool keep : {true, false}) {
      auto e = DecodeEnvelope(copy->data(), copy->size(), limits, keep ? copy : nullptr);
      if (!e.ok()) {
        if (e.status().message().rfind("wire: ", 0) != 0) std::abort();
        continue;
      }
      if (e->kind == EnvelopeKind::kData && !EncodeMessage(*e->message).ok()) std::abort();
    }
  }
  return 0;
}

// ResamplerNode ("Resampler"): converts an Audio stream to a fixed output sample rate.
//
// Ports:   in  Audio [n] f32 mono at any rate (all chunks of one session share one rate)
//          out Audio [m] f32 mono at output_rate
// Options: output_rate  int Hz, default 16000, range [1000, 768000]
//          input_rate   int Hz, default 0 = take the rate from the first chunk; when set, a
//                       chunk at any other rate fails the session
//          quality      "quick"|"low"|"medium"|"high"|"very_high", default "high"
// Session: one Resampler (soxr filter history), created at the first chunk.
// Flush:   end of stream emits the filter tail as a final chunk; cancel/error emit nothing.
//          Equal rates pass chunks through unchanged (same storage, no copy).
// Errors:  rate change within a session, soxr failures -> that session fails.
#pragma once

#include <memory>
#include <string>

#include "nodes/core/node.h"

namespace cosyflow {

struct ResamplerOptions {
  int output_rate = 16000;
  int input_rate = 0;
  std::string quality = "high";

  void Parse(const nlohmann::json& j, const std::string& path, ErrorList* errors);
  void Validate(const std::string& path, ErrorList* errors) const;
  std::string ToString() const;
};

class ResamplerNode : public Node {
 public:
  using Options = ResamplerOptions;
  static NodeSpec Spec();
  static Result<std::unique_ptr<Node>> Create(const Options& options, const NodeContext& ctx);

  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo& info) override;

 private:
  explicit ResamplerNode(const Options& options) : options_(options) {}
  Options options_;
};

}  // namespace cosyflow

// Messages: payload names, construction helpers and descriptions.
#include "nodes/core/message.h"

#include <array>
#include <chrono>

namespace cosyflow {
namespace {
constexpr std::array<std::string_view, kNumPayloadTypes> kPayloadNames = {
    "None", "TextRequest", "TextSegments", "TokenIds", "SpeechTokens", "Mel", "Audio", "Error"};
}  // namespace

Result<Audio> Audio::FromSamples(std::span<const float> samples, int sample_rate) {
  if (sample_rate <= 0) return InvalidArgument("audio: sample_rate must be > 0, got {}", sample_rate);
  Audio a;
  a.sample_rate = sample_rate;
  COSY_ASSIGN_OR_RETURN(a.samples,
                        Tensor::FromVector<float>({static_cast<int64_t>(samples.size())}, samples));
  return a;
}

std::string_view PayloadTypeName(PayloadType type) {
  auto i = static_cast<size_t>(type);
  return i < kPayloadNames.size() ? kPayloadNames[i] : "?";
}

Result<PayloadType> ParsePayloadType(std::string_view name) {
  for (size_t i = 0; i < kPayloadNames.size(); ++i) {
    if (kPayloadNames[i] == name) return static_cast<PayloadType>(i);
  }
  return NotFound("unknown payload type '{}'", name);
}

MessagePtr MakeMessage(MessageHeader header, Payload payload) {
  return std::make_shared<const Message>(Message{header, std::move(payload)});
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string DescribeMessage(const Message& m) {
  std::string s = fmt::format("session {} #{} {}", m.header.session_id, m.header.sequence,
                              PayloadTypeName(m.type()));
  if (const auto* a = m.get<Audio>()) s += fmt::format("[{}@{}]", a->size(), a->sample_rate);
  if (const auto* mel = m.get<Mel>()) s += fmt::format("[{}x80]", mel->frames());
  if (const auto* t = m.get<SpeechTokens>()) s += fmt::format("[{}]", t->tokens.size());
  if (const auto* t = m.get<TokenIds>()) s += fmt::format("[{}]", t->ids.size());
  if (const auto* e = m.get<ErrorInfo>()) s += fmt::format("({}: {})", e->node, e->status.ToString());
  if (m.header.end_of_stream()) s += " eos";
  if (m.header.cancel()) s += " cancel";
  if (m.header.error()) s += " error";
  return s;
}

}  // namespace cosyflow

// Messages: the immutable, reference-counted units that flow along graph edges.
//
// A message is a header (session id, sequence number within the session on its edge, flags,
// trace timestamps) plus one payload from a closed set. Payloads are plain data (strings, int
// vectors, contiguous f32 tensors) so a bridge can serialise them field by field. Once emitted a
// message is never modified: it is handed on as MessagePtr (shared_ptr<const Message>) and may
// be read by several consumers at once (fan-out shares, never copies).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "runtime/status.h"
#include "runtime/tensor.h"

namespace cosyflow {

// A resolved voice prompt: what the speech LM and the flow need of a prompt recording (spec §4,
// the spk2info.pt entry of add_zero_shot_spk), plus, for voice conversion, the speech tokens of
// the source recording. Made once per voice (nodes/voice) and shared read-only by every message
// of the requests that use it.
struct VoicePrompt {
  static constexpr int64_t kMelBins = 80;
  static constexpr int64_t kEmbeddingDim = 192;
  // The longest prompt a voice holds: 30 s of speech (the speech tokenizer's limit) at 25 tokens
  // per second; feat has 2 frames per token. Enforced where voices come from outside the
  // process (bridges' codec); VoiceFrontend never makes longer ones.
  static constexpr int64_t kMaxSpeechTokens = 750;
  static constexpr int64_t kMaxPromptTextIds = 4096;  // prompt transcript tokens

  std::string id;                        // voice id ("" = an inline prompt recording)
  std::vector<int32_t> prompt_text_ids;  // normalised transcript tokens (may be empty: the
                                         // request's prompt_text is tokenised instead)
  std::vector<int32_t> speech_tokens;    // [T] prompt speech tokens (LM prompt and flow prompt)
  std::vector<int32_t> lm_speech_tokens;  // the LM's prompt speech tokens where a stored voice
                                          // has other ones than the flow (empty = speech_tokens)
  std::vector<float> feat;               // [2 T, 80] time-major 24 kHz prompt mel (flow prompt)
  std::vector<float> embedding;          // [192] CAM++ x-vector (empty = zero vector)
  std::vector<int32_t> source_tokens;    // vc: the source recording's speech tokens

  int64_t feat_frames() const { return static_cast<int64_t>(feat.size()) / kMelBins; }
};
using VoicePromptPtr = std::shared_ptr<const VoicePrompt>;

// One request or one streaming chunk of request text (bi-stream input sends several chunks on
// an open session, the session's end-of-stream marks the end of the text).
struct TextRequest {
  std::string text;
  std::string mode;                 // SpeechLM layout ("" = the graph's SpeechLM option `mode`)
  std::string voice;                // speaker id or voice reference name ("" = default)
  std::string prompt_text;          // transcript of the voice reference, if any
  std::string prompt_audio_path;    // voice reference audio file, if any
  std::string instruct_text;        // instruction for instruct2 mode (not normalised)
  std::string source_audio_path;    // vc: the recording whose speech is converted
  Tensor prompt_samples;            // an inline prompt recording as mono f32 samples (instead
  int prompt_sample_rate = 0;       // of prompt_audio_path), at this rate (>= 16000)
  uint64_t seed = 0;                // sampling seed for this request (0 = the graph's seed)
  float speed = 1.0f;               // speaking-rate factor (the flow runs such a request non-streaming)
  VoicePromptPtr prompt;            // resolved voice (set by the VoiceFrontend node, or by the
                                    // caller; then voice / prompt_audio_path are not read)
};

// Normalised text split into synthesis segments, with the request's fields that the speech LM
// needs (copied from the TextRequest on every message of the request; the LM reads the first).
struct TextSegments {
  std::vector<std::string> segments;
  std::string mode;         // TextRequest::mode ("" = the consumer's default)
  uint64_t seed = 0;        // TextRequest::seed (0 = the consumer's default)
  std::string prompt_text;  // TextRequest::prompt_text, normalised without splitting (or
                            // TextRequest::instruct_text as given, when that is set)
  float speed = 1.0f;       // TextRequest::speed
  VoicePromptPtr prompt;    // TextRequest::prompt
};

// Text token ids from the tokenizer (a whole request, or one chunk of bi-stream text). The
// speech LM reads its request data from a session's first message; later chunks leave it empty.
struct TokenIds {
  TokenIds() = default;
  explicit TokenIds(std::vector<int32_t> token_ids) : ids(std::move(token_ids)) {}

  std::vector<int32_t> ids;
  std::string mode;                    // LM input layout ("" = the consumer's default mode)
  std::vector<int32_t> prompt_ids;     // prompt text tokens (transcript / instruct2 instruction)
  std::vector<int32_t> prompt_speech;  // prompt speech tokens of the voice reference
  uint64_t seed = 0;                   // sampling seed (0 = the consumer's default seed)
  float speed = 1.0f;                  // TextRequest::speed
  VoicePromptPtr prompt;               // the request's voice (for the flow; see SpeechTokens)
};

// Discrete speech tokens from the LLM (a chunk of the session's token stream).
// end_of_segment marks the last chunk of one utterance (a text segment of a one-shot request):
// the flow and the vocoder finish that utterance and start the next one afresh, as the
// reference runs token2wav per segment. The message may then carry no tokens.
// The session's first message also carries the request's voice and speed for the flow (a
// session without a voice uses the flow node's configured prompt).
struct SpeechTokens {
  std::vector<int32_t> tokens;
  bool end_of_segment = false;
  VoicePromptPtr prompt;
  float speed = 1.0f;
};

// Mel spectrogram chunk: mel is [frames, 80] f32 row-major (may be empty on an end-of-segment
// mark, see SpeechTokens).
struct Mel {
  static constexpr int64_t kBins = 80;
  Tensor mel;
  bool end_of_segment = false;
  int64_t frames() const { return mel.defined() ? mel.size(0) : 0; }
};

// Mono audio chunk: samples is [n] f32 contiguous in [-1, 1], at sample_rate Hz.
struct Audio {
  Tensor samples;
  int sample_rate = 0;

  static Result<Audio> FromSamples(std::span<const float> samples, int sample_rate);
  int64_t size() const { return samples.defined() ? samples.numel() : 0; }
  std::span<const float> view() const {
    return {samples.defined() ? samples.data<float>() : nullptr, static_cast<size_t>(size())};
  }
};

// A failure scoped to one session; `node` names the node that failed.
struct ErrorInfo {
  Status status;
  std::string node;
};

enum class PayloadType : uint8_t {
  kNone = 0,  // control message (end of stream / cancel) without data
  kTextRequest,
  kTextSegments,
  kTokenIds,
  kSpeechTokens,
  kMel,
  kAudio,
  kError,
};
inline constexpr int kNumPayloadTypes = 8;

// Variant order matches PayloadType.
using Payload = std::variant<std::monostate, TextRequest, TextSegments, TokenIds, SpeechTokens,
                             Mel, Audio, ErrorInfo>;

std::string_view PayloadTypeName(PayloadType type);  // "Audio", "Mel", ...
// Parses the names PayloadTypeName returns; NotFound otherwise.
Result<PayloadType> ParsePayloadType(std::string_view name);
inline PayloadType TypeOf(const Payload& p) { return static_cast<PayloadType>(p.index()); }

enum MessageFlag : uint32_t {
  kFlagEndOfStream = 1u << 0,  // last message of this session on this edge
  kFlagCancel = 1u << 1,       // the session was cancelled: drop state, emit nothing
  kFlagError = 1u << 2,        // the session failed upstream: drop state (payload is ErrorInfo)
};

struct MessageHeader {
  uint64_t session_id = 0;
  uint64_t sequence = 0;   // 0, 1, 2, ... per session on each edge
  uint32_t flags = 0;
  int64_t origin_ns = 0;   // steady-clock time the session's input entered the graph
  int64_t emitted_ns = 0;  // steady-clock time this message was emitted

  bool end_of_stream() const { return flags & kFlagEndOfStream; }
  bool cancel() const { return flags & kFlagCancel; }
  bool error() const { return flags & kFlagError; }
  // True for messages that end the session on their edge (end of stream, cancel or error).
  bool closes() const { return flags & (kFlagEndOfStream | kFlagCancel | kFlagError); }
};

struct Message {
  MessageHeader header;
  Payload payload;

  PayloadType type() const { return TypeOf(payload); }
  template <typename T>
  const T* get() const {
    return std::get_if<T>(&payload);
  }
};

using MessagePtr = std::shared_ptr<const Message>;

MessagePtr MakeMessage(MessageHeader header, Payload payload);
// Monotonic nanoseconds used for trace timestamps.
int64_t NowNs();
// "session 3 #2 Audio[480@24000] eos" — for logs and test failure output.
std::string DescribeMessage(const Message& m);

}  // namespace cosyflow

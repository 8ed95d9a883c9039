// Codec: encoding of cosyflow messages and handshake/heartbeat envelopes (decoding is in
// codec_decode.cpp).
#include "bridges/codec.h"

#include <bit>
#include <string_view>

#include "bridges/cosyflow_wire_generated.h"

namespace cosyflow::bridges {
namespace fb = ::flatbuffers;
namespace w = ::cosyflow::wire;

static_assert(std::endian::native == std::endian::little,
              "the wire format sends raw little-endian tensor bytes");

namespace {

// Tensor data is aligned so that a receiver can view it in place.
constexpr size_t kTensorAlignment = 32;  // FLATBUFFERS_MAX_ALIGNMENT

fb::Offset<fb::String> Str(fb::FlatBufferBuilder& b, const std::string& s) {
  return b.CreateString(s);
}

Result<fb::Offset<w::Tensor>> EncodeTensor(fb::FlatBufferBuilder& b, const Tensor& t,
                                           std::string_view what) {
  if (!t.defined()) return fb::Offset<w::Tensor>();
  if (t.dtype() != DType::kF32 || t.device() != Device::kCpu) {
    return InvalidArgument("wire: {} must be an f32 CPU tensor, got {}", what, t.ToString());
  }
  COSY_ASSIGN_OR_RETURN(Tensor c, t.Contiguous());
  std::vector<int64_t> shape;
  for (int d = 0; d < c.dim(); ++d) shape.push_back(c.size(d));
  auto shape_off = b.CreateVector(shape);
  const size_t nbytes = c.nbytes();
  b.ForceVectorAlignment(nbytes, 1, kTensorAlignment);
  auto data_off = b.CreateVector(static_cast<const uint8_t*>(c.raw()), nbytes);
  return w::CreateTensor(b, w::DType::F32, shape_off, data_off);
}

Result<fb::Offset<w::Voice>> EncodeVoice(fb::FlatBufferBuilder& b, const VoicePromptPtr& v) {
  if (v == nullptr) return fb::Offset<w::Voice>();
  if (v->feat.size() % static_cast<size_t>(VoicePrompt::kMelBins) != 0) {
    return InvalidArgument("wire: voice '{}' prompt mel has {} values, not a multiple of 80",
                           v->id, v->feat.size());
  }
  auto id = Str(b, v->id);
  auto text = b.CreateVector(v->prompt_text_ids);
  auto tokens = b.CreateVector(v->speech_tokens);
  fb::Offset<w::Tensor> feat;
  if (!v->feat.empty()) {
    COSY_ASSIGN_OR_RETURN(Tensor t, Tensor::FromVector<float>(
                                        Dims{v->feat_frames(), VoicePrompt::kMelBins},
                                        std::span<const float>(v->feat)));
    COSY_ASSIGN_OR_RETURN(feat, EncodeTensor(b, t, "Voice.feat"));
  }
  auto emb = b.CreateVector(v->embedding);
  auto source = b.CreateVector(v->source_tokens);
  auto lm_tokens = b.CreateVector(v->lm_speech_tokens);
  return w::CreateVoice(b, id, text, tokens, feat, emb, source, lm_tokens);
}

Result<fb::Offset<w::TextRequest>> Encode(fb::FlatBufferBuilder& b, const TextRequest& r) {
  COSY_ASSIGN_OR_RETURN(auto voice, EncodeVoice(b, r.prompt));
  COSY_ASSIGN_OR_RETURN(auto samples,
                        EncodeTensor(b, r.prompt_samples, "TextRequest.prompt_samples"));
  return w::CreateTextRequest(b, Str(b, r.text), Str(b, r.mode), Str(b, r.voice),
                              Str(b, r.prompt_text), Str(b, r.prompt_audio_path),
                              Str(b, r.instruct_text), r.seed, r.speed,
                              Str(b, r.source_audio_path), voice, samples, r.prompt_sample_rate);
}

Result<fb::Offset<w::TextSegments>> Encode(fb::FlatBufferBuilder& b, const TextSegments& s) {
  COSY_ASSIGN_OR_RETURN(auto voice, EncodeVoice(b, s.prompt));
  auto segs = b.CreateVectorOfStrings(s.segments);
  return w::CreateTextSegments(b, segs, Str(b, s.mode), s.seed, Str(b, s.prompt_text), s.speed,
                               voice);
}

Result<fb::Offset<w::TokenIds>> Encode(fb::FlatBufferBuilder& b, const TokenIds& t) {
  COSY_ASSIGN_OR_RETURN(auto voice, EncodeVoice(b, t.prompt));
  auto ids = b.CreateVector(t.ids);
  auto mode = Str(b, t.mode);
  auto prompt_ids = b.CreateVector(t.prompt_ids);
  auto prompt_speech = b.CreateVector(t.prompt_speech);
  return w::CreateTokenIds(b, ids, mode, prompt_ids, prompt_speech, t.seed, t.speed, voice);
}

// Returns the payload union's type and offset.
Result<std::pair<w::Payload, fb::Offset<void>>> EncodePayload(fb::FlatBufferBuilder& b,
                                                              const Payload& p) {
  using R = std::pair<w::Payload, fb::Offset<void>>;
  switch (TypeOf(p)) {
    case PayloadType::kNone:
      return R{w::Payload::NONE, fb::Offset<void>()};
    case PayloadType::kTextRequest: {
      COSY_ASSIGN_OR_RETURN(auto off, Encode(b, std::get<TextRequest>(p)));
      return R{w::Payload::TextRequest, off.Union()};
    }
    case PayloadType::kTextSegments: {
      COSY_ASSIGN_OR_RETURN(auto off, Encode(b, std::get<TextSegments>(p)));
      return R{w::Payload::TextSegments, off.Union()};
    }
    case PayloadType::kTokenIds: {
      COSY_ASSIGN_OR_RETURN(auto off, Encode(b, std::get<TokenIds>(p)));
      return R{w::Payload::TokenIds, off.Union()};
    }
    case PayloadType::kSpeechTokens: {
      const SpeechTokens& st = std::get<SpeechTokens>(p);
      COSY_ASSIGN_OR_RETURN(auto voice, EncodeVoice(b, st.prompt));
      auto v = b.CreateVector(st.tokens);
      return R{w::Payload::SpeechTokens,
               w::CreateSpeechTokens(b, v, st.end_of_segment, voice, st.speed).Union()};
    }
    case PayloadType::kMel: {
      const Mel& m = std::get<Mel>(p);
      COSY_ASSIGN_OR_RETURN(auto t, EncodeTensor(b, m.mel, "Mel.mel"));
      return R{w::Payload::Mel, w::CreateMel(b, t, m.end_of_segment).Union()};
    }
    case PayloadType::kAudio: {
      const Audio& a = std::get<Audio>(p);
      COSY_ASSIGN_OR_RETURN(auto t, EncodeTensor(b, a.samples, "Audio.samples"));
      return R{w::Payload::Audio, w::CreateAudio(b, t, a.sample_rate).Union()};
    }
    case PayloadType::kError: {
      const ErrorInfo& e = std::get<ErrorInfo>(p);
      auto msg = Str(b, e.status.message());
      auto node = Str(b, e.node);
      return R{w::Payload::ErrorInfo,
               w::CreateErrorInfo(b, static_cast<int>(e.status.code()), msg, node).Union()};
    }
  }
  return InvalidArgument("wire: unknown payload index {}", p.index());
}

WireBuffer Finish(fb::FlatBufferBuilder& b, w::Body type, fb::Offset<void> body) {
  b.Finish(w::CreateEnvelope(b, kWireSchemaVersion, type, body), w::EnvelopeIdentifier());
  return WireBuffer(b.Release());
}

}  // namespace

Result<WireBuffer> EncodeMessage(const Message& m) {
  fb::FlatBufferBuilder b(1024);
  COSY_ASSIGN_OR_RETURN(auto payload, EncodePayload(b, m.payload));
  const MessageHeader& h = m.header;
  w::Header header(h.session_id, h.sequence, h.flags, h.origin_ns, h.emitted_ns);
  auto data = w::CreateData(b, &header, payload.first, payload.second);
  if (b.GetSize() > (size_t{1} << 31) - 4096) {
    return InvalidArgument("wire: message of {} bytes exceeds the 2 GiB FlatBuffers limit",
                           b.GetSize());
  }
  return Finish(b, w::Body::Data, data.Union());
}

WireBuffer EncodeHello(const HelloInfo& h) {
  fb::FlatBufferBuilder b(128);
  auto input = Str(b, h.input);
  auto peer = Str(b, h.peer);
  auto body = w::CreateHello(b, h.schema_version, input, static_cast<uint8_t>(h.sends),
                             static_cast<uint8_t>(h.receives), peer, h.window);
  return Finish(b, w::Body::Hello, body.Union());
}

WireBuffer EncodeHelloAck(const HelloAckInfo& a) {
  fb::FlatBufferBuilder b(128);
  auto error = Str(b, a.error);
  auto input = Str(b, a.input);
  auto output = Str(b, a.output);
  auto body = w::CreateHelloAck(
      b, a.schema_version, a.ok, error, input, static_cast<uint8_t>(a.accepts), output,
      static_cast<uint8_t>(a.produces), a.heartbeat_ms, a.window, a.max_message_bytes);
  return Finish(b, w::Body::HelloAck, body.Union());
}

WireBuffer EncodeHeartbeat(int64_t sent_ns) {
  fb::FlatBufferBuilder b(64);
  auto body = w::CreateHeartbeat(b, sent_ns);
  return Finish(b, w::Body::Heartbeat, body.Union());
}

WireBuffer EncodeRejected(const RejectedInfo& r) {
  fb::FlatBufferBuilder b(128);
  auto msg = Str(b, r.status.message());
  auto body = w::CreateRejected(b, r.session_id, static_cast<int>(r.status.code()), msg);
  return Finish(b, w::Body::Rejected, body.Union());
}

WireBuffer EncodeCredit(const CreditInfo& c) {
  fb::FlatBufferBuilder b(64);
  auto body = w::CreateCredit(b, c.session_id, c.messages);
  return Finish(b, w::Body::Credit, body.Union());
}

}  // namespace cosyflow::bridges

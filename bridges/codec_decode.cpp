// Codec: verification and decoding of received envelopes (see codec.h for the checks).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "bridges/codec.h"
#include "bridges/cosyflow_wire_generated.h"

namespace cosyflow::bridges {
namespace fb = ::flatbuffers;
namespace w = ::cosyflow::wire;

namespace {

constexpr uint32_t kKnownFlags = kFlagEndOfStream | kFlagCancel | kFlagError;
constexpr int kMaxSampleRate = 1 << 20;

std::string Str(const fb::String* s) { return s ? s->str() : std::string(); }

std::vector<int32_t> Ints(const fb::Vector<int32_t>* v) {
  return v ? std::vector<int32_t>(v->begin(), v->end()) : std::vector<int32_t>();
}

Result<PayloadType> PayloadByte(uint8_t v, std::string_view field) {
  if (v >= kNumPayloadTypes) {
    return InvalidArgument("wire: {} must be a payload type in [0, {}), got {}", field,
                           kNumPayloadTypes, v);
  }
  return static_cast<PayloadType>(v);
}

// Checks a tensor's dtype, rank, dims and byte count; returns a view or a copy.
Result<Tensor> DecodeTensor(const w::Tensor* t, std::string_view what, int rank, int64_t last_dim,
                            const std::shared_ptr<void>& keeper) {
  if (t == nullptr) return Tensor();
  if (t->dtype() != w::DType::F32) {
    return InvalidArgument("wire: {} dtype must be F32, got {}", what,
                           static_cast<int>(t->dtype()));
  }
  const auto* shape = t->shape();
  const int got_rank = shape ? static_cast<int>(shape->size()) : 0;
  if (got_rank != rank) {
    return InvalidArgument("wire: {} must have {} dims, got {}", what, rank, got_rank);
  }
  const auto* data = t->data();
  const size_t nbytes = data ? data->size() : 0;
  uint64_t elems = 1;
  Dims dims;
  // memcpy: the Verifier checks a vector's length field, not that its 8-byte elements are
  // 8-aligned, and a crafted frame can misalign them (found by the wire fuzzer).
  auto dim = [shape](int d) {
    int64_t v;
    std::memcpy(&v, shape->Data() + sizeof(int64_t) * static_cast<size_t>(d), sizeof v);
    return v;
  };
  for (int d = 0; d < rank; ++d) {
    const int64_t v = dim(d);
    if (v < 0 || static_cast<uint64_t>(v) > nbytes / 4 + 1) {
      return InvalidArgument("wire: {} dim {} must be in [0, {}], got {}", what, d,
                             nbytes / 4, v);
    }
    elems *= static_cast<uint64_t>(v);
    if (elems > nbytes) break;  // the byte check below reports it
    dims.push_back(v);
  }
  if (last_dim > 0 && rank > 0 && dim(rank - 1) != last_dim) {
    return InvalidArgument("wire: {} last dim must be {}, got {}", what, last_dim,
                           dim(rank - 1));
  }
  if (elems * 4 != nbytes) {
    return DataLoss("wire: {} shape needs {} bytes, the message holds {}", what, elems * 4,
                    nbytes);
  }
  const uint8_t* p = data ? data->data() : nullptr;
  // Every tensor on the wire is samples, mel or prompt features: NaN or infinity there is a
  // broken or hostile peer (it would come out as NaN audio reported as a success).
  for (size_t i = 0; i < nbytes / 4; ++i) {
    float v;
    std::memcpy(&v, p + 4 * i, sizeof v);
    if (!std::isfinite(v)) {
      return InvalidArgument("wire: {} holds a non-finite value ({}) at element {}", what, v, i);
    }
  }
  if (keeper && nbytes > 0 && reinterpret_cast<uintptr_t>(p) % alignof(float) == 0) {
    auto storage = Storage::Wrap(const_cast<uint8_t*>(p), nbytes, keeper, /*read_only=*/true);
    return Tensor::FromStorage(std::move(storage), 0, dims, Tensor::ContiguousStrides(dims),
                               DType::kF32);
  }
  std::vector<float> copy(elems);
  if (nbytes > 0) std::memcpy(copy.data(), p, nbytes);
  return Tensor::FromVector<float>(dims, copy);
}

Result<VoicePromptPtr> DecodeVoice(const w::Voice* r, const std::shared_ptr<void>& keeper) {
  if (r == nullptr) return VoicePromptPtr();
  auto v = std::make_shared<VoicePrompt>();
  v->id = Str(r->id());
  // Bounded like the voices this process makes (VoicePrompt::kMaxSpeechTokens: 30 s): a prompt
  // costs the flow and the LM time and memory that grow faster than its length.
  auto bounded = [](const flatbuffers::Vector<int32_t>* ids, std::string_view what,
                    int64_t max) -> Status {
    if (ids != nullptr && static_cast<int64_t>(ids->size()) > max) {
      return InvalidArgument("wire: Voice.{} holds {} ids, at most {} (30 s of speech)", what,
                             ids->size(), max);
    }
    return OkStatus();
  };
  COSY_RETURN_IF_ERROR(
      bounded(r->prompt_text_ids(), "prompt_text_ids", VoicePrompt::kMaxPromptTextIds));
  COSY_RETURN_IF_ERROR(bounded(r->speech_tokens(), "speech_tokens", VoicePrompt::kMaxSpeechTokens));
  COSY_RETURN_IF_ERROR(bounded(r->source_tokens(), "source_tokens", VoicePrompt::kMaxSpeechTokens));
  COSY_RETURN_IF_ERROR(
      bounded(r->lm_speech_tokens(), "lm_speech_tokens", VoicePrompt::kMaxSpeechTokens));
  v->prompt_text_ids = Ints(r->prompt_text_ids());
  v->speech_tokens = Ints(r->speech_tokens());
  v->source_tokens = Ints(r->source_tokens());
  v->lm_speech_tokens = Ints(r->lm_speech_tokens());
  if (r->feat() != nullptr) {
    COSY_ASSIGN_OR_RETURN(Tensor feat,
                          DecodeTensor(r->feat(), "Voice.feat", 2, VoicePrompt::kMelBins, keeper));
    if (feat.size(0) > 2 * VoicePrompt::kMaxSpeechTokens) {
      return InvalidArgument("wire: Voice.feat holds {} frames, at most {} (30 s of speech)",
                             feat.size(0), 2 * VoicePrompt::kMaxSpeechTokens);
    }
    const float* p = feat.data<float>();
    v->feat.assign(p, p + feat.numel());
  }
  if (r->embedding() != nullptr) {
    v->embedding.assign(r->embedding()->begin(), r->embedding()->end());
    if (v->embedding.size() != static_cast<size_t>(VoicePrompt::kEmbeddingDim)) {
      return InvalidArgument("wire: Voice.embedding must hold 0 or {} values, got {}",
                             VoicePrompt::kEmbeddingDim, v->embedding.size());
    }
    for (size_t i = 0; i < v->embedding.size(); ++i) {
      if (!std::isfinite(v->embedding[i])) {
        return InvalidArgument("wire: Voice.embedding holds a non-finite value ({}) at {}",
                               v->embedding[i], i);
      }
    }
  }
  return VoicePromptPtr(std::move(v));
}

Result<Payload> DecodePayload(const w::Data* d, const std::shared_ptr<void>& keeper) {
  if (d->payload_type() != w::Payload::NONE && d->payload() == nullptr) {
    return DataLoss("wire: Data payload type {} without a payload",
                    static_cast<int>(d->payload_type()));
  }
  switch (d->payload_type()) {
    case w::Payload::NONE:
      return Payload{};
    case w::Payload::TextRequest: {
      const auto* r = d->payload_as_TextRequest();
      TextRequest t;
      t.text = Str(r->text());
      t.mode = Str(r->mode());
      t.voice = Str(r->voice());
      t.prompt_text = Str(r->prompt_text());
      t.prompt_audio_path = Str(r->prompt_audio_path());
      t.instruct_text = Str(r->instruct_text());
      t.seed = r->seed();
      t.speed = r->speed();
      t.source_audio_path = Str(r->source_audio_path());
      COSY_ASSIGN_OR_RETURN(t.prompt, DecodeVoice(r->prompt(), keeper));
      if (r->prompt_samples() != nullptr) {
        COSY_ASSIGN_OR_RETURN(t.prompt_samples, DecodeTensor(r->prompt_samples(),
                                                             "TextRequest.prompt_samples", 1, 0,
                                                             keeper));
        if (r->prompt_sample_rate() <= 0 || r->prompt_sample_rate() > kMaxSampleRate) {
          return InvalidArgument("wire: TextRequest.prompt_sample_rate must be in [1, {}], got {}",
                                 kMaxSampleRate, r->prompt_sample_rate());
        }
        t.prompt_sample_rate = r->prompt_sample_rate();
      }
      return Payload{std::move(t)};
    }
    case w::Payload::TextSegments: {
      const auto* r = d->payload_as_TextSegments();
      TextSegments t;
      if (r->segments()) {
        for (const auto* s : *r->segments()) t.segments.push_back(Str(s));
      }
      t.mode = Str(r->mode());
      t.seed = r->seed();
      t.prompt_text = Str(r->prompt_text());
      t.speed = r->speed();
      COSY_ASSIGN_OR_RETURN(t.prompt, DecodeVoice(r->prompt(), keeper));
      return Payload{std::move(t)};
    }
    case w::Payload::TokenIds: {
      const auto* r = d->payload_as_TokenIds();
      TokenIds t(Ints(r->ids()));
      t.mode = Str(r->mode());
      t.prompt_ids = Ints(r->prompt_ids());
      t.prompt_speech = Ints(r->prompt_speech());
      t.seed = r->seed();
      t.speed = r->speed();
      COSY_ASSIGN_OR_RETURN(t.prompt, DecodeVoice(r->prompt(), keeper));
      return Payload{std::move(t)};
    }
    case w::Payload::SpeechTokens: {
      const auto* r = d->payload_as_SpeechTokens();
      SpeechTokens t{Ints(r->tokens()), r->end_of_segment()};
      t.speed = r->speed();
      COSY_ASSIGN_OR_RETURN(t.prompt, DecodeVoice(r->prompt(), keeper));
      return Payload{std::move(t)};
    }
    case w::Payload::Mel: {
      Mel m;
      COSY_ASSIGN_OR_RETURN(m.mel, DecodeTensor(d->payload_as_Mel()->mel(), "Mel.mel", 2,
                                                Mel::kBins, keeper));
      m.end_of_segment = d->payload_as_Mel()->end_of_segment();
      return Payload{std::move(m)};
    }
    case w::Payload::Audio: {
      const auto* r = d->payload_as_Audio();
      if (r->sample_rate() <= 0 || r->sample_rate() > kMaxSampleRate) {
        return InvalidArgument("wire: Audio.sample_rate must be in [1, {}], got {}",
                               kMaxSampleRate, r->sample_rate());
      }
      Audio a;
      a.sample_rate = r->sample_rate();
      COSY_ASSIGN_OR_RETURN(a.samples,
                            DecodeTensor(r->samples(), "Audio.samples", 1, 0, keeper));
      return Payload{std::move(a)};
    }
    case w::Payload::ErrorInfo: {
      const auto* r = d->payload_as_ErrorInfo();
      const int code = r->code();
      if (code <= 0 || code > static_cast<int>(StatusCode::kInternal)) {
        return InvalidArgument("wire: ErrorInfo.code must be a failure code in [1, {}], got {}",
                               static_cast<int>(StatusCode::kInternal), code);
      }
      return Payload{ErrorInfo{Status(static_cast<StatusCode>(code), Str(r->message())),
                               Str(r->node())}};
    }
  }
  return InvalidArgument("wire: unknown payload type {}", static_cast<int>(d->payload_type()));
}

Result<MessagePtr> DecodeData(const w::Data* d, const std::shared_ptr<void>& keeper) {
  const w::Header* h = d->header();
  if (h == nullptr) return DataLoss("wire: Data has no header");
  MessageHeader header;
  header.session_id = h->session_id();
  header.sequence = h->sequence();
  header.flags = h->flags();
  header.origin_ns = h->origin_ns();
  header.emitted_ns = h->emitted_ns();
  if (header.flags & ~kKnownFlags) {
    return InvalidArgument("wire: header flags must be a subset of 0x{:x}, got 0x{:x}",
                           kKnownFlags, header.flags);
  }
  if (header.session_id == 0) return InvalidArgument("wire: header session_id must be > 0");
  COSY_ASSIGN_OR_RETURN(Payload payload, DecodePayload(d, keeper));
  if (TypeOf(payload) == PayloadType::kNone && !header.closes()) {
    return InvalidArgument("wire: a message without payload must carry end-of-stream, cancel "
                           "or error flags, got flags 0x{:x}", header.flags);
  }
  return MakeMessage(header, std::move(payload));
}

Result<Envelope> DecodeBody(const w::Envelope* e, const std::shared_ptr<void>& keeper) {
  Envelope out;
  if (e->body() == nullptr) {
    return DataLoss("wire: envelope body type {} without a body", static_cast<int>(e->body_type()));
  }
  switch (e->body_type()) {
    case w::Body::Hello: {
      const auto* h = e->body_as_Hello();
      out.kind = EnvelopeKind::kHello;
      out.hello.schema_version = h->schema_version();
      out.hello.input = Str(h->input());
      COSY_ASSIGN_OR_RETURN(out.hello.sends, PayloadByte(h->sends(), "Hello.sends"));
      COSY_ASSIGN_OR_RETURN(out.hello.receives, PayloadByte(h->receives(), "Hello.receives"));
      out.hello.peer = Str(h->peer());
      out.hello.window = h->window();
      return out;
    }
    case w::Body::HelloAck: {
      const auto* a = e->body_as_HelloAck();
      out.kind = EnvelopeKind::kHelloAck;
      out.ack.schema_version = a->schema_version();
      out.ack.ok = a->ok();
      out.ack.error = Str(a->error());
      out.ack.input = Str(a->input());
      COSY_ASSIGN_OR_RETURN(out.ack.accepts, PayloadByte(a->accepts(), "HelloAck.accepts"));
      out.ack.output = Str(a->output());
      COSY_ASSIGN_OR_RETURN(out.ack.produces, PayloadByte(a->produces(), "HelloAck.produces"));
      out.ack.heartbeat_ms = a->heartbeat_ms();
      out.ack.window = a->window();
      out.ack.max_message_bytes = a->max_message_bytes();
      return out;
    }
    case w::Body::Heartbeat:
      out.kind = EnvelopeKind::kHeartbeat;
      out.heartbeat_ns = e->body_as_Heartbeat()->sent_ns();
      return out;
    case w::Body::Data: {
      out.kind = EnvelopeKind::kData;
      COSY_ASSIGN_OR_RETURN(out.message, DecodeData(e->body_as_Data(), keeper));
      return out;
    }
    case w::Body::Rejected: {
      const auto* r = e->body_as_Rejected();
      out.kind = EnvelopeKind::kRejected;
      out.rejected.session_id = r->session_id();
      const int code = r->code();
      out.rejected.status =
          Status(code > 0 && code <= static_cast<int>(StatusCode::kInternal)
                     ? static_cast<StatusCode>(code)
                     : StatusCode::kInternal,
                 Str(r->message()));
      return out;
    }
    case w::Body::Credit: {
      const auto* c = e->body_as_Credit();
      out.kind = EnvelopeKind::kCredit;
      out.credit.session_id = c->session_id();
      out.credit.messages = c->messages();
      if (out.credit.session_id == 0 || out.credit.messages == 0) {
        return InvalidArgument("wire: Credit needs a session id and messages > 0, got {} and {}",
                               out.credit.session_id, out.credit.messages);
      }
      return out;
    }
    default:
      break;
  }
  return InvalidArgument("wire: envelope body type must be in [1, {}], got {}",
                         static_cast<int>(w::Body::MAX), static_cast<int>(e->body_type()));
}

}  // namespace

Result<Envelope> DecodeEnvelope(const uint8_t* bytes, size_t size, const WireLimits& limits,
                                std::shared_ptr<void> keeper, uint64_t* session_id) {
  if (session_id != nullptr) *session_id = 0;
  const size_t max_bytes = std::min<size_t>(limits.max_message_bytes, (size_t{1} << 31) - 1);
  const Status too_large =
      size > max_bytes ? InvalidArgument("wire: message of {} bytes exceeds max_message_bytes {}",
                                         size, max_bytes)
                       : OkStatus();
  if (!too_large.ok() && (session_id == nullptr || size > (size_t{1} << 31) - 1)) {
    return too_large;
  }
  if (size < 8 || bytes == nullptr) {
    return DataLoss("wire: message of {} bytes is shorter than a FlatBuffers header (8)", size);
  }
  // The Verifier checks alignment; copy a misaligned frame (zmq keeps tiny frames inline).
  std::shared_ptr<void> aligned_copy;
  if (reinterpret_cast<uintptr_t>(bytes) % 8 != 0) {
    auto copy = std::make_shared<std::vector<uint64_t>>((size + 7) / 8);
    std::memcpy(copy->data(), bytes, size);
    bytes = reinterpret_cast<const uint8_t*>(copy->data());
    keeper = aligned_copy = copy;
  }
  if (!fb::BufferHasIdentifier(bytes, kWireFileIdentifier)) {
    if (!too_large.ok()) return too_large;
    return InvalidArgument("wire: file identifier must be \"{}\", got \"{}\"", kWireFileIdentifier,
                           std::string_view(reinterpret_cast<const char*>(bytes) + 4, 4));
  }
  fb::Verifier::Options options;
  options.max_depth = limits.max_depth;
  options.max_tables = limits.max_tables;
  fb::Verifier verifier(bytes, size, options);
  if (!verifier.VerifyBuffer<w::Envelope>(kWireFileIdentifier)) {
    if (!too_large.ok()) return too_large;
    return DataLoss("wire: message of {} bytes failed FlatBuffers verification (truncated, "
                    "corrupt, or deeper than {} / more than {} tables)",
                    size, limits.max_depth, limits.max_tables);
  }
  const w::Envelope* e = w::GetEnvelope(bytes);
  if (session_id != nullptr && e->body_type() == w::Body::Data && e->body() != nullptr &&
      e->body_as_Data()->header() != nullptr) {
    *session_id = e->body_as_Data()->header()->session_id();
  }
  if (!too_large.ok()) return too_large;  // verified only to name its session
  if (e->version() != kWireSchemaVersion) {
    return Status(StatusCode::kUnsupported,
                  fmt::format("wire: peer speaks schema version {}, this build speaks {}",
                              e->version(), kWireSchemaVersion));
  }
  return DecodeBody(e, keeper);
}

}  // namespace cosyflow::bridges

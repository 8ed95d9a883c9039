// Codec tests: every payload round-trips exactly; truncated, mutated, oversized, wrong-identifier
// and wrong-version buffers are rejected with errors naming the problem.
#include "bridges/codec.h"

#include <doctest/doctest.h>

#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "bridges/cosyflow_wire_generated.h"

namespace cosyflow::bridges {
namespace {

MessageHeader Header(uint32_t flags = 0) {
  MessageHeader h;
  h.session_id = 42;
  h.sequence = 7;
  h.flags = flags;
  h.origin_ns = 123456789;
  h.emitted_ns = 987654321;
  return h;
}

MessagePtr RoundTrip(const Message& m, bool zero_copy = true) {
  auto buf = EncodeMessage(m);
  REQUIRE(buf.ok());
  auto bytes = std::make_shared<std::vector<uint8_t>>(buf->data(), buf->data() + buf->size());
  auto e = DecodeEnvelope(bytes->data(), bytes->size(), {}, zero_copy ? bytes : nullptr);
  REQUIRE_MESSAGE(e.ok(), e.status().ToString());
  REQUIRE(e->kind == EnvelopeKind::kData);
  const MessageHeader& a = e->message->header;
  CHECK(a.session_id == m.header.session_id);
  CHECK(a.sequence == m.header.sequence);
  CHECK(a.flags == m.header.flags);
  CHECK(a.origin_ns == m.header.origin_ns);
  CHECK(a.emitted_ns == m.header.emitted_ns);
  CHECK(e->message->type() == m.type());
  return e->message;
}

std::vector<float> Floats(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

}  // namespace

TEST_CASE("Codec: every payload round-trips exactly") {
  auto voice = std::make_shared<VoicePrompt>();
  voice->id = "alice";
  voice->prompt_text_ids = {5, 6, 7};
  voice->speech_tokens = {1, 6560};
  voice->feat.resize(4 * 80);
  for (size_t i = 0; i < voice->feat.size(); ++i) voice->feat[i] = 0.01f * static_cast<float>(i);
  voice->embedding.assign(192, -0.5f);
  voice->source_tokens = {3, 4, 5};
  voice->lm_speech_tokens = {9, 8};
  auto check_voice = [&](const VoicePromptPtr& v) {
    REQUIRE(v != nullptr);
    CHECK(v->id == voice->id);
    CHECK(v->prompt_text_ids == voice->prompt_text_ids);
    CHECK(v->speech_tokens == voice->speech_tokens);
    CHECK(v->feat == voice->feat);
    CHECK(v->embedding == voice->embedding);
    CHECK(v->source_tokens == voice->source_tokens);
    CHECK(v->lm_speech_tokens == voice->lm_speech_tokens);
  };
  const std::vector<float> prompt_pcm = {0.25f, -0.5f, 0.125f};
  TextRequest r{"你好, world", "zero_shot", "spk1", "prompt", "a.wav", "be calm", "src.wav",
                *Tensor::FromVector<float>(Dims{3}, prompt_pcm), 16000, 77, 1.25f, voice};
  auto m = RoundTrip(Message{Header(), r});
  const auto* rr = m->get<TextRequest>();
  CHECK(rr->text == r.text);
  CHECK(rr->mode == r.mode);
  CHECK(rr->voice == r.voice);
  CHECK(rr->prompt_text == r.prompt_text);
  CHECK(rr->prompt_audio_path == r.prompt_audio_path);
  CHECK(rr->instruct_text == r.instruct_text);
  CHECK(rr->seed == 77);
  CHECK(rr->speed == 1.25f);
  CHECK(rr->source_audio_path == "src.wav");
  CHECK(Floats(rr->prompt_samples) == prompt_pcm);
  CHECK(rr->prompt_sample_rate == 16000);
  check_voice(rr->prompt);

  TextSegments s{{"one.", "two."}, "cross_lingual", 5, "pt", 0.75f, voice};
  auto ms_m = RoundTrip(Message{Header(), s});
  auto ms = ms_m->get<TextSegments>();
  CHECK(ms->segments == s.segments);
  CHECK(ms->mode == s.mode);
  CHECK(ms->seed == 5);
  CHECK(ms->prompt_text == "pt");
  CHECK(ms->speed == 0.75f);
  check_voice(ms->prompt);

  TokenIds t({1, 2, 151662});
  t.mode = "instruct2";
  t.prompt_ids = {9, 8};
  t.prompt_speech = {6000, 1};
  t.seed = 3;
  t.prompt = voice;
  auto mt_m = RoundTrip(Message{Header(), t});
  auto mt = mt_m->get<TokenIds>();
  CHECK(mt->ids == t.ids);
  CHECK(mt->mode == t.mode);
  CHECK(mt->prompt_ids == t.prompt_ids);
  CHECK(mt->prompt_speech == t.prompt_speech);
  CHECK(mt->seed == 3);
  check_voice(mt->prompt);
  SpeechTokens with_voice{{7}, false, voice, 1.5f};
  auto mv_m = RoundTrip(Message{Header(), with_voice});
  check_voice(mv_m->get<SpeechTokens>()->prompt);
  CHECK(mv_m->get<SpeechTokens>()->speed == 1.5f);
  CHECK(RoundTrip(Message{Header(), SpeechTokens{{1}}})->get<SpeechTokens>()->prompt == nullptr);

  auto mk_m = RoundTrip(Message{Header(), SpeechTokens{{0, 6560, 42}}});
  auto mk = mk_m->get<SpeechTokens>();
  CHECK(mk->tokens == std::vector<int32_t>{0, 6560, 42});
  CHECK(!mk->end_of_segment);
  auto seg_m = RoundTrip(Message{Header(), SpeechTokens{{}, true}});  // a bare segment mark
  CHECK(seg_m->get<SpeechTokens>()->end_of_segment);
  CHECK(seg_m->get<SpeechTokens>()->tokens.empty());
  Mel mark;
  mark.end_of_segment = true;
  auto mark_m = RoundTrip(Message{Header(), mark});
  CHECK(mark_m->get<Mel>()->end_of_segment);
  CHECK(mark_m->get<Mel>()->frames() == 0);

  std::vector<float> mel_values(3 * 80);
  for (size_t i = 0; i < mel_values.size(); ++i) mel_values[i] = 0.001f * i - 0.1f;
  Mel mel;
  mel.mel = *Tensor::FromVector<float>({3, 80}, mel_values);
  for (bool zero_copy : {true, false}) {
    auto mm_m = RoundTrip(Message{Header(), mel}, zero_copy);
    auto mm = mm_m->get<Mel>();
    CHECK(mm->frames() == 3);
    CHECK(Floats(mm->mel) == mel_values);
  }

  std::vector<float> samples = {0.5f, -0.25f, 1e-7f, -1.0f};
  auto audio = Audio::FromSamples(samples, 24000);
  auto ma_m = RoundTrip(Message{Header(kFlagEndOfStream), *audio});
  auto ma = ma_m->get<Audio>();
  CHECK(ma->sample_rate == 24000);
  CHECK(Floats(ma->samples) == samples);

  ErrorInfo err{DataLoss("flow: bad token 9999"), "flow"};
  auto me_m = RoundTrip(Message{Header(kFlagError), err});
  auto me = me_m->get<ErrorInfo>();
  CHECK(me->status.code() == StatusCode::kDataLoss);
  CHECK(me->status.message() == "flow: bad token 9999");
  CHECK(me->node == "flow");

  for (uint32_t f : {kFlagEndOfStream, kFlagCancel}) {
    auto mc = RoundTrip(Message{Header(f), Payload{}});
    CHECK(mc->header.flags == f);
  }
}

TEST_CASE("Codec: handshake and heartbeat envelopes round-trip") {
  HelloInfo h{kWireSchemaVersion, "tokens", PayloadType::kSpeechTokens, PayloadType::kAudio, "me",
              7};
  auto hb = EncodeHello(h);
  auto e = DecodeEnvelope(hb.data(), hb.size(), {});
  REQUIRE(e.ok());
  CHECK(e->kind == EnvelopeKind::kHello);
  CHECK(e->hello.input == "tokens");
  CHECK(e->hello.sends == PayloadType::kSpeechTokens);
  CHECK(e->hello.receives == PayloadType::kAudio);
  CHECK(e->hello.window == 7);
  HelloAckInfo a{kWireSchemaVersion, false, "nope", "text", PayloadType::kTextRequest, "audio",
                 PayloadType::kAudio, 250, 9};
  auto ab = EncodeHelloAck(a);
  auto ea = DecodeEnvelope(ab.data(), ab.size(), {});
  REQUIRE(ea.ok());
  CHECK(ea->ack.error == "nope");
  CHECK(ea->ack.produces == PayloadType::kAudio);
  CHECK(ea->ack.heartbeat_ms == 250);
  CHECK(ea->ack.window == 9);
  auto cb = EncodeCredit({42, 3});
  auto ec = DecodeEnvelope(cb.data(), cb.size(), {});
  REQUIRE(ec.ok());
  CHECK(ec->kind == EnvelopeKind::kCredit);
  CHECK(ec->credit.session_id == 42);
  CHECK(ec->credit.messages == 3);
  auto zero = EncodeCredit({42, 0});  // a grant of nothing is malformed
  auto ez = DecodeEnvelope(zero.data(), zero.size(), {});
  REQUIRE_FALSE(ez.ok());
  CHECK(ez.status().message().find("Credit needs") != std::string::npos);
  auto beat = EncodeHeartbeat(99);
  auto eb = DecodeEnvelope(beat.data(), beat.size(), {});
  REQUIRE(eb.ok());
  CHECK(eb->heartbeat_ns == 99);
}

TEST_CASE("Codec: truncated, oversized, wrong-identifier and wrong-version buffers are rejected") {
  auto audio = Audio::FromSamples(std::vector<float>(1000, 0.5f), 24000);
  auto buf = EncodeMessage(Message{Header(), *audio});
  REQUIRE(buf.ok());
  std::vector<uint8_t> bytes(buf->data(), buf->data() + buf->size());

  for (size_t n : {size_t{0}, size_t{4}, size_t{7}, bytes.size() / 2, bytes.size() - 1}) {
    auto e = DecodeEnvelope(bytes.data(), n, {});
    CHECK_FALSE(e.ok());
  }
  WireLimits small;
  small.max_message_bytes = 1024;
  auto big = DecodeEnvelope(bytes.data(), bytes.size(), small);
  REQUIRE_FALSE(big.ok());
  CHECK(big.status().message().find("exceeds max_message_bytes 1024") != std::string::npos);

  auto wrong_id = bytes;
  std::memcpy(wrong_id.data() + 4, "XXXX", 4);
  auto ei = DecodeEnvelope(wrong_id.data(), wrong_id.size(), {});
  REQUIRE_FALSE(ei.ok());
  CHECK(ei.status().message().find("file identifier must be \"CSYF\", got \"XXXX\"") !=
        std::string::npos);

  flatbuffers::FlatBufferBuilder b;
  b.Finish(wire::CreateEnvelope(b, 99, wire::Body::Heartbeat, wire::CreateHeartbeat(b, 1).Union()),
           wire::EnvelopeIdentifier());
  auto ev = DecodeEnvelope(b.GetBufferPointer(), b.GetSize(), {});
  REQUIRE_FALSE(ev.ok());
  CHECK(ev.status().code() == StatusCode::kUnsupported);
  CHECK(ev.status().message() == "wire: peer speaks schema version 99, this build speaks 1");
}

TEST_CASE("Codec: inconsistent tensors and headers are rejected with the field named") {
  flatbuffers::FlatBufferBuilder b;
  std::vector<int64_t> shape = {2, 80};
  std::vector<uint8_t> data(2 * 80 * 4 - 4);  // one float short
  auto t = wire::CreateTensor(b, wire::DType::F32, b.CreateVector(shape), b.CreateVector(data));
  wire::Header h(1, 0, 0, 0, 0);
  auto d = wire::CreateData(b, &h, wire::Payload::Mel, wire::CreateMel(b, t).Union());
  b.Finish(wire::CreateEnvelope(b, kWireSchemaVersion, wire::Body::Data, d.Union()),
           wire::EnvelopeIdentifier());
  auto e = DecodeEnvelope(b.GetBufferPointer(), b.GetSize(), {});
  REQUIRE_FALSE(e.ok());
  CHECK(e.status().message() == "wire: Mel.mel shape needs 640 bytes, the message holds 636");

  flatbuffers::FlatBufferBuilder b2;
  wire::Header bad_flags(1, 0, 0x80, 0, 0);
  auto d2 = wire::CreateData(b2, &bad_flags);
  b2.Finish(wire::CreateEnvelope(b2, kWireSchemaVersion, wire::Body::Data, d2.Union()),
            wire::EnvelopeIdentifier());
  auto e2 = DecodeEnvelope(b2.GetBufferPointer(), b2.GetSize(), {});
  REQUIRE_FALSE(e2.ok());
  CHECK(e2.status().message().find("flags must be a subset of 0x7, got 0x80") != std::string::npos);
}

// What a remote peer sends is bounded like what this process makes: voice prompts at most 30 s
// (VoicePrompt::kMaxSpeechTokens tokens, twice as many feat frames), finite features and
// embeddings, finite samples and mels; the error names the field, and a frame that verified
// names its session even when a later check fails.
TEST_CASE("Codec: oversized voices and non-finite values are refused, naming the session") {
  auto decode = [](const Message& m, uint64_t* session) {
    auto buf = EncodeMessage(m);
    REQUIRE(buf.ok());
    return DecodeEnvelope(buf->data(), buf->size(), {}, nullptr, session);
  };
  auto voice = std::make_shared<VoicePrompt>();
  voice->speech_tokens.assign(VoicePrompt::kMaxSpeechTokens, 5);
  voice->feat.assign(2 * VoicePrompt::kMaxSpeechTokens * VoicePrompt::kMelBins, 0.5f);
  voice->embedding.assign(VoicePrompt::kEmbeddingDim, 0.1f);
  uint64_t session = 0;
  SpeechTokens ok_tokens{{1, 2, 3}};
  ok_tokens.prompt = voice;
  CHECK(decode(Message{Header(), ok_tokens}, &session).ok());  // exactly 30 s passes
  CHECK(session == 42);

  auto with = [&](auto change) {
    auto v = std::make_shared<VoicePrompt>(*voice);
    change(*v);
    SpeechTokens t{{1, 2, 3}};
    t.prompt = v;
    session = 0;
    auto e = decode(Message{Header(), t}, &session);
    REQUIRE_FALSE(e.ok());
    CHECK(session == 42);
    return e.status().message();
  };
  CHECK(with([](VoicePrompt& v) { v.speech_tokens.push_back(5); }) ==
        "wire: Voice.speech_tokens holds 751 ids, at most 750 (30 s of speech)");
  CHECK(with([](VoicePrompt& v) { v.source_tokens.assign(751, 1); }).find("source_tokens") !=
        std::string::npos);
  CHECK(with([](VoicePrompt& v) {
          v.prompt_text_ids.assign(5000, 1);
        }).find("prompt_text_ids holds 5000 ids") != std::string::npos);
  CHECK(with([](VoicePrompt& v) {
          v.feat.resize(v.feat.size() + VoicePrompt::kMelBins, 0.0f);
        }).find("Voice.feat holds 1501 frames") != std::string::npos);
  CHECK(with([](VoicePrompt& v) { v.feat[81] = std::numeric_limits<float>::quiet_NaN(); }) ==
        "wire: Voice.feat holds a non-finite value (nan) at element 81");
  CHECK(with([](VoicePrompt& v) { v.embedding[3] = std::numeric_limits<float>::infinity(); }) ==
        "wire: Voice.embedding holds a non-finite value (inf) at 3");

  auto samples = std::vector<float>(100, 0.1f);
  samples[99] = -std::numeric_limits<float>::infinity();
  auto e = decode(Message{Header(), *Audio::FromSamples(samples, 24000)}, &session);
  REQUIRE_FALSE(e.ok());
  CHECK(e.status().message() ==
        "wire: Audio.samples holds a non-finite value (-inf) at element 99");

  // over max_message_bytes: refused before decoding, yet its session is named
  auto big = EncodeMessage(Message{Header(), *Audio::FromSamples(std::vector<float>(4096), 24000)});
  REQUIRE(big.ok());
  WireLimits small;
  small.max_message_bytes = 1024;
  session = 0;
  auto e2 = DecodeEnvelope(big->data(), big->size(), small, nullptr, &session);
  REQUIRE_FALSE(e2.ok());
  CHECK(e2.status().message().find("exceeds max_message_bytes 1024") != std::string::npos);
  CHECK(session == 42);
  // without the out-parameter nothing past the size check is read (as before)
  CHECK_FALSE(DecodeEnvelope(big->data(), big->size(), small).ok());
}

TEST_CASE("Codec: thousands of random mutations never crash the decoder") {
  auto audio = Audio::FromSamples(std::vector<float>(64, 0.25f), 16000);
  TokenIds t({1, 2, 3});
  t.mode = "zero_shot";
  TextRequest tts_text;
  tts_text.text = "hi";
  std::vector<std::vector<uint8_t>> seeds;
  for (const Payload& p : {Payload{*audio}, Payload{t}, Payload{tts_text}}) {
    auto buf = EncodeMessage(Message{Header(), p});
    REQUIRE(buf.ok());
    seeds.emplace_back(buf->data(), buf->data() + buf->size());
  }
  std::mt19937 rng(1);
  int rejected = 0;
  for (int i = 0; i < 6000; ++i) {
    auto bytes = seeds[i % seeds.size()];
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) bytes.resize(rng() % bytes.size());
    auto e = DecodeEnvelope(bytes.data(), bytes.size(), {});
    if (!e.ok()) ++rejected;
  }
  CHECK(rejected > 1000);
}

}  // namespace cosyflow::bridges

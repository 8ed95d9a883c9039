// Incremental streaming flow (estimator K/V + conv-context cache) against the prefix-recompute
// path the reference uses: every chunk's frames, on long utterances, with and without a prompt,
// with hops that do not end on the 50-frame block grid, over the memory budget, across segments.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "nodes/flow/cfm_noise.h"
#include "nodes/flow/flow_prompt_cache.h"
#include "runtime/warm_pages.h"
#include "tests/nodes/flow/flow_test_util.h"
#include "tests/test_util.h"

namespace cosyflow::flow {
namespace {

using test::MaxAbsDiff;
using test::Tiny;

// Within float rounding of the GEMM blocking (the recompute path multiplies longer matrices).
constexpr double kIncTol = 1e-4;

std::vector<int32_t> RandomTokens(size_t n, uint32_t seed, int64_t vocab) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(0, static_cast<int32_t>(vocab - 1));
  std::vector<int32_t> t(n);
  for (auto& v : t) v = d(rng);
  return t;
}

// Streams `tokens` in pieces of `piece`, returning every chunk (Finish's last).
std::vector<MelChunk> Stream(FlowSession& s, const std::vector<int32_t>& tokens, size_t piece) {
  std::vector<MelChunk> out;
  for (size_t i = 0; i < tokens.size(); i += piece) {
    const size_t n = std::min(piece, tokens.size() - i);
    REQUIRE(s.PushTokens(std::span<const int32_t>(tokens.data() + i, n)).ok());
    while (s.ChunkReady()) {
      auto c = s.NextChunk();
      REQUIRE_MESSAGE(c.ok(), c.status().ToString());
      out.push_back(std::move(*c));
    }
  }
  auto last = s.Finish();
  REQUIRE_MESSAGE(last.ok(), last.status().ToString());
  out.push_back(std::move(*last));
  return out;
}

double CompareChunks(const std::vector<MelChunk>& a, const std::vector<MelChunk>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i].first_frame == b[i].first_frame);
    REQUIRE(a[i].mel.frames == b[i].mel.frames);
    CHECK(a[i].last == b[i].last);
    worst = cosyflow::test::WorstOf(worst, MaxAbsDiff(a[i].mel.data.data(), b[i].mel.data.data(), a[i].mel.data.size()));
  }
  return worst;
}

void CheckIncrementalEqualsRecompute(const FlowPrompt& prompt, FlowStreamOptions so,
                                     size_t n_tokens, uint32_t seed, size_t piece,
                                     const FlowModel* model = nullptr, double tol = kIncTol) {
  const auto& tiny = Tiny();
  if (model == nullptr) model = tiny.model.get();
  const auto tokens = RandomTokens(n_tokens, seed, model->config().vocab_size);
  FlowStreamOptions rec = so;
  rec.incremental = false;
  so.incremental = true;
  auto si = FlowSession::Open(*model, prompt, so);
  auto sr = FlowSession::Open(*model, prompt, rec);
  REQUIRE(si.ok());
  REQUIRE(sr.ok());
  const auto ci = Stream(**si, tokens, piece);
  const auto cr = Stream(**sr, tokens, piece);
  CHECK(ci.size() >= 4);
  const double err = CompareChunks(ci, cr);
  MESSAGE(ci.size() << " chunks, max abs diff incremental vs recompute " << err);
  CHECK(err < tol);
  CHECK_FALSE((*si)->cache_fallback());
  CHECK((*si)->cache_bytes() == 0);  // freed by the finalize call
}

TEST_CASE("FlowSession incremental: long utterance with the fixture prompt equals prefix recompute") {
  CheckIncrementalEqualsRecompute(Tiny().prompt, {}, 250, 1, 7);
}

// bf16: activations are rounded to bf16 at every GEMM, so a summation-order difference between
// the two paths' GEMMs can flip a rounding and grow. Measured max abs diff: 0 under the scalar
// and AVX-512 (oneDNN bf16) variants, 0.0062 under AVX2 (f32 GEMMs on widened tiles, blocked by
// shape) — within the bf16 bound against the goldens (flow_parity_test.cpp, 5e-2). Same with
// the cache's K/V stored in bf16.
TEST_CASE("FlowSession incremental: bf16 model (bf16 GEMMs and attention products)") {
  const std::string dir = cosyflow::test::TinySeed0Dir();
  auto cfg = FlowConfig::FromFile(dir + "/config.json");
  REQUIRE(cfg.ok());
  auto model = FlowModel::Create(dir + "/flow.pt", *cfg, FlowOptions{WeightType::kBF16});
  REQUIRE(model.ok());
  // Its stream cache holds K/V in bf16 (the values its attention rounds them to anyway), so the
  // incremental path stays exact under the scalar and AVX-512 variants (diff 0).
  CHECK((*model)->cache_kv_bf16());
  CHECK_FALSE(Tiny().model->cache_kv_bf16());
  {
    // Same tokens through an f32 and a bf16 session: the bf16 one's cache is smaller by half
    // its K/V rows (conv contexts and the encoder's part stay f32).
    const auto tokens = RandomTokens(80, 5, (*model)->config().vocab_size);
    size_t bytes[2] = {0, 0};
    for (int bf = 0; bf < 2; ++bf) {
      const FlowModel& fm = bf ? **model : *Tiny().model;
      FlowStreamOptions so;
      so.incremental = true;
      auto s = FlowSession::Open(fm, Tiny().prompt, so);
      REQUIRE(s.ok());
      REQUIRE((*s)->PushTokens(tokens).ok());
      REQUIRE((*s)->ChunkReady());
      REQUIRE((*s)->NextChunk().ok());
      bytes[bf] = (*s)->cache_bytes();
    }
    EstimatorCache f32_cache((*model)->config(), false), bf16_cache((*model)->config(), true);
    CHECK(bytes[0] > 0);
    CHECK(bytes[1] < bytes[0]);
    CHECK((bytes[0] - bytes[1]) % (f32_cache.BytesFor(1) - bf16_cache.BytesFor(1)) == 0);
  }
  CheckIncrementalEqualsRecompute(Tiny().prompt, {}, 200, 4, 9, model->get(), 2e-2);
}

// int16: each GEMM row is quantized on its own and its integer products are exact, so a row's
// output does not depend on the rows computed with it; the cache's K/V stay f32. Where the two
// paths' f32 parts agree exactly (scalar, AVX-512: diff 0) so does int16; where they differ by
// ~1e-6 (AVX2's attention, blocked by shape) a value on a rounding boundary of the quantization
// can move one step and grow over the ODE steps: measured max abs diff 5.4e-4 under AVX2, within
// the int16 bound against the goldens (flow_parity_test.cpp, 1e-2).
TEST_CASE("FlowSession incremental: int16 model equals prefix recompute") {
  const std::string dir = cosyflow::test::TinySeed0Dir();
  auto cfg = FlowConfig::FromFile(dir + "/config.json");
  REQUIRE(cfg.ok());
  auto model = FlowModel::Create(dir + "/flow.pt", *cfg, FlowOptions{WeightType::kInt16});
  REQUIRE(model.ok());
  CHECK_FALSE((*model)->cache_kv_bf16());
  CheckIncrementalEqualsRecompute(Tiny().prompt, {}, 200, 4, 9, model->get(), 5e-3);
}

TEST_CASE("FlowSession incremental: no prompt, hop growth capped at the first hop") {
  FlowPrompt none;
  none.embedding.assign(192, 0.0f);
  FlowStreamOptions so;
  so.max_token_hop = 25;
  CheckIncrementalEqualsRecompute(none, so, 180, 2, 13);
}

// The whole stream's mel [80, frames] from its chunks (checks that they tile the frames).
std::vector<float> JoinChunks(const std::vector<MelChunk>& chunks) {
  REQUIRE_FALSE(chunks.empty());
  const int64_t total = chunks.back().first_frame + chunks.back().mel.frames;
  std::vector<float> mel(80 * static_cast<size_t>(total), 0.0f);
  int64_t next = 0;
  for (const MelChunk& c : chunks) {
    REQUIRE(c.first_frame == next);
    REQUIRE(c.mel.data.size() == static_cast<size_t>(80 * c.mel.frames));
    for (int64_t b = 0; b < 80; ++b) {
      std::memcpy(mel.data() + b * total + c.first_frame, c.mel.data.data() + b * c.mel.frames,
                  sizeof(float) * static_cast<size_t>(c.mel.frames));
    }
    next += c.mel.frames;
  }
  REQUIRE(next == total);
  return mel;
}

// Chunks that end on the 25-token grid emit only frames of completed blocks, which no later
// token changes: the reference's growing hops (25, 50, 100) and a hop capped at 25 (more, shorter
// chunks: the Flow option max_token_hop) give the same frames up to the last call. The
// reference's last call (full attention) computes its frames differently from a streaming chunk,
// so there the schedules agree up to the earlier of the two last calls; with stream_final (the
// last call chunk-causal too) the whole mel is the same.
TEST_CASE("FlowSession: on the block grid the mel does not depend on the hop schedule") {
  const auto& tiny = Tiny();
  const auto tokens = RandomTokens(230, 21, tiny.model->config().vocab_size);
  for (bool stream_final : {false, true}) {
    CAPTURE(stream_final);
    std::vector<MelChunk> chunks[2];
    for (int capped = 0; capped < 2; ++capped) {
      FlowStreamOptions so;
      so.stream_final = stream_final;
      if (capped) so.max_token_hop = so.token_hop;
      auto s = FlowSession::Open(*tiny.model, tiny.prompt, so);
      REQUIRE(s.ok());
      chunks[capped] = Stream(**s, tokens, 11);
    }
    CHECK(chunks[1].size() > chunks[0].size() + 2);
    const auto growing = JoinChunks(chunks[0]), capped = JoinChunks(chunks[1]);
    REQUIRE(growing.size() == capped.size());
    const int64_t total = static_cast<int64_t>(growing.size() / 80);
    // Frames both schedules streamed (all of them with stream_final).
    const int64_t same = stream_final ? total
                                      : std::min(chunks[0].back().first_frame,
                                                 chunks[1].back().first_frame);
    CHECK(same >= total / 2);
    double err = 0;
    for (int64_t b = 0; b < 80; ++b) {
      err = cosyflow::test::WorstOf(err, MaxAbsDiff(growing.data() + b * total, capped.data() + b * total,
                                     static_cast<size_t>(same)));
    }
    MESSAGE(chunks[0].size() << " vs " << chunks[1].size() << " chunks, " << same << " of "
                             << total << " frames compared, max abs diff " << err);
    CHECK(err < kIncTol);
  }
}

TEST_CASE("FlowSession incremental: hops off the block grid recompute the partial block") {
  FlowStreamOptions so;
  so.token_hop = 17;
  so.max_token_hop = 41;
  so.hop_scale = 3;
  CheckIncrementalEqualsRecompute(Tiny().prompt, so, 200, 3, 5);
}

// With a team of exactly two OpenMP threads the estimator runs its two CFG rows on one thread
// each (FlowModel::Run); with one thread, batched. Same chunks either way, incremental and by
// recompute, and the same non-streaming mel.
TEST_CASE("Flow: the CFG rows on two threads equal the batched estimator") {
  const auto& tiny = Tiny();
  const int saved = omp_get_max_threads();
  const auto tokens = RandomTokens(160, 31, tiny.model->config().vocab_size);
  for (bool incremental : {true, false}) {
    CAPTURE(incremental);
    FlowStreamOptions so;
    so.incremental = incremental;
    std::vector<MelChunk> by_threads[2];
    for (int threads : {1, 2}) {
      omp_set_num_threads(threads);
      auto s = FlowSession::Open(*tiny.model, tiny.prompt, so);
      REQUIRE(s.ok());
      by_threads[threads - 1] = Stream(**s, tokens, 9);
    }
    const double err = CompareChunks(by_threads[0], by_threads[1]);
    MESSAGE(by_threads[0].size() << " chunks, max abs diff 1 vs 2 threads " << err);
    CHECK(err < kIncTol);
  }
  std::vector<float> mel[2];
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    auto s = FlowSession::Open(*tiny.model, tiny.prompt);
    REQUIRE(s.ok());
    REQUIRE((*s)->PushTokens(tokens).ok());
    auto m = (*s)->RunOnce();
    REQUIRE(m.ok());
    mel[threads - 1] = m->data;
  }
  omp_set_num_threads(saved);
  REQUIRE(mel[0].size() == mel[1].size());
  CHECK(MaxAbsDiff(mel[0].data(), mel[1].data(), mel[0].size()) < kIncTol);
}

// The resnets' time biases come from the table FlowModel computes at load (one row set per time
// of the ODE schedule); without it every estimator call runs the time MLPs itself. Same mel.
TEST_CASE("FlowModel: the load-time time-bias table gives the mel of the per-call time MLPs") {
  const auto& tiny = Tiny();
  const FlowConfig& c = tiny.model->config();
  auto& w = const_cast<FlowWeights&>(tiny.model->weights());
  const OdeSchedule ode = MakeOdeSchedule(c.n_timesteps);
  REQUIRE(w.time_biases.size() == ode.t.size());
  for (size_t s = 0; s < ode.t.size(); ++s) {
    CHECK(w.time_biases[s].t == ode.t[s]);
    CHECK(w.time_biases[s].rows.size() ==
          static_cast<size_t>((2 + c.est_mid_blocks) * c.est_channels));
  }
  const auto tokens = RandomTokens(90, 47, c.vocab_size);
  std::vector<MelChunk> chunks[2];
  std::vector<float> mel[2];
  const std::vector<FlowWeights::TimeBiases> table = w.time_biases;
  for (int with_table : {1, 0}) {
    if (with_table == 0) w.time_biases.clear();
    auto s = FlowSession::Open(*tiny.model, tiny.prompt);
    REQUIRE(s.ok());
    chunks[with_table] = Stream(**s, tokens, 9);
    auto once = FlowSession::Open(*tiny.model, tiny.prompt);
    REQUIRE(once.ok());
    REQUIRE((*once)->PushTokens(tokens).ok());
    auto m = (*once)->RunOnce();
    REQUIRE(m.ok());
    mel[with_table] = m->data;
  }
  // The table is what the estimator reads: shifting its rows moves the mel.
  w.time_biases = table;
  for (auto& tb : w.time_biases) {
    for (float& v : tb.rows) v += 0.5f;
  }
  auto shifted = FlowSession::Open(*tiny.model, tiny.prompt);
  REQUIRE(shifted.ok());
  REQUIRE((*shifted)->PushTokens(tokens).ok());
  auto ms = (*shifted)->RunOnce();
  w.time_biases = table;
  REQUIRE(ms.ok());
  REQUIRE(ms->data.size() == mel[1].size());
  CHECK(MaxAbsDiff(ms->data.data(), mel[1].data(), mel[1].size()) > 1e-3);
  const double err = CompareChunks(chunks[1], chunks[0]);
  MESSAGE(chunks[0].size() << " chunks, max abs diff table vs per call " << err);
  CHECK(err < 1e-6);
  REQUIRE(mel[0].size() == mel[1].size());
  CHECK(MaxAbsDiff(mel[0].data(), mel[1].data(), mel[0].size()) < 1e-6);
}

// stream_final: the last call is a chunk-causal finalize call, so the whole stream must equal one
// Inference(streaming = true, finalize = true) over every token (the chunk-causal masks, causal
// convs and per-frame noise make every chunk a slice of it), incremental or by prefix recompute.
TEST_CASE("FlowSession stream_final: the stream equals one chunk-causal finalize call") {
  const auto& tiny = Tiny();
  FlowPrompt none;
  none.embedding.assign(192, 0.0f);
  for (const FlowPrompt* prompt : {&tiny.prompt, static_cast<const FlowPrompt*>(&none)}) {
    for (bool incremental : {true, false}) {
      CAPTURE(incremental);
      CAPTURE(prompt->tokens.size());
      const auto tokens = RandomTokens(190, 21, tiny.model->config().vocab_size);
      FlowStreamOptions so;
      so.stream_final = true;
      so.incremental = incremental;
      auto s = FlowSession::Open(*tiny.model, *prompt, so);
      REQUIRE(s.ok());
      const auto chunks = Stream(**s, tokens, 11);
      CHECK(chunks.size() >= 3);
      Arena arena;
      auto whole = tiny.model->Inference(*prompt, (*s)->speaker_vector(), tokens, /*streaming=*/true,
                                         /*finalize=*/true, arena);
      REQUIRE(whole.ok());
      REQUIRE(whole->frames == 2 * static_cast<int64_t>(tokens.size()));
      int64_t next = 0;
      double worst = 0;
      for (const MelChunk& c : chunks) {
        REQUIRE(c.first_frame == next);
        for (int64_t b = 0; b < 80; ++b) {
          worst = cosyflow::test::WorstOf(worst, MaxAbsDiff(c.mel.data.data() + b * c.mel.frames,
                                             whole->data.data() + b * whole->frames + c.first_frame,
                                             static_cast<size_t>(c.mel.frames)));
        }
        next += c.mel.frames;
      }
      CHECK(next == whole->frames);
      CHECK(chunks.back().last);
      MESSAGE(chunks.size() << " chunks, max abs diff vs one streaming finalize call " << worst);
      CHECK(worst < kIncTol);
      CHECK_FALSE((*s)->cache_fallback());
      CHECK((*s)->cache_bytes() == 0);
    }
  }
}

TEST_CASE("FlowSession incremental: over the memory budget the utterance falls back, same frames") {
  const auto& tiny = Tiny();
  const auto tokens = RandomTokens(220, 4, tiny.model->config().vocab_size);
  EstimatorCache probe(tiny.model->config());
  FlowStreamOptions small;
  small.max_cache_bytes = probe.BytesFor(260);  // holds the first chunks, not the whole stream
  FlowStreamOptions rec;
  rec.incremental = false;
  auto sb = FlowSession::Open(*tiny.model, tiny.prompt, small);
  auto sr = FlowSession::Open(*tiny.model, tiny.prompt, rec);
  REQUIRE(sb.ok());
  REQUIRE(sr.ok());
  // Stream by hand to see the fallback happen mid-utterance.
  REQUIRE((*sb)->PushTokens(tokens).ok());
  REQUIRE((*sr)->PushTokens(tokens).ok());
  bool cached_before_fallback = false;
  std::vector<MelChunk> cb, cr;
  while ((*sb)->ChunkReady()) {
    auto c = (*sb)->NextChunk();
    REQUIRE(c.ok());
    if (!(*sb)->cache_fallback()) cached_before_fallback = (*sb)->cache_bytes() > 0;
    cb.push_back(std::move(*c));
    auto r = (*sr)->NextChunk();
    REQUIRE(r.ok());
    cr.push_back(std::move(*r));
  }
  CHECK(cached_before_fallback);
  CHECK((*sb)->cache_fallback());
  CHECK((*sb)->cache_bytes() == 0);
  auto lb = (*sb)->Finish();
  auto lr = (*sr)->Finish();
  REQUIRE(lb.ok());
  REQUIRE(lr.ok());
  cb.push_back(std::move(*lb));
  cr.push_back(std::move(*lr));
  CHECK(CompareChunks(cb, cr) < kIncTol);
  // The next utterance (Reset) starts cached again.
  (*sb)->Reset();
  CHECK_FALSE((*sb)->cache_fallback());
}

TEST_CASE("FlowSession incremental: a second segment after Reset equals a fresh session") {
  const auto& tiny = Tiny();
  const auto a = RandomTokens(120, 5, tiny.model->config().vocab_size);
  const auto b = RandomTokens(140, 6, tiny.model->config().vocab_size);
  auto s = FlowSession::Open(*tiny.model, tiny.prompt);
  REQUIRE(s.ok());
  (void)Stream(**s, a, 11);
  (*s)->Reset();
  const auto second = Stream(**s, b, 11);
  auto fresh = FlowSession::Open(*tiny.model, tiny.prompt);
  REQUIRE(fresh.ok());
  const auto ref = Stream(**fresh, b, 11);
  CHECK(CompareChunks(second, ref) == 0.0);
}

// A prompt long enough to have complete blocks of its own (the fixture's has 10 tokens).
FlowPrompt LongPrompt(int64_t tokens, uint32_t seed) {
  const auto& tiny = Tiny();
  FlowPrompt p;
  p.tokens = RandomTokens(static_cast<size_t>(tokens), seed, tiny.model->config().vocab_size);
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(-5.0f, 2.0f);
  p.feat.resize(static_cast<size_t>(2 * tokens * 80));
  for (auto& v : p.feat) v = d(rng);
  p.embedding = tiny.prompt.embedding;
  return p;
}

TEST_CASE("FlowPromptCache: a voice's cached prompt blocks give the same chunks as computing them") {
  const auto& tiny = Tiny();
  const FlowModel& model = *tiny.model;
  const int64_t block = model.config().stream_block();
  for (int64_t t1 : {int64_t{60}, int64_t{78}, int64_t{28}}) {
    CAPTURE(t1);
    const FlowPrompt prompt = LongPrompt(t1, static_cast<uint32_t>(t1));
    Arena arena;
    auto state = model.PromptState(prompt, 0, arena);
    REQUIRE_MESSAGE(state.ok(), state.status().ToString());
    // Blocks whose tokens and 3-token lookahead are all prompt tokens.
    const int64_t expect = 2 * (t1 - 3) / block * block;
    if (expect == 0) {
      CHECK(*state == nullptr);
      continue;
    }
    REQUIRE(*state != nullptr);
    CHECK((*state)->frames() == expect);
    const auto tokens = RandomTokens(120, 9, model.config().vocab_size);
    auto cached = FlowSession::Open(model, prompt, {}, *state);
    auto plain = FlowSession::Open(model, prompt, {});
    FlowStreamOptions rec;
    rec.incremental = false;
    auto recompute = FlowSession::Open(model, prompt, rec);
    REQUIRE(cached.ok());
    REQUIRE(plain.ok());
    REQUIRE(recompute.ok());
    const auto cc = Stream(**cached, tokens, 9);
    const auto cp = Stream(**plain, tokens, 9);
    const auto cr = Stream(**recompute, tokens, 9);
    const double e1 = CompareChunks(cc, cp), e2 = CompareChunks(cc, cr);
    MESSAGE("prompt " << t1 << " tokens: cached vs uncached " << e1 << ", vs recompute " << e2);
    CHECK(e1 < kIncTol);
    CHECK(e2 < kIncTol);
  }
  // No complete prompt-only block: nothing to cache.
  Arena arena;
  auto none = model.PromptState(tiny.prompt, 0, arena);
  REQUIRE(none.ok());
  CHECK(*none == nullptr);
}

// A voice's next utterance starts on the prompt rows the previous one left in its (warm)
// reservation instead of copying them; the chunks are the same bit for bit. A reservation
// someone else wrote in between is not trusted (the rows are copied again).
TEST_CASE("FlowPromptCache: the next utterance of a voice reuses the prompt rows in place") {
  const auto& tiny = Tiny();
  const FlowModel& model = *tiny.model;
  const size_t saved_limit = WarmPages::idle_limit();
  WarmPages::Trim();
  WarmPages::SetIdleLimit(size_t{1} << 30);
  const FlowPrompt voice_a = LongPrompt(60, 11), voice_b = LongPrompt(78, 12);
  Arena arena;
  auto state_a = model.PromptState(voice_a, 0, arena);
  auto state_b = model.PromptState(voice_b, 0, arena);
  REQUIRE(state_a.ok());
  REQUIRE(state_b.ok());
  REQUIRE(*state_a != nullptr);
  REQUIRE(*state_b != nullptr);
  const auto tokens = RandomTokens(90, 21, model.config().vocab_size);

  // Runs one utterance of `prompt` and returns its chunks; *reused: the session's cache
  // started on rows left in place. Piece 30: the first chunk (hop 25 + lookahead 3) is ready
  // after the first piece, so the cache exists before the utterance ends.
  auto utterance = [&](const FlowPrompt& prompt, const std::shared_ptr<const EstimatorCache>& state,
                       bool* reused) {
    auto s = FlowSession::Open(model, prompt, {}, state);
    REQUIRE(s.ok());
    std::vector<MelChunk> out;
    *reused = false;
    for (size_t i = 0; i < tokens.size(); i += 30) {
      REQUIRE((*s)->PushTokens(std::span<const int32_t>(tokens.data() + i, 30)).ok());
      while ((*s)->ChunkReady()) {
        auto c = (*s)->NextChunk();
        REQUIRE_MESSAGE(c.ok(), c.status().ToString());
        out.push_back(std::move(*c));
        *reused = *reused || (*s)->prompt_rows_reused();
      }
    }
    auto last = (*s)->Finish();
    REQUIRE(last.ok());
    out.push_back(std::move(*last));
    return out;
  };
  // References: no idle reservations kept, so every utterance copies the rows.
  bool reused = false;
  WarmPages::SetIdleLimit(0);
  const auto a_ref = utterance(voice_a, *state_a, &reused);
  CHECK_FALSE(reused);
  const auto b_ref = utterance(voice_b, *state_b, &reused);
  CHECK_FALSE(reused);
  WarmPages::SetIdleLimit(size_t{1} << 30);
  const auto a1 = utterance(voice_a, *state_a, &reused);
  CHECK_FALSE(reused);  // first utterance of the voice with the pool: copied
  CHECK(CompareChunks(a_ref, a1) == 0.0);
  const auto a2 = utterance(voice_a, *state_a, &reused);
  CHECK(reused);
  CHECK(CompareChunks(a_ref, a2) == 0.0);
  // Another voice in between takes another reservation (or copies into this one); voice a's
  // next utterance is exact either way.
  const auto b1 = utterance(voice_b, *state_b, &reused);
  CHECK(CompareChunks(b_ref, b1) == 0.0);
  const auto b2 = utterance(voice_b, *state_b, &reused);
  CHECK(reused);
  CHECK(CompareChunks(b_ref, b2) == 0.0);
  const auto a3 = utterance(voice_a, *state_a, &reused);
  CHECK(CompareChunks(a_ref, a3) == 0.0);

  // Someone else takes every idle reservation and scribbles over it: not reused, still exact.
  std::vector<WarmPages::Mapping> taken;
  for (;;) {
    const size_t fresh = WarmPages::stats().acquired_fresh;
    auto m = WarmPages::Acquire(1, /*huge_pages=*/false);
    REQUIRE(m.ok());
    if (WarmPages::stats().acquired_fresh != fresh) {  // no small-page mapping left idle
      WarmPages::Release(*m, 0);
      break;
    }
    std::memset(m->base, 0x7f, std::min<size_t>(m->resident, size_t{1} << 20));
    taken.push_back(*m);
  }
  for (const auto& m : taken) WarmPages::Release(m, std::min<size_t>(m.resident, size_t{1} << 20));
  const auto a4 = utterance(voice_a, *state_a, &reused);
  CHECK_FALSE(reused);
  CHECK(CompareChunks(a_ref, a4) == 0.0);
  WarmPages::Trim();
  WarmPages::SetIdleLimit(saved_limit);
}

TEST_CASE("FlowPromptCache: computed once per voice, LRU by entries and bytes") {
  const auto& tiny = Tiny();
  const FlowPrompt a = LongPrompt(60, 1), b = LongPrompt(60, 2), c = LongPrompt(60, 3);
  FlowPromptCache cache(*tiny.model, 2, size_t{1} << 30);
  auto a1 = cache.Get(a);
  auto a2 = cache.Get(a);
  REQUIRE(a1.ok());
  REQUIRE(a2.ok());
  CHECK(a1->get() == a2->get());  // shared, not recomputed
  CHECK(cache.stats().hits == 1);
  CHECK(cache.stats().misses == 1);
  REQUIRE(cache.Get(b).ok());
  REQUIRE(cache.Get(c).ok());  // evicts a (least recent)
  CHECK(cache.stats().entries == 2);
  auto a3 = cache.Get(a);
  REQUIRE(a3.ok());
  CHECK(a3->get() != a1->get());
  CHECK(cache.stats().misses == 4);
  // A byte budget smaller than one state keeps nothing but still serves the state.
  FlowPromptCache small(*tiny.model, 4, 1024);
  auto s = small.Get(a);
  REQUIRE(s.ok());
  CHECK(small.stats().entries == 0);
  // Off.
  FlowPromptCache off(*tiny.model, 0, size_t{1} << 30);
  auto o = off.Get(a);
  REQUIRE(o.ok());
  CHECK(*o == nullptr);
}

TEST_CASE("EstimatorCache: budget errors leave the cache unchanged") {
  const auto& tiny = Tiny();
  EstimatorCache c(tiny.model->config());
  REQUIRE(c.Reserve(100, 0).ok());
  const int64_t cap = c.capacity();
  CHECK(cap >= 100);
  const Status st = c.Reserve(cap + 1000, c.BytesFor(cap + 10));
  CHECK(st.code() == StatusCode::kResourceExhausted);
  CHECK(st.message().find("budget") != std::string::npos);
  CHECK(c.capacity() == cap);
  CHECK(c.frames() == 0);
}

// Both ShrinkToFit paths keep every committed K/V row of every step, block and part, and only
// those: the growing (sparse) reservation copies into a new dense mapping, the exact (dense,
// huge-page) one compacts in place; for f32 and for bf16 rows (the byte pattern tells them
// apart: a shifted row would carry another row's bytes).
TEST_CASE("EstimatorCache: ShrinkToFit keeps the committed rows (sparse copy and in-place)") {
  const auto& tiny = Tiny();
  for (const bool bf16 : {false, true}) {
    for (const bool exact : {false, true}) {
      CAPTURE(bf16);
      CAPTURE(exact);
      EstimatorCache c(tiny.model->config(), bf16);
      CHECK(c.kv_bf16() == bf16);
      CHECK(c.elem_bytes() == (bf16 ? 2u : 4u));
      const int64_t rows = 37, committed = 20;
      REQUIRE(c.Reserve(rows, 0, exact).ok());
      const int64_t cap = c.capacity();
      const size_t row_bytes = static_cast<size_t>(c.inner()) * c.elem_bytes();
      CHECK(c.BytesFor(1) == row_bytes * 4 * static_cast<size_t>(c.blocks()) *
                                 static_cast<size_t>(tiny.model->config().n_timesteps));
      CHECK(exact ? cap == rows : cap > rows);
      auto value = [](size_t step, size_t block, size_t part, int64_t r, size_t j) {
        return static_cast<unsigned char>((step * 131 + block * 31 + part * 7 + static_cast<size_t>(r) * 3 + j * 5) % 251);
      };
      const size_t steps = static_cast<size_t>(tiny.model->config().n_timesteps);  // one Step each
      for (size_t st = 0; st < steps; ++st) {
        auto& kv = c.step(static_cast<int>(st)).kv;
        REQUIRE(kv.size() == static_cast<size_t>(c.blocks()));
        for (size_t b = 0; b < kv.size(); ++b) {
          for (size_t part = 0; part < 4; ++part) {
            for (int64_t r = 0; r < rows; ++r) {
              auto* row = static_cast<unsigned char*>(kv[b]) + (part * static_cast<size_t>(cap) + static_cast<size_t>(r)) * row_bytes;
              for (size_t j = 0; j < row_bytes; ++j) row[j] = value(st, b, part, r, j);
            }
          }
        }
      }
      c.Commit(committed);
      REQUIRE(c.ShrinkToFit().ok());
      CHECK(c.capacity() == committed);
      CHECK(c.frames() == committed);
      int64_t wrong = 0;
      for (size_t st = 0; st < steps; ++st) {
        const auto& kv = c.step(static_cast<int>(st)).kv;
        for (size_t b = 0; b < kv.size(); ++b) {
          for (size_t part = 0; part < 4; ++part) {
            for (int64_t r = 0; r < committed; ++r) {
              const auto* row = static_cast<const unsigned char*>(kv[b]) + (part * static_cast<size_t>(committed) + static_cast<size_t>(r)) * row_bytes;
              for (size_t j = 0; j < row_bytes; ++j) wrong += row[j] != value(st, b, part, r, j);
            }
          }
        }
      }
      CHECK(wrong == 0);
      // A copy keeps the rows; between f32 and bf16 caches it is refused.
      EstimatorCache same(tiny.model->config(), bf16), other(tiny.model->config(), !bf16);
      REQUIRE(same.CopyFrom(c, 0).ok());
      CHECK(same.frames() == committed);
      CHECK(std::memcmp(same.step(0).kv[0], c.step(0).kv[0], static_cast<size_t>(committed) * row_bytes) == 0);
      const Status mixed = other.CopyFrom(c, 0);
      CHECK(mixed.code() == StatusCode::kInvalidArgument);
      CHECK(mixed.message().find("bf16") != std::string::npos);
    }
  }
}

// The encoder's rows: CopyFrom carries exactly the committed token / frame rows of every layer
// and every computed positional row into another reservation; Clear forgets the committed rows
// but keeps the positional ones (input-independent); TrimToCommitted keeps what is committed.
TEST_CASE("EncoderCache: copy, clear and trim keep the committed rows of every layer") {
  const FlowConfig& cfg = Tiny().model->config();
  const size_t l1 = 3, l2 = 2;
  const int64_t d = cfg.enc_dim, ratio = cfg.token_mel_ratio, tokens = 7, written = 11;
  EncoderCache a;
  CHECK_FALSE(a.prepared());
  REQUIRE(a.Prepare(cfg, l1, l2).ok());
  REQUIRE(a.prepared());
  CHECK(a.rows_capacity(0) * ratio >= kCfmNoiseFrames);
  CHECK(a.rows_capacity(1) == ratio * a.rows_capacity(0));
  CHECK(a.p_capacity(0) == a.rows_capacity(0) + cfg.enc_chunk - 1);
  CHECK(a.p_capacity(1) == a.rows_capacity(1) + ratio * cfg.enc_chunk - 1);
  auto value = [](int s, size_t l, int kind, int64_t r, int64_t j) {
    return static_cast<float>((s * 1009 + static_cast<int64_t>(l) * 101 + kind * 13 + r * 7 + j) %
                              997);
  };
  for (int s = 0; s < 2; ++s) {
    const int64_t rows = s == 0 ? written : ratio * written;
    for (size_t l = 0; l < (s == 0 ? l1 : l2); ++l) {
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < d; ++j) {
          a.k(s, l)[r * d + j] = value(s, l, 0, r, j);
          a.v(s, l)[r * d + j] = value(s, l, 1, r, j);
        }
      }
      a.p_rows(s, l) = rows + 5 + static_cast<int64_t>(l);
      for (int64_t r = 0; r < a.p_rows(s, l); ++r) {
        for (int64_t j = 0; j < d; ++j) a.p(s, l)[r * d + j] = value(s, l, 2, r, j);
      }
    }
    a.Wrote(s, rows);
  }
  a.tokens = tokens;
  a.tail.assign(static_cast<size_t>(2 * d), 3.0f);
  a.tail_next.assign(static_cast<size_t>(2 * d), 4.0f);
  // Every committed row, K / V / P, against the pattern; p rows as recorded.
  auto check = [&](const EncoderCache& c, bool kv) {
    int64_t wrong = 0;
    for (int s = 0; s < 2; ++s) {
      const int64_t rows = s == 0 ? tokens : ratio * tokens;
      for (size_t l = 0; l < (s == 0 ? l1 : l2); ++l) {
        for (int64_t r = 0; r < rows && kv; ++r) {
          for (int64_t j = 0; j < d; ++j) {
            wrong += c.k(s, l)[r * d + j] != value(s, l, 0, r, j);
            wrong += c.v(s, l)[r * d + j] != value(s, l, 1, r, j);
          }
        }
        const int64_t pr = (s == 0 ? written : ratio * written) + 5 + static_cast<int64_t>(l);
        wrong += c.p_rows(s, l) != pr;
        for (int64_t r = 0; r < pr; ++r) {
          for (int64_t j = 0; j < d; ++j) wrong += c.p(s, l)[r * d + j] != value(s, l, 2, r, j);
        }
      }
    }
    return wrong;
  };
  CHECK(check(a, true) == 0);
  EncoderCache b;
  REQUIRE(b.CopyFrom(a).ok());
  CHECK(b.tokens == tokens);
  CHECK(b.tail == a.tail);
  CHECK(b.tail_next == a.tail_next);
  CHECK(check(b, true) == 0);
  CHECK(b.bytes() == a.bytes());
  // The committed rows count, not the rows written past them.
  size_t rows_bytes = 0;
  for (int s = 0; s < 2; ++s) {
    for (size_t l = 0; l < (s == 0 ? l1 : l2); ++l) {
      rows_bytes +=
          static_cast<size_t>((2 * (s == 0 ? tokens : ratio * tokens) + b.p_rows(s, l)) * d);
    }
  }
  CHECK(b.bytes() == (rows_bytes + 4 * static_cast<size_t>(d)) * sizeof(float));
  a.TrimToCommitted();
  CHECK(check(a, true) == 0);
  a.Clear();
  CHECK(a.tokens == 0);
  CHECK(std::all_of(a.tail.begin(), a.tail.end(), [](float v) { return v == 0.0f; }));
  CHECK(check(a, false) == 0);  // positional rows kept
  // An empty cache copies as empty and reserves nothing.
  EncoderCache empty, c;
  REQUIRE(c.CopyFrom(empty).ok());
  CHECK_FALSE(c.prepared());
  CHECK(c.tokens == 0);
}

}  // namespace
}  // namespace cosyflow::flow

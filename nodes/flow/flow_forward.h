// Forward passes of the flow encoder and the CFM estimator (internal to nodes/flow).
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "nodes/flow/flow_config.h"
#include "nodes/flow/flow_ops.h"
#include "nodes/flow/flow_stream_cache.h"
#include "nodes/flow/flow_weights.h"
#include "runtime/tensor.h"

namespace cosyflow::flow {

// Test hook: called with named intermediates (time-major unless stated). May be empty.
using FlowHook = std::function<void(std::string_view name, const float* data, const Dims& shape)>;

// Where forward time goes (seconds, accumulated; reset by the caller).
struct FlowProfile {
  double encoder = 0;
  double estimator = 0;
  double est_attention = 0;  // score/softmax/value products inside transformer blocks
  double est_linear = 0;     // q|k|v, out, feed-forward GEMMs
  double est_conv = 0;       // resnet/causal convs (im2col + GEMM) incl. their norms
  double est_other = 0;      // norms, activations, packing
  int estimator_calls = 0;
};

// UpsampleConformerEncoder + encoder_proj.
// emb: [t, d] embedded tokens (token embedding rows); context: [3, d] embedded lookahead tokens
// or null (finalize: zero right-extension). streaming: chunk-causal masks (enc_chunk tokens,
// 2 x enc_chunk frames). Output mu: [2t, 80] time-major (h before the projection goes to the hook
// as "encoder_out" [2t, d]).
Status EncoderForward(const FlowWeights& w, const FlowConfig& c, const float* emb, int64_t t,
                      const float* context, bool streaming, Arena& arena, const FlowHook& hook,
                      float* mu);

// Streaming (chunk-causal) encoder over the tokens after ec.tokens only (incremental chunks):
// emb: [t + 3, input_size] embedded tokens of the whole call (the last 3 are the lookahead
// context, or zeros when `context` is null: finalize); keys/values, positional projections and
// the upsample context come from `ec`, which
// gets the new rows and stages its tail at `commit` tokens (EstimatorCache::Commit applies it).
// mu: [2 (t - ec.tokens), 80], the frames after the cached ones. Requires the Upsample1D x2 layout.
Status EncoderForwardCached(const FlowWeights& w, const FlowConfig& c, const float* emb, int64_t t,
                            const float* context, EncoderCache& ec, int64_t commit,
                            Arena& arena, float* mu);

// One CausalConditionalDecoder call, CFG batch of 2.
//
// Per-chunk state (for the planned incremental streaming; today every chunk recomputes the
// whole prefix, as the reference does). In streaming mode frame i only sees frames of its own
// and earlier 50-frame chunks, every conv is causal (k = 3: 2 frames of history), and the noise
// is fixed per absolute frame, so for each (ODE step s in 0..9, CFG row r in 0..1) the outputs
// of completed chunks never change. What a cached estimator must keep per (s, r):
//   - per transformer block (4 + 12 x 4 + 4 = 56 at release shapes): K and V of the completed
//     frames ([frames, 512] each), appended per chunk;
//   - per causal conv (2 per resnet x 14, plus down/up/final: 31): its last 2 input frames;
//   - the down-stage skip is per frame, so nothing extra.
// The encoder needs the same (its 6 + 4 conformer layers' K/V plus the lookahead/upsample conv
// tails) but re-running it is cheap (< 5 % of a call). Caveat: the reference's chunk boundaries
// start at the first prompt frame and later chunks must be 50-frame aligned (hops of 25 tokens).
// in: [2, m, 320] time-major rows [x | mu | spks | cond]; t_value: the ODE time (same for both
// rows); streaming: chunk-causal attention (est_chunk frames). out: [2, m, 80].
// inc (streaming only): `in` holds the m frames after inc->ctx_frames cached ones; the cache's
// K/V rows for them are written, conv contexts staged at inc->commit (see flow_stream_cache.h).
// cfg_row 0 or 1: only that CFG row (in [1, m, 320], out [1, m, 80], its cache state), so two
// threads can run the rows at once; with a cache, its conv contexts must already be sized (a
// both-rows call on the same step ran before).
Status EstimatorForward(const FlowWeights& w, const FlowConfig& c, const float* in, int64_t m,
                        float t_value, bool streaming, Arena& arena, FlowProfile* prof, float* out,
                        EstimatorIncremental* inc = nullptr, int cfg_row = -1);

// The resnets' time biases of one estimator call: row r (down, mid 0.., up) = mlp_r(Mish(
// time_mlp(t))), [2 + est_mid_blocks, est_channels] (what every frame of both CFG rows gets
// added after its first conv block).
Status ResnetTimeBiases(const FlowWeights& w, const FlowConfig& c, float t_value, Arena& arena,
                        float* out);

// Fills w->time_biases with ResnetTimeBiases at every time of MakeOdeSchedule(c.n_timesteps),
// which EstimatorForward then looks up by the exact value of t (other times: computed per call).
Status PrecomputeTimeBiases(const FlowConfig& c, FlowWeights* w);

// The Euler sampler's schedule on the cosine grid: step s (0 .. n - 1) evaluates the estimator
// at t[s] and advances by dt[s], in f32 as the reference's loop accumulates them.
struct OdeSchedule {
  std::vector<float> t, dt;
};
OdeSchedule MakeOdeSchedule(int n);

}  // namespace cosyflow::flow

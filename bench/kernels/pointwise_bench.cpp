// Pointwise kernel bench section: norms, activations, softmax, rope, attention, embedding and
// STFT/iSTFT at model shapes. Each case checks cpu against ref, then times the cpu kernel.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "bench/kernels/bench_kernels.h"
#include "runtime/kernels/cpu/activation.h"
#include "runtime/kernels/cpu/attention.h"
#include "runtime/kernels/cpu/embedding.h"
#include "runtime/kernels/cpu/norm.h"
#include "runtime/kernels/cpu/rope.h"
#include "runtime/kernels/cpu/softmax.h"
#include "runtime/kernels/cpu/stft.h"
#include "runtime/kernels/ref/activation.h"
#include "runtime/kernels/ref/attention.h"
#include "runtime/kernels/ref/embedding.h"
#include "runtime/kernels/ref/norm.h"
#include "runtime/kernels/ref/rope.h"
#include "runtime/kernels/ref/softmax.h"
#include "runtime/kernels/ref/stft.h"

namespace cosyflow::bench {

namespace {
namespace ref = kernels::ref;
namespace cpu = kernels::cpu;
using json = nlohmann::json;
using Vec = std::vector<float>;

Vec Random(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  Vec v(n);
  for (float& x : v) x = d(rng);
  return v;
}

double MaxAbs(const Vec& a, const Vec& b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(double(a[i]) - b[i]);
    m = std::isnan(d) ? INFINITY : std::max(m, d);
  }
  return m;
}
double MaxMag(const Vec& a) {
  double m = 0.0;
  for (float v : a) m = std::max(m, std::fabs(double(v)));
  return m;
}

// Milliseconds per call of fn, repeated for at least min_seconds (after one warm-up call).
double TimeMs(const std::function<void()>& fn, double min_seconds) {
  fn();
  using Clock = std::chrono::steady_clock;
  int64_t iters = 0;
  const auto start = Clock::now();
  double elapsed = 0.0;
  do {
    fn();
    ++iters;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < min_seconds);
  return 1e3 * elapsed / static_cast<double>(iters);
}

// One case: run_ref / run_cpu fill their outputs; error is relative to the reference's max
// magnitude; `work` is bytes moved (gbps) or flops (gflops).
json Case(const std::string& kernel, const std::string& shape, const Vec& out_ref,
          const Vec& out_cpu, double rel_tol, const std::function<void()>& timed, double work,
          bool flops, double min_seconds) {
  const double err = MaxAbs(out_ref, out_cpu);
  const double scale = std::max(MaxMag(out_ref), 1e-30);
  json c = {{"kernel", kernel},
            {"shape", shape},
            {"dtype", "f32"},
            {"max_abs_err", err},
            {"ok", err / scale <= rel_tol}};
  const double ms = TimeMs(timed, min_seconds);
  c["ms"] = ms;
  c[flops ? "gflops" : "gbps"] = work / (ms * 1e-3) / 1e9;
  return c;
}

void Check(const Status& s) {
  if (!s.ok()) throw std::runtime_error(s.ToString());
}

using Unary = Status (*)(const float*, int64_t, float*);

json UnaryCase(const char* name, Unary r, Unary c, int64_t rows, int64_t cols, double tol,
               double min_s) {
  const int64_t n = rows * cols;
  Vec x = Random(n, 1, -4.0f, 4.0f), yr(n), yc(n);
  Check(r(x.data(), n, yr.data()));
  Check(c(x.data(), n, yc.data()));
  return Case(
      name, fmt::format("[{},{}]", rows, cols), yr, yc, tol,
      [&] { Check(c(x.data(), n, yc.data())); }, 8.0 * n, false, min_s);
}

json AttentionCase(const char* name, ref::AttentionParams p, double min_s) {
  Vec q = Random(p.q_heads * p.q_len * p.head_dim, 1),
      k = Random(p.kv_heads * p.kv_len * p.head_dim, 2),
      v = Random(p.kv_heads * p.kv_len * p.head_dim, 3), yr(q.size()), yc(q.size());
  Vec scratch(cpu::AttentionScratchFloats(p));
  const auto ns = static_cast<int64_t>(scratch.size());
  Check(ref::Attention(p, q.data(), k.data(), v.data(), yr.data(), nullptr, 0));
  auto run = [&] {
    Check(cpu::Attention(p, q.data(), k.data(), v.data(), yc.data(), scratch.data(), ns));
  };
  run();
  // Dense count (masked scores included) for comparability: 2 matmuls of 2 flops per MAC.
  const double flops = 4.0 * p.q_heads * p.q_len * p.kv_len * p.head_dim;
  json j = Case(
      name,
      fmt::format("Hq{} Hkv{} D{} Tq{} Tk{}", p.q_heads, p.kv_heads, p.head_dim, p.q_len, p.kv_len),
      yr, yc, p.bf16 ? 2e-3 : (p.int16 ? 1e-3 : 1e-5), run, flops, true, min_s);
  // The same over the keys each query row sees (what the arithmetic rate is read by).
  double visible = 0;
  for (int64_t i = 0; i < p.q_len; ++i) {
    const int64_t a = p.q_offset + i;
    int64_t end = p.kv_len;
    if (p.mask == ref::AttentionMask::kCausal) end = std::min(end, a + 1);
    if (p.mask == ref::AttentionMask::kChunkCausal) {
      end = std::min(end, (a / p.chunk_size + 1) * p.chunk_size);
    }
    visible += static_cast<double>(end);
  }
  if (j.contains("ms") && j["ms"].get<double>() > 0) {
    j["gflops_visible"] = 4.0 * p.q_heads * visible * p.head_dim / (j["ms"].get<double>() * 1e6);
  }
  return j;
}
}  // namespace

json BenchPointwiseKernels(const KernelBenchOptions& options) {
  const double min_s = options.min_seconds;
  json cases = json::array();
  auto add = [&](const std::function<json()>& f) {
    try {
      cases.push_back(f());
    } catch (const std::exception& e) {
      cases.push_back({{"kernel", "pointwise"}, {"ok", false}, {"error", e.what()}});
    }
  };

  add([&] {  // rms_norm [64, 896]
    const int64_t r = 64, d = 896;
    Vec x = Random(r * d, 1), w = Random(d, 2), yr(r * d), yc(r * d);
    Check(ref::RmsNorm(x.data(), w.data(), r, d, 1e-6f, yr.data()));
    Check(cpu::RmsNorm(x.data(), w.data(), r, d, 1e-6f, yc.data()));
    return Case(
        "rms_norm", "[64,896]", yr, yc, 1e-5,
        [&] { Check(cpu::RmsNorm(x.data(), w.data(), r, d, 1e-6f, yc.data())); }, 8.0 * r * d,
        false, min_s);
  });
  add([&] {  // layer_norm [200, 512]
    const int64_t r = 200, d = 512;
    Vec x = Random(r * d, 1), g = Random(d, 2), b = Random(d, 3), yr(r * d), yc(r * d);
    Check(ref::LayerNorm(x.data(), g.data(), b.data(), r, d, 1e-5f, yr.data()));
    Check(cpu::LayerNorm(x.data(), g.data(), b.data(), r, d, 1e-5f, yc.data()));
    return Case(
        "layer_norm", "[200,512]", yr, yc, 1e-5,
        [&] { Check(cpu::LayerNorm(x.data(), g.data(), b.data(), r, d, 1e-5f, yc.data())); },
        8.0 * r * d, false, min_s);
  });
  add([&] {  // softmax [14, 1, 1024]
    const int64_t r = 14, c = 1024;
    Vec x = Random(r * c, 1, -8.0f, 8.0f), yr(r * c), yc(r * c);
    Check(ref::Softmax(x.data(), r, c, yr.data()));
    Check(cpu::Softmax(x.data(), r, c, yc.data()));
    return Case(
        "softmax", "[14,1,1024]", yr, yc, 1e-5,
        [&] { Check(cpu::Softmax(x.data(), r, c, yc.data())); }, 8.0 * r * c, false, min_s);
  });
  add([&] { return UnaryCase("gelu_erf", ref::GeluErf, cpu::GeluErf, 512, 2000, 1e-5, min_s); });
  add([&] { return UnaryCase("gelu_tanh", ref::GeluTanh, cpu::GeluTanh, 512, 2000, 1e-5, min_s); });
  add([&] { return UnaryCase("silu", ref::Silu, cpu::Silu, 512, 2000, 1e-5, min_s); });
  add([&] {  // snake [512, 2000]
    const int64_t c = 512, t = 2000;
    Vec x = Random(c * t, 1, -3.0f, 3.0f), a = Random(c, 2, 0.2f, 2.0f), yr(c * t), yc(c * t);
    Check(ref::Snake(x.data(), a.data(), c, t, yr.data()));
    Check(cpu::Snake(x.data(), a.data(), c, t, yc.data()));
    return Case(
        "snake", "[512,2000]", yr, yc, 1e-5,
        [&] { Check(cpu::Snake(x.data(), a.data(), c, t, yc.data())); }, 8.0 * c * t, false, min_s);
  });
  add([&] {  // rope [64, 14, 64]
    const int64_t t = 64, h = 14, d = 64, max_pos = 1024;
    Vec cs(max_pos * d / 2), sn(max_pos * d / 2);
    Check(ref::RopeTable(max_pos, d, 1e6, cs.data(), sn.data()));
    Vec x = Random(t * h * d, 1), yr = x, yc = x;
    Check(ref::ApplyRope(yr.data(), t, h, d, 0, 100, cs.data(), sn.data(), max_pos));
    Check(cpu::ApplyRope(yc.data(), t, h, d, 0, 100, cs.data(), sn.data(), max_pos));
    return Case(
        "rope", "[64,14,64]", yr, yc, 1e-6,
        [&] { Check(cpu::ApplyRope(yc.data(), t, h, d, 0, 100, cs.data(), sn.data(), max_pos)); },
        8.0 * t * h * d + 4.0 * t * d, false, min_s);
  });
  add([&] {  // embedding gather, bf16 table [6561, 896], 64 ids
    const int64_t vocab = 6561, d = 896, n = 64;
    Vec tf = Random(vocab * d, 1);
    std::vector<uint16_t> tb(tf.size());
    for (size_t i = 0; i < tf.size(); ++i) tb[i] = F32ToBF16(tf[i]);
    std::vector<int32_t> ids(n);
    for (int64_t i = 0; i < n; ++i) ids[i] = static_cast<int32_t>((i * 977) % vocab);
    Vec yr(n * d), yc(n * d);
    Check(ref::EmbeddingGather(tb.data(), DType::kBF16, vocab, d, ids.data(), n, yr.data()));
    Check(cpu::EmbeddingGather(tb.data(), DType::kBF16, vocab, d, ids.data(), n, yc.data()));
    return Case(
        "embedding_bf16", "[6561,896] x 64 ids", yr, yc, 0.0,
        [&] {
          Check(cpu::EmbeddingGather(tb.data(), DType::kBF16, vocab, d, ids.data(), n, yc.data()));
        },
        6.0 * n * d, false, min_s);
  });
  add([&] {
    return AttentionCase("attention_decode",
                         {.q_heads = 14,
                          .kv_heads = 2,
                          .q_len = 1,
                          .kv_len = 512,
                          .head_dim = 64,
                          .mask = ref::AttentionMask::kCausal,
                          .q_offset = 511},
                         min_s);
  });
  add([&] {
    return AttentionCase("attention_prefill",
                         {.q_heads = 14,
                          .kv_heads = 2,
                          .q_len = 256,
                          .kv_len = 256,
                          .head_dim = 64,
                          .mask = ref::AttentionMask::kCausal},
                         min_s);
  });
  add([&] {
    return AttentionCase("attention_flow_chunk",
                         {.q_heads = 8,
                          .kv_heads = 8,
                          .q_len = 400,
                          .kv_len = 400,
                          .head_dim = 64,
                          .mask = ref::AttentionMask::kChunkCausal,
                          .chunk_size = 50},
                         min_s);
  });
  // f32, bf16 and int16 products (the flow's precisions; int16 checked against its definition)
  for (const char* prod : {"", "_bf16", "_int16"}) {
    const std::string suffix = prod;
    auto set = [&](ref::AttentionParams& p) {
      p.bf16 = suffix == "_bf16";
      p.int16 = suffix == "_int16";
    };
    add([&] {  // the flow's exact final pass: full attention over prompt + utterance (13 s)
      ref::AttentionParams p{.q_heads = 8,
                             .kv_heads = 8,
                             .q_len = 650,
                             .kv_len = 650,
                             .head_dim = 64,
                             .mask = ref::AttentionMask::kNone};
      set(p);
      return AttentionCase(("attention_flow_full" + suffix).c_str(), p, min_s);
    });
    add([&] {  // a streaming chunk of 56 new frames against 206 cached + new frames
      ref::AttentionParams p{.q_heads = 8,
                             .kv_heads = 8,
                             .q_len = 56,
                             .kv_len = 206,
                             .head_dim = 64,
                             .mask = ref::AttentionMask::kChunkCausal,
                             .q_offset = 150,
                             .chunk_size = 50};
      set(p);
      return AttentionCase(("attention_flow_new_frames" + suffix).c_str(), p, min_s);
    });
  }
  // STFT / iSTFT, n_fft 16 hop 4 on 96000 samples (HiFT, 4 s at 24 kHz).
  auto plan = ref::StftPlan::Create({16, 4, 16, true});
  const int64_t samples = 96000;
  const int64_t frames = plan.ok() ? plan->Frames(samples) : 0;
  Vec sig = Random(samples, 9), re_r, im_r, re_c, im_c;
  add([&] {
    Check(plan.status());
    re_r.resize(9 * frames), im_r.resize(9 * frames), re_c.resize(9 * frames),
        im_c.resize(9 * frames);
    Vec scratch(plan->StftScratchFloats());
    const auto ns = static_cast<int64_t>(scratch.size());
    Check(ref::Stft(*plan, sig.data(), samples, re_r.data(), im_r.data(), scratch.data(), ns));
    auto run = [&] {
      Check(cpu::Stft(*plan, sig.data(), samples, re_c.data(), im_c.data(), scratch.data(), ns));
    };
    run();
    Vec both_r = re_r, both_c = re_c;
    both_r.insert(both_r.end(), im_r.begin(), im_r.end());
    both_c.insert(both_c.end(), im_c.begin(), im_c.end());
    return Case("stft", "n_fft16 hop4 x96000", both_r, both_c, 1e-5, run,
                4.0 * samples + 8.0 * 9 * frames, false, min_s);
  });
  add([&] {
    Check(plan.status());
    Vec yr(plan->IstftLength(frames)), yc(yr.size()), scratch(plan->IstftScratchFloats(frames));
    const auto ns = static_cast<int64_t>(scratch.size());
    Check(ref::Istft(*plan, re_c.data(), im_c.data(), frames, yr.data(), scratch.data(), ns));
    auto run = [&] {
      Check(cpu::Istft(*plan, re_c.data(), im_c.data(), frames, yc.data(), scratch.data(), ns));
    };
    run();
    json c = Case("istft", "n_fft16 hop4 x96000", yr, yc, 1e-5, run,
                  8.0 * 9 * frames + 4.0 * samples, false, min_s);
    c["roundtrip_max_abs_err"] = MaxAbs(yc, sig);
    return c;
  });
  return cases;
}

}  // namespace cosyflow::bench

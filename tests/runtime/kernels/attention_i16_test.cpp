// int16-product attention (ref::AttentionParams::int16, the flow's int16 precision): every
// variant of this CPU against the reference's integer definition (scores equal; the softmax's exp
// may move a weight across a rounding boundary, so outputs within a few weight quanta), the
// definition against f32 attention within the bound its quantization allows, row independence
// (a block of new rows against cached keys equals the same rows of the whole-sequence call, bit
// for bit), masks, and argument errors.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "runtime/cpu_isa.h"
#include "runtime/kernels/cpu/attention.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/ref/attention.h"
#include "tests/runtime/kernels/kernel_test_util.h"

namespace cosyflow::kernels {
namespace {

using test::RandomVector;
using Mask = ref::AttentionMask;

using Shape = test::AttnShape;

ref::AttentionParams Params(const Shape& sh) {
  ref::AttentionParams p = test::AttnParams(sh);
  p.int16 = true;
  return p;
}

std::string Name(const Shape& sh) {
  return fmt::format("hq {} hkv {} tq {} tk {} d {} chunk {} off {}", sh.hq, sh.hkv, sh.tq, sh.tk,
                     sh.d, sh.chunk, sh.off);
}

// The variant's attention_i16 (madd: its vpmaddwd kernel, which is attention_i16 except on CPUs
// with AVX512_VNNI) on resolved params, as cpu::Attention calls it.
std::vector<float> RunVariant(const cpu::KernelTable& t, const ref::AttentionParams& params,
                              const std::vector<float>& q, const std::vector<float>& k,
                              const std::vector<float>& v, bool madd = false) {
  ref::AttentionParams p;
  REQUIRE(ref::ResolveAttentionParams(params, &p).ok());
  // out as the resolved strides lay it out (a view may leave gaps between heads)
  const int64_t out_elems =
      (p.q_heads - 1) * p.out_head_stride + (p.q_len - 1) * p.out_row_stride + p.head_dim;
  std::vector<float> y(static_cast<size_t>(std::max<int64_t>(out_elems, 0)), 77.0f);
  std::vector<float> scratch(static_cast<size_t>(cpu::AttentionScratchFloats(p)), 55.0f);
  REQUIRE(bool(t.attention_i16 != nullptr));
  REQUIRE(bool(t.attention_i16_madd != nullptr));
  (madd ? t.attention_i16_madd : t.attention_i16)(p, q.data(), k.data(), v.data(), y.data(),
                                                  scratch.data());
  return y;
}

std::vector<const cpu::KernelTable*> Variants() {
  std::vector<const cpu::KernelTable*> out;
  for (int v = 0; v <= static_cast<int>(DetectedCpuIsa()); ++v) {
    auto t = cpu::KernelsFor(CpuIsa(v));
    REQUIRE(t.ok());
    out.push_back(*t);
  }
  return out;
}

float MaxAbs(const std::vector<float>& x) {
  float m = 0.0f;
  for (float e : x) m = std::max(m, std::fabs(e));
  return m;
}

const Shape kShapes[] = {
    {1, 1, 650, 650, 64, Mask::kNone, 0, 0},           // the flow's whole-sequence pass
    {8, 8, 101, 101, 64, Mask::kChunkCausal, 50, 0},   // chunk-causal, odd length
    {2, 2, 56, 206, 64, Mask::kChunkCausal, 50, 150},  // new frames against cached context
    {14, 2, 3, 40, 64, Mask::kCausal, 0, 37},          // few rows (GQA decode-like)
    {2, 2, 33, 65, 17, Mask::kNone, 0, 0},             // head_dim not a multiple of 16, odd
    {2, 1, 20, 31, 48, Mask::kCausal, 0, 11},          // odd key count
    {3, 3, 18, 300, 96, Mask::kChunkCausal, 25, 270},  // keys in 3 blocks of 128, 13-bit keys off
    {1, 1, 29, 140, 160, Mask::kNone, 0, 0}};          // channels in 2 blocks of 128

TEST_CASE("int16 attention: every variant matches the integer definition, which is near f32") {
  for (const Shape& sh : kShapes) {
    const ref::AttentionParams p = Params(sh);
    auto q = RandomVector(p.q_heads * p.q_len * p.head_dim, 41, -1.5f, 1.5f);
    auto k = RandomVector(p.kv_heads * p.kv_len * p.head_dim, 42, -1.5f, 1.5f);
    auto v = RandomVector(p.kv_heads * p.kv_len * p.head_dim, 43);
    std::vector<float> y_def(q.size()), y_f32(q.size());
    REQUIRE(ref::Attention(p, q.data(), k.data(), v.data(), y_def.data(), nullptr, 0).ok());
    ref::AttentionParams pf = p;
    pf.int16 = false;
    REQUIRE(ref::Attention(pf, q.data(), k.data(), v.data(), y_f32.data(), nullptr, 0).ok());
    const double vmax = MaxAbs(v);
    // a weight moved by one quantum moves an output by at most max|v| / kAttnI16QueryMax
    const double tol_def = 4.0 * vmax / ref::kAttnI16QueryMax + 1e-6;
    for (const cpu::KernelTable* t : Variants()) {
      const std::string what = fmt::format("{} [{}]", Name(sh), CpuIsaName(t->isa));
      CAPTURE(what);
      const auto y = RunVariant(*t, p, q, k, v);
      const double diff = test::MaxAbsDiff(y, y_def);
      CHECK(diff <= tol_def);
      MESSAGE(what, ": max abs diff to the definition ", diff, " (bound ", tol_def, ")");
      // the vpmaddwd kernel (where attention_i16 is vpdpwssd): the same integer sums, same bits
      CHECK(test::MaxAbsDiff(RunVariant(*t, p, q, k, v, /*madd=*/true), y) == 0.0);
    }
    // The definition against f32: the scores' quantization (|q| 14-bit, |k| 13/12-bit) and the
    // weights' and values' (14 / 12 bits) leave ~1e-4 of max|v| at these score sizes (measured
    // 0.6-2.2e-4); a wrong scale or block is off by far more.
    const double vs_f32 = test::MaxAbsDiff(y_def, y_f32);
    CAPTURE(Name(sh));
    CHECK(vs_f32 > 0.0);
    CHECK(vs_f32 < 1e-3 * vmax);
    MESSAGE(Name(sh), ": int16 vs f32 max abs diff ", vs_f32, " (max |v| ", vmax, ")");
  }
}

// Peaky rows (scores spread over hundreds) and zero value rows: weights far below the row's
// largest quantize to 0, a zero value row has scale 0. The scores' quantization steps are
// relative to the row's largest |q| and |k|, so their error grows with the scores: ~1e-2 here
// (measured 0.0092) against ~1e-4 for scores of a few units.
TEST_CASE("int16 attention: spread scores and zero value rows") {
  const Shape sh{2, 2, 40, 650, 64, Mask::kNone, 0, 0};
  const ref::AttentionParams p = Params(sh);
  auto q = RandomVector(p.q_heads * p.q_len * p.head_dim, 51, -12.0f, 12.0f);
  auto k = RandomVector(p.kv_heads * p.kv_len * p.head_dim, 52, -12.0f, 12.0f);
  auto v = RandomVector(p.kv_heads * p.kv_len * p.head_dim, 53);
  for (int64_t j = 0; j < p.kv_len; j += 7) {
    std::fill_n(v.begin() + j * p.head_dim, p.head_dim, 0.0f);  // head 0's value rows
  }
  std::vector<float> y_def(q.size()), y_f32(q.size());
  REQUIRE(ref::Attention(p, q.data(), k.data(), v.data(), y_def.data(), nullptr, 0).ok());
  ref::AttentionParams pf = p;
  pf.int16 = false;
  REQUIRE(ref::Attention(pf, q.data(), k.data(), v.data(), y_f32.data(), nullptr, 0).ok());
  for (const cpu::KernelTable* t : Variants()) {
    CAPTURE(CpuIsaName(t->isa));
    CHECK(test::MaxAbsDiff(RunVariant(*t, p, q, k, v), y_def) <= 4.0 / ref::kAttnI16QueryMax);
  }
  const double vs_f32 = test::MaxAbsDiff(y_def, y_f32);
  CHECK(vs_f32 < 2e-2);
  MESSAGE("spread scores: int16 vs f32 max abs diff ", vs_f32);
}

// The flow's incremental streaming relies on it: new rows against cached keys give the same bits
// as those rows inside the whole-sequence call (keys quantized per row, weights per query row,
// the value blocks counted from key 0).
TEST_CASE("int16 attention: new rows against cached keys equal the whole call's rows") {
  const int64_t d = 64, heads = 2, total = 206, off = 150, chunk = 50;
  auto q = RandomVector(heads * total * d, 61, -1.5f, 1.5f);
  auto k = RandomVector(heads * total * d, 62, -1.5f, 1.5f);
  auto v = RandomVector(heads * total * d, 63);
  for (const cpu::KernelTable* t : Variants()) {
    CAPTURE(CpuIsaName(t->isa));
    ref::AttentionParams whole =
        Params({heads, heads, total, total, d, Mask::kChunkCausal, chunk, 0});
    const auto y_whole = RunVariant(*t, whole, q, k, v);
    // rows off .. total of each head: q and out views with the whole call's strides
    ref::AttentionParams part = whole;
    part.q_len = total - off;
    part.q_offset = off;
    part.q_head_stride = total * d;
    part.out_head_stride = total * d;
    std::vector<float> q_part(q.size()), y_part;
    std::copy(q.begin() + off * d, q.end(), q_part.begin());
    y_part = RunVariant(*t, part, q_part, k, v);
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = off; i < total; ++i) {
        for (int64_t c = 0; c < d; ++c) {
          const float a = y_whole[(h * total + i) * d + c];
          const float b = y_part[h * total * d + (i - off) * d + c];
          if (a != b) {
            FAIL_CHECK("head ", h, " row ", i, " channel ", c, ": ", a, " != ", b);
            return;
          }
        }
      }
    }
  }
}

TEST_CASE("int16 attention: fully masked rows give zeros; masked keys contribute nothing") {
  const Shape sh{2, 2, 24, 40, 32, Mask::kNone, 0, 0};
  ref::AttentionParams p = Params(sh);
  std::vector<uint8_t> keep(static_cast<size_t>(p.q_len * p.kv_len), 1);
  for (int64_t j = 0; j < p.kv_len; ++j) keep[5 * p.kv_len + j] = 0;  // row 5 sees nothing
  for (int64_t i = 0; i < p.q_len; ++i) keep[i * p.kv_len + 3] = 0;   // key 3 hidden from all
  p.keep_mask = keep.data();
  auto q = RandomVector(p.q_heads * p.q_len * p.head_dim, 71, -1.5f, 1.5f);
  auto k = RandomVector(p.kv_heads * p.kv_len * p.head_dim, 72, -1.5f, 1.5f);
  auto v = RandomVector(p.kv_heads * p.kv_len * p.head_dim, 73);
  auto v_changed = v;
  for (int64_t h = 0; h < p.kv_heads; ++h) {
    for (int64_t c = 0; c < p.head_dim; ++c) v_changed[(h * p.kv_len + 3) * p.head_dim + c] = 0.25f;
  }
  for (const cpu::KernelTable* t : Variants()) {
    CAPTURE(CpuIsaName(t->isa));
    const auto y = RunVariant(*t, p, q, k, v);
    for (int64_t h = 0; h < p.q_heads; ++h) {
      for (int64_t c = 0; c < p.head_dim; ++c) CHECK(y[(h * p.q_len + 5) * p.head_dim + c] == 0.0f);
    }
    // key 3's value row changed: no output moves
    CHECK(test::MaxAbsDiff(RunVariant(*t, p, q, k, v_changed), y) == 0.0);
  }
}

// NaN or infinity in a query row or a key / value row a row sees makes that row NaN (as f32
// attention's would be); rows that do not see the key (causal: earlier rows; a keep mask) stay
// finite and unchanged, even though the bad row sits inside their blocks' packed keys.
TEST_CASE("int16 attention: NaN and infinity reach exactly the rows that see them") {
  const Shape sh{2, 2, 30, 30, 16, Mask::kCausal, 0, 0};
  const ref::AttentionParams p = Params(sh);
  const int64_t d = p.head_dim, t = p.q_len;
  const auto q = RandomVector(p.q_heads * t * d, 81, -1.5f, 1.5f);
  const auto k = RandomVector(p.kv_heads * t * d, 82, -1.5f, 1.5f);
  const auto v = RandomVector(p.kv_heads * t * d, 83);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  auto row_nan = [&](const std::vector<float>& y, int64_t h, int64_t i) {
    bool all = true;
    for (int64_t c = 0; c < d; ++c) all = all && std::isnan(y[(h * t + i) * d + c]);
    return all;
  };
  for (const cpu::KernelTable* tb : Variants()) {
    CAPTURE(CpuIsaName(tb->isa));
    const auto y0 = RunVariant(*tb, p, q, k, v);
    auto check = [&](const std::vector<float>& qx, const std::vector<float>& kx,
                     const std::vector<float>& vx, int64_t bad_h, int64_t first_bad_row,
                     int64_t last_bad_row, const std::string& what) {
      CAPTURE(what);
      const auto y = RunVariant(*tb, p, qx, kx, vx);
      std::vector<float> yd(y.size());
      REQUIRE(ref::Attention(p, qx.data(), kx.data(), vx.data(), yd.data(), nullptr, 0).ok());
      for (int64_t h = 0; h < p.q_heads; ++h) {
        for (int64_t i = 0; i < t; ++i) {
          const bool bad = h == bad_h && i >= first_bad_row && i <= last_bad_row;
          CHECK(row_nan(y, h, i) == bad);
          CHECK(row_nan(yd, h, i) == bad);
          if (!bad) {
            for (int64_t c = 0; c < d; ++c) {
              CHECK(y[(h * t + i) * d + c] == y0[(h * t + i) * d + c]);
            }
          }
        }
      }
    };
    auto vn = v;
    vn[(1 * t + 6) * d + 3] = nan;  // head 1's value row 6: rows 6.. see it
    check(q, k, vn, 1, 6, t - 1, "NaN in a value row");
    auto ki = k;
    ki[(0 * t + 9) * d + 0] = inf;  // head 0's key row 9
    check(q, ki, v, 0, 9, t - 1, "inf in a key row");
    auto qn = q;
    qn[(1 * t + 4) * d + 5] = nan;  // head 1's query row 4 alone
    check(qn, k, v, 1, 4, 4, "NaN in a query row");
  }
}

// A key hidden by the keep mask may hold NaN: no row sees it, no output changes.
TEST_CASE("int16 attention: a NaN value row behind the keep mask changes nothing") {
  ref::AttentionParams p = Params({1, 1, 20, 20, 16, Mask::kNone, 0, 0});
  std::vector<uint8_t> keep(static_cast<size_t>(p.q_len * p.kv_len), 1);
  for (int64_t i = 0; i < p.q_len; ++i) keep[i * p.kv_len + 7] = 0;
  p.keep_mask = keep.data();
  const auto q = RandomVector(p.q_len * p.head_dim, 91, -1.5f, 1.5f);
  const auto k = RandomVector(p.kv_len * p.head_dim, 92, -1.5f, 1.5f);
  const auto v = RandomVector(p.kv_len * p.head_dim, 93);
  auto vn = v;
  vn[7 * p.head_dim + 2] = std::numeric_limits<float>::quiet_NaN();
  for (const cpu::KernelTable* t : Variants()) {
    CAPTURE(CpuIsaName(t->isa));
    CHECK(test::MaxAbsDiff(RunVariant(*t, p, q, k, vn), RunVariant(*t, p, q, k, v)) == 0.0);
  }
}

// Value rows far below 1 (max|v| ~ 1e-33: qmax / max|v| would overflow f32 without the 2^64
// prescale) keep their relative accuracy.
TEST_CASE("int16 attention: tiny value rows keep their relative accuracy") {
  const ref::AttentionParams p = Params({2, 2, 24, 40, 32, Mask::kNone, 0, 0});
  const auto q = RandomVector(p.q_heads * p.q_len * p.head_dim, 95, -1.5f, 1.5f);
  const auto k = RandomVector(p.kv_heads * p.kv_len * p.head_dim, 96, -1.5f, 1.5f);
  auto v = RandomVector(p.kv_heads * p.kv_len * p.head_dim, 97);
  for (float& e : v) e *= 1e-33f;
  std::vector<float> y_f32(q.size());
  ref::AttentionParams pf = p;
  pf.int16 = false;
  REQUIRE(ref::Attention(pf, q.data(), k.data(), v.data(), y_f32.data(), nullptr, 0).ok());
  for (const cpu::KernelTable* t : Variants()) {
    CAPTURE(CpuIsaName(t->isa));
    const auto y = RunVariant(*t, p, q, k, v);
    CHECK(test::MaxAbsDiff(y, y_f32) < 1e-3 * 1e-33);
  }
}

TEST_CASE("int16 attention: argument errors") {
  ref::AttentionParams p = Params({1, 1, 4, 4, 8, Mask::kNone, 0, 0});
  std::vector<float> q(32, 0.5f), out(32);
  std::vector<uint16_t> kv16(32, 0);
  std::vector<float> scratch(static_cast<size_t>(cpu::AttentionScratchFloats(p)));
  const int64_t n = static_cast<int64_t>(scratch.size());
  ref::AttentionParams both = p;
  both.bf16 = true;
  CHECK(cpu::Attention(both, q.data(), q.data(), q.data(), out.data(), scratch.data(), n).code() ==
        StatusCode::kInvalidArgument);
  CHECK(ref::Attention(both, q.data(), q.data(), q.data(), out.data(), nullptr, 0).code() ==
        StatusCode::kInvalidArgument);
  CHECK(
      cpu::Attention(p, q.data(), kv16.data(), kv16.data(), out.data(), scratch.data(), n).code() ==
      StatusCode::kInvalidArgument);
  // the int16 path's scratch is its own size: one float short is refused
  CHECK(cpu::Attention(p, q.data(), q.data(), q.data(), out.data(), scratch.data(), n - 1).code() ==
        StatusCode::kInvalidArgument);
  CHECK(cpu::Attention(p, q.data(), q.data(), q.data(), out.data(), scratch.data(), n).ok());
}

}  // namespace
}  // namespace cosyflow::kernels

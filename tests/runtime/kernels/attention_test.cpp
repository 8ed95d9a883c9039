// Tests: cpu attention against the reference: GQA ratios, causal with decode offsets,
// chunk-causal boundaries, key padding, boolean masks, [T, H, D] strides, bad arguments. Calls
// with >= 16 query rows per KV head take the transposed-key-panel path, smaller ones the 4-row
// path (simd/attention.cpp); the cases above cover both, and one test compares them directly.
#include "runtime/kernels/cpu/attention.h"
#include "runtime/kernels/cpu/elementwise.h"

#include <doctest/doctest.h>

#include <vector>

#include "runtime/kernels/ref/attention.h"
#include "tests/runtime/kernels/kernel_test_util.h"

namespace cosyflow::kernels {
namespace {

using test::CheckClose;
using test::RandomVector;
using Mask = ref::AttentionMask;

// Runs both kernels on contiguous random q/k/v (q, k in [-qk, qk]) and compares (tol relative).
void Compare(const ref::AttentionParams& p, const std::string& what, double tol = 1e-5,
             float qk = 1.5f) {
  auto q = RandomVector(p.q_heads * p.q_len * p.head_dim, 1, -qk, qk);
  auto k = RandomVector(p.kv_heads * p.kv_len * p.head_dim, 2, -qk, qk);
  auto v = RandomVector(p.kv_heads * p.kv_len * p.head_dim, 3);
  std::vector<float> yr(q.size()), yc(q.size(), 123.0f);
  std::vector<float> scratch(cpu::AttentionScratchFloats(p));
  REQUIRE(ref::Attention(p, q.data(), k.data(), v.data(), yr.data(), nullptr, 0).ok());
  Status s = cpu::Attention(p, q.data(), k.data(), v.data(), yc.data(), scratch.data(),
                            static_cast<int64_t>(scratch.size()));
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  CheckClose(yc, yr, tol, what);
}

TEST_CASE("Attention: cpu matches ref for GQA ratios 1/2/7 and odd sizes, no mask") {
  for (auto [hq, hkv] : {std::pair{2, 2}, {4, 2}, {14, 2}}) {
    for (int64_t d : {1, 17, 64, 80, 128}) {
      for (auto [tq, tk] : {std::pair{1, 1}, {1, 33}, {7, 7}, {33, 65}}) {
        ref::AttentionParams p{
            .q_heads = hq, .kv_heads = hkv, .q_len = tq, .kv_len = tk, .head_dim = d};
        Compare(p, fmt::format("hq {} hkv {} d {} tq {} tk {}", hq, hkv, d, tq, tk));
      }
    }
  }
}

// 14 query heads on 2 KV heads: the decode step (7 rows per KV head, two 4-row blocks sharing
// key tiles) and, at tq 7, the many-row path; 4 on 2 at tq 7: 14 rows in four blocks whose rows
// see different numbers of keys (some blocks end tiles before the others).
TEST_CASE("Attention: causal with decode offsets and key padding") {
  for (int64_t hq : {14, 4})
    for (int64_t off : {0, 1, 31, 500}) {
      for (int64_t tq : {1, 7}) {
        ref::AttentionParams p{.q_heads = hq,
                               .kv_heads = 2,
                               .q_len = tq,
                               .kv_len = off + tq,
                               .head_dim = 64,
                               .mask = Mask::kCausal,
                               .q_offset = off};
        Compare(p, fmt::format("causal hq {} offset {} tq {}", hq, off, tq));
        p.valid_kv_len = (off + tq) / 2;  // padding masks some rows completely when off == 0
        Compare(p, fmt::format("causal+padding hq {} offset {} tq {}", hq, off, tq));
      }
    }
}

TEST_CASE("Attention: chunk-causal mask at chunk boundaries") {
  for (int64_t chunk : {1, 3, 25, 50}) {
    for (int64_t t : {7, 49, 50, 51, 101}) {
      ref::AttentionParams p{.q_heads = 8,
                             .kv_heads = 8,
                             .q_len = t,
                             .kv_len = t,
                             .head_dim = 64,
                             .mask = Mask::kChunkCausal,
                             .chunk_size = chunk};
      Compare(p, fmt::format("chunk {} t {}", chunk, t));
    }
  }
  // Known structure: with chunk 2, query 0 must ignore keys 2.. (change them, output stays).
  ref::AttentionParams p{.q_heads = 1,
                         .kv_heads = 1,
                         .q_len = 4,
                         .kv_len = 4,
                         .head_dim = 16,
                         .mask = Mask::kChunkCausal,
                         .chunk_size = 2};
  auto q = RandomVector(64, 7), k = RandomVector(64, 8), v = RandomVector(64, 9);
  std::vector<float> a(64), b(64), scratch(cpu::AttentionScratchFloats(p));
  REQUIRE(cpu::Attention(p, q.data(), k.data(), v.data(), a.data(), scratch.data(),
                         static_cast<int64_t>(scratch.size()))
              .ok());
  for (int i = 32; i < 64; ++i) v[i] += 5.0f;
  REQUIRE(cpu::Attention(p, q.data(), k.data(), v.data(), b.data(), scratch.data(),
                         static_cast<int64_t>(scratch.size()))
              .ok());
  for (int i = 0; i < 32; ++i) CHECK(a[i] == b[i]);   // queries 0, 1 see keys 0, 1 only
  for (int i = 32; i < 64; ++i) CHECK(a[i] != b[i]);  // queries 2, 3 see keys 2, 3
}

TEST_CASE("Attention: boolean mask with fully masked rows gives zeros") {
  const int64_t tq = 9, tk = 21;
  std::vector<uint8_t> keep(tq * tk);
  for (int64_t i = 0; i < tq; ++i)
    for (int64_t j = 0; j < tk; ++j) keep[i * tk + j] = i != 4 && (i + j) % 3 != 0;
  ref::AttentionParams p{.q_heads = 4,
                         .kv_heads = 2,
                         .q_len = tq,
                         .kv_len = tk,
                         .head_dim = 64,
                         .keep_mask = keep.data()};
  Compare(p, "bool mask");
  auto q = RandomVector(4 * tq * 64, 1), kv = RandomVector(2 * tk * 64, 2);
  std::vector<float> y(q.size(), 7.0f), scratch(cpu::AttentionScratchFloats(p));
  REQUIRE(cpu::Attention(p, q.data(), kv.data(), kv.data(), y.data(), scratch.data(),
                         static_cast<int64_t>(scratch.size()))
              .ok());
  for (int64_t h = 0; h < 4; ++h)
    for (int64_t c = 0; c < 64; ++c) CHECK(y[(h * tq + 4) * 64 + c] == 0.0f);
}

// Masked keys must contribute exactly nothing, however large their values: with one visible
// key per row the weight is exactly 1 and the output exactly that key's value row (the
// softmax's exp turns a masked -inf into +0, not into a tiny denormal that 3e38 would expose).
TEST_CASE("Attention: masked keys contribute exactly zero, in f32 and bf16 products") {
  for (const int64_t tq : {2, 40}) {
    for (const bool bf16 : {false, true}) {
      const int64_t tk = 3 * tq + 5, d = 64;
      std::vector<uint8_t> keep(tq * tk, 0);
      for (int64_t i = 0; i < tq; ++i) keep[i * tk + 3 * i + 1] = 1;
      ref::AttentionParams p{.q_heads = 2, .kv_heads = 2, .q_len = tq, .kv_len = tk,
                             .head_dim = d, .keep_mask = keep.data()};
      p.bf16 = bf16;
      auto q = RandomVector(2 * tq * d, 5), k = RandomVector(2 * tk * d, 6);
      std::vector<float> v(2 * tk * d, 3e38f);
      for (int64_t h = 0; h < 2; ++h) {
        for (int64_t i = 0; i < tq; ++i) {
          for (int64_t c = 0; c < d; ++c) v[(h * tk + 3 * i + 1) * d + c] = static_cast<float>((c % 7) - 3);
        }
      }
      std::vector<float> y(q.size(), 7.0f), scratch(cpu::AttentionScratchFloats(p));
      REQUIRE(cpu::Attention(p, q.data(), k.data(), v.data(), y.data(), scratch.data(),
                             static_cast<int64_t>(scratch.size()))
                  .ok());
      CAPTURE(tq);
      CAPTURE(bf16);
      for (int64_t h = 0; h < 2; ++h) {
        for (int64_t i = 0; i < tq; ++i) {
          for (int64_t c = 0; c < d; ++c) {
            CHECK(y[(h * tq + i) * d + c] == static_cast<float>((c % 7) - 3));
          }
        }
      }
    }
  }
}

TEST_CASE("Attention: [T, H, D] strided layout equals the contiguous [H, T, D] result") {
  const int64_t hq = 4, hkv = 2, t = 13, d = 64;
  auto q = RandomVector(hq * t * d, 1), k = RandomVector(hkv * t * d, 2),
       v = RandomVector(hkv * t * d, 3);
  // Transpose to [T, H, D].
  auto to_thd = [&](const std::vector<float>& x, int64_t h) {
    std::vector<float> y(x.size());
    for (int64_t a = 0; a < h; ++a)
      for (int64_t i = 0; i < t; ++i)
        for (int64_t c = 0; c < d; ++c) y[(i * h + a) * d + c] = x[(a * t + i) * d + c];
    return y;
  };
  ref::AttentionParams p{.q_heads = hq,
                         .kv_heads = hkv,
                         .q_len = t,
                         .kv_len = t,
                         .head_dim = d,
                         .mask = Mask::kCausal};
  std::vector<float> y_hd(q.size()), y_thd(q.size()), scratch(cpu::AttentionScratchFloats(p));
  const auto n = static_cast<int64_t>(scratch.size());
  REQUIRE(cpu::Attention(p, q.data(), k.data(), v.data(), y_hd.data(), scratch.data(), n).ok());
  ref::AttentionParams s = p;
  s.q_head_stride = s.out_head_stride = d;
  s.q_row_stride = s.out_row_stride = hq * d;
  s.k_head_stride = s.v_head_stride = d;
  s.k_row_stride = s.v_row_stride = hkv * d;
  auto qt = to_thd(q, hq), kt = to_thd(k, hkv), vt = to_thd(v, hkv);
  REQUIRE(cpu::Attention(s, qt.data(), kt.data(), vt.data(), y_thd.data(), scratch.data(), n).ok());
  CheckClose(y_thd, to_thd(y_hd, hq), 1e-6, "strided attention");
}

TEST_CASE("Attention: the many-row path equals one query row at a time (few-row path)") {
  for (Mask mask : {Mask::kNone, Mask::kCausal, Mask::kChunkCausal}) {
    const int64_t hq = 2, t = 70, d = 64;
    ref::AttentionParams p{.q_heads = hq,
                           .kv_heads = 1,
                           .q_len = t,
                           .kv_len = t,
                           .head_dim = d,
                           .mask = mask,
                           .chunk_size = mask == Mask::kChunkCausal ? 25 : 0};
    auto q = RandomVector(hq * t * d, 4), k = RandomVector(t * d, 5), v = RandomVector(t * d, 6);
    std::vector<float> all(q.size()), one(q.size()), scratch(cpu::AttentionScratchFloats(p));
    const auto n = static_cast<int64_t>(scratch.size());
    REQUIRE(cpu::Attention(p, q.data(), k.data(), v.data(), all.data(), scratch.data(), n).ok());
    for (int64_t i = 0; i < t; ++i) {  // row i alone: q_offset i, same keys
      ref::AttentionParams r = p;
      r.q_len = 1;
      r.q_offset = i;
      r.q_head_stride = r.out_head_stride = t * d;
      REQUIRE(cpu::Attention(r, q.data() + i * d, k.data(), v.data(), one.data() + i * d,
                             scratch.data(), n)
                  .ok());
    }
    CheckClose(all, one, 1e-5, fmt::format("panel vs row, mask {}", static_cast<int>(mask)));
  }
}

// A bf16-product call of one shape (contiguous layouts unless the test sets strides).
using Shape = test::AttnShape;
ref::AttentionParams Bf16Params(const Shape& sh) {
  ref::AttentionParams p = test::AttnParams(sh);
  p.bf16 = true;
  return p;
}

// bf16 products (AttentionParams::bf16): the AVX512_BF16 instruction path (where the CPU has it)
// and the emulation (other variants) against the reference's definition. The softmax weights
// are rounded from f32 here and from double in the reference, which can flip one bf16 rounding
// (2^-8 of one weight), hence 2e-3 instead of 1e-5 (measured: the emulation 1e-7, 1e-4 at 650
// keys; vdpbf16ps 3e-4..5e-4 at head_dim 64, its base-2 exp being 3e-6 off, which flips a
// few more roundings). Against
// f32 products the result differs by bf16 rounding (~1e-3..1e-2 relative), so the test also
// proves the rounding happens.
TEST_CASE("Attention: bf16 products match the reference's bf16 definition, differ from f32") {
  const Shape shapes[] = {
      {1, 1, 650, 650, 64, Mask::kNone, 0, 0},           // the flow's whole-sequence pass
      {8, 8, 101, 101, 64, Mask::kChunkCausal, 50, 0},   // chunk-causal, odd length
      {1, 1, 56, 206, 64, Mask::kChunkCausal, 50, 150},  // new frames against cached context
      {14, 2, 3, 40, 64, Mask::kCausal, 0, 37},          // few rows (GQA decode-like)
      {2, 2, 33, 65, 17, Mask::kNone, 0, 0},             // head_dim not a multiple of 16
      {2, 1, 20, 31, 48, Mask::kCausal, 0, 11},          // odd key count, 3 vectors per row
      // the AMX path's other head sizes: 2 output tiles (32), 4 + 2 (96), 4 + 4 (128), with
      // key counts off the 32-key blocks and query rows off the 16-row blocks
      {2, 1, 37, 77, 32, Mask::kCausal, 0, 40},
      {3, 3, 18, 45, 96, Mask::kChunkCausal, 25, 20},
      {1, 1, 17, 130, 128, Mask::kNone, 0, 0}};
  for (const Shape& sh : shapes) {
    ref::AttentionParams p = Bf16Params(sh);
    auto q = RandomVector(p.q_heads * p.q_len * p.head_dim, 31, -1.5f, 1.5f);
    auto k = RandomVector(p.kv_heads * p.kv_len * p.head_dim, 32, -1.5f, 1.5f);
    auto v = RandomVector(p.kv_heads * p.kv_len * p.head_dim, 33);
    std::vector<float> y_bf(q.size()), y_f32(q.size()), y(q.size(), 99.0f);
    std::vector<float> scratch(cpu::AttentionScratchFloats(p));
    REQUIRE(ref::Attention(p, q.data(), k.data(), v.data(), y_bf.data(), nullptr, 0).ok());
    ref::AttentionParams pf = p;
    pf.bf16 = false;
    REQUIRE(ref::Attention(pf, q.data(), k.data(), v.data(), y_f32.data(), nullptr, 0).ok());
    REQUIRE(cpu::Attention(p, q.data(), k.data(), v.data(), y.data(), scratch.data(),
                           static_cast<int64_t>(scratch.size()))
                .ok());
    const std::string what = fmt::format("bf16 hq {} tq {} tk {} d {}", sh.hq, sh.tq, sh.tk, sh.d);
    CheckClose(y, y_bf, 2e-3, what);
    MESSAGE(what, ": max rel diff to the bf16 definition ", test::MaxRelDiff(y, y_bf));
    const double vs_f32 = test::MaxRelDiff(y, y_f32);
    CAPTURE(what);
    CHECK(vs_f32 > 1e-4);
    CHECK(vs_f32 < 3e-2);
  }
}

// Peaky rows (scores spread over hundreds): the probabilities under the smallest normal float
// are zeroed rather than computed as denormals (an assist per lane); results as the reference's.
TEST_CASE("Attention: rows with scores spread over hundreds match ref, f32 and bf16 products") {
  const Shape shapes[] = {{8, 8, 56, 206, 64, Mask::kChunkCausal, 50, 150},
                          {14, 2, 3, 300, 64, Mask::kCausal, 0, 297},
                          {2, 2, 40, 650, 64, Mask::kNone, 0, 0}};
  for (const Shape& sh : shapes) {
    for (bool bf16 : {false, true}) {
      ref::AttentionParams p = Bf16Params(sh);
      p.bf16 = bf16;
      Compare(p,
              fmt::format("spread scores, {} products, tq {} tk {}", bf16 ? "bf16" : "f32", sh.tq,
                          sh.tk),
              bf16 ? 2e-3 : 1e-4, 12.0f);
    }
  }
}

// A bf16 K/V cache (the flow's, for bf16 flows): k and v stored as bf16 bits give exactly the
// result of the f32 call on the unrounded values, since bf16 products round k and v to the
// same bf16 values first; with the cache's layout ([T, H, D] rows, spare capacity between the
// CFG rows), chunk-causal against cached context, and GQA / few rows / odd head_dim.
TEST_CASE("Attention: bf16-stored K/V equal the f32 call with bf16 products, bit for bit") {
  const Shape shapes[] = {
      {8, 8, 56, 206, 64, Mask::kChunkCausal, 50, 150},  // new frames against cached context
      {8, 8, 101, 101, 64, Mask::kChunkCausal, 50, 0},
      {1, 1, 300, 300, 64, Mask::kNone, 0, 0},
      {14, 2, 3, 40, 64, Mask::kCausal, 0, 37},          // few rows
      {2, 2, 33, 65, 17, Mask::kNone, 0, 0}};            // head_dim not a multiple of 16
  for (const Shape& sh : shapes) {
    const int64_t inner = sh.hkv * sh.d, cap = sh.tk + 9;  // [cap, heads * d] rows
    ref::AttentionParams p = Bf16Params(sh);
    p.k_head_stride = p.v_head_stride = sh.d;
    p.k_row_stride = p.v_row_stride = inner;
    auto q = RandomVector(p.q_heads * p.q_len * p.head_dim, 41, -1.5f, 1.5f);
    auto k = RandomVector(cap * inner, 42, -1.5f, 1.5f);
    auto v = RandomVector(cap * inner, 43);
    // A column of f32 denormals in every head: vdpbf16ps reads bf16 denormals as zero, so the
    // f32 call's conversion may flush them (vcvtneps2bf16) and still equal the stored bits.
    for (int64_t r = 0; r < cap; ++r) {
      for (int64_t h = 0; h < sh.hkv; ++h) k[r * inner + h * sh.d] = v[r * inner + h * sh.d] = 3e-39f;
    }
    std::vector<uint16_t> k16(k.size()), v16(v.size());
    REQUIRE(cpu::NarrowBf16(k.data(), static_cast<int64_t>(k.size()), k16.data()).ok());
    REQUIRE(cpu::NarrowBf16(v.data(), static_cast<int64_t>(v.size()), v16.data()).ok());
    std::vector<float> y32(q.size(), 7.0f), y16(q.size(), 8.0f), r32(q.size()), r16(q.size());
    std::vector<float> scratch(cpu::AttentionScratchFloats(p));
    const auto n = static_cast<int64_t>(scratch.size());
    REQUIRE(cpu::Attention(p, q.data(), k.data(), v.data(), y32.data(), scratch.data(), n).ok());
    const Status st = cpu::Attention(p, q.data(), k16.data(), v16.data(), y16.data(), scratch.data(), n);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
    const std::string what = fmt::format("bf16 kv hq {} tq {} tk {} d {}", sh.hq, sh.tq, sh.tk, sh.d);
    CAPTURE(what);
    CHECK(test::MaxAbsDiff(y16, y32) == 0.0);
    REQUIRE(ref::Attention(p, q.data(), k.data(), v.data(), r32.data(), nullptr, 0).ok());
    REQUIRE(ref::Attention(p, q.data(), k16.data(), v16.data(), r16.data(), nullptr, 0).ok());
    CHECK(test::MaxAbsDiff(r16, r32) == 0.0);
    CheckClose(y16, r16, 2e-3, what);
  }
  // bf16 storage without bf16 products, or the flag with f32 k/v: errors.
  std::vector<float> buf(4096);
  std::vector<uint16_t> b16(4096);
  ref::AttentionParams p{.q_heads = 2, .kv_heads = 2, .q_len = 20, .kv_len = 20, .head_dim = 8};
  CHECK_FALSE(cpu::Attention(p, buf.data(), b16.data(), b16.data(), buf.data(), buf.data(), 4096).ok());
  CHECK_FALSE(ref::Attention(p, buf.data(), b16.data(), b16.data(), buf.data(), nullptr, 0).ok());
  p.kv_bf16 = true;
  p.bf16 = true;
  CHECK_FALSE(cpu::Attention(p, buf.data(), buf.data(), buf.data(), buf.data(), buf.data(), 4096).ok());
  CHECK_FALSE(ref::Attention(p, buf.data(), buf.data(), buf.data(), buf.data(), nullptr, 0).ok());
  CHECK(cpu::Attention(p, buf.data(), b16.data(), b16.data(), buf.data(), buf.data(), 4096).ok());
}

TEST_CASE("Attention: bad arguments are Status errors") {
  std::vector<float> buf(4096);
  ref::AttentionParams p{.q_heads = 3, .kv_heads = 2, .q_len = 1, .kv_len = 4, .head_dim = 8};
  CHECK_FALSE(
      cpu::Attention(p, buf.data(), buf.data(), buf.data(), buf.data(), buf.data(), 4096).ok());
  p.q_heads = 4;
  CHECK(cpu::Attention(p, buf.data(), buf.data(), buf.data(), buf.data(), buf.data(), 4096).ok());
  CHECK_FALSE(
      cpu::Attention(p, buf.data(), buf.data(), buf.data(), buf.data(), buf.data(), 3).ok());
  p.mask = Mask::kChunkCausal;
  CHECK_FALSE(ref::Attention(p, buf.data(), buf.data(), buf.data(), buf.data(), nullptr, 0).ok());
  p.mask = Mask::kNone;
  p.valid_kv_len = 5;
  CHECK_FALSE(
      cpu::Attention(p, buf.data(), buf.data(), buf.data(), buf.data(), buf.data(), 4096).ok());
}

}  // namespace
}  // namespace cosyflow::kernels

// int16-product attention (ref::AttentionParams::int16; the flow's int16 precision): both
// products on the int16 panel kernel of gemm_i16.cpp (i16_panel.h), so on CPUs without bf16
// arithmetic the attention runs at the integer multiply-add rate (vpmaddwd: twice the products
// of an f32 FMA per instruction) like the flow's linears. Per KV head: the visible keys are
// quantized once per call into panels of 16 keys by channel pairs (scores = q K^T as a GEMM whose
// "weights" are the keys), the values into panels of 16 channels by key pairs (out = p V as a
// GEMM whose "weights" are V^T, their per-key scales folded into the softmax weights); query
// rows go in blocks of kAttnI16Rows: quantize, scores, softmax, quantize the weights, products.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/cpu/simd/attention_rows.h"
#include "runtime/kernels/cpu/simd/i16_panel.h"
#include "runtime/kernels/cpu/simd/kernels.h"
#include "runtime/kernels/cpu/simd/panel_rows.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS {
namespace {

using attention_rows::SoftmaxRowTo;
using attention_rows::VisibleEnd;
using i16_panel::kPanel;
using i16_panel::kRows;
using i16_panel::PanelBlock;
using i16_panel::QuantizeRow;
static_assert(kPanel == 16, "panels of 16 keys / channels");

// Keys [0, n) of one KV head into the score panels: kp32[((j / 16) dpairs + cp) 16 + j % 16] holds
// the channel pair cp of key j (two int16 in one word), zeros up to the next panel; sk[j] = scale
// * the key's quantization scale, zeros up to ldk.
__attribute__((noinline)) void PackKeys(const ref::AttentionParams& p, const float* kh, int64_t n,
                                        const AttnI16Scratch& l, float* scratch) {
  const int64_t d = p.head_dim, dpairs = l.dp / 2;
  auto* kp = reinterpret_cast<int32_t*>(scratch + l.kp);
  auto* row = reinterpret_cast<int16_t*>(scratch + l.row);
  float* sk = scratch + l.sk;
  const int32_t key_max = ref::AttnI16KeyMax(d);
  int64_t j = 0;
#if defined(COSY_SIMD_AVX512) || defined(COSY_SIMD_AVX2)
  // 8 keys at a time: quantized into 8 rows of the scratch, then their words transposed 8 x 8
  // into the panel (pairs past the last whole 8 one by one); keys past n are zero rows.
  const int64_t groups = dpairs / 8 * 8;
  for (; j < n; j += 8) {
    for (int64_t r = 0; r < 8; ++r) {
      int16_t* rr = row + r * l.dp;
      if (j + r < n) {
        sk[j + r] = p.scale * QuantizeRow(kh + (j + r) * p.k_row_stride, d, key_max, rr, l.dp);
      } else {
        std::memset(rr, 0, static_cast<size_t>(l.dp) * sizeof(int16_t));
      }
    }
    int32_t* dst = kp + (j / kPanel) * dpairs * kPanel + j % kPanel;
    for (int64_t cp = 0; cp < groups; cp += 8) {
      __m256i v[8], o[8];
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) {
        v[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + r * l.dp + 2 * cp));
      }
      i16_panel::Transpose8x8Words(v, o);
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + (cp + c) * kPanel), o[c]);
      }
    }
    for (int64_t cp = groups; cp < dpairs; ++cp) {
      for (int64_t r = 0; r < 8; ++r)
        std::memcpy(dst + cp * kPanel + r, row + r * l.dp + 2 * cp, 4);
    }
  }
#else
  for (; j < n; ++j) {
    sk[j] = p.scale * QuantizeRow(kh + j * p.k_row_stride, d, key_max, row, l.dp);
    int32_t* dst = kp + (j / kPanel) * dpairs * kPanel + j % kPanel;
    for (int64_t cp = 0; cp < dpairs; ++cp) {
      int32_t pair;
      std::memcpy(&pair, row + 2 * cp, 4);
      dst[cp * kPanel] = pair;
    }
  }
#endif
  for (; j < (n + kPanel - 1) / kPanel * kPanel; ++j) {
    int32_t* dst = kp + (j / kPanel) * dpairs * kPanel + j % kPanel;
    for (int64_t cp = 0; cp < dpairs; ++cp) dst[cp * kPanel] = 0;
  }
  for (int64_t j = n; j < l.ldk; ++j) sk[j] = 0.0f;
}

// Values [0, n) into the output panels (kpairs = ceil(n / 2) key pairs per panel):
// vp[((c / 16) kpairs + j / 2) 32 + (c % 16) 2 + j % 2] = v_int[j][c], zeros for the missing
// partner of an odd last key and for channels past head_dim; sv[j] the value rows' scales (zeros
// up to ldk: the softmax multiplies whole vectors by them); ones: the panels' column scales.
// Two keys at a time: both rows quantized (zeros past head_dim), then interleaved per panel.
__attribute__((noinline)) void PackValues(const ref::AttentionParams& p, const float* vh, int64_t n,
                                          const AttnI16Scratch& l, float* scratch) {
  const int64_t d = p.head_dim, kpairs = (n + 1) / 2, vc = l.vcols;
  auto* vp = reinterpret_cast<int16_t*>(scratch + l.vp);
  int16_t* a = reinterpret_cast<int16_t*>(scratch + l.row);
  int16_t* b = a + vc;
  float* sv = scratch + l.sv;
  for (int64_t jp = 0; jp < kpairs; ++jp) {
    const int64_t j = 2 * jp;
    sv[j] = QuantizeRow(vh + j * p.v_row_stride, d, ref::kAttnI16ValueMax, a, vc);
    if (j + 1 < n) {
      sv[j + 1] = QuantizeRow(vh + (j + 1) * p.v_row_stride, d, ref::kAttnI16ValueMax, b, vc);
    } else {
      for (int64_t c = 0; c < vc; ++c) b[c] = 0;
    }
    for (int64_t cb = 0; cb < vc / kPanel; ++cb) {
      int16_t* dst = vp + (cb * kpairs + jp) * 2 * kPanel;
      const int16_t* ac = a + cb * kPanel;
      const int16_t* bc = b + cb * kPanel;
#if defined(COSY_SIMD_AVX512) || defined(COSY_SIMD_AVX2)
      i16_panel::Interleave16(ac, bc, dst);
#else
      for (int64_t c = 0; c < kPanel; ++c) {
        dst[2 * c] = ac[c];
        dst[2 * c + 1] = bc[c];
      }
#endif
    }
  }
  for (int64_t j = n; j < l.ldk; ++j) sv[j] = 0.0f;
  for (int64_t c = 0; c < vc; ++c) scratch[l.ones + c] = 1.0f;
}

template <bool kVnni>
void Head(const ref::AttentionParams& p, const AttnI16Scratch& l, int64_t hk, int64_t rows,
          const float* q, const float* kh, const float* vh, float* out, float* scratch) {
  const int64_t group = p.q_heads / p.kv_heads, d = p.head_dim, dpairs = l.dp / 2;
  int64_t end_all = 0;
  for (int64_t rr = 0; rr < rows; ++rr) end_all = MaxI(end_all, VisibleEnd(p, rr / group));
  if (end_all > 0) {
    PackKeys(p, kh, end_all, l, scratch);
    PackValues(p, vh, end_all, l, scratch);
  }
  const int64_t kpairs_all = (end_all + 1) / 2;
  // The first key whose key or value row holds NaN or infinity (its scale is not finite): rows
  // that see it are NaN, as f32 attention's would be; others must not see it even through a zero
  // weight (0 x NaN).
  int64_t first_bad = end_all;
  for (int64_t j = 0; j < end_all; ++j) {
    if (!std::isfinite(scratch[l.sk + j]) || !std::isfinite(scratch[l.sv + j])) {
      first_bad = j;
      break;
    }
  }
  const auto* kp = reinterpret_cast<const int16_t*>(scratch + l.kp);
  const auto* vp = reinterpret_cast<const int16_t*>(scratch + l.vp);
  const float* sk = scratch + l.sk;
  const float* sv = scratch + l.sv;
  const float* ones = scratch + l.ones;
  auto* qi = reinterpret_cast<int16_t*>(scratch + l.qi);
  auto* pq = reinterpret_cast<int16_t*>(scratch + l.pq);
  float* sq = scratch + l.sq;
  float* s = scratch + l.s;
  float* sp = scratch + l.sp;
  float* ob = scratch + l.ob;
  for (int64_t r0 = 0; r0 < rows; r0 += kAttnI16Rows) {
    const int64_t n = MinI(kAttnI16Rows, rows - r0);
    float* orow[kAttnI16Rows];
    int64_t end[kAttnI16Rows], row_i[kAttnI16Rows];
    int64_t end_max = 0;
    for (int64_t r = 0; r < n; ++r) {
      const int64_t rr = r0 + r, i = rr / group, h = hk * group + rr % group;
      orow[r] = out + h * p.out_head_stride + i * p.out_row_stride;
      row_i[r] = i;
      end[r] = MaxI(VisibleEnd(p, i), 0);
      end_max = MaxI(end_max, end[r]);
      sq[r] = QuantizeRow(q + h * p.q_head_stride + i * p.q_row_stride, d, ref::kAttnI16QueryMax,
                          qi + r * l.dp, l.dp);
    }
    if (end_max == 0) {
      for (int64_t r = 0; r < n; ++r)
        std::memset(orow[r], 0, static_cast<size_t>(d) * sizeof(float));
      continue;
    }
    // scores: one key panel (16 keys, from L1) against every block of query rows
    for (int64_t kb = 0; kb * kPanel < end_max; ++kb) {
      const int64_t cols = MinI(kPanel, end_max - kb * kPanel);
      const int16_t* w = kp + kb * dpairs * 2 * kPanel;
      PanelRowBlocks<kRows>(n, nullptr, 0, [&]<int R>(int64_t r) {
        PanelBlock<R, kVnni>(qi + r * l.dp, l.dp, sq + r, dpairs, w, sk + kb * kPanel, nullptr,
                             cols, s + r * l.ldk + kb * kPanel, l.ldk, GemmEpilogue::kNone);
      });
    }
    // softmax weights times the value rows' scales, quantized per row; the row's scale over the
    // sum of the weights scales the products
    const int64_t width = (end_max + kLanes - 1) / kLanes * kLanes;
    for (int64_t r = 0; r < n; ++r) {
      float* srow = s + r * l.ldk;
      const uint8_t* keep = p.keep_mask ? p.keep_mask + row_i[r] * p.kv_len : nullptr;
      int16_t* prow = pq + r * l.kvp;
      bool finite = std::isfinite(sq[r]);
      for (int64_t j = first_bad; j < end[r] && finite; ++j) {
        finite =
            (keep != nullptr && keep[j] == 0) || (std::isfinite(sk[j]) && std::isfinite(sv[j]));
      }
      if (!finite) {  // products of zeros scaled by NaN: the row's outputs are NaN
        std::memset(prow, 0, static_cast<size_t>(l.kvp) * sizeof(int16_t));
        sp[r] = std::numeric_limits<float>::quiet_NaN();
        continue;
      }
      // the weights' max and (x * 0 summed: NaN for NaN or infinity) taken as they are stored
      // (a zero weight, masked or past the row's keys, contributes 0 whatever the value row)
      Vf wmax = Zero(), bad = Zero();
      const float inv = SoftmaxRowTo(srow, end[r], width, keep, [&](int64_t j, Vf e) {
        const Vf w = Select(Lt(Zero(), e), Mul(e, Load(sv + j)), Zero());
        Store(srow + j, w);
        wmax = Max(wmax, w);
        bad = Add(bad, Mul(w, Zero()));
      });
      const float a = ReduceMax(wmax), nonfinite = ReduceAdd(bad);
      float scale = 0.0f;  // all weights 0: zeros (a row that sees no key, zero value rows)
      if (nonfinite != 0.0f) {
        scale = nonfinite;
      } else if (a > 0.0f) {
        scale = i16_panel::QuantizeRowWithMax(srow, end_max, ref::kAttnI16QueryMax, a, prow, l.kvp);
      }
      if (!(a > 0.0f) || nonfinite != 0.0f) std::memset(prow, 0, static_cast<size_t>(l.kvp) * 2);
      sp[r] = scale * inv;
    }
    // out = p V: one value panel (16 channels) against every block of rows
    const int64_t pairs = (end_max + 1) / 2;
    for (int64_t cb = 0; cb * kPanel < d; ++cb) {
      const int64_t cols = MinI(kPanel, d - cb * kPanel);
      const int16_t* w = vp + cb * kpairs_all * 2 * kPanel;
      PanelRowBlocks<kRows>(n, nullptr, 0, [&]<int R>(int64_t r) {
        PanelBlock<R, kVnni>(pq + r * l.kvp, l.kvp, sp + r, pairs, w, ones, nullptr, cols,
                             ob + r * l.vcols + cb * kPanel, l.vcols, GemmEpilogue::kNone);
      });
    }
    for (int64_t r = 0; r < n; ++r) {
      std::memcpy(orow[r], ob + r * l.vcols, static_cast<size_t>(d) * sizeof(float));
    }
  }
}

template <bool kVnni>
void Run(const ref::AttentionParams& p, const float* q, const float* k, const float* v, float* out,
         float* scratch) {
  const AttnI16Scratch l = AttnI16ScratchLayout(p.head_dim, p.kv_len);
  const int64_t rows = p.q_len * (p.q_heads / p.kv_heads);
  for (int64_t hk = 0; hk < p.kv_heads; ++hk) {
    Head<kVnni>(p, l, hk, rows, q, k + hk * p.k_head_stride, v + hk * p.v_head_stride, out,
                scratch);
  }
}

}  // namespace

void AttentionI16(const ref::AttentionParams& p, const float* q, const float* k, const float* v,
                  float* out, float* scratch) {
  Run<false>(p, q, k, v, out, scratch);
}

#if defined(COSY_SIMD_AVX512)
void AttentionI16Vnni(const ref::AttentionParams& p, const float* q, const float* k, const float* v,
                      float* out, float* scratch) {
  Run<true>(p, q, k, v, out, scratch);
}
#endif

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS

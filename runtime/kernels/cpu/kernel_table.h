// Run-time ISA dispatch of the hand-written cpu kernels: one table of entry points per ISA
// variant (simd/, compiled once per ISA), chosen once from CPUID and COSYFLOW_ISA
// (runtime/cpu_isa.h). The public kernels in cpu/*.h check their arguments, then call through
// Kernels(); table entries assume valid arguments and never fail.
#pragma once

#include <cstdint>

#include "runtime/cpu_isa.h"
#include "runtime/kernels/ref/attention.h"
#include "runtime/status.h"

namespace cosyflow::kernels::cpu {

// Elementwise maps with one table entry each (index into KernelTable::unary).
enum class UnaryKind : int {
  kGeluErf = 0,
  kGeluTanh,
  kSilu,
  kMish,
  kElu,
  kTanh,
  kSigmoid,
  kExp,
  kSin,
  kCount
};

// What a GEMM kernel does to each output as it stores it (cpu::LinearEpilogue's values).
enum class GemmEpilogue { kNone = 0, kGeluErf = 1, kAccumulate = 2 };

struct KernelTable {
  CpuIsa isa = CpuIsa::kScalar;
  const char* name = "";
  // x, y: [n] f32 (may alias).
  void (*unary[static_cast<int>(UnaryKind::kCount)])(const float* x, int64_t n, float* y) = {};
  void (*leaky_relu)(const float* x, int64_t n, float slope, float* y) = nullptr;
  // x, y: [channels, time]; alpha: [channels].
  void (*snake)(const float* x, const float* alpha, int64_t channels, int64_t time,
                float* y) = nullptr;
  // x, y: [rows, dim]; gamma/beta/weight: [dim] or null.
  void (*layer_norm)(const float* x, const float* gamma, const float* beta, int64_t rows,
                     int64_t dim, float eps, float* y) = nullptr;
  void (*rms_norm)(const float* x, const float* weight, int64_t rows, int64_t dim, float eps,
                   float* y) = nullptr;
  // x, y: [rows, cols]; add_mask (f32) / keep_mask (u8, 0 = masked) rows mask_row_stride apart.
  void (*softmax_masked)(const float* x, const float* add_mask, const uint8_t* keep_mask,
                         int64_t mask_row_stride, int64_t rows, int64_t cols, float* y) = nullptr;
  void (*log_softmax)(const float* x, int64_t rows, int64_t cols, float* y) = nullptr;
  // Collapsed broadcast (cpu/elementwise.cpp): out[i0,i1,i2,i3] = a[..] op b[..] over dims[4],
  // element strides sa/sb (inner strides 0 or 1); op: 0 add, 1 sub, 2 mul, 3 div.
  void (*binary4)(int op, const int64_t* dims, const int64_t* sa, const int64_t* sb,
                  const float* a, const float* b, float* out) = nullptr;
  void (*axpy)(int64_t n, float alpha, const float* x, float* y) = nullptr;
  void (*scale_add)(const float* x, float alpha, const float* y, float beta, int64_t n,
                    float* out) = nullptr;
  void (*clamp)(const float* x, int64_t n, float lo, float hi, float* y) = nullptr;
  // x: [tokens, heads, head_dim] rows token_stride apart; cos/sin: rows of head_dim / 2 from
  // position start_pos.
  void (*rope)(float* x, int64_t tokens, int64_t heads, int64_t head_dim, int64_t token_stride,
               int64_t start_pos, const float* cos_table, const float* sin_table) = nullptr;
  // src: [n] bf16 (bf16 = true) or f16 bits -> out: [n] f32.
  void (*widen_16)(const uint16_t* src, bool bf16, int64_t n, float* out) = nullptr;
  // out[i] = scale * src[i] (int8 weights with a per-row scale -> f32).
  void (*widen_i8)(const int8_t* src, float scale, int64_t n, float* out) = nullptr;
  // out[i] = the bf16 bits of src[i] (exact: int8 values need 8 significant bits), unscaled.
  void (*widen_i8_bf16)(const int8_t* src, int64_t n, uint16_t* out) = nullptr;
  // out: [rows, k] = the bf16 bits of W rows [j0, j0 + rows), W int8 in the i8_rows.h layout
  // (w: its base, k columns), unscaled: widen_i8_bf16 over each row, one pass over the blocks.
  void (*widen_i8_rows_bf16)(const int8_t* w, int64_t k, int64_t j0, int64_t rows,
                             uint16_t* out) = nullptr;
  // y[i] = F32ToBF16(x[i]) (runtime/dtype.h: round to nearest even, NaN quiet), bit for bit.
  void (*narrow_bf16)(const float* x, int64_t n, uint16_t* y) = nullptr;
  // Resolved params (ref::ResolveAttentionParams), q_len > 0; scratch of
  // cpu::AttentionScratchFloats floats. k, v: f32, or bf16 bits (uint16_t) when p.kv_bf16.
  void (*attention)(const ref::AttentionParams& p, const float* q, const void* k, const void* v,
                    float* out, float* scratch) = nullptr;
  // p.int16 (f32 k and v): the integer products of ref::AttentionParams::int16 on the variant's
  // int16 panel kernel (vpdpwssd in the AVX-512 variant on CPUs with AVX512_VNNI, same bits);
  // scratch of AttnI16ScratchLayout(p.head_dim, p.kv_len).total floats.
  void (*attention_i16)(const ref::AttentionParams& p, const float* q, const float* k,
                        const float* v, float* out, float* scratch) = nullptr;
  // The vpmaddwd one in every case (tests compare it with attention_i16 on VNNI CPUs).
  void (*attention_i16_madd)(const ref::AttentionParams& p, const float* q, const float* k,
                             const float* v, float* out, float* scratch) = nullptr;
  // y: [m, n] = x: [m, k] W^T + bias, W: [n, k] row-major; f32 W, or bf16 W with x already
  // rounded to bf16, or int8 W with per-row scales (y = scale[j] * (x . W[j]) + bias[j]) in the
  // 4-row blocks of i8_rows.h, w pointing at a block's start (row 0 of the call = row 4b).
  void (*gemv_f32)(const float* x, const float* w, const float* bias, float* y, int64_t m,
                   int64_t n, int64_t k) = nullptr;
  void (*gemv_bf16)(const uint16_t* x, const uint16_t* w, const float* bias, float* y, int64_t m,
                    int64_t n, int64_t k) = nullptr;
  void (*gemv_i8)(const float* x, const int8_t* w, const float* scales, const float* bias,
                  float* y, int64_t m, int64_t n, int64_t k) = nullptr;
  // The same product as gemv_i8 with x in fixed point: each row of x rounded to a multiple of
  // 2^-e with 2^29 <= max|x| 2^e < 2^30 (so within 2^-30 max|x| of x), the dot products against
  // the int8 rows exact integers, then y = scale[j] 2^-e dot + bias[j] (rounded once in double,
  // once to f32). Set where the CPU has AVX512_VNNI (vpdpbusd), else null. k <=
  // kGemvI8FixedMaxK; scratch: GemvI8FixedScratchBytes(m, k) bytes (8-byte aligned). Returns
  // false and writes nothing where a row of x holds an inf or NaN or has max|x| < 2^-64: then
  // gemv_i8 runs.
  bool (*gemv_i8_fixed)(const float* x, const int8_t* w, const float* scales, const float* bias,
                        float* y, int64_t m, int64_t n, int64_t k, void* scratch) = nullptr;
  // gemv_i8_fixed in two steps, for a product split over the caller's own threads: quantize
  // writes the m rows of x into scratch (false, as above, where a row does not qualify); rows
  // computes y: [m, n] for any n rows of W against that scratch, on the calling thread only (no
  // OpenMP), the same bits as gemv_i8_fixed. Both set where gemv_i8_fixed is.
  bool (*gemv_i8_fixed_quantize)(const float* x, int64_t m, int64_t k, void* scratch) = nullptr;
  void (*gemv_i8_fixed_rows)(const void* scratch, const int8_t* w, const float* scales,
                             const float* bias, float* y, int64_t m, int64_t n,
                             int64_t k) = nullptr;
  // int8 W in the AMX-INT8 layout (I8AmxBytes): column block b of 16 rows, 64-channel chunk q
  // at (b * I8PaddedK(k) / 64 + q) * 1024, byte 64 g + 4 c + e = W[16 b + c][64 q + 4 g + e]
  // (TDPBUSD's B tile; zeros past n and k), packed by pack_i8_amx from the i8_rows.h layout.
  // gemv_i8_amx_quantize: as gemv_i8_fixed_quantize (the same x_int, false for the same rows)
  // into its own scratch layout (GemvI8FixedScratchBytes); gemv_i8_amx_rows: y[i * ldy + j] for
  // rows [0, n) from the column block at w (scales, bias from that row), on the calling thread,
  // the same bits as gemv_i8_fixed; widen_i8_amx_bf16: widen_i8_rows_amx from this layout (j0 a
  // multiple of 16). Set in the AVX-512 variant where the CPU has AMX-INT8 and AMX-BF16 (and
  // AVX512_VNNI), else null.
  void (*pack_i8_amx)(const int8_t* w_i8, int64_t n, int64_t k, int8_t* dst) = nullptr;
  bool (*gemv_i8_amx_quantize)(const float* x, int64_t m, int64_t k, void* scratch) = nullptr;
  void (*gemv_i8_amx_rows)(const void* scratch, const int8_t* w, const float* scales,
                           const float* bias, float* y, int64_t ldy, int64_t m, int64_t n,
                           int64_t k) = nullptr;
  void (*widen_i8_amx_bf16)(const int8_t* w, int64_t k, int64_t j0, int64_t rows,
                            uint16_t* wt) = nullptr;
  // bf16 GEMM on the AMX tile unit: set in the AVX-512 variant where the CPU has AMX-BF16, else
  // null. pack_gemm_amx_w: W [n, k] f32 -> GemmAmxWeightElems(n, k) bf16 (F32ToBF16) in B tiles:
  // wt[((j / 16) * kc + c / 32) * 512 + ((c % 32) / 2) * 32 + (j % 16) * 2 + c % 2] = W[j][c],
  // kc = GemmAmxChunks(k), zeros past n and k. pack_gemm_amx_x(_bf16): x [m, k] (f32, rounded
  // to bf16 as F32ToBF16; or bf16 bits) -> GemmAmxXElems(m, k) in A tiles: xt[((i / 16) * kc +
  // c / 32) * 512 + (i % 16) * 32 + c % 32] = x[i][c], zeros past m and k. gemm_amx_bf16: y [m,
  // n] = x W^T + bias (bias may be null), the bf16 products exact and summed in f32, then the
  // epilogue (kGeluErf as the table's GeluErf; kAccumulate: added to y) into y, or, where y16 is
  // not null, rounded to bf16 into y16 (kAccumulate not allowed there). Column blocks over the
  // team outside a parallel region, on the calling thread inside one. A row's outputs do not
  // depend on m or on the row's position.
  void (*pack_gemm_amx_w)(const float* w, int64_t n, int64_t k, uint16_t* wt) = nullptr;
  void (*pack_gemm_amx_x)(const float* x, int64_t m, int64_t k, uint16_t* xt) = nullptr;
  void (*pack_gemm_amx_x_bf16)(const uint16_t* x, int64_t m, int64_t k, uint16_t* xt) = nullptr;
  void (*gemm_amx_bf16)(const uint16_t* xt, int64_t m, int64_t k, const uint16_t* wt, int64_t n,
                        const float* bias, float* y, uint16_t* y16,
                        GemmEpilogue epilogue) = nullptr;
  // For int8 W (set with them): widen_i8_rows_amx: W rows [j0, j0 + rows) in the i8_rows.h
  // layout (w: its base, k columns) -> GemmAmxWeightElems(rows, k) bf16 (the exact int8
  // values, unscaled) in pack_gemm_amx_w's layout. gemm_amx_bf16_scaled: y [m, n] (rows ldy
  // apart) = scale[j] * (x W^T)[i][j] + bias[j] (bias may be null), on the calling thread.
  void (*widen_i8_rows_amx)(const int8_t* w, int64_t k, int64_t j0, int64_t rows,
                            uint16_t* wt) = nullptr;
  void (*gemm_amx_bf16_scaled)(const uint16_t* xt, int64_t m, int64_t k, const uint16_t* wt,
                               int64_t n, const float* scale, const float* bias, float* y,
                               int64_t ldy) = nullptr;
  // For bench JSON: "avx512_bf16 dot" or "widen + fma"; the int8 decode's: "amx int8 tiles,
  // fixed point", "avx512_vnni fixed point", "int16 x blocks, vpmaddwd" (AVX2) or "widen + fma".
  const char* gemv_bf16_name = "";
  // conv1d_bf16's and attention's bf16 products: "amx tiles", "vdpbf16ps" or "" (emulated).
  const char* bf16_products_name = "";
  const char* gemv_i8_name = "";
  // For bench JSON: the GEMVs' software prefetch of the weight streams, "prefetchnta" (AMD) or
  // "prefetcht2" (other vendors).
  const char* gemv_prefetch = "";
  // y: [m, n] = x: [m, k] W^T + bias, W f32 in panels of kGemmPanelWidth columns:
  // wp[(j / 16) * k * 16 + c * 16 + j % 16] = W[j][c], zeros past n. Same layout in every variant.
  // The epilogue on each output as it is stored: kGeluErf: gelu(x W^T + bias) as the unary
  // kGeluErf computes it; kAccumulate: y + (x W^T + bias). Both the same bits as the pass after.
  void (*gemm_panels_f32)(const float* x, int64_t m, int64_t k, const float* wp, int64_t n,
                          const float* bias, float* y, GemmEpilogue epilogue) = nullptr;
  // WeightType::kInt16 (every variant; gemm_i16.cpp). quantize_i16_rows: x [m, k] f32 ->
  // xq [m, ldq] int16 (ldq >= k rounded up to even, zeros past k) and sx [m]: per row
  // sx = max|x| / kI16ActMax, xq = x (kI16ActMax / max|x|) rounded to nearest even; a zero row gets
  // sx 0, a row holding NaN or infinity zeros and sx NaN. gemm_panels_i16: y [m, n] = per output
  // (sum over blocks of kI16Block channels, in order, of the exact int32 block sum of xq W_q,
  // each converted to f32 and added in f32) * (sw[j] * sx[i]) + bias[j], then the epilogue (as
  // gemm_panels_f32). W_q int16 in panels of kGemmPanelWidth columns by channel pairs:
  // wp[((j / 16) * pairs + c / 2) * 32 + (j % 16) * 2 + c % 2] = W_q[j][c], pairs = ceil(k / 2),
  // zeros past n and k; sw [n rounded up to 16] (I16PanelElems). The integer sums are the same in
  // every variant.
  void (*quantize_i16_rows)(const float* x, int64_t m, int64_t k, int16_t* xq, int64_t ldq,
                            float* sx) = nullptr;
  void (*gemm_panels_i16)(const int16_t* xq, int64_t ldq, const float* sx, int64_t m, int64_t k,
                          const int16_t* wp, const float* sw, int64_t n, const float* bias,
                          float* y, GemmEpilogue epilogue) = nullptr;
  // gemm_panels_i16 is vpdpwssd in the AVX-512 variant on CPUs with AVX512_VNNI (the same
  // bits); gemm_panels_i16_madd the vpmaddwd + vpaddd kernel of the variant in every case (tests
  // compare the two); the name says which gemm_panels_i16 is (bench JSON).
  void (*gemm_panels_i16_madd)(const int16_t* xq, int64_t ldq, const float* sx, int64_t m,
                               int64_t k, const int16_t* wp, const float* sw, int64_t n,
                               const float* bias, float* y, GemmEpilogue epilogue) = nullptr;
  const char* gemm_panels_i16_name = "";
  // xv[cp * ldv + j] = bf16(x[2cp][j]) | bf16(x[2cp + 1][j]) << 16 for j < cols (channel rows
  // ldx apart; bf16 as F32ToBF16 in runtime/dtype.h; an odd last channel pairs with +0).
  void (*pack_bf16_pairs)(const float* x, int64_t ldx, int64_t channels, int64_t cols, uint32_t* xv,
                          int64_t ldv) = nullptr;
  // bf16-product convolution (stride 1, groups 1) on vdpbf16ps; set where the CPU has
  // AVX512_BF16, else null. y[co * ldy + j] = bias[co] + sum over taps kk and pairs cp of the
  // pair dot product wp(co, kk, cp) . xv[cp * ldv + j + kk * dil], for co < cout, j < cols (the
  // bf16 products exact, summed in f32 as the instruction does). wp: Conv1dBf16WeightIndex; xv
  // readable (and finite) for RoundUp(cols, kConvBf16Cols) + (k - 1) * dil columns per row;
  // bias may be null; tail: kConvBf16Rows * kConvBf16Cols floats of scratch.
  void (*conv1d_bf16)(const uint32_t* wp, const float* bias, int64_t cout, int64_t pairs, int64_t k,
                      int64_t dil, const uint32_t* xv, int64_t ldv, int64_t cols, float* y,
                      int64_t ldy, float* tail) = nullptr;
  // The many-row products of Linear weights (m > kGemvMaxM) on register tiles fed by blocks of
  // 8 W rows x up to 48 columns of packed x: the int8 pair (pack_gemm_bf16_x, gemm_i8_bf16, on
  // vdpbf16ps) in the AVX-512 variant where the CPU has AVX512_BF16; the f32 pair
  // (pack_gemm_f32_x, gemm_f32) in the AVX-512 and AVX2 variants; with the f32 pack,
  // gemm_i8_f32 (int8 W widened to its exact values; AVX-512 and AVX2) and gemm_bf16_f32 (bf16
  // W; AVX2 only); else null. A pack writes rows [i0, i1) (i0 a multiple of 16) of x: [m, k] (rows
  // ldx apart) into xv, one 32-bit word per row and unit at GemmXIndex(i, u, RoundUp(m, 16), units)
  // (GemmXWords(m, units) words; zeros past k and for rows m .. RoundUp(m, 16)). Units: for
  // bf16, channel pairs (units = ceil(k / 2); a word holds bf16(x[i][2u]) in its low half and
  // bf16(x[i][2u + 1]) in its high half, bf16 as F32ToBF16, an odd k's last pair with +0); for
  // f32, channels (units = k, the f32 itself, or with round_bf16 the f32 of its F32ToBF16). The
  // product: y[i * ldy + j] = scale[j] * (sum over units of x(i, u) . W(j, u)) + bias[j] for i
  // < m, j in [j0, j1), W [n, k] (f32 and bf16 row-major; int8 in the 4-row blocks of
  // i8_rows.h, all n rows); gemm_i8_bf16: the values exact in bf16, pair products exact and
  // summed in f32 as vdpbf16ps does, scale = scales[j]; the f32-unit products: fused
  // multiply-adds in unit order, scale = scales[j] for int8, else 1. bias may be null; scratch:
  // GemmScratchBytes(m, units, j1 - j0).
  void (*pack_gemm_bf16_x)(const float* x, int64_t ldx, int64_t m, int64_t k, int64_t i0,
                           int64_t i1, uint32_t* xv) = nullptr;
  void (*gemm_i8_bf16)(const uint32_t* xv, int64_t m, int64_t k, const int8_t* w,
                       const float* scales, const float* bias, int64_t j0, int64_t j1, float* y,
                       int64_t ldy, void* scratch) = nullptr;
  void (*pack_gemm_f32_x)(const float* x, int64_t ldx, int64_t m, int64_t k, int64_t i0, int64_t i1,
                          bool round_bf16, float* xv) = nullptr;
  void (*gemm_f32)(const float* xv, int64_t m, int64_t k, const float* w, const float* bias,
                   int64_t j0, int64_t j1, float* y, int64_t ldy, void* scratch) = nullptr;
  void (*gemm_i8_f32)(const float* xv, int64_t m, int64_t k, const int8_t* w, const float* scales,
                      const float* bias, int64_t j0, int64_t j1, float* y, int64_t ldy,
                      void* scratch) = nullptr;
  void (*gemm_bf16_f32)(const float* xv, int64_t m, int64_t k, const uint16_t* w, const float* bias,
                        int64_t j0, int64_t j1, float* y, int64_t ldy, void* scratch) = nullptr;
  // int8 W (i8_rows.h, per-row scales) at many rows on int16 products (gemm_i8_i16.cpp; AVX-512
  // and AVX2 variants; Linear takes them where no bf16 product unit is, linear.cpp). pack_i8_i16_x:
  // rows [i0, min(i1, m)) of x [m, k] (rows ldx apart) into xv (the layout GemmI8I16XLayout(m,
  // k), its .bytes): per row and block b of kI16Block channels, s = max|x| / kI8I16ActMax over the
  // block and q = x / s rounded to nearest even (as quantize_i16_rows per block: an all-zero
  // block s 0, a block holding NaN or infinity zeros and s NaN), zeros past k. gemm_i8_i16:
  // y[i * ldy + j] = fmadd(acc(i, j), scales[j], bias[j]) for i < m, j in [j0, j1) (j0 a multiple
  // of 4; bias may be null: 0), acc = the blocks in order, each the exact int32 sum of q W over
  // its channels converted to f32 d_b: acc = s_0 d_0, then acc = fmadd(d_b, s_b, acc) (fused).
  // scratch: GemmI8I16ScratchBytes(k).
  void (*pack_i8_i16_x)(const float* x, int64_t ldx, int64_t m, int64_t k, int64_t i0, int64_t i1,
                        void* xv) = nullptr;
  void (*gemm_i8_i16)(const void* xv, int64_t m, int64_t k, const int8_t* w, const float* scales,
                      const float* bias, int64_t j0, int64_t j1, float* y, int64_t ldy,
                      void* scratch) = nullptr;
  // gemm_i8_i16 is vpdpwssd where gemm_panels_i16 is (the same bits); this the vpmaddwd one.
  void (*gemm_i8_i16_madd)(const void* xv, int64_t m, int64_t k, const int8_t* w,
                           const float* scales, const float* bias, int64_t j0, int64_t j1, float* y,
                           int64_t ldy, void* scratch) = nullptr;
  // The decode GEMV on gemm_i8_i16's definition (the same bits for a row of x): y[i * ldy + j]
  // for i < m (xv packed by pack_i8_i16_x for m rows), j < n, W rows from w (a 4-row block's
  // start in the i8_rows.h layout; scales and bias, which may be null, from that row), on the
  // calling thread. AVX2 variant only (gemm_i8_i16.cpp): where no VNNI instruction takes the
  // int8 rows, vpmaddwd on 16-bit x does half the work of widening W to f32; Linear takes it for
  // m <= kGemvMaxM (linear.cpp), null elsewhere.
  void (*gemv_i8_i16_rows)(const void* xv, int64_t m, int64_t k, const int8_t* w,
                           const float* scales, const float* bias, float* y, int64_t ldy,
                           int64_t n) = nullptr;
};
// The gemm tiles: 8 weight rows x up to 48 columns of x; W loaded 512 units at a time per block
// of 8 rows (8 x 512 x 4 bytes: L1); packed x in column tiles of 48 (the last one 16, 32 or 48
// wide), each [units][tile width].
inline constexpr int kGemmTileRows = 8;
inline constexpr int64_t kGemmTileCols = 48;
inline constexpr int64_t kGemmTileChunk = 512;
inline constexpr int64_t GemmXIndex(int64_t i, int64_t u, int64_t mpad, int64_t units) {
  const int64_t c0 = i / kGemmTileCols * kGemmTileCols;
  const int64_t tw = mpad - c0 < kGemmTileCols ? mpad - c0 : kGemmTileCols;
  return c0 * units + u * tw + (i - c0);
}
inline constexpr int64_t GemmXWords(int64_t m, int64_t units) { return (m + 15) / 16 * 16 * units; }
// The loaded weight chunk, and the f32 partial sums of every column when k spans more than one
// chunk.
inline constexpr int64_t GemmScratchBytes(int64_t m, int64_t units, int64_t rows) {
  const int64_t mpad = (m + 15) / 16 * 16;
  const int64_t blocks = (rows + kGemmTileRows - 1) / kGemmTileRows;
  return 4 * (kGemmTileRows * kGemmTileChunk +
              (units > kGemmTileChunk ? blocks * kGemmTileRows * mpad : 0));
}
// gemm_amx_bf16's operands: 32-channel chunks of k; elements of packed W and packed x.
inline constexpr int64_t GemmAmxChunks(int64_t k) { return (k + 31) / 32; }
inline constexpr int64_t GemmAmxWeightElems(int64_t n, int64_t k) {
  return (n + 15) / 16 * 16 * GemmAmxChunks(k) * 32;
}
inline constexpr int64_t GemmAmxXElems(int64_t m, int64_t k) {
  return (m + 15) / 16 * 16 * GemmAmxChunks(k) * 32;
}
// conv1d_bf16's tile: 8 output rows x 48 columns.
inline constexpr int kConvBf16Rows = 8;
inline constexpr int kConvBf16Cols = 48;
// Packed weight of conv1d_bf16 for output row co, tap kk, input channel pair cp (pairs =
// ceil(C_in / 2); rows padded with zeros to a multiple of kConvBf16Rows): a uint32 holding
// bf16(w[co][2cp][kk]) in its low half and bf16(w[co][2cp + 1][kk]) in its high half.
inline constexpr int64_t Conv1dBf16WeightIndex(int64_t co, int64_t kk, int64_t cp, int64_t k,
                                               int64_t pairs) {
  return ((co / kConvBf16Rows * k + kk) * pairs + cp) * kConvBf16Rows + co % kConvBf16Rows;
}
inline constexpr int64_t kGemmPanelWidth = 16;
// WeightType::kInt16: the integer ranges of x (per row) and W (per output row), and the
// channels per exact int32 block (kI16Block x kI16ActMax x kI16WeightMax < 2^31).
inline constexpr int32_t kI16ActMax = 8191;
inline constexpr int32_t kI16WeightMax = 2047;
inline constexpr int64_t kI16Block = 128;
inline constexpr int64_t I16RowStride(int64_t k) { return (k + 1) / 2 * 2; }
// gemm_i8_i16: x's integer range per block (kI16Block x 32767 x 128 < 2^31: a block's sum
// against int8 rows fits int32), its packed x (m rows of k rounded up to 16 int16, zeros past k:
// whole vectors for gemv_i8_i16_rows; then from byte `scales` the block scales, row i's at
// [i * blocks]) and the scratch (one W panel widened to int16: kGemmPanelWidth rows of the
// i8_rows.h padded k).
inline constexpr int32_t kI8I16ActMax = 32767;
static_assert(kI16Block * int64_t{kI8I16ActMax} * 128 < (int64_t{1} << 31),
              "a block's sum of int16 x int8 fits int32");
struct GemmI8I16X {
  int64_t ldq = 0, blocks = 0, scales = 0, bytes = 0;
};
inline constexpr GemmI8I16X GemmI8I16XLayout(int64_t m, int64_t k) {
  GemmI8I16X l;
  l.ldq = (k + 15) / 16 * 16;
  l.blocks = (k + kI16Block - 1) / kI16Block;
  l.scales = (m * l.ldq * 2 + 63) / 64 * 64;
  l.bytes = l.scales + m * l.blocks * 4;
  return l;
}
inline constexpr int64_t GemmI8I16ScratchBytes(int64_t k) {
  return kGemmPanelWidth * ((k + 63) / 64 * 64) * 2 + 64;
}
static_assert(ref::kAttnI16QueryMax == kI16ActMax && ref::kAttnI16ValueMax == kI16WeightMax &&
                  ref::kAttnI16Block == kI16Block,
              "the int16 attention runs on the int16 GEMM's panel kernel");
// Query rows per block of the int16 attention, and its scratch (floats, each part 64-byte
// aligned): key panels (int16, kGemmPanelWidth keys by channel pairs) and their scales, value
// panels (int16, kGemmPanelWidth channels by key pairs) and their scales, ones (the value
// panels' column scales), two quantized value rows or eight key rows, then per block of rows:
// quantized q rows and scales, scores, quantized weights and scales, outputs.
inline constexpr int64_t kAttnI16Rows = 24;
struct AttnI16Scratch {
  int64_t ldk = 0, dp = 0, kvp = 0,
          vcols = 0;  // keys to 16, head_dim to 2, keys to 2, head_dim to 16
  int64_t kp = 0, sk = 0, vp = 0, sv = 0, ones = 0, row = 0, qi = 0, sq = 0, s = 0, pq = 0, sp = 0,
          ob = 0, total = 0;
};
inline constexpr AttnI16Scratch AttnI16ScratchLayout(int64_t head_dim, int64_t kv_len) {
  AttnI16Scratch l;
  const int64_t kv = kv_len > 1 ? kv_len : 1;
  l.ldk = (kv + 15) / 16 * 16;
  l.dp = (head_dim + 1) / 2 * 2;
  l.kvp = (kv + 1) / 2 * 2;
  l.vcols = (head_dim + 15) / 16 * 16;
  int64_t at = 0;
  auto take = [&at](int64_t floats) {
    const int64_t o = at;
    at += (floats + 15) / 16 * 16;
    return o;
  };
  l.kp = take(l.ldk * l.dp / 2);
  l.sk = take(l.ldk);
  l.vp = take(l.vcols * l.kvp / 2);
  l.sv = take(l.ldk);
  l.ones = take(l.vcols);
  l.row = take(l.vcols > 4 * l.dp ? l.vcols : 4 * l.dp);  // two value rows or eight key rows
  l.qi = take(kAttnI16Rows * l.dp / 2);
  l.sq = take(kAttnI16Rows);
  l.s = take(kAttnI16Rows * l.ldk);
  l.pq = take(kAttnI16Rows * l.kvp / 2);
  l.sp = take(kAttnI16Rows);
  l.ob = take(kAttnI16Rows * l.vcols);
  l.total = at;
  return l;
}
// int16 elements of gemm_panels_i16's W panels for [n, k].
inline constexpr int64_t I16PanelElems(int64_t n, int64_t k) {
  return (n + kGemmPanelWidth - 1) / kGemmPanelWidth * kGemmPanelWidth * I16RowStride(k);
}
// gemv_i8_fixed: the largest k (int32 lane sums of |x_int byte| x |w| <= 255 x 128 per column
// stay below 2^31) and its scratch (four byte planes per row of x, k rounded up to 64, then two
// 8-byte values per row).
inline constexpr int64_t kGemvI8FixedMaxK = 65536;
inline constexpr int64_t GemvI8FixedStride(int64_t k) { return (k + 63) / 64 * 64; }
// Rows per column block and bytes of the AMX-INT8 layout (gemv_i8_amx_rows).
inline constexpr int64_t kI8AmxBlockRows = 16;
inline constexpr int64_t I8AmxBytes(int64_t n, int64_t k) {
  return (n + kI8AmxBlockRows - 1) / kI8AmxBlockRows * kI8AmxBlockRows * GemvI8FixedStride(k);
}
inline constexpr int64_t GemvI8FixedScratchBytes(int64_t m, int64_t k) {
  // 4 byte planes per row of x (vpdpbusd), or 5 (gemv_i8_amx_quantize: 4 planes and ones)
  return m * (5 * GemvI8FixedStride(k) + 16);
}

// The table of the selected variant (SelectedCpuIsa() unless UseKernelIsa changed it).
const KernelTable& Kernels();

// Whether the selected variant multiplies bf16 in hardware (AVX512_BF16 or AMX-BF16: the
// table's bf16_products_name is set); elsewhere bf16 products are emulated in f32 and no faster.
// The nodes' precision "auto" chooses by it.
inline bool NativeBf16Products() { return Kernels().bf16_products_name[0] != '\0'; }

// The table of one variant; FailedPrecondition when this CPU cannot run it.
Result<const KernelTable*> KernelsFor(CpuIsa isa);

// Switches every later Kernels() call to `isa` (tests and benches compare variants in one
// process). oneDNN's own ISA is fixed at first use and does not follow.
Status UseKernelIsa(CpuIsa isa);

}  // namespace cosyflow::kernels::cpu

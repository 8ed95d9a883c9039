// Entry points of one ISA variant (namespace COSY_ISA_NS), gathered into its KernelTable by
// table.cpp. Shapes and contracts: kernel_table.h; arguments are checked by the callers.
#pragma once

#include <cstdint>

#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/ref/attention.h"

#ifndef COSY_ISA_NS
#error "kernels.h belongs to the per-ISA kernel sources; COSY_ISA_NS names the ISA"
#endif

namespace cosyflow::kernels::cpu::COSY_ISA_NS {

void GeluErf(const float* x, int64_t n, float* y);
void GeluTanh(const float* x, int64_t n, float* y);
void Silu(const float* x, int64_t n, float* y);
void Mish(const float* x, int64_t n, float* y);
void Elu(const float* x, int64_t n, float* y);
void TanhMap(const float* x, int64_t n, float* y);
void SigmoidMap(const float* x, int64_t n, float* y);
void ExpMap(const float* x, int64_t n, float* y);
void SinMap(const float* x, int64_t n, float* y);
void LeakyRelu(const float* x, int64_t n, float slope, float* y);
void Snake(const float* x, const float* alpha, int64_t channels, int64_t time, float* y);
void LayerNorm(const float* x, const float* gamma, const float* beta, int64_t rows, int64_t dim,
               float eps, float* y);
void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps, float* y);
void SoftmaxMasked(const float* x, const float* add_mask, const uint8_t* keep_mask,
                   int64_t mask_row_stride, int64_t rows, int64_t cols, float* y);
void LogSoftmax(const float* x, int64_t rows, int64_t cols, float* y);
void Binary4(int op, const int64_t* dims, const int64_t* sa, const int64_t* sb, const float* a,
             const float* b, float* out);
void Axpy(int64_t n, float alpha, const float* x, float* y);
void ScaleAdd(const float* x, float alpha, const float* y, float beta, int64_t n, float* out);
void Clamp(const float* x, int64_t n, float lo, float hi, float* y);
void Rope(float* x, int64_t tokens, int64_t heads, int64_t head_dim, int64_t token_stride,
          int64_t start_pos, const float* cos_table, const float* sin_table);
void Widen16(const uint16_t* src, bool bf16, int64_t n, float* out);
void WidenI8(const int8_t* src, float scale, int64_t n, float* out);
void WidenI8Bf16(const int8_t* src, int64_t n, uint16_t* out);
void WidenI8RowsBf16(const int8_t* w, int64_t k, int64_t j0, int64_t rows, uint16_t* out);
void NarrowBf16(const float* x, int64_t n, uint16_t* y);
// AVX-512 variant only, for CPUs with AVX512_BF16: NarrowBf16 (same bits) on vcvtne2ps2bf16.
void NarrowBf16Ne(const float* x, int64_t n, uint16_t* y);
// k, v: f32, or bf16 bits when p.kv_bf16 (then p.bf16: the panel path).
void Attention(const ref::AttentionParams& p, const float* q, const void* k, const void* v,
               float* out, float* scratch);
void GemmPanelsF32(const float* x, int64_t m, int64_t k, const float* wp, int64_t n,
                   const float* bias, float* y, GemmEpilogue epilogue);
void QuantizeI16Rows(const float* x, int64_t m, int64_t k, int16_t* xq, int64_t ldq, float* sx);
void GemmPanelsI16(const int16_t* xq, int64_t ldq, const float* sx, int64_t m, int64_t k,
                   const int16_t* wp, const float* sw, int64_t n, const float* bias, float* y,
                   GemmEpilogue epilogue);
// kernel_table.h's attention_i16 (attention_i16.cpp); the Vnni one: AVX-512 variant only, for
// CPUs with AVX512_VNNI (same bits).
void AttentionI16(const ref::AttentionParams& p, const float* q, const float* k, const float* v,
                  float* out, float* scratch);
void AttentionI16Vnni(const ref::AttentionParams& p, const float* q, const float* k, const float* v,
                      float* out, float* scratch);
// kernel_table.h's pack_i8_i16_x and gemm_i8_i16 (gemm_i8_i16.cpp; AVX-512 and AVX2 variants);
// the Vnni one: AVX-512 variant only, for CPUs with AVX512_VNNI (same bits).
void PackI8I16X(const float* x, int64_t ldx, int64_t m, int64_t k, int64_t i0, int64_t i1,
                void* xv);
void GemmI8I16(const void* xv, int64_t m, int64_t k, const int8_t* w, const float* scales,
               const float* bias, int64_t j0, int64_t j1, float* y, int64_t ldy, void* scratch);
void GemmI8I16Vnni(const void* xv, int64_t m, int64_t k, const int8_t* w, const float* scales,
                   const float* bias, int64_t j0, int64_t j1, float* y, int64_t ldy, void* scratch);
// AVX2 variant only: kernel_table.h's gemv_i8_i16_rows (gemm_i8_i16.cpp).
void GemvI8I16Rows(const void* xv, int64_t m, int64_t k, const int8_t* w, const float* scales,
                   const float* bias, float* y, int64_t ldy, int64_t n);
// AVX-512 variant only, for CPUs with AVX512_VNNI: GemmPanelsI16 (same bits) on vpdpwssd.
void GemmPanelsI16Vnni(const int16_t* xq, int64_t ldq, const float* sx, int64_t m, int64_t k,
                       const int16_t* wp, const float* sw, int64_t n, const float* bias, float* y,
                       GemmEpilogue epilogue);
// The GEMV kernels' software prefetch of the W streams: prefetchnta when true (the default),
// prefetcht2 when false; set once by FillKernelTable from the CPU's vendor (table.cpp).
extern bool gemv_prefetch_nta;
void GemvF32(const float* x, const float* w, const float* bias, float* y, int64_t m, int64_t n,
             int64_t k);
void GemvBF16(const uint16_t* x, const uint16_t* w, const float* bias, float* y, int64_t m,
              int64_t n, int64_t k);
void GemvI8(const float* x, const int8_t* w, const float* scales, const float* bias, float* y,
            int64_t m, int64_t n, int64_t k);
// AVX-512 variant only, for CPUs with AVX512_BF16: bf16-product attention (p.bf16, head_dim a
// multiple of 16) on vdpbf16ps; everything else goes to Attention.
void AttentionBf16Dot(const ref::AttentionParams& p, const float* q, const void* k,
                      const void* v, float* out, float* scratch);
// AVX-512 variant only, for CPUs with AMX-BF16 (tile data permission granted): the same
// bf16-product attention on the tile unit (head_dim a multiple of 32, at most 128); everything
// else goes to AttentionBf16Dot.
void AttentionAmx(const ref::AttentionParams& p, const float* q, const void* k, const void* v,
                  float* out, float* scratch);
// AVX-512 variant only, for CPUs with AVX512_VNNI: kernel_table.h's gemv_i8_fixed.
bool GemvI8Fixed(const float* x, const int8_t* w, const float* scales, const float* bias, float* y,
                 int64_t m, int64_t n, int64_t k, void* scratch);
// AVX-512 variant only, for CPUs with AVX512_VNNI: kernel_table.h's gemv_i8_fixed_quantize and
// gemv_i8_fixed_rows.
bool GemvI8FixedQuantize(const float* x, int64_t m, int64_t k, void* scratch);
void GemvI8FixedRows(const void* scratch, const int8_t* w, const float* scales, const float* bias,
                     float* y, int64_t m, int64_t n, int64_t k);
// AVX-512 variant only, for CPUs with AMX-INT8 (tile data permission granted): kernel_table.h's
// pack_i8_amx, gemv_i8_amx_quantize, gemv_i8_amx_rows and widen_i8_amx_bf16.
void PackI8Amx(const int8_t* w_i8, int64_t n, int64_t k, int8_t* dst);
bool GemvI8AmxQuantize(const float* x, int64_t m, int64_t k, void* scratch);
void GemvI8AmxRows(const void* scratch, const int8_t* w, const float* scales, const float* bias,
                   float* y, int64_t ldy, int64_t m, int64_t n, int64_t k);
void WidenI8AmxBf16(const int8_t* w, int64_t k, int64_t j0, int64_t rows, uint16_t* wt);
void PackBf16Pairs(const float* x, int64_t ldx, int64_t channels, int64_t cols, uint32_t* xv,
                   int64_t ldv);
// AVX-512 variant only, for CPUs with AVX512_BF16: kernel_table.h's conv1d_bf16.
void Conv1dBf16(const uint32_t* wp, const float* bias, int64_t cout, int64_t pairs, int64_t k,
                int64_t dil, const uint32_t* xv, int64_t ldv, int64_t cols, float* y, int64_t ldy,
                float* tail);
// AVX-512 variant only, for CPUs with AMX-BF16: the same convolution on the tile unit.
void Conv1dAmx(const uint32_t* wp, const float* bias, int64_t cout, int64_t pairs, int64_t k,
               int64_t dil, const uint32_t* xv, int64_t ldv, int64_t cols, float* y, int64_t ldy,
               float* tail);
// AVX-512 variant only, for CPUs with AMX-BF16: kernel_table.h's pack_gemm_amx_w,
// pack_gemm_amx_x(_bf16) and gemm_amx_bf16.
void PackGemmAmxW(const float* w, int64_t n, int64_t k, uint16_t* wt);
void PackGemmAmxX(const float* x, int64_t m, int64_t k, uint16_t* xt);
void PackGemmAmxXBf16(const uint16_t* x, int64_t m, int64_t k, uint16_t* xt);
void GemmAmxBf16(const uint16_t* xt, int64_t m, int64_t k, const uint16_t* wt, int64_t n,
                 const float* bias, float* y, uint16_t* y16, GemmEpilogue epilogue);
void GemmAmxBf16Scaled(const uint16_t* xt, int64_t m, int64_t k, const uint16_t* wt, int64_t n,
                       const float* scale, const float* bias, float* y, int64_t ldy);
void WidenI8RowsAmx(const int8_t* w, int64_t k, int64_t j0, int64_t rows, uint16_t* wt);
// AVX-512 variant only, for CPUs with AVX512_BF16: kernel_table.h's pack_gemm_bf16_x and
// gemm_i8_bf16.
void PackGemmBf16X(const float* x, int64_t ldx, int64_t m, int64_t k, int64_t i0, int64_t i1,
                   uint32_t* xv);
void GemmI8Bf16(const uint32_t* xv, int64_t m, int64_t k, const int8_t* w, const float* scales,
                const float* bias, int64_t j0, int64_t j1, float* y, int64_t ldy, void* scratch);
// AVX-512 and AVX2 variants (gemm_tile.cpp, gemm_tile_avx2.cpp).
void PackGemmF32X(const float* x, int64_t ldx, int64_t m, int64_t k, int64_t i0, int64_t i1,
                  bool round_bf16, float* xv);
void GemmF32(const float* xv, int64_t m, int64_t k, const float* w, const float* bias, int64_t j0,
             int64_t j1, float* y, int64_t ldy, void* scratch);
// kernel_table.h's gemm_i8_f32 (AVX-512 and AVX2 variants) and gemm_bf16_f32 (AVX2 only).
void GemmI8F32(const float* xv, int64_t m, int64_t k, const int8_t* w, const float* scales,
               const float* bias, int64_t j0, int64_t j1, float* y, int64_t ldy, void* scratch);
void GemmBf16F32(const float* xv, int64_t m, int64_t k, const uint16_t* w, const float* bias,
                 int64_t j0, int64_t j1, float* y, int64_t ldy, void* scratch);
// AVX-512 variant only, for CPUs with AVX512_BF16.
void GemvBF16Dot(const uint16_t* x, const uint16_t* w, const float* bias, float* y, int64_t m,
                 int64_t n, int64_t k);

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS

// The KernelTable of one ISA variant (see kernel_table.h).
#include <cstdlib>
#include <string_view>

#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/cpu/simd/kernels.h"
#include "runtime/kernels/cpu/simd/simd.h"

namespace cosyflow::kernels::cpu::COSY_ISA_NS {

void FillKernelTable(KernelTable* t, const CpuFeatures& cpu) {
  auto set = [t](UnaryKind kind, void (*fn)(const float*, int64_t, float*)) {
    t->unary[static_cast<int>(kind)] = fn;
  };
  set(UnaryKind::kGeluErf, GeluErf);
  set(UnaryKind::kGeluTanh, GeluTanh);
  set(UnaryKind::kSilu, Silu);
  set(UnaryKind::kMish, Mish);
  set(UnaryKind::kElu, Elu);
  set(UnaryKind::kTanh, TanhMap);
  set(UnaryKind::kSigmoid, SigmoidMap);
  set(UnaryKind::kExp, ExpMap);
  set(UnaryKind::kSin, SinMap);
  t->leaky_relu = LeakyRelu;
  t->snake = Snake;
  t->layer_norm = LayerNorm;
  t->rms_norm = RmsNorm;
  t->softmax_masked = SoftmaxMasked;
  t->log_softmax = LogSoftmax;
  t->binary4 = Binary4;
  t->axpy = Axpy;
  t->scale_add = ScaleAdd;
  t->clamp = Clamp;
  t->rope = Rope;
  t->widen_16 = Widen16;
  t->widen_i8 = WidenI8;
  t->widen_i8_bf16 = WidenI8Bf16;
  t->widen_i8_rows_bf16 = WidenI8RowsBf16;
  t->narrow_bf16 = NarrowBf16;
  t->attention = Attention;
  t->attention_i16 = AttentionI16;
  t->attention_i16_madd = AttentionI16;
  t->gemv_f32 = GemvF32;
  t->gemm_panels_f32 = GemmPanelsF32;
  t->quantize_i16_rows = QuantizeI16Rows;
  t->gemm_panels_i16 = GemmPanelsI16;
  t->gemm_panels_i16_madd = GemmPanelsI16;
  t->gemm_panels_i16_name = "vpmaddwd + vpaddd";
  t->pack_bf16_pairs = PackBf16Pairs;
  t->gemv_bf16 = GemvBF16;
  t->gemv_bf16_name = "widen + fma";
  t->gemv_i8 = GemvI8;
  t->gemv_i8_name = "widen + fma";
  // Weights stream through the decode GEMVs once per token. prefetchnta is what AMD parts were
  // measured with; on Intel it held the int8 / bf16 / f32 decode at 37 / 64 / 118 ms per token
  // (2-core Xeon with AMX, 22 GB/s) against 15 / 26 / 49 ms with prefetcht2
  // (docs/benchmarks.md, "Intel: decode prefetch, ... on AMX").
  gemv_prefetch_nta = cpu.amd;
  t->gemv_prefetch = cpu.amd ? "prefetchnta" : "prefetcht2";
#if defined(COSY_SIMD_AVX512) || defined(COSY_SIMD_AVX2)
  t->pack_gemm_f32_x = PackGemmF32X;
  t->gemm_f32 = GemmF32;
  t->gemm_i8_f32 = GemmI8F32;
  // linear.cpp prefers gemm_i8_bf16 where the CPU has it, then these
  t->pack_i8_i16_x = PackI8I16X;
  t->gemm_i8_i16 = GemmI8I16;
  t->gemm_i8_i16_madd = GemmI8I16;
#endif
#if defined(COSY_SIMD_AVX2)
  t->gemm_bf16_f32 = GemmBf16F32;
  t->gemv_i8_i16_rows = GemvI8I16Rows;
  t->gemv_i8_name = "int16 x blocks, vpmaddwd";
#endif
#if defined(COSY_SIMD_AVX512)
  if (cpu.avx512_vnni) {
    t->gemm_panels_i16 = GemmPanelsI16Vnni;
    t->gemm_i8_i16 = GemmI8I16Vnni;
    t->attention_i16 = AttentionI16Vnni;
    t->gemm_panels_i16_name = "avx512_vnni vpdpwssd";
    t->gemv_i8_fixed = GemvI8Fixed;
    t->gemv_i8_fixed_quantize = GemvI8FixedQuantize;
    t->gemv_i8_fixed_rows = GemvI8FixedRows;
    t->gemv_i8_name = "avx512_vnni fixed point";
    if (cpu.amx_int8 && cpu.amx_bf16) {
      t->pack_i8_amx = PackI8Amx;
      t->gemv_i8_amx_quantize = GemvI8AmxQuantize;
      t->gemv_i8_amx_rows = GemvI8AmxRows;
      t->widen_i8_amx_bf16 = WidenI8AmxBf16;
      // Linear takes them unless COSYFLOW_AMX_GEMV=0 or COSYFLOW_AMX_GEMM=0 (linear.cpp)
      auto off = [](const char* name) {
        const char* v = std::getenv(name);
        return v != nullptr && std::string_view(v) == "0";
      };
      if (!off("COSYFLOW_AMX_GEMV") && !off("COSYFLOW_AMX_GEMM")) {
        t->gemv_i8_name = "amx int8 tiles, fixed point";
      }
    }
  }
  if (cpu.avx512_bf16) {
    t->narrow_bf16 = NarrowBf16Ne;
    t->gemv_bf16 = GemvBF16Dot;
    t->gemv_bf16_name = "avx512_bf16 dot";
    t->attention = cpu.amx_bf16 ? AttentionAmx : AttentionBf16Dot;
    t->conv1d_bf16 = cpu.amx_bf16 ? Conv1dAmx : Conv1dBf16;
    t->bf16_products_name = cpu.amx_bf16 ? "amx tiles" : "vdpbf16ps";
    t->pack_gemm_bf16_x = PackGemmBf16X;
    t->gemm_i8_bf16 = GemmI8Bf16;
    if (cpu.amx_bf16) {
      t->pack_gemm_amx_w = PackGemmAmxW;
      t->pack_gemm_amx_x = PackGemmAmxX;
      t->pack_gemm_amx_x_bf16 = PackGemmAmxXBf16;
      t->gemm_amx_bf16 = GemmAmxBf16;
      t->gemm_amx_bf16_scaled = GemmAmxBf16Scaled;
      t->widen_i8_rows_amx = WidenI8RowsAmx;
    }
  }
#endif
}

}  // namespace cosyflow::kernels::cpu::COSY_ISA_NS

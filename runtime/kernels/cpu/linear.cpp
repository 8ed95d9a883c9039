// Linear (linear.h): weights stored per type and layout, each product on its fastest path.
#include "runtime/kernels/cpu/linear.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <dnnl.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <vector>

#include "runtime/cpu_isa.h"
#include "runtime/dtype.h"
#include "runtime/huge_pages.h"
#include "runtime/kernels/cpu/activation.h"
#include "runtime/kernels/cpu/dnnl_context.h"
#include "runtime/kernels/cpu/gemv.h"
#include "runtime/kernels/cpu/i8_rows.h"
#include "runtime/kernels/cpu/kernel_table.h"
#include "runtime/kernels/cpu/linear_impl.h"
#include "runtime/kernels/cpu/linear_tiles.h"
#include "runtime/logging.h"

namespace cosyflow::kernels::cpu {
using detail::AmxGemmEnabled;
using detail::Bf16TileMatMul;
using detail::GetBf16TileMatMul;
namespace {

using dnnl::memory;
using Dt = memory::data_type;

bool Int8OnAmxMatmul();

}  // namespace

// ---- Linear ---------------------------------------------------------------------------------

std::string Bf16GemmKernel() {
  if (Kernels().gemm_amx_bf16 != nullptr && AmxGemmEnabled()) {
    return "AMX tiles (gemm_amx_bf16)";
  }
  return "oneDNN bf16 matmul (brgemm where the CPU has one)";
}

std::string Int8ManyRowsKernel() {
  const KernelTable& kt = Kernels();
  if (kt.gemm_amx_bf16_scaled != nullptr && AmxGemmEnabled()) {
    return "AMX tiles (gemm_amx_bf16) on widened int8 tiles";
  }
  if (Int8OnAmxMatmul()) return "oneDNN bf16 matmul (AMX) on widened tiles";
  if (kt.gemm_i8_bf16 != nullptr) return "avx512_bf16 tile (gemm_i8_bf16)";
  if (kt.gemm_i8_i16 != nullptr) {
    return fmt::format("{} int16 products on widened panels (gemm_i8_i16{})", kt.name,
                       kt.gemm_panels_i16 == kt.gemm_panels_i16_madd ? "" : ", vpdpwssd");
  }
  if (kt.gemm_i8_f32 != nullptr)
    return fmt::format("{} f32 tile on widened rows (gemm_i8_f32)", kt.name);
  return GetBf16TileMatMul() != nullptr ? "oneDNN bf16 matmul on widened tiles"
                                        : "oneDNN f32 matmul on widened tiles";
}

const char* WeightTypeName(WeightType t) {
  switch (t) {
    case WeightType::kF32: return "f32";
    case WeightType::kBF16: return "bf16";
    case WeightType::kInt8: return "int8";
    case WeightType::kInt16:
      return "int16";
  }
  return "?";
}

bool ParseWeightType(std::string_view name, WeightType* t) {
  for (WeightType c :
       {WeightType::kF32, WeightType::kBF16, WeightType::kInt8, WeightType::kInt16}) {
    if (name == WeightTypeName(c)) {
      *t = c;
      return true;
    }
  }
  return false;
}

namespace {
// f32 rows converted per tile in the tiled path: about 4 MiB (fewer, larger matmul calls; the
// widening runs on the whole team), at least 16 rows.
int64_t TileRows(int64_t n, int64_t k) {
  return std::min<int64_t>(n, std::max<int64_t>(16, (int64_t{1} << 20) / k));
}

// int8 W at m > kGemvMaxM on a CPU with AMX-BF16 (AVX-512 kernels in force, oneDNN uncapped):
// oneDNN's bf16 matmul on the exact int8 values widened per tile runs on the AMX tiles
// (TDPBF16PS), where vdpbf16ps ran at 0.6x the f32 FMA rate (Intel; the LM's 126-row prefill 0.52
// -> 0.20 s on a 2-core Xeon, docs/benchmarks.md "Intel: decode prefetch, ... on AMX").
bool Int8OnAmxMatmul() {
  static const bool amx = DetectedCpuFeatures().amx_bf16 && SelectedCpuIsa() == CpuIsa::kAvx512 &&
                          dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx512_core_amx;
  return amx && Kernels().isa == CpuIsa::kAvx512 && GetBf16TileMatMul() != nullptr;
}

void NoteTilesOnce(WeightType wt) {
  static std::once_flag once[3];
  std::call_once(once[static_cast<int>(wt)], [wt] {
    if (wt == WeightType::kInt8) {
      const KernelTable& kt = Kernels();
      const bool i16 = kt.gemm_amx_bf16_scaled == nullptr && !Int8OnAmxMatmul() &&
                       kt.gemm_i8_bf16 == nullptr && kt.gemm_i8_i16 != nullptr;
      Log(LogLevel::kInfo, "linear: int8 weights: m > {} runs the {} ({})", kGemvMaxM,
          Int8ManyRowsKernel(),
          i16 ? "activations as 16-bit integers per 128 channels" : "activations rounded to bf16");
    } else {
      Log(LogLevel::kInfo, "linear: no oneDNN {} matmul on this CPU/ISA; m > {} runs {}",
          WeightTypeName(wt), kGemvMaxM,
          Kernels().gemm_bf16_f32 != nullptr ? "the f32 tile on rows widened per block"
                                             : "the f32 matmul on converted weight tiles");
    }
  });
}
}  // namespace

namespace detail {

// The bf16 x bf16 -> f32 matmul the int8 tiles run on (weights: the tile's exact int8 values in
// bf16, "ba" = [n, k] row-major; every dim and leading dimension at run time): created once per
// process; null where oneDNN has no optimized bf16 matmul on this CPU / ISA cap.
const Bf16TileMatMul* GetBf16TileMatMul() {
  static const std::unique_ptr<Bf16TileMatMul> entry = []() -> std::unique_ptr<Bf16TileMatMul> {
    try {
      const memory::desc a({kRt, kRt}, Dt::bf16, {kRt, 1});
      const memory::desc b({kRt, kRt}, Dt::bf16, {1, kRt});
      const memory::desc c({kRt, kRt}, Dt::f32, {kRt, 1});
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, DnnlEngine());
      if (std::string_view(pd.impl_info_str()).substr(0, 3) == "ref") return nullptr;
      auto e = std::make_unique<Bf16TileMatMul>();
      e->prim = dnnl::matmul(pd);
      e->scratchpad = pd.scratchpad_desc().data;
      return e;
    } catch (const dnnl::error&) {
      return nullptr;
    }
  }();
  return entry.get();
}

// int8 weights in the AMX-INT8 layout (where the kernel table has its kernels and the AMX GEMM
// is on) unless COSYFLOW_AMX_GEMV=0 keeps the 4-row blocks and vpdpbusd (for comparisons; read
// once).
bool AmxGemvEnabled() {
  static const bool on = [] {
    const char* v = std::getenv("COSYFLOW_AMX_GEMV");
    return v == nullptr || std::string_view(v) != "0";
  }();
  return on;
}

// bf16 WeightLayout::kGemm layers on the kernel table's AMX GEMM (where it exists) unless
// COSYFLOW_AMX_GEMM=0 keeps them on oneDNN's brgemm (for comparisons; read once).
bool AmxGemmEnabled() {
  static const bool on = [] {
    const char* v = std::getenv("COSYFLOW_AMX_GEMM");
    return v == nullptr || std::string_view(v) != "0";
  }();
  return on;
}

}  // namespace detail

Linear::Linear(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Linear::~Linear() = default;
int64_t Linear::n() const { return impl_->n; }
int64_t Linear::k() const { return impl_->k; }
WeightType Linear::weight_type() const { return impl_->weight_type; }
bool Linear::uses_tiles() const { return impl_->tiles; }
int64_t Linear::row_block() const {
  return impl_->w_i8_amx.empty() ? kI8BlockRows : kI8AmxBlockRows;
}
bool Linear::gemm_packed() const {
  return impl_->packed || impl_->panels || impl_->amx || impl_->i16;
}
size_t Linear::packed_weight_bytes() const {
  const Impl& im = *impl_;
  if (im.panels) return im.w_panels.size() * sizeof(float);
  if (im.i16) return im.w_i16.size() * sizeof(int16_t) + im.scales_i16.size() * sizeof(float);
  if (im.amx) return im.w_amx.size() * sizeof(uint16_t);
  if (im.weight_type == WeightType::kInt8) {
    return im.w_i8.size() + im.w_i8_amx.size() + im.scales.size() * 4;
  }
  if (im.tiles) return im.w_bf16.size() * 2;
  return im.weights.get_desc().get_size();
}

namespace {
// The oneDNN matmul for weights of type wdt: src [M, k] (M at run time), W [k, n] "ba".
Status CreateDnnlLinear(const float* w, const float* bias, int64_t n, int64_t k, Dt wdt,
                        Linear::Impl* impl);
// WeightLayout::kGemm: W reordered into the blocked layout of oneDNN's brgemm matmul when the
// CPU has one for wdt; false (impl untouched) when it has not.
Result<bool> CreatePackedLinear(const float* w, const float* bias, int64_t n, int64_t k, Dt wdt,
                                Linear::Impl* impl);
}  // namespace

Result<std::unique_ptr<Linear>> Linear::Create(const float* w, const float* bias, int64_t n,
                                               int64_t k, WeightType weight_type,
                                               WeightLayout layout) {
  if (n <= 0 || k <= 0) {
    return InvalidArgument("linear: weight dims must be > 0, got [n={}, k={}]", n, k);
  }
  if (w == nullptr) return InvalidArgument("linear: weight pointer is null");
  auto impl = std::make_unique<Impl>();
  impl->n = n;
  impl->k = k;
  impl->weight_type = weight_type;
  const int64_t count = n * k;
  if (weight_type == WeightType::kInt16) {  // linear_int16.cpp
    COSY_RETURN_IF_ERROR(impl->PackInt16(w, bias));
    return std::unique_ptr<Linear>(new Linear(std::move(impl)));
  }
  if (weight_type == WeightType::kInt8) {
    impl->tiles = true;
    const KernelTable& kt = Kernels();
    // AMX-INT8 CPUs: the rows in the tile unit's layout instead (every int8 path reads it: the
    // decode's rows, the small-m GEMV, the tile GEMM's widening; the others are not taken),
    // packed from i8_rows.h rows in a temporary heap buffer (not among the weights' pooled
    // pages, where its holes would stay).
    const bool amx_layout = kt.pack_i8_amx != nullptr && kt.gemm_amx_bf16_scaled != nullptr &&
                            AmxGemmEnabled() && detail::AmxGemvEnabled() && k <= kGemvI8FixedMaxK;
    std::vector<int8_t> staged;
    int8_t* rows = nullptr;
    if (amx_layout) {
      staged.assign(static_cast<size_t>(I8RowsBytes(n, k)), 0);  // padding zero
      rows = staged.data();
    } else {
      impl->w_i8.assign(static_cast<size_t>(I8RowsBytes(n, k)), 0);
      rows = impl->w_i8.data();
    }
    impl->scales.resize(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
      const float* row = w + j * k;
      float amax = 0.0f;
      for (int64_t c = 0; c < k; ++c) amax = std::max(amax, std::fabs(row[c]));
      const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
      impl->scales[j] = scale;
      int8_t* qrow = rows + I8RowOffset(j, k);
      for (int64_t c = 0; c < k; ++c) {
        const float q = std::nearbyint(row[c] / scale);
        qrow[I8ColumnOffset(c)] = static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f));
      }
    }
    if (amx_layout) {
      impl->w_i8_amx.resize(static_cast<size_t>(I8AmxBytes(n, k)));
      kt.pack_i8_amx(rows, n, k, impl->w_i8_amx.data());
    }
    NoteTilesOnce(weight_type);
  } else {
    const Dt wdt = weight_type == WeightType::kBF16 ? Dt::bf16 : Dt::f32;
    const KernelTable& kt = Kernels();
    if (layout == WeightLayout::kGemm && weight_type == WeightType::kBF16 &&
        kt.gemm_amx_bf16 != nullptr && AmxGemmEnabled()) {
      impl->amx = true;
      impl->amx_pack_x = kt.pack_gemm_amx_x;
      impl->amx_pack_x_bf16 = kt.pack_gemm_amx_x_bf16;
      impl->amx_gemm = kt.gemm_amx_bf16;
      impl->w_amx.resize(static_cast<size_t>(GemmAmxWeightElems(n, k)));
      kt.pack_gemm_amx_w(w, n, k, impl->w_amx.data());
      if (bias != nullptr) impl->bias_f32.assign(bias, bias + n);
      return std::unique_ptr<Linear>(new Linear(std::move(impl)));
    }
    if (layout == WeightLayout::kGemm) {
      COSY_ASSIGN_OR_RETURN(bool packed, CreatePackedLinear(w, bias, n, k, wdt, impl.get()));
      if (packed) return std::unique_ptr<Linear>(new Linear(std::move(impl)));
      if (weight_type == WeightType::kF32 && SelectedCpuIsa() == CpuIsa::kAvx2) {
        // No brgemm: W once in 16-column panels for the AVX2 panel GEMM.
        const int64_t panels = (n + kGemmPanelWidth - 1) / kGemmPanelWidth;
        impl->panels = true;
        impl->w_panels.assign(static_cast<size_t>(panels * k * kGemmPanelWidth), 0.0f);
        for (int64_t j = 0; j < n; ++j) {
          float* dst = impl->w_panels.data() + (j / kGemmPanelWidth) * k * kGemmPanelWidth +
                       j % kGemmPanelWidth;
          for (int64_t c = 0; c < k; ++c) dst[c * kGemmPanelWidth] = w[j * k + c];
        }
        if (bias != nullptr) impl->bias_f32.assign(bias, bias + n);
        return std::unique_ptr<Linear>(new Linear(std::move(impl)));
      }
    }
    Status st = CreateDnnlLinear(w, bias, n, k, wdt, impl.get());
    if (!st.ok()) {
      // Probe failed: only bf16 has a fallback (f32 matmul exists on every x86-64).
      if (weight_type != WeightType::kBF16 || st.code() != StatusCode::kUnsupported) return st;
      impl->tiles = true;
      impl->w_bf16.resize(static_cast<size_t>(count));
      for (int64_t i = 0; i < count; ++i) impl->w_bf16[i] = F32ToBF16(w[i]);
      NoteTilesOnce(weight_type);
    }
  }
  if (impl->tiles && bias != nullptr) impl->bias_f32.assign(bias, bias + n);
  return std::unique_ptr<Linear>(new Linear(std::move(impl)));
}

namespace {
// W ([n, k] f32 row-major) reordered (and converted) once into new storage of layout `wdesc`,
// and the bias as a [1, n] f32 memory. Throws dnnl::error.
Status StoreWeights(const float* w, const float* bias, int64_t n, int64_t k,
                    const memory::desc& wdesc, Linear::Impl* impl) {
  const dnnl::engine& eng = DnnlEngine();
  // W is [n, k] row-major, i.e. the (k, n) matrix in "ba" order.
  memory user_w({{k, n}, Dt::f32, memory::format_tag::ba}, eng, const_cast<float*>(w));
  const size_t wbytes = wdesc.get_size();
  impl->w_storage = std::shared_ptr<void>(AlignedAlloc(wbytes), AlignedFree);
  if (impl->w_storage == nullptr) {
    return MakeError(StatusCode::kResourceExhausted, "linear: cannot allocate {} weight bytes",
                     wbytes);
  }
  impl->weights = memory(wdesc, eng, impl->w_storage.get());
  dnnl::stream& s = DnnlThreadStream();
  dnnl::reorder(user_w, impl->weights).execute(s, user_w, impl->weights);
  if (bias != nullptr) {
    impl->bias = memory({{1, n}, Dt::f32, memory::format_tag::ab}, eng);
    std::copy(bias, bias + n, static_cast<float*>(impl->bias.get_data_handle()));
  }
  s.wait();
  return OkStatus();
}

Status CreateDnnlLinear(const float* w, const float* bias, int64_t n, int64_t k, Dt wdt,
                        Linear::Impl* impl) {
  return GuardDnnl("linear: create", [&]() -> Status {
    const dnnl::engine& eng = DnnlEngine();
    const memory::desc src({kRt, k}, wdt, memory::format_tag::ab);
    // W stays [n, k] row-major ("ba" of the (k, n) matrix): the small-m GEMV streams it as is,
    // and oneDNN's run-time-M matmul (gemm:jit) would choose a plain layout anyway.
    const memory::desc wei({k, n}, wdt, memory::format_tag::ba);
    const memory::desc dst({kRt, n}, Dt::f32, memory::format_tag::ab);
    memory::desc bd;
    if (bias != nullptr) bd = memory::desc({1, n}, Dt::f32, memory::format_tag::ab);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, bd, dst), attr, eng);
    impl->prim = dnnl::matmul(pd);
    impl->scratchpad = pd.scratchpad_desc().data;
    return StoreWeights(w, bias, n, k, pd.weights_desc(), impl);
  });
}

// Fixed-shape matmuls on blocked weights, one per (m, k, n, type, bias), shared by every
// packed Linear of that shape. A flow request asks for a handful of m values (its chunk sizes
// times the CFG rows); the map is emptied should it ever pass kMaxPackedPrims entries (a
// server seeing every utterance length), entries in use staying alive through their shared_ptr.
struct PackedKey {
  int64_t m, k, n;
  int wdt;
  bool bias;
  LinearEpilogue epilogue;
  bool bf16_dst;
  auto Tie() const { return std::tie(m, k, n, wdt, bias, epilogue, bf16_dst); }
  bool operator<(const PackedKey& o) const { return Tie() < o.Tie(); }
};
constexpr size_t kMaxPackedPrims = 4096;
std::shared_mutex g_packed_mu;
std::map<PackedKey, std::shared_ptr<const MatMulEntry>>& PackedPrims() {
  static auto* prims = new std::map<PackedKey, std::shared_ptr<const MatMulEntry>>();
  return *prims;
}

// The matmul primitive descriptor for src [m, k] (wdt), weights `wei`, dst [m, n] f32 (bf16:
// rounded to nearest even after the epilogue), with the epilogue as a post-op (bias comes
// first, as in the unfused order).
dnnl::matmul::primitive_desc PackedPd(int64_t m, int64_t k, int64_t n, Dt wdt,
                                      const memory::desc& wei, bool bias,
                                      LinearEpilogue epilogue = LinearEpilogue::kNone,
                                      Dt dst_dt = Dt::f32) {
  const memory::desc src({m, k}, wdt, memory::format_tag::ab);
  const memory::desc dst({m, n}, dst_dt, memory::format_tag::ab);
  memory::desc bd;
  if (bias) bd = memory::desc({1, n}, Dt::f32, memory::format_tag::ab);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (epilogue != LinearEpilogue::kNone) {
    dnnl::post_ops ops;
    if (epilogue == LinearEpilogue::kGeluErf) {
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
    } else {
      ops.append_sum(1.0f);
    }
    attr.set_post_ops(ops);
  }
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, bd, dst), attr, DnnlEngine());
}

// Rows at which Create asks oneDNN for its layout: the weight blocking of brgemm matmul depends
// on n, k and the type, not on m (checked per m: Forward insists on the same descriptor).
constexpr int64_t kPackProbeM = 128;

Result<bool> CreatePackedLinear(const float* w, const float* bias, int64_t n, int64_t k, Dt wdt,
                                Linear::Impl* impl) {
  bool packed = false;
  const Status st = GuardDnnl("linear: create (blocked weights)", [&]() -> Status {
    dnnl::matmul::primitive_desc pd;
    try {
      pd = PackedPd(kPackProbeM, k, n, wdt, memory::desc({k, n}, wdt, memory::format_tag::any),
                    bias != nullptr);
    } catch (const dnnl::error&) {
      return OkStatus();  // no matmul for the type at all: the row-major path reports it
    }
    const std::string_view impl_name = pd.impl_info_str();
    const memory::desc plain({k, n}, wdt, memory::format_tag::ba);
    if (impl_name.substr(0, 3) != "brg" || pd.weights_desc() == plain) return OkStatus();
    COSY_RETURN_IF_ERROR(StoreWeights(w, bias, n, k, pd.weights_desc(), impl));
    impl->packed = packed = true;
    return OkStatus();
  });
  if (!st.ok()) return st;
  return packed;
}

// The shared primitive for a packed Linear's call with m rows (created on first use).
std::shared_ptr<const MatMulEntry> PackedPrim(const Linear::Impl& im, int64_t m,
                                              LinearEpilogue epilogue, bool bf16_dst = false) {
  const Dt wdt = im.weight_type == WeightType::kBF16 ? Dt::bf16 : Dt::f32;
  const PackedKey key{m,        im.k,    im.n, static_cast<int>(wdt), static_cast<bool>(im.bias),
                      epilogue, bf16_dst};
  {
    std::shared_lock<std::shared_mutex> lock(g_packed_mu);
    auto it = PackedPrims().find(key);
    if (it != PackedPrims().end()) return it->second;
  }
  const memory::desc wei = im.weights.get_desc();
  const dnnl::matmul::primitive_desc pd =
      PackedPd(m, im.k, im.n, wdt, wei, key.bias, epilogue, bf16_dst ? Dt::bf16 : Dt::f32);
  if (pd.weights_desc() != wei) {
    throw std::runtime_error("oneDNN chose another weight layout for this row count");
  }
  auto entry = std::make_shared<const MatMulEntry>(
      MatMulEntry{dnnl::matmul(pd), pd.scratchpad_desc().data});
  std::unique_lock<std::shared_mutex> lock(g_packed_mu);
  if (PackedPrims().size() >= kMaxPackedPrims) PackedPrims().clear();
  return PackedPrims().try_emplace(key, std::move(entry)).first->second;
}
}  // namespace

namespace {
// y: [m, n] = x: [m, k] · W + bias on `prim` (a matmul over im.weights), x rounded to bf16
// first for bf16 weights unless it is bf16 already (x_bf16: uint16 bits); y f32, or bf16 bits
// when y_bf16 (the primitive's dst type). Throws dnnl::error.
void RunLinearPrimitive(const Linear::Impl& im, const dnnl::primitive& prim,
                        const dnnl_memory_desc_t& scratchpad, const void* x, bool x_bf16,
                        int64_t m, void* y, bool y_bf16) {
  const int64_t src_dims[2] = {m, im.k}, src_strides[2] = {im.k, 1};
  const int64_t dst_dims[2] = {m, im.n}, dst_strides[2] = {im.n, 1};
  void* src = const_cast<void*>(x);
  dnnl_data_type_t src_dt = x_bf16 ? dnnl_bf16 : dnnl_f32;
  if (im.weight_type == WeightType::kBF16 && !x_bf16) {
    const int64_t count = m * im.k;
    auto* xb = static_cast<uint16_t*>(ThreadScratch(ScratchSlot::kConvert, count * 2));
    Kernels().narrow_bf16(static_cast<const float*>(x), count, xb);
    src = xb;
    src_dt = dnnl_bf16;
  }
  dnnl_exec_arg_t args[5];
  int nargs = 0;
  args[nargs++] = {DNNL_ARG_SRC,
                   ThreadMemory(MemRole::kSrc, PlainDesc(2, src_dims, src_strides, src_dt), src)};
  args[nargs++] = {DNNL_ARG_WEIGHTS, im.weights.get()};
  if (im.bias) args[nargs++] = {DNNL_ARG_BIAS, im.bias.get()};
  args[nargs++] = {DNNL_ARG_DST,
                   ThreadMemory(MemRole::kDst,
                                PlainDesc(2, dst_dims, dst_strides, y_bf16 ? dnnl_bf16 : dnnl_f32),
                                y)};
  ExecuteOnThread(prim, scratchpad, args, nargs);
}
}  // namespace

Status Linear::ForwardPacked(const float* x, int64_t m, float* y, LinearEpilogue epilogue) const {
  const Impl& im = *impl_;
  return GuardDnnl("linear: forward", [&]() -> Status {
    const std::shared_ptr<const MatMulEntry> mm = PackedPrim(im, m, epilogue);
    RunLinearPrimitive(im, mm->prim, mm->scratchpad, x, false, m, y, false);
    return OkStatus();
  });
}

bool Linear::bf16_activations() const {
  return (impl_->packed && impl_->weight_type == WeightType::kBF16) || impl_->amx;
}

Status Linear::ForwardAmx(const void* x, bool x_bf16, int64_t m, float* y, uint16_t* y16,
                          LinearEpilogue epilogue) const {
  const Impl& im = *impl_;
  if (epilogue != LinearEpilogue::kNone && epilogue != LinearEpilogue::kGeluErf &&
      epilogue != LinearEpilogue::kAccumulate) {
    return InvalidArgument("linear: unknown epilogue {}", static_cast<int>(epilogue));
  }
  uint16_t* xt = nullptr;
  COSY_RETURN_IF_ERROR(GuardDnnl("linear: forward", [&]() -> Status {  // bad_alloc -> Status
    xt = static_cast<uint16_t*>(
        ThreadScratch(ScratchSlot::kConvert, GemmAmxXElems(m, im.k) * sizeof(uint16_t)));
    return OkStatus();
  }));
  if (x_bf16) {
    im.amx_pack_x_bf16(static_cast<const uint16_t*>(x), m, im.k, xt);
  } else {
    im.amx_pack_x(static_cast<const float*>(x), m, im.k, xt);
  }
  im.amx_gemm(xt, m, im.k, im.w_amx.data(), im.n, im.BiasPtr(), y, y16,
              static_cast<GemmEpilogue>(epilogue));
  return OkStatus();
}

Status Linear::ForwardToBf16(const float* x, int64_t m, uint16_t* y,
                             LinearEpilogue epilogue) const {
  if (!bf16_activations()) {
    return Unsupported("linear: bf16 activations need bf16 weights in a blocked GEMM layout");
  }
  if (epilogue == LinearEpilogue::kAccumulate) {
    return InvalidArgument("linear: a bf16 output cannot accumulate");
  }
  if (m <= 0) return InvalidArgument("linear: m must be > 0, got {}", m);
  if (x == nullptr || y == nullptr) return InvalidArgument("linear: x and y must not be null");
  const Impl& im = *impl_;
  if (im.amx) return ForwardAmx(x, false, m, nullptr, y, epilogue);
  return GuardDnnl("linear: forward", [&]() -> Status {
    const std::shared_ptr<const MatMulEntry> mm = PackedPrim(im, m, epilogue, true);
    RunLinearPrimitive(im, mm->prim, mm->scratchpad, x, false, m, y, true);
    return OkStatus();
  });
}

Status Linear::ForwardFromBf16(const uint16_t* x, int64_t m, float* y,
                               LinearEpilogue epilogue) const {
  if (!bf16_activations()) {
    return Unsupported("linear: bf16 activations need bf16 weights in a blocked GEMM layout");
  }
  if (m <= 0) return InvalidArgument("linear: m must be > 0, got {}", m);
  if (x == nullptr || y == nullptr) return InvalidArgument("linear: x and y must not be null");
  const Impl& im = *impl_;
  if (im.amx) return ForwardAmx(x, true, m, y, nullptr, epilogue);
  return GuardDnnl("linear: forward", [&]() -> Status {
    const std::shared_ptr<const MatMulEntry> mm = PackedPrim(im, m, epilogue);
    RunLinearPrimitive(im, mm->prim, mm->scratchpad, x, true, m, y, false);
    return OkStatus();
  });
}

static_assert(static_cast<int>(LinearEpilogue::kGeluErf) ==
                  static_cast<int>(GemmEpilogue::kGeluErf) &&
              static_cast<int>(LinearEpilogue::kAccumulate) ==
                  static_cast<int>(GemmEpilogue::kAccumulate));

Status Linear::Forward(const float* x, int64_t m, float* y, LinearEpilogue epilogue) const {
  if (m <= 0) return InvalidArgument("linear: m must be > 0, got {}", m);
  if (x == nullptr || y == nullptr) return InvalidArgument("linear: x and y must not be null");
  if (impl_->packed) return ForwardPacked(x, m, y, epilogue);
  if (impl_->amx) return ForwardAmx(x, false, m, y, nullptr, epilogue);
  if (impl_->i16) return ForwardI16(x, m, y, epilogue);
  if (impl_->panels) {  // the panel GEMM applies the epilogue as it stores each output
    if (epilogue != LinearEpilogue::kNone && epilogue != LinearEpilogue::kGeluErf &&
        epilogue != LinearEpilogue::kAccumulate) {
      return InvalidArgument("linear: unknown epilogue {}", static_cast<int>(epilogue));
    }
    Kernels().gemm_panels_f32(x, m, impl_->k, impl_->w_panels.data(), impl_->n, impl_->BiasPtr(), y,
                              static_cast<GemmEpilogue>(epilogue));
    return OkStatus();
  }
  switch (epilogue) {
    case LinearEpilogue::kNone:
      return ForwardPlain(x, m, y);
    case LinearEpilogue::kGeluErf:
      COSY_RETURN_IF_ERROR(ForwardPlain(x, m, y));
      return GeluErf(y, m * impl_->n, y);
    case LinearEpilogue::kAccumulate: {
      const int64_t count = m * impl_->n;
      auto* t = static_cast<float*>(ThreadScratch(ScratchSlot::kEpilogue, count * sizeof(float)));
      COSY_RETURN_IF_ERROR(ForwardPlain(x, m, t));
      for (int64_t i = 0; i < count; ++i) y[i] += t[i];
      return OkStatus();
    }
  }
  return InvalidArgument("linear: unknown epilogue {}", static_cast<int>(epilogue));
}

// Forward without an epilogue on the non-blocked paths.
Status Linear::ForwardPlain(const float* x, int64_t m, float* y) const {
  const Impl& im = *impl_;
  const float* bias = im.BiasPtr();
  if (im.i16) return ForwardI16(x, m, y, LinearEpilogue::kNone);
  if (im.panels) {
    Kernels().gemm_panels_f32(x, m, im.k, im.w_panels.data(), im.n, bias, y, GemmEpilogue::kNone);
    return OkStatus();
  }
  if (m <= kGemvMaxM) {  // memory bound: one pass over W beats oneDNN's per-call packing
    switch (im.weight_type) {
      case WeightType::kF32:
        return GemvF32(x, static_cast<const float*>(im.weights.get_data_handle()), bias, y, m,
                       im.n, im.k);
      case WeightType::kInt8:
        if (!im.w_i8_amx.empty()) return ForwardInt8AmxRows(x, m, y);
        if (Kernels().gemv_i8_i16_rows != nullptr && !im.w_i8.empty()) {
          return ForwardInt8I16Rows(x, m, y);
        }
        return GemvI8(x, im.w_i8.data(), im.scales.data(), bias, y, m, im.n, im.k);
      case WeightType::kBF16: {
        const uint16_t* w = im.tiles
                                ? im.w_bf16.data()
                                : static_cast<const uint16_t*>(im.weights.get_data_handle());
        auto* xb = static_cast<uint16_t*>(ThreadScratch(ScratchSlot::kConvert, m * im.k * 2));
        return GemvBF16(x, w, bias, y, m, im.n, im.k, xb);
      }
      case WeightType::kInt16:
        break;  // taken above
    }
  }
  if (im.tiles && im.weight_type == WeightType::kInt8) {
    const KernelTable& kt = Kernels();
    if (kt.gemm_amx_bf16_scaled != nullptr && AmxGemmEnabled()) {
      return ForwardInt8AmxTiles(x, m, y);
    }
    if (Int8OnAmxMatmul()) return ForwardInt8Bf16Tiles(GetBf16TileMatMul(), x, m, y);
    if (kt.gemm_i8_bf16 != nullptr) {
      return detail::TileForwardInt8(kt, im.w_i8.data(), im.scales.data(), bias, im.n, im.k, x, m,
                                     y);
    }
    if (kt.gemm_i8_i16 != nullptr && !im.w_i8.empty()) {
      return detail::TileForwardInt8I16(kt, im.w_i8.data(), im.scales.data(), bias, im.n, im.k, x,
                                        m, y);
    }
    if (kt.gemm_i8_f32 != nullptr) {
      return detail::TileForwardInt8F32(kt, im.w_i8.data(), im.scales.data(), bias, im.n, im.k, x,
                                        m, y);
    }
    if (const Bf16TileMatMul* mm = GetBf16TileMatMul()) return ForwardInt8Bf16Tiles(mm, x, m, y);
  }
  if (im.tiles && im.weight_type == WeightType::kBF16 && Kernels().gemm_bf16_f32 != nullptr) {
    return detail::TileForwardBf16F32(Kernels(), im.w_bf16.data(), bias, im.n, im.k, x, m, y);
  }
  if (im.tiles) {
    // y[:, j0 : j0 + rows] = x · W[j0 : j0 + rows]^T + bias[j0 : ...], W rows widened to f32.
    return GuardDnnl("linear: forward", [&]() -> Status {
      const int64_t tile = TileRows(im.n, im.k);
      auto* wf = static_cast<float*>(ThreadScratch(ScratchSlot::kConvertWeights, tile * im.k * 4));
      // x rounded to bf16, as in the other paths (bf16 weights; int8 on the bf16 matmul below)
      if (im.weight_type == WeightType::kBF16 || im.weight_type == WeightType::kInt8) {
        const int64_t count = m * im.k;
        auto* xr = static_cast<float*>(ThreadScratch(ScratchSlot::kConvert, count * 6));
        auto* xb = reinterpret_cast<uint16_t*>(xr + count);
        Kernels().narrow_bf16(x, count, xb);
        Kernels().widen_16(xb, true, count, xr);
        x = xr;
      }
      for (int64_t j0 = 0; j0 < im.n; j0 += tile) {
        const int64_t rows = std::min(tile, im.n - j0);
        im.WidenRows(j0, rows, wf);
        MatMulParams p = LinearForwardParams(m, rows, im.k);
        p.ldc = im.n;
        COSY_RETURN_IF_ERROR(MatMul(p, x, wf, bias ? bias + j0 : nullptr, y + j0));
      }
      return OkStatus();
    });
  }
  if (im.weight_type == WeightType::kF32 && Kernels().gemm_f32 != nullptr) {
    // f32 row-major W at many rows: the AVX-512 / AVX2 register tile (oneDNN's run-time-M f32
    // matmul reaches about half the FMA peak at the LM's 64-192 prefill rows on AVX-512)
    return detail::TileForwardF32(Kernels(),
                                  static_cast<const float*>(im.weights.get_data_handle()), bias,
                                  im.n, im.k, x, m, y);
  }
  return GuardDnnl("linear: forward", [&]() -> Status {
    RunLinearPrimitive(im, im.prim, im.scratchpad, x, false, m, y, false);
    return OkStatus();
  });
}

}  // namespace cosyflow::kernels::cpu

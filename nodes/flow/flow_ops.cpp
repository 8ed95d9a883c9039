// Flow building blocks: arena, im2col convs, positional table, attention cores.
#include "nodes/flow/flow_ops.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include <omp.h>

#include "runtime/kernels/cpu/attention.h"
#include "runtime/warm_pages.h"
#include "runtime/kernels/cpu/softmax.h"

namespace cosyflow::flow {

namespace cpu = kernels::cpu;

// ---- Arena ---------------------------------------------------------------------------------

namespace {
constexpr size_t kAlignFloats = 16;  // 64 bytes
size_t RoundUp(size_t n) { return (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats; }
}  // namespace

Arena::Block Arena::NewBlock(size_t floats) {
  Block b;
  b.size = RoundUp(floats);
  const size_t bytes = (b.size + kAlignFloats) * sizeof(float);
  if (bytes >= (size_t{1} << 20)) {
    auto m = WarmPages::Acquire(bytes);
    if (m.ok()) {  // else the heap below (which reports exhaustion as bad_alloc)
      const WarmPages::Mapping mapping = *m;
      b.holder = std::shared_ptr<void>(mapping.base, [mapping](void*) {
        WarmPages::Release(mapping, mapping.bytes);
      });
    }
  }
  if (b.holder == nullptr) b.holder = std::shared_ptr<void>(new float[b.size + kAlignFloats], std::default_delete<float[]>());
  const uintptr_t addr = reinterpret_cast<uintptr_t>(b.holder.get());
  b.base = reinterpret_cast<float*>((addr + 63) & ~uintptr_t{63});
  return b;
}

void Arena::Reserve(size_t floats) {
  if (capacity() >= floats) return;
  blocks_.clear();
  blocks_.push_back(NewBlock(floats));
  total_used_ = 0;
}

size_t Arena::capacity() const {
  size_t c = 0;
  for (const auto& b : blocks_) c += b.size;
  return c;
}

float* Arena::Alloc(size_t floats) {
  const size_t n = RoundUp(std::max<size_t>(floats, 1));
  for (auto& b : blocks_) {
    if (b.used + n <= b.size) {
      float* p = b.base + b.used;
      b.used += n;
      total_used_ += n;
      high_water_ = std::max(high_water_, total_used_);
      return p;
    }
  }
  blocks_.push_back(NewBlock(std::max(n, capacity())));
  return Alloc(floats);
}

float* Arena::AllocZero(size_t floats) {
  float* p = Alloc(floats);
  std::memset(p, 0, floats * sizeof(float));
  return p;
}

Arena::Mark Arena::GetMark() const {
  Mark m;
  m.total = total_used_;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    if (blocks_[i].used > 0) {
      m.block = i;
      m.used = blocks_[i].used;
    }
  }
  return m;
}

void Arena::Rewind(const Mark& m) {
  for (size_t i = 0; i < blocks_.size(); ++i) {
    if (i > m.block) blocks_[i].used = 0;
    if (i == m.block) blocks_[i].used = m.used;
  }
  total_used_ = m.total;
}

void Arena::Reset() {
  if (blocks_.size() > 1) {
    const size_t want = std::max(capacity(), high_water_);
    blocks_.clear();
    blocks_.push_back(NewBlock(want));
  }
  for (auto& b : blocks_) b.used = 0;
  total_used_ = 0;
}

// ---- Conv1dTm ------------------------------------------------------------------------------

Result<Conv1dTm> Conv1dTm::Create(const float* w, const float* bias, int64_t cout, int64_t cin,
                                  int64_t k, WeightType wt) {
  std::vector<float> re(static_cast<size_t>(cout * cin * k));
  for (int64_t o = 0; o < cout; ++o) {
    for (int64_t c = 0; c < cin; ++c) {
      for (int64_t j = 0; j < k; ++j) re[(o * k + j) * cin + c] = w[(o * cin + c) * k + j];
    }
  }
  COSY_ASSIGN_OR_RETURN(auto lin, cpu::Linear::Create(re.data(), bias, cout, k * cin, wt,
                                                      cpu::WeightLayout::kGemm));
  Conv1dTm conv;
  conv.lin_ = std::move(lin);
  conv.cout_ = cout;
  conv.cin_ = cin;
  conv.k_ = k;
  return conv;
}

namespace {

// im2col + GEMM; taps before frame 0 read `ctx` ([batch, k - 1, cin]) or zeros when null.
Status ConvIm2col(const kernels::cpu::Linear& lin, int64_t k, int64_t cin, const float* x,
                  int64_t batch, int64_t t_in, int64_t left_pad, const float* ctx, Arena& arena,
                  float* y) {
  const int64_t t_out = t_in + left_pad - k + 1;
  if (t_out <= 0) return InvalidArgument("conv1d: input of {} frames is shorter than k {}", t_in, k);
  if (k == 1 && left_pad == 0) return lin.Forward(x, batch * t_in, y);
  float* col = arena.Alloc(static_cast<size_t>(batch * t_out * k * cin));
  const size_t frame = static_cast<size_t>(cin) * sizeof(float);
  for (int64_t b = 0; b < batch; ++b) {
    const float* xb = x + b * t_in * cin;
    for (int64_t t = 0; t < t_out; ++t) {
      float* row = col + (b * t_out + t) * k * cin;
      for (int64_t j = 0; j < k; ++j) {
        const int64_t src = t + j - left_pad;  // input frame feeding tap j
        if (src >= t_in) {
          std::memset(row + j * cin, 0, frame);
        } else if (src >= 0) {
          std::memcpy(row + j * cin, xb + src * cin, frame);
        } else if (ctx != nullptr) {  // left_pad == k - 1: ctx row k - 1 + src
          std::memcpy(row + j * cin, ctx + (b * (k - 1) + (k - 1 + src)) * cin, frame);
        } else {
          std::memset(row + j * cin, 0, frame);
        }
      }
    }
  }
  return lin.Forward(col, batch * t_out, y);
}

}  // namespace

Status Conv1dTm::Forward(const float* x, int64_t batch, int64_t t_in, int64_t left_pad,
                         Arena& arena, float* y) const {
  return ConvIm2col(*lin_, k_, cin_, x, batch, t_in, left_pad, nullptr, arena, y);
}

Status Conv1dTm::ForwardWithContext(const float* x, int64_t batch, int64_t t_in, const float* ctx,
                                    Arena& arena, float* y) const {
  return ConvIm2col(*lin_, k_, cin_, x, batch, t_in, k_ - 1, ctx, arena, y);
}

// ---- Positional table ----------------------------------------------------------------------

void RelPositionRows(int64_t r_first, int64_t count, int64_t d, float* out) {
  // div_term in f32 as torch: exp(arange(0, d, 2) * (-ln(10000) / d)).
  const float c = static_cast<float>(-std::log(10000.0) / static_cast<double>(d));
  std::vector<float> w(static_cast<size_t>(d / 2));
  for (int64_t m = 0; m < d / 2; ++m) w[m] = std::exp(static_cast<float>(2 * m) * c);
  for (int64_t k = 0; k < count; ++k) {
    const int64_t r = r_first + k;
    const float pos = static_cast<float>(r < 0 ? -r : r);
    float* row = out + k * d;
    for (int64_t m = 0; m < d / 2; ++m) {
      const float a = pos * w[m];  // f32 product, as torch's position * div_term
      const double s = std::sin(static_cast<double>(a));
      row[2 * m] = static_cast<float>(r < 0 ? -s : s);
      row[2 * m + 1] = static_cast<float>(std::cos(static_cast<double>(a)));
    }
  }
}

void RelPositionTable(int64_t t, int64_t d, float* out) {
  // Row k is PE(t - 1 - k): the rows of r = t - 1 .. -(t - 1), written in that order.
  for (int64_t k = 0; k < 2 * t - 1; ++k) RelPositionRows(t - 1 - k, 1, d, out + k * d);
}

// ---- Attention -----------------------------------------------------------------------------

namespace {

// src: [t, ld] row-major, heads of dh channels starting at column `col0` -> dst: [heads, t, dh].
void GatherHeads(const float* src, int64_t ld, int64_t col0, int64_t t, int64_t heads, int64_t dh,
                 float* dst) {
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < t; ++i) {
      std::memcpy(dst + (h * t + i) * dh, src + i * ld + col0 + h * dh,
                  static_cast<size_t>(dh) * sizeof(float));
    }
  }
}

// src: [heads, t, dh] -> dst: [t, heads * dh].
void ScatterHeads(const float* src, int64_t t, int64_t heads, int64_t dh, float* dst) {
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < t; ++i) {
      std::memcpy(dst + i * heads * dh + h * dh, src + (h * t + i) * dh,
                  static_cast<size_t>(dh) * sizeof(float));
    }
  }
}


// The rel-pos attention core for `n` query rows at absolute positions q_offset.. against `kv`
// keys: q rows in q_src (row stride q_ld), keys/values in k_src/v_src (row stride kv_ld), the
// projected positional row of distance r = query - key at p_rows[p_zero + p_step * r].
// scores = ((q + u) k + (q + v) p(r)) / sqrt(dk), softmax over the allowed keys, zeros elsewhere.
Status RelPosCore(const float* q_src, int64_t q_ld, const float* k_src, const float* v_src,
                  int64_t kv_ld, const float* p_rows, int64_t p_count, int64_t p_zero,
                  int64_t p_step, const float* bias_u, const float* bias_v, int64_t q_offset,
                  int64_t n, int64_t kv, int64_t heads, int64_t dk, int64_t chunk, Arena& arena,
                  float* out) {
  const int64_t d = heads * dk;
  const size_t qf = static_cast<size_t>(heads * n * dk), kf = static_cast<size_t>(heads * kv * dk);
  float* q = arena.Alloc(qf);
  float* qu = arena.Alloc(qf);
  float* k = arena.Alloc(kf);
  float* v = arena.Alloc(kf);
  float* pp = arena.Alloc(static_cast<size_t>(heads * p_count * dk));
  GatherHeads(q_src, q_ld, 0, n, heads, dk, q);
  GatherHeads(k_src, kv_ld, 0, kv, heads, dk, k);
  GatherHeads(v_src, kv_ld, 0, kv, heads, dk, v);
  GatherHeads(p_rows, d, 0, p_count, heads, dk, pp);
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < n; ++i) {
      float* qrow = q + (h * n + i) * dk;
      float* urow = qu + (h * n + i) * dk;
      for (int64_t c = 0; c < dk; ++c) {
        urow[c] = qrow[c] + bias_u[h * dk + c];
        qrow[c] = qrow[c] + bias_v[h * dk + c];  // q now holds q + bias_v
      }
    }
  }
  float* ac = arena.Alloc(static_cast<size_t>(heads * n * kv));
  float* bd = arena.Alloc(static_cast<size_t>(heads * n * p_count));
  COSY_RETURN_IF_ERROR(cpu::BatchedMatMul(qu, k, ac, heads, n, kv, dk, false, true, false));
  COSY_RETURN_IF_ERROR(cpu::BatchedMatMul(q, pp, bd, heads, n, p_count, dk, false, true, false));
  // Scores (ac + bd) / sqrt(dk) and the row softmax over the visible keys (zeros after them),
  // rows spread over the team: with the whole sequence (the finalize call: 8 heads x 650 x 650)
  // this was a serial scalar loop of ~20 M exps per call.
  const float scale = std::sqrt(static_cast<float>(dk));
  const int64_t rows = heads * n;
  constexpr int kMaxThreads = 64;
  std::array<Status, kMaxThreads> status;
  const int nt = omp_in_parallel() || rows * kv < (int64_t{1} << 15)
                     ? 1
                     : std::min(omp_get_max_threads(), kMaxThreads);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t hi = 0; hi < rows; ++hi) {
    const int64_t h = hi / n, i = hi % n, a = q_offset + i;
    float* row = ac + hi * kv;
    const float* bdrow = bd + (h * n + i) * p_count + p_zero + p_step * a;  // + (-p_step) j
    const int64_t limit = chunk > 0 ? std::min(kv, (a / chunk + 1) * chunk) : kv;
    if (p_step < 0) {
      for (int64_t j = 0; j < limit; ++j) row[j] = (row[j] + bdrow[j]) / scale;
    } else {
      for (int64_t j = 0; j < limit; ++j) row[j] = (row[j] + bdrow[-j]) / scale;
    }
    Status& st = status[static_cast<size_t>(omp_get_thread_num())];
    if (st.ok()) st = cpu::Softmax(row, 1, limit, row);
    for (int64_t j = limit; j < kv; ++j) row[j] = 0.0f;
  }
  for (int t = 0; t < nt; ++t) COSY_RETURN_IF_ERROR(status[static_cast<size_t>(t)]);
  float* o = arena.Alloc(qf);
  COSY_RETURN_IF_ERROR(cpu::BatchedMatMul(ac, v, o, heads, n, dk, kv, false, false, false));
  ScatterHeads(o, n, heads, dk, out);
  return OkStatus();
}

}  // namespace

Status RelPosAttention(const float* qkv, const float* p, const float* bias_u, const float* bias_v,
                       int64_t t, int64_t heads, int64_t dk, int64_t chunk, Arena& arena,
                       float* out) {
  const int64_t d = heads * dk;
  // The table runs from r = t - 1 down to -(t - 1): row of r = (t - 1) - r.
  return RelPosCore(qkv, 3 * d, qkv + d, qkv + 2 * d, 3 * d, p, 2 * t - 1, t - 1, -1, bias_u,
                    bias_v, 0, t, t, heads, dk, chunk, arena, out);
}

Status RelPosAttentionCached(const float* qkv, const float* k_cache, const float* v_cache,
                             const float* p_rows, int64_t p_first, int64_t p_count,
                             const float* bias_u, const float* bias_v, int64_t q_offset,
                             int64_t n, int64_t heads, int64_t dk, int64_t chunk, Arena& arena,
                             float* out) {
  const int64_t d = heads * dk, kv = q_offset + n;
  const int64_t r_max = q_offset + n - 1, r_min = chunk > 0 ? -(chunk - 1) : -(kv - 1);
  if (r_min < p_first || r_max >= p_first + p_count) {
    return InvalidArgument("flow encoder: positions {}..{} outside the cached {}..{}", r_min, r_max,
                           p_first, p_first + p_count - 1);
  }
  // Rows run upwards from r = p_first: row of r = r - p_first.
  return RelPosCore(qkv, 3 * d, k_cache, v_cache, d, p_rows, p_count, -p_first, 1, bias_u, bias_v,
                    q_offset, n, kv, heads, dk, chunk, arena, out);
}

namespace {

// Attention of `n` query rows (q: rows 3 * heads * dh apart, batch rows n of them apart)
// against `kv_len` keys/values (rows of stride kv_row, batch rows kv_batch apart), one fused
// kernel call per (batch row, head), the units spread over the OpenMP team. chunk > 0: absolute
// row a = q_offset + i sees keys < (a / chunk + 1) * chunk; chunk == 0: every key. The kernel
// packs the keys itself (transposed panels) and, with bf16 products, the values too; in f32 the
// values are first packed into contiguous [kv_len, dh] rows here: read in place they sit kv_row
// floats apart (a page or more per row for long sequences), and every block of query rows
// rescans them.
// T = uint16_t: k and v are bf16 bits (requires bf16 products).
template <class T>
Status HeadsAttention(const float* q, const T* k, const T* v, int64_t batch, int64_t n,
                      int64_t heads, int64_t dh, int64_t kv_len, int64_t kv_row, int64_t kv_batch,
                      int64_t q_offset, int64_t chunk, AttentionProducts products, Arena& arena,
                      float* out) {
  const bool bf16 = products == AttentionProducts::kBf16;
  const int64_t inner = heads * dh, units = batch * heads;
  cpu::AttentionParams p;
  p.q_heads = 1;
  p.kv_heads = 1;
  p.q_len = n;
  p.kv_len = kv_len;
  p.head_dim = dh;
  p.mask = chunk > 0 ? cpu::AttentionMask::kChunkCausal : cpu::AttentionMask::kNone;
  p.chunk_size = chunk;
  p.q_offset = q_offset;
  p.q_head_stride = dh;
  p.q_row_stride = 3 * inner;
  p.k_head_stride = p.v_head_stride = dh;
  p.k_row_stride = p.v_row_stride = kv_row;
  p.out_head_stride = dh;
  p.out_row_stride = inner;
  p.bf16 = bf16;
  p.int16 = products == AttentionProducts::kInt16;
  // (the int16 kernel quantizes the values into its own panels)
  const bool pack_v = !bf16 && !p.int16 && sizeof(T) == sizeof(float);
  cpu::AttentionParams packed = p;
  if (pack_v) packed.v_row_stride = dh;
  const int64_t kernel_scratch = cpu::AttentionScratchFloats(p);
  const int64_t per = kernel_scratch + (pack_v ? kv_len * dh : 0);
  constexpr int kMaxThreads = 64;
  const int nt = omp_in_parallel() ? 1
                                   : static_cast<int>(std::min<int64_t>(
                                         {static_cast<int64_t>(omp_get_max_threads()), units, kMaxThreads}));
  float* scratch = arena.Alloc(static_cast<size_t>(per * std::max(nt, 1)));
  std::array<Status, kMaxThreads> status;  // first error per thread (no allocation per call)
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t u = 0; u < units; ++u) {
    const int64_t b = u / heads, h = u % heads;
    const int id = omp_get_thread_num();
    if (!status[static_cast<size_t>(id)].ok()) continue;
    float* ws = scratch + per * id;
    const T* ks = k + b * kv_batch + h * dh;
    const T* vs = v + b * kv_batch + h * dh;
    if (pack_v) {
      T* vp = reinterpret_cast<T*>(ws + kernel_scratch);
      for (int64_t j = 0; j < kv_len; ++j) {
        std::memcpy(vp + j * dh, vs + j * kv_row, static_cast<size_t>(dh) * sizeof(T));
      }
      vs = vp;
    }
    status[static_cast<size_t>(id)] =
        cpu::Attention(packed, q + b * n * 3 * inner + h * dh, ks, vs,
                       out + b * n * inner + h * dh, ws, kernel_scratch);
  }
  for (const Status& st : status) COSY_RETURN_IF_ERROR(st);
  return OkStatus();
}

}  // namespace

Status SdpaAttention(const float* qkv, int64_t batch, int64_t t, int64_t heads, int64_t dh,
                     int64_t chunk, AttentionProducts products, Arena& arena, float* out) {
  const int64_t inner = heads * dh;
  return HeadsAttention(qkv, qkv + inner, qkv + 2 * inner, batch, t, heads, dh, t, 3 * inner,
                        t * 3 * inner, 0, chunk, products, arena, out);
}

Status CachedChunkAttention(const float* qkv, int64_t batch, int64_t n, int64_t heads, int64_t dh,
                            const float* k_cache, const float* v_cache, int64_t cap,
                            int64_t q_offset, int64_t chunk, AttentionProducts products,
                            Arena& arena, float* out) {
  const int64_t inner = heads * dh;
  if (q_offset + n > cap) {
    return InvalidArgument("flow attention: {} keys exceed the cache capacity {}", q_offset + n, cap);
  }
  return HeadsAttention(qkv, k_cache, v_cache, batch, n, heads, dh, q_offset + n, inner,
                        cap * inner, q_offset, chunk, products, arena, out);
}

Status CachedChunkAttention(const float* qkv, int64_t batch, int64_t n, int64_t heads, int64_t dh,
                            const uint16_t* k_cache, const uint16_t* v_cache, int64_t cap,
                            int64_t q_offset, int64_t chunk, Arena& arena, float* out) {
  const int64_t inner = heads * dh;
  if (q_offset + n > cap) {
    return InvalidArgument("flow attention: {} keys exceed the cache capacity {}", q_offset + n, cap);
  }
  return HeadsAttention(qkv, k_cache, v_cache, batch, n, heads, dh, q_offset + n, inner,
                        cap * inner, q_offset, chunk, AttentionProducts::kBf16, arena, out);
}

std::vector<float> ConcatRows(std::initializer_list<std::pair<const float*, int64_t>> parts,
                              int64_t k) {
  std::vector<float> out;
  for (const auto& [p, n] : parts) out.insert(out.end(), p, p + n * k);
  return out;
}

}  // namespace cosyflow::flow

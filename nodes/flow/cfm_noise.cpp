// Torch-compatible normal generator (mt19937 + 16-wide Box-Muller with Cephes log/sincos).
#include "nodes/flow/cfm_noise.h"

#include <cmath>
#include <cstring>
#include <random>

namespace cosyflow::flow {
namespace {

uint32_t BitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

// x: one f32 > 0. Natural log, Cephes single-precision polynomial (the avx_mathfun log256_ps
// algorithm torch uses), with the fused multiply-adds GCC forms from that vector code.
float CephesLog(float x) {
  x = std::max(x, FromBits(0x00800000u));  // smallest normal: no denormal inputs
  const int exponent = static_cast<int>(BitsOf(x) >> 23) - 127;
  x = FromBits((BitsOf(x) & ~0x7f800000u) | BitsOf(0.5f));  // mantissa in [0.5, 1)
  float e = static_cast<float>(exponent) + 1.0f;
  const bool below = x < 0.707106781186547524f;
  const float tmp = below ? x : 0.0f;
  x = x - 1.0f;
  if (below) e = e - 1.0f;
  x = x + tmp;
  const float z = x * x;
  static constexpr float kP[9] = {7.0376836292E-2f,  -1.1514610310E-1f, 1.1676998740E-1f,
                                  -1.2420140846E-1f, 1.4249322787E-1f,  -1.6668057665E-1f,
                                  2.0000714765E-1f,  -2.4999993993E-1f, 3.3333331174E-1f};
  float y = kP[0];
  for (int i = 1; i < 9; ++i) y = std::fma(y, x, kP[i]);
  y = y * x;
  y = std::fma(y, z, e * -2.12194440e-4f);
  y = std::fma(z, -0.5f, y);
  x = x + y;
  return std::fma(e, 0.693359375f, x);
}

// x: one f32. sin and cos, Cephes single precision (avx_mathfun sincos256_ps), same FMAs.
void CephesSinCos(float x_in, float* s, float* c) {
  uint32_t sign_sin = BitsOf(x_in) & 0x80000000u;
  float x = std::fabs(x_in);
  int j = static_cast<int>(x * 1.27323954473516f);  // 4 / pi
  j = (j + 1) & ~1;
  const float y = static_cast<float>(j);
  const uint32_t swap_sign_sin = static_cast<uint32_t>(j & 4) << 29;
  const bool poly_sin_is_second = (j & 2) == 0;
  x = std::fma(y, -0.78515625f, x);
  x = std::fma(y, -2.4187564849853515625e-4f, x);
  x = std::fma(y, -3.77489497744594108e-8f, x);
  const uint32_t sign_cos = static_cast<uint32_t>((~(j - 2)) & 4) << 29;
  sign_sin ^= swap_sign_sin;
  const float z = x * x;
  float yc = 2.443315711809948E-005f;
  yc = std::fma(yc, z, -1.388731625493765E-003f);
  yc = std::fma(yc, z, 4.166664568298827E-002f);
  yc = yc * z;
  yc = std::fma(yc, z, -(z * 0.5f));
  yc = yc + 1.0f;
  float ys = -1.9515295891E-4f;
  ys = std::fma(ys, z, 8.3321608736E-3f);
  ys = std::fma(ys, z, -1.6666654611E-1f);
  ys = ys * z;
  ys = std::fma(ys, x, x);
  const float sv = poly_sin_is_second ? ys : yc;
  const float cv = poly_sin_is_second ? yc : ys;
  *s = FromBits(BitsOf(sv) ^ sign_sin);
  *c = FromBits(BitsOf(cv) ^ sign_cos);
}

// data: [16] uniforms in [0, 1) -> 16 standard normals (in place).
void BoxMuller16(float* data) {
  const float two_pi = static_cast<float>(2.0 * M_PI);
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - data[j];
    const float u2 = data[j + 8];
    const float radius = std::sqrt(-2.0f * CephesLog(u1));
    float s, c;
    CephesSinCos(two_pi * u2, &s, &c);
    data[j] = radius * c;
    data[j + 8] = radius * s;
  }
}

float Uniform24(std::mt19937& gen) {
  return static_cast<float>(gen() & 0xFFFFFFu) / 16777216.0f;
}

}  // namespace

Result<std::vector<float>> TorchRandn(uint64_t seed, int64_t n) {
  if (n < 16) return InvalidArgument("TorchRandn: n must be >= 16 (torch's vector path), got {}", n);
  std::mt19937 gen(static_cast<std::mt19937::result_type>(seed));
  std::vector<float> out(static_cast<size_t>(n));
  for (auto& v : out) v = Uniform24(gen);
  for (int64_t i = 0; i + 16 <= n; i += 16) BoxMuller16(out.data() + i);
  if (n % 16 != 0) {
    float* tail = out.data() + n - 16;
    for (int i = 0; i < 16; ++i) tail[i] = Uniform24(gen);
    BoxMuller16(tail);
  }
  return out;
}

Result<std::vector<float>> MakeCfmNoise() { return TorchRandn(0, kCfmNoiseBins * kCfmNoiseFrames); }

}  // namespace cosyflow::flow

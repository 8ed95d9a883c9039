// Element types and devices of tensors, with f16/bf16 <-> f32 conversion helpers.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace cosyflow {

enum class DType : uint8_t { kF32, kF16, kBF16, kI32, kI64, kU8, kBool };
enum class Device : uint8_t { kCpu, kCuda };

constexpr size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kI32: return 4;
    case DType::kI64: return 8;
    case DType::kU8: return 1;
    case DType::kBool: return 1;
  }
  return 0;
}

std::string_view DTypeName(DType t);  // "f32", "f16", "bf16", "i32", "i64", "u8", "bool"
bool ParseDType(std::string_view name, DType* out);
std::string_view DeviceName(Device d);  // "cpu", "cuda"

// Maps a C++ element type to its DType.
template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kF32; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::kI32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::kI64; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::kU8; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::kBool; };

// bf16: upper 16 bits of an f32; conversion rounds to nearest even (NaN stays NaN).
inline uint16_t F32ToBF16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline float BF16ToF32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// IEEE half precision, round to nearest even, with subnormals, inf and NaN.
uint16_t F32ToF16(float f);
float F16ToF32(uint16_t h);

}  // namespace cosyflow

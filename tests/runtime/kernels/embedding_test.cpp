// Tests: embedding gather from f32 / bf16 / f16 tables, bounds checks.
#include "runtime/kernels/cpu/embedding.h"

#include <doctest/doctest.h>

#include <vector>

#include "runtime/dtype.h"
#include "runtime/kernels/ref/embedding.h"
#include "tests/runtime/kernels/kernel_test_util.h"

namespace cosyflow::kernels {
namespace {

using test::CheckClose;
using test::RandomVector;

TEST_CASE("Embedding: cpu gather matches ref for f32, bf16 and f16 tables (exact)") {
  for (int64_t dim : {1, 3, 17, 65, 896}) {
    const int64_t vocab = 37;
    auto table = RandomVector(vocab * dim, 1, -2.0f, 2.0f);
    std::vector<uint16_t> bf(table.size()), hf(table.size());
    for (size_t i = 0; i < table.size(); ++i) {
      bf[i] = F32ToBF16(table[i]);
      hf[i] = F32ToF16(table[i]);
    }
    const std::vector<int32_t> ids = {0, 36, 5, 5, 17, 1, 30};
    const std::vector<int64_t> ids64(ids.begin(), ids.end());
    const int64_t n = static_cast<int64_t>(ids.size());
    std::vector<float> yr(n * dim), yc(n * dim);
    struct Case {
      const void* t;
      DType dt;
    };
    for (Case c : {Case{table.data(), DType::kF32}, Case{bf.data(), DType::kBF16},
                   Case{hf.data(), DType::kF16}}) {
      REQUIRE(ref::EmbeddingGather(c.t, c.dt, vocab, dim, ids.data(), n, yr.data()).ok());
      REQUIRE(cpu::EmbeddingGather(c.t, c.dt, vocab, dim, ids64.data(), n, yc.data()).ok());
      CheckClose(yc, yr, 0.0, fmt::format("embedding {} dim {}", DTypeName(c.dt), dim));
    }
    // f32 rows are copied verbatim.
    REQUIRE(
        cpu::EmbeddingGather(table.data(), DType::kF32, vocab, dim, ids.data(), n, yc.data()).ok());
    for (int64_t i = 0; i < dim; ++i) CHECK(yc[1 * dim + i] == table[36 * dim + i]);
  }
}

TEST_CASE("Embedding: out-of-range ids and bad dtypes are Status errors") {
  std::vector<float> table(4 * 8), out(8 * 2);
  const int32_t bad[] = {1, 4};
  Status s = cpu::EmbeddingGather(table.data(), DType::kF32, 4, 8, bad, 2, out.data());
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kOutOfRange);
  CHECK(s.message().find("id 4 at position 1") != std::string::npos);
  const int64_t neg[] = {-1};
  CHECK_FALSE(ref::EmbeddingGather(table.data(), DType::kF32, 4, 8, neg, 1, out.data()).ok());
  const int32_t ok[] = {0};
  CHECK_FALSE(cpu::EmbeddingGather(table.data(), DType::kI32, 4, 8, ok, 1, out.data()).ok());
  CHECK_FALSE(cpu::EmbeddingGather(table.data(), DType::kF32, 4, 0, ok, 1, out.data()).ok());
}

}  // namespace
}  // namespace cosyflow::kernels

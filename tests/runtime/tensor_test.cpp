// Tests for Status/Result, dtype conversion and Tensor views/copies.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "runtime/dtype.h"
#include "runtime/logging.h"
#include "runtime/status.h"
#include "runtime/tensor.h"

namespace cosyflow {
namespace {

Result<int> ParsePositive(int v) {
  if (v <= 0) return InvalidArgument("value must be > 0, got {}", v);
  return v;
}

Status UsesMacros(int v, int* out) {
  COSY_ASSIGN_OR_RETURN(int x, ParsePositive(v));
  *out = x * 2;
  return OkStatus();
}

Status Chained(int v) {
  int out = 0;
  COSY_RETURN_IF_ERROR_CTX(UsesMacros(v, &out), "flow.options.token_hop");
  return OkStatus();
}

}  // namespace

TEST_CASE("Status: macros propagate errors with context") {
  int out = 0;
  CHECK(UsesMacros(3, &out).ok());
  CHECK(out == 6);
  Status s = Chained(-1);
  CHECK_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message() == "flow.options.token_hop: value must be > 0, got -1");
  CHECK(s.ToString() == "INVALID_ARGUMENT: flow.options.token_hop: value must be > 0, got -1");
}

TEST_CASE("Logging: embedder sink receives messages at or above the level") {
  std::vector<std::string> got;
  SetLogSink([&](LogLevel, std::string_view m) { got.emplace_back(m); });
  SetLogLevel(LogLevel::kInfo);
  Log(LogLevel::kDebug, "hidden {}", 1);
  Log(LogLevel::kInfo, "shown {}", 2);
  SetLogSink(nullptr);
  SetLogLevel(LogLevel::kWarning);
  REQUIRE(got.size() == 1);
  CHECK(got[0] == "shown 2");
  LogLevel l;
  CHECK(ParseLogLevel("debug", &l));
  CHECK(l == LogLevel::kDebug);
  CHECK_FALSE(ParseLogLevel("loud", &l));
}

TEST_CASE("DType: f16 and bf16 round trips") {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.333333f}) {
    float h = F16ToF32(F32ToF16(f));
    CHECK(std::fabs(h - f) <= std::fabs(f) * 1e-3f + 1e-7f);
  }
  CHECK(F16ToF32(F32ToF16(1e6f)) == INFINITY);
  CHECK(std::isnan(F16ToF32(F32ToF16(NAN))));
  CHECK(F32ToF16(1.0f) == 0x3c00);
  CHECK(F32ToBF16(1.0f) == 0x3f80);
  CHECK(BF16ToF32(F32ToBF16(3.140625f)) == 3.140625f);
  // Round to nearest even: 1 + 2^-8 is a tie between 1 and 1 + 2^-7 -> 1.
  CHECK(BF16ToF32(F32ToBF16(1.00390625f)) == 1.0f);
}

TEST_CASE("Tensor: views share storage and copies are contiguous") {
  std::vector<float> v(24);
  for (int i = 0; i < 24; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  auto t = Tensor::FromVector<float>({2, 3, 4}, v);
  REQUIRE(t.ok());
  CHECK(t->is_contiguous());
  CHECK(t->numel() == 24);

  auto s = t->Slice(2, 1, 3);
  REQUIRE(s.ok());
  CHECK(s->shape() == Dims{2, 3, 2});
  CHECK_FALSE(s->is_contiguous());
  CHECK(s->data<float>()[0] == 1.0f);

  auto tr = t->Transpose(0, 2);
  REQUIRE(tr.ok());
  CHECK(tr->shape() == Dims{4, 3, 2});
  auto c = tr->Contiguous();
  REQUIRE(c.ok());
  CHECK(c->is_contiguous());
  // c[k][j][i] == t[i][j][k] == i*12 + j*4 + k
  const float* cp = c->data<float>();
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 2; ++i) CHECK(cp[(k * 3 + j) * 2 + i] == static_cast<float>(i * 12 + j * 4 + k));

  auto sel = t->Select(1, 2);
  REQUIRE(sel.ok());
  CHECK(sel->shape() == Dims{2, 4});
  CHECK(sel->data<float>()[0] == 8.0f);

  auto r = t->Reshape({6, -1});
  REQUIRE(r.ok());
  CHECK(r->shape() == Dims{6, 4});
  CHECK(r->storage() == t->storage());
  CHECK_FALSE(tr->Reshape({24}).ok());  // non-contiguous view
  CHECK_FALSE(t->Reshape({5, 5}).ok());
  CHECK_FALSE(t->Slice(0, 1, 3).ok());

  const int order[] = {2, 0, 1};
  auto p = t->Permute(order);
  REQUIRE(p.ok());
  CHECK(p->shape() == Dims{4, 2, 3});
  auto u = t->Unsqueeze(1);
  REQUIRE(u.ok());
  CHECK(u->shape() == Dims{2, 1, 3, 4});
  auto sq = u->Squeeze(1);
  REQUIRE(sq.ok());
  CHECK(sq->shape() == t->shape());

  auto b = t->To(DType::kBF16);
  REQUIRE(b.ok());
  auto back = b->To(DType::kF32);
  REQUIRE(back.ok());
  CHECK(back->data<float>()[23] == 23.0f);
  auto i64 = t->To(DType::kI64);
  REQUIRE(i64.ok());
  CHECK(i64->data<int64_t>()[5] == 5);
}

TEST_CASE("Tensor: FromStorage rejects views outside the storage") {
  auto st = Storage::Allocate(16 * 4);
  REQUIRE(st.ok());
  CHECK(Tensor::FromStorage(*st, 0, {4, 4}, {4, 1}, DType::kF32).ok());
  CHECK_FALSE(Tensor::FromStorage(*st, 1, {4, 4}, {4, 1}, DType::kF32).ok());
  CHECK_FALSE(Tensor::FromStorage(*st, 0, {4, 5}, {5, 1}, DType::kF32).ok());
  CHECK(Tensor::FromStorage(*st, 100, {0, 4}, {4, 1}, DType::kF32).ok());
  CHECK(reinterpret_cast<uintptr_t>((*st)->data()) % kCpuAlignment == 0);
  CHECK_FALSE(Tensor::Empty({int64_t{1} << 40, 1 << 20}, DType::kF32).ok());
}

}  // namespace cosyflow

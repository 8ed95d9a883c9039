// Shared helpers of the ONNX kernels: the per-call buffer pool, small integer tensors,
// axes and numpy broadcasting.
#include <fmt/format.h>

#include <algorithm>

#include "runtime/onnx/ops.h"

namespace cosyflow::onnx::detail {

bool CheckedBytes(std::span<const int64_t> dims, size_t elem_size, int64_t limit, int64_t* bytes) {
  // Multiplied in order like Dims::Product, so a tensor that passes never overflows there
  // either (even one with a 0 dim after huge ones).
  int64_t b = static_cast<int64_t>(elem_size);
  for (int64_t d : dims) {
    if (d < 0 || __builtin_mul_overflow(b, d, &b)) return false;
  }
  if (b > limit) return false;
  *bytes = b;
  return true;
}

Result<Tensor> Arena::Alloc(const Dims& shape, DType dtype) {
  int64_t want = 0;
  if (!CheckedBytes({shape.begin(), shape.end()}, DTypeSize(dtype), max_bytes_, &want)) {
    return MakeError(StatusCode::kResourceExhausted,
                     "tensor {}{} exceeds the {}-byte limit of one tensor (or has a negative dim)",
                     DTypeName(dtype), shape.ToString(), max_bytes_);
  }
  const size_t bytes = std::max<size_t>(static_cast<size_t>(want), kCpuAlignment);
  std::shared_ptr<Storage> storage;
  auto it = free_.lower_bound(bytes);  // smallest released buffer that fits
  if (it != free_.end() && it->first <= 4 * bytes) {
    storage = std::move(it->second);
    free_bytes_ -= it->first;
    free_.erase(it);
  } else {
    // Not Storage::Allocate: every kernel writes all of its output, so skip the zero fill.
    void* p = AlignedAlloc(bytes);
    if (p == nullptr) return Internal("onnx: out of memory allocating {} bytes", bytes);
    std::shared_ptr<void> keeper(p, [](void* q) { AlignedFree(q); });
    storage = Storage::Wrap(static_cast<uint8_t*>(p), bytes, std::move(keeper), false);
  }
  return Tensor::FromStorage(std::move(storage), 0, shape, Tensor::ContiguousStrides(shape), dtype);
}

void Arena::Recycle(Tensor&& t) {
  if (!t.defined()) return;
  std::shared_ptr<Storage> s = t.storage();
  t = Tensor();
  // use_count 1: only our local copy is left (no slot, view, caller or model constant).
  if (s.use_count() == 1 && !s->read_only() && s->device() == Device::kCpu) {
    free_bytes_ += s->size();
    free_.emplace(s->size(), std::move(s));
  }
}

Result<std::vector<int64_t>> ToInt64s(const Tensor& t, const char* what) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::kI64) {
    std::copy_n(t.data<int64_t>(), v.size(), v.begin());
  } else if (t.dtype() == DType::kI32) {
    std::copy_n(t.data<int32_t>(), v.size(), v.begin());
  } else {
    return InvalidArgument("{} must be int32/int64, got {}", what, ShapeStr(t));
  }
  return v;
}

Result<double> ToScalar(const Tensor& t, const char* what) {
  if (t.numel() != 1) return InvalidArgument("{} must hold one value, got {}", what, ShapeStr(t));
  double v = 0;
  COSY_RETURN_IF_ERROR(VisitDType(t.dtype(), [&](auto tag) -> Status {
    v = static_cast<double>(t.data<decltype(tag)>()[0]);
    return OkStatus();
  }));
  return v;
}

Result<int> NormAxis(int64_t axis, int rank, const char* what) {
  if (axis < -rank || axis >= std::max(rank, 1)) {
    return InvalidArgument("{} {} is out of range for rank {}", what, axis, rank);
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

Result<Dims> BroadcastShape(std::span<const Dims> shapes) {
  int rank = 0;
  for (const Dims& s : shapes) rank = std::max(rank, s.size());
  Dims out;
  for (int i = 0; i < rank; ++i) out.push_back(1);
  for (const Dims& s : shapes) {
    const int off = rank - s.size();
    for (int i = 0; i < s.size(); ++i) {
      int64_t& o = out[off + i];
      const int64_t d = s[i];
      if (d == o || d == 1) continue;
      if (o == 1) {
        o = d;
        continue;
      }
      std::string all;
      for (const Dims& x : shapes) {
        if (!all.empty()) all += " vs ";
        all += x.ToString();
      }
      return InvalidArgument("shapes {} do not broadcast", all);
    }
  }
  return out;
}

Dims BroadcastStrides(const Dims& shape, const Dims& out) {
  Dims contiguous = Tensor::ContiguousStrides(shape);
  Dims s;
  const int off = out.size() - shape.size();
  for (int i = 0; i < out.size(); ++i) {
    const int j = i - off;
    s.push_back(j < 0 || shape[j] == 1 ? 0 : contiguous[j]);
  }
  return s;
}

Result<Tensor> Int64Tensor(Arena& arena, std::span<const int64_t> values) {
  COSY_ASSIGN_OR_RETURN(Tensor t,
                        arena.Alloc(Dims{static_cast<int64_t>(values.size())}, DType::kI64));
  std::copy(values.begin(), values.end(), t.data<int64_t>());
  return t;
}

std::string ShapeStr(const Tensor& t) {
  return fmt::format("{}{}", DTypeName(t.dtype()), t.shape().ToString());
}

}  // namespace cosyflow::onnx::detail

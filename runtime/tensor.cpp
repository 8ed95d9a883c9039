// Tensor views and copies.
#include "runtime/tensor.h"

#include <algorithm>
#include <cstring>

namespace cosyflow {

Dims::Dims(std::initializer_list<int64_t> v) {
  assert(v.size() <= kMaxDims);
  for (int64_t x : v) push_back(x);
}

Result<Dims> Dims::From(std::span<const int64_t> v) {
  if (v.size() > static_cast<size_t>(kMaxDims)) {
    return OutOfRange("tensor: rank must be <= {}, got {}", kMaxDims, v.size());
  }
  Dims d;
  for (int64_t x : v) d.push_back(x);
  return d;
}

int64_t Dims::Product() const {
  int64_t p = 1;
  for (int i = 0; i < n_; ++i) p *= d_[static_cast<size_t>(i)];
  return p;
}

bool Dims::operator==(const Dims& o) const {
  return n_ == o.n_ && std::equal(begin(), end(), o.begin());
}

std::string Dims::ToString() const {
  std::string s = "[";
  for (int i = 0; i < n_; ++i) {
    if (i) s += ",";
    s += std::to_string(d_[static_cast<size_t>(i)]);
  }
  return s + "]";
}

Dims Tensor::ContiguousStrides(const Dims& shape) {
  Dims s;
  s.resize(shape.size());
  int64_t acc = 1;
  for (int i = shape.size() - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= std::max<int64_t>(shape[i], 1);
  }
  return s;
}

Result<Tensor> Tensor::Empty(const Dims& shape, DType dtype) {
  for (int64_t d : shape) {
    if (d < 0) return InvalidArgument("tensor: dimensions must be >= 0, got {}", shape.ToString());
  }
  // Reject absurd sizes before allocating (2^40 bytes is far beyond any model here).
  const int64_t n = shape.Product();
  if (n > (int64_t{1} << 40) / static_cast<int64_t>(DTypeSize(dtype))) {
    return OutOfRange("tensor: shape {} is too large", shape.ToString());
  }
  COSY_ASSIGN_OR_RETURN(auto storage, Storage::Allocate(static_cast<size_t>(n) * DTypeSize(dtype)));
  Tensor t;
  t.storage_ = std::move(storage);
  t.shape_ = shape;
  t.strides_ = ContiguousStrides(shape);
  t.dtype_ = dtype;
  return t;
}

Result<Tensor> Tensor::FromStorage(std::shared_ptr<Storage> storage, int64_t offset_elems,
                                   const Dims& shape, const Dims& strides, DType dtype) {
  if (!storage) return InvalidArgument("tensor: null storage");
  if (shape.size() != strides.size()) {
    return InvalidArgument("tensor: shape {} and strides {} differ in rank", shape.ToString(),
                           strides.ToString());
  }
  if (offset_elems < 0) return OutOfRange("tensor: negative storage offset {}", offset_elems);
  // Smallest and largest element index touched by the view.
  int64_t hi = offset_elems;
  bool empty = false;
  for (int i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) return InvalidArgument("tensor: negative dimension in {}", shape.ToString());
    if (strides[i] < 0) return Unsupported("tensor: negative stride in {}", strides.ToString());
    if (shape[i] == 0) empty = true;
    if (shape[i] > 0 && strides[i] > (int64_t{1} << 48) / shape[i]) {
      return OutOfRange("tensor: stride {} x size {} overflows", strides[i], shape[i]);
    }
    hi += (shape[i] - 1) * strides[i];
  }
  const int64_t esize = static_cast<int64_t>(DTypeSize(dtype));
  const int64_t cap = static_cast<int64_t>(storage->size()) / esize;
  if (!empty && hi >= cap) {
    return OutOfRange("tensor: view {} (strides {}, offset {}) needs {} elements, storage has {}",
                      shape.ToString(), strides.ToString(), offset_elems, hi + 1, cap);
  }
  Tensor t;
  t.storage_ = std::move(storage);
  t.offset_ = offset_elems;
  t.shape_ = shape;
  t.strides_ = strides;
  t.dtype_ = dtype;
  return t;
}

bool Tensor::is_contiguous() const {
  int64_t expect = 1;
  for (int i = shape_.size() - 1; i >= 0; --i) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expect) return false;
    expect *= shape_[i];
  }
  return true;
}

Status Tensor::CheckDim(int d, const char* op) const {
  if (d < -shape_.size() || d >= shape_.size()) {
    return OutOfRange("tensor {}: dim {} out of range for rank {}", op, d, shape_.size());
  }
  return OkStatus();
}

Result<Tensor> Tensor::Slice(int d, int64_t start, int64_t end) const {
  COSY_RETURN_IF_ERROR(CheckDim(d, "slice"));
  d = NormDim(d);
  if (start < 0 || end < start || end > shape_[d]) {
    return OutOfRange("tensor slice: [{}, {}) outside dim {} of size {}", start, end, d,
                      shape_[d]);
  }
  Tensor t = *this;
  t.offset_ += start * strides_[d];
  t.shape_[d] = end - start;
  return t;
}

Result<Tensor> Tensor::Select(int d, int64_t index) const {
  COSY_RETURN_IF_ERROR(CheckDim(d, "select"));
  d = NormDim(d);
  if (index < 0 || index >= shape_[d]) {
    return OutOfRange("tensor select: index {} outside dim {} of size {}", index, d, shape_[d]);
  }
  Tensor t;
  t.storage_ = storage_;
  t.dtype_ = dtype_;
  t.offset_ = offset_ + index * strides_[d];
  for (int i = 0; i < shape_.size(); ++i) {
    if (i == d) continue;
    t.shape_.push_back(shape_[i]);
    t.strides_.push_back(strides_[i]);
  }
  return t;
}

Result<Tensor> Tensor::Reshape(const Dims& shape) const {
  Dims s = shape;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) return InvalidArgument("tensor reshape: more than one -1 in {}", s.ToString());
      infer = i;
    } else if (s[i] < 0) {
      return InvalidArgument("tensor reshape: bad dimension in {}", s.ToString());
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel() % known != 0) {
      return InvalidArgument("tensor reshape: cannot infer -1 in {} from {} elements",
                             s.ToString(), numel());
    }
    s[infer] = numel() / known;
  }
  if (s.Product() != numel()) {
    return InvalidArgument("tensor reshape: {} has {} elements, target {} has {}",
                           shape_.ToString(), numel(), s.ToString(), s.Product());
  }
  if (!is_contiguous()) {
    return InvalidArgument("tensor reshape: view {} is not contiguous; call Contiguous() first",
                           shape_.ToString());
  }
  Tensor t = *this;
  t.shape_ = s;
  t.strides_ = ContiguousStrides(s);
  return t;
}

Result<Tensor> Tensor::Transpose(int d0, int d1) const {
  COSY_RETURN_IF_ERROR(CheckDim(d0, "transpose"));
  COSY_RETURN_IF_ERROR(CheckDim(d1, "transpose"));
  d0 = NormDim(d0);
  d1 = NormDim(d1);
  Tensor t = *this;
  std::swap(t.shape_[d0], t.shape_[d1]);
  std::swap(t.strides_[d0], t.strides_[d1]);
  return t;
}

Result<Tensor> Tensor::Permute(std::span<const int> order) const {
  if (static_cast<int>(order.size()) != shape_.size()) {
    return InvalidArgument("tensor permute: order has {} entries for rank {}", order.size(),
                           shape_.size());
  }
  std::array<bool, kMaxDims> seen{};
  Tensor t = *this;
  for (int i = 0; i < shape_.size(); ++i) {
    int src = order[static_cast<size_t>(i)];
    if (src < 0 || src >= shape_.size() || seen[static_cast<size_t>(src)]) {
      return InvalidArgument("tensor permute: order is not a permutation of 0..{}",
                             shape_.size() - 1);
    }
    seen[static_cast<size_t>(src)] = true;
    t.shape_[i] = shape_[src];
    t.strides_[i] = strides_[src];
  }
  return t;
}

Result<Tensor> Tensor::Unsqueeze(int d) const {
  if (d < 0) d += shape_.size() + 1;
  if (d < 0 || d > shape_.size() || shape_.size() >= kMaxDims) {
    return OutOfRange("tensor unsqueeze: dim {} invalid for rank {}", d, shape_.size());
  }
  Tensor t = *this;
  t.shape_.resize(0);
  t.strides_.resize(0);
  for (int i = 0; i <= shape_.size(); ++i) {
    if (i == d) {
      t.shape_.push_back(1);
      t.strides_.push_back(i < shape_.size() ? strides_[i] * shape_[i] : 1);
    }
    if (i < shape_.size()) {
      t.shape_.push_back(shape_[i]);
      t.strides_.push_back(strides_[i]);
    }
  }
  return t;
}

Result<Tensor> Tensor::Squeeze(int d) const {
  COSY_RETURN_IF_ERROR(CheckDim(d, "squeeze"));
  if (size(d) != 1) {
    return InvalidArgument("tensor squeeze: dim {} has size {}, expected 1", d, size(d));
  }
  return Select(d, 0);
}

namespace {

// Reads element `i` of any dtype as double / writes a double into any dtype.
double LoadAsDouble(const uint8_t* p, DType t) {
  switch (t) {
    case DType::kF32: { float v; std::memcpy(&v, p, 4); return v; }
    case DType::kF16: { uint16_t v; std::memcpy(&v, p, 2); return F16ToF32(v); }
    case DType::kBF16: { uint16_t v; std::memcpy(&v, p, 2); return BF16ToF32(v); }
    case DType::kI32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case DType::kI64: { int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
    case DType::kU8: return *p;
    case DType::kBool: return *p != 0 ? 1.0 : 0.0;
  }
  return 0;
}

void StoreDouble(uint8_t* p, DType t, double x) {
  switch (t) {
    case DType::kF32: { float v = static_cast<float>(x); std::memcpy(p, &v, 4); break; }
    case DType::kF16: { uint16_t v = F32ToF16(static_cast<float>(x)); std::memcpy(p, &v, 2); break; }
    case DType::kBF16: { uint16_t v = F32ToBF16(static_cast<float>(x)); std::memcpy(p, &v, 2); break; }
    case DType::kI32: { int32_t v = static_cast<int32_t>(x); std::memcpy(p, &v, 4); break; }
    case DType::kI64: { int64_t v = static_cast<int64_t>(x); std::memcpy(p, &v, 8); break; }
    case DType::kU8: *p = static_cast<uint8_t>(x); break;
    case DType::kBool: *p = x != 0 ? 1 : 0; break;
  }
}

// Calls fn(src_elem_index, dst_linear_index) over all elements of `shape` in row-major order.
template <typename Fn>
void ForEachIndex(const Dims& shape, const Dims& strides, int64_t base, Fn fn) {
  const int n = shape.size();
  if (shape.Product() == 0) return;
  std::array<int64_t, kMaxDims> idx{};
  int64_t src = base;
  const int64_t total = shape.Product();
  for (int64_t lin = 0; lin < total; ++lin) {
    fn(src, lin);
    for (int d = n - 1; d >= 0; --d) {
      const auto ud = static_cast<size_t>(d);
      if (++idx[ud] < shape[d]) {
        src += strides[d];
        break;
      }
      src -= (shape[d] - 1) * strides[d];
      idx[ud] = 0;
    }
  }
}

}  // namespace

Status Tensor::CopyFrom(const Tensor& src) {
  if (src.shape_ != shape_) {
    return InvalidArgument("tensor copy: source shape {} != destination shape {}",
                           src.shape_.ToString(), shape_.ToString());
  }
  if (device() != Device::kCpu || src.device() != Device::kCpu) {
    return Unsupported("tensor copy: only CPU tensors are supported here");
  }
  if (storage_->read_only()) return InvalidArgument("tensor copy: destination is read-only");
  const size_t es = DTypeSize(dtype_);
  const size_t ss = DTypeSize(src.dtype_);
  uint8_t* dst_base = storage_->data();
  const uint8_t* src_base = src.storage_->data();
  if (src.dtype_ == dtype_ && is_contiguous() && src.is_contiguous()) {
    std::memmove(raw(), src.raw(), nbytes());
    return OkStatus();
  }
  // Destination linear index -> destination element via its own strides.
  const Dims dst_strides = strides_;
  const Dims cont = ContiguousStrides(shape_);
  ForEachIndex(src.shape_, src.strides_, src.offset_, [&](int64_t s, int64_t lin) {
    int64_t doff = offset_;
    for (int d = 0; d < shape_.size(); ++d) doff += (lin / cont[d]) % std::max<int64_t>(shape_[d], 1) * dst_strides[d];
    const uint8_t* sp = src_base + s * static_cast<int64_t>(ss);
    uint8_t* dp = dst_base + doff * static_cast<int64_t>(es);
    if (src.dtype_ == dtype_) {
      std::memcpy(dp, sp, es);
    } else {
      StoreDouble(dp, dtype_, LoadAsDouble(sp, src.dtype_));
    }
  });
  return OkStatus();
}

Result<Tensor> Tensor::Clone() const {
  COSY_ASSIGN_OR_RETURN(Tensor t, Empty(shape_, dtype_));
  COSY_RETURN_IF_ERROR(t.CopyFrom(*this));
  return t;
}

Result<Tensor> Tensor::Contiguous() const {
  if (is_contiguous()) return *this;
  return Clone();
}

Result<Tensor> Tensor::To(DType dtype) const {
  COSY_ASSIGN_OR_RETURN(Tensor t, Empty(shape_, dtype));
  COSY_RETURN_IF_ERROR(t.CopyFrom(*this));
  return t;
}

std::string Tensor::ToString() const {
  return std::string(DTypeName(dtype_)) + shape_.ToString();
}

}  // namespace cosyflow

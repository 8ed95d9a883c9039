// Tensor: a strided view {shared Storage, element offset, shape, strides, dtype, device}.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>

#include "runtime/dtype.h"
#include "runtime/status.h"
#include "runtime/storage.h"

namespace cosyflow {

inline constexpr int kMaxDims = 8;

// Fixed-capacity shape/stride list (no heap allocation when views are made).
class Dims {
 public:
  Dims() = default;
  Dims(std::initializer_list<int64_t> v);
  static Result<Dims> From(std::span<const int64_t> v);

  int size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int64_t operator[](int i) const { return d_[static_cast<size_t>(i)]; }
  int64_t& operator[](int i) { return d_[static_cast<size_t>(i)]; }
  const int64_t* begin() const { return d_.data(); }
  const int64_t* end() const { return d_.data() + n_; }
  void push_back(int64_t v) { d_[static_cast<size_t>(n_++)] = v; }
  void resize(int n) { n_ = n; }
  int64_t Product() const;
  bool operator==(const Dims& o) const;
  bool operator!=(const Dims& o) const { return !(*this == o); }
  std::string ToString() const;  // "[2,3,4]"

 private:
  std::array<int64_t, kMaxDims> d_{};
  int n_ = 0;
};

class Tensor {
 public:
  Tensor() = default;

  // New contiguous zero-filled CPU tensor.
  static Result<Tensor> Empty(const Dims& shape, DType dtype);
  // View over an existing storage (checked: the view must lie inside the storage).
  static Result<Tensor> FromStorage(std::shared_ptr<Storage> storage, int64_t offset_elems,
                                    const Dims& shape, const Dims& strides, DType dtype);
  // Contiguous copy of host data.
  template <typename T>
  static Result<Tensor> FromVector(const Dims& shape, std::span<const T> values);

  static Dims ContiguousStrides(const Dims& shape);

  bool defined() const { return storage_ != nullptr; }
  const Dims& shape() const { return shape_; }
  const Dims& strides() const { return strides_; }
  int dim() const { return shape_.size(); }
  int64_t size(int d) const { return shape_[NormDim(d)]; }
  int64_t stride(int d) const { return strides_[NormDim(d)]; }
  int64_t numel() const { return shape_.Product(); }
  int64_t offset() const { return offset_; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::kCpu; }
  size_t nbytes() const { return static_cast<size_t>(numel()) * DTypeSize(dtype_); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  bool is_contiguous() const;

  // Raw pointer to element 0 of the view.
  void* raw() const { return storage_->data() + offset_ * static_cast<int64_t>(DTypeSize(dtype_)); }
  template <typename T>
  T* data() const {
    return static_cast<T*>(raw());
  }

  // Views (share storage). Dims may be negative (counted from the end).
  Result<Tensor> Slice(int d, int64_t start, int64_t end) const;  // [start, end), step 1
  Result<Tensor> Select(int d, int64_t index) const;              // drops dimension d
  Result<Tensor> Reshape(const Dims& shape) const;  // view; one -1 allowed; needs contiguity
  Result<Tensor> Transpose(int d0, int d1) const;
  Result<Tensor> Permute(std::span<const int> order) const;
  Result<Tensor> Unsqueeze(int d) const;
  Result<Tensor> Squeeze(int d) const;

  // Copies.
  Result<Tensor> Contiguous() const;  // returns *this when already contiguous
  Result<Tensor> Clone() const;       // always a fresh contiguous copy
  Result<Tensor> To(DType dtype) const;  // contiguous copy converted (floats <-> ints, bf16, f16)
  // Copies `src` (same shape, any strides/dtype-compatible) into this view.
  Status CopyFrom(const Tensor& src);

  std::string ToString() const;  // "f32[2,3]"

 private:
  int NormDim(int d) const { return d < 0 ? d + shape_.size() : d; }
  Status CheckDim(int d, const char* op) const;

  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;  // in elements
  Dims shape_;
  Dims strides_;  // in elements
  DType dtype_ = DType::kF32;
};

template <typename T>
Result<Tensor> Tensor::FromVector(const Dims& shape, std::span<const T> values) {
  if (shape.Product() != static_cast<int64_t>(values.size())) {
    return InvalidArgument("tensor: shape {} needs {} values, got {}", shape.ToString(),
                           shape.Product(), values.size());
  }
  COSY_ASSIGN_OR_RETURN(Tensor t, Empty(shape, DTypeOf<T>::value));
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}

}  // namespace cosyflow

// HiFT building blocks on channel-major buffers: Conv1d / ConvTranspose1d via oneDNN sgemm.
//
// Private to nodes/hift (the shared runtime/kernels/cpu/conv.h did not exist when this was
// written); the lead may move them into runtime/kernels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/io/checkpoint.h"
#include "runtime/status.h"

namespace cosyflow::hift {

// A channel-major activation buffer view: element (c, t) at data[c * ld + t].
struct Planar {
  float* data = nullptr;
  int64_t channels = 0;
  int64_t time = 0;
  int64_t ld = 0;  // row stride in floats (>= time)
  float* row(int64_t c) const { return data + c * ld; }
};

// Conv1d(cin, cout, k, stride, padding, dilation) with bias; weights [cout, k, cin] (tap-major
// per output row) so that tap kappa is the [cout, cin] matrix at w + kappa*cin with lda k*cin.
class Conv1d {
 public:
  // Reads `<name>.weight` [cout, cin, k] and `<name>.bias` [cout] (shape-checked).
  static Result<Conv1d> Load(const Checkpoint& ckpt, const std::string& name, int cin, int cout,
                             int k, int stride, int padding, int dilation);

  int cin() const { return cin_; }
  int cout() const { return cout_; }
  int kernel() const { return k_; }
  int stride() const { return stride_; }
  int padding() const { return pad_; }
  int dilation() const { return dil_; }
  int64_t OutLength(int64_t tin) const {
    return (tin + 2 * pad_ - dil_ * (k_ - 1) - 1) / stride_ + 1;
  }

  // Stride-1 forward. x: [cin, tin + 2*pad] with the padding columns already in place, x.data
  // pointing at padded column 0 (x.time is the unpadded length). y: [cout, tout].
  // accumulate=false: y = conv(x) + b; true: y += conv(x) + b.
  Status Forward(const Planar& x, const Planar& y, bool accumulate) const;
  // Strided forward through im2col. x: [cin, tin] unpadded (zero padding applied here);
  // col: scratch of at least cin*k*tout floats. y: [cout, tout].
  Status ForwardStrided(const Planar& x, float* col, const Planar& y) const;

 private:
  int cin_ = 0, cout_ = 0, k_ = 0, stride_ = 1, pad_ = 0, dil_ = 1;
  std::vector<float> w_;  // [cout, k, cin]
  std::vector<float> b_;  // [cout]
};

// ConvTranspose1d(cin, cout, k, stride u, padding p) with bias; weights as stored [cin, cout, k].
class ConvTranspose1d {
 public:
  static Result<ConvTranspose1d> Load(const Checkpoint& ckpt, const std::string& name, int cin,
                                      int cout, int k, int stride, int padding);
  int64_t OutLength(int64_t tin) const { return (tin - 1) * u_ - 2 * p_ + k_; }
  int cout() const { return cout_; }
  // x: [cin, tin]; z: scratch [cout*k, tin]; y: [cout, OutLength(tin)].
  Status Forward(const Planar& x, float* z, const Planar& y) const;

 private:
  int cin_ = 0, cout_ = 0, k_ = 0, u_ = 1, p_ = 0;
  std::vector<float> w_;  // [cin, cout*k]
  std::vector<float> b_;
};

// Reads a Snake alpha stored as [C] or [C, 1].
Result<std::vector<float>> LoadAlpha(const Checkpoint& ckpt, const std::string& name, int c);

// Row-wise Snake into y (y may alias x): y = x + 1/(a_c + 1e-9) * sin^2(a_c x).
Status SnakeRows(const Planar& x, const float* alpha, const Planar& y);
// y = x >= 0 ? x : slope*x (row-wise, y may alias x).
void LeakyReluRows(const Planar& x, float slope, const Planar& y);
// Zeroes `pad` columns on both sides of each row of a padded buffer (x.data = first real column).
void ZeroPadColumns(const Planar& x, int pad);

}  // namespace cosyflow::hift

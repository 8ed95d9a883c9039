// Weight-norm folding over a Checkpoint's entries (f32 math, double accumulation for ||v||).
#include "runtime/io/weight_norm.h"

#include <cmath>
#include <map>

namespace cosyflow {
namespace {

struct Spelling {
  std::string_view g;
  std::string_view v;
};
constexpr Spelling kSpellings[] = {
    {".weight_g", ".weight_v"},
    {".parametrizations.weight.original0", ".parametrizations.weight.original1"}};

struct Pair {
  std::string base;
  int g = -1;
  int v = -1;
  std::string_view g_suffix, v_suffix;
};

// w[o, ...] = g[o] * v[o, ...] / ||v[o, ...]||;  v: [d0, rest...] any dtype, g: d0 elements.
Result<Tensor> Fold(const std::string& path, const Pair& p, const Tensor& g_in,
                    const Tensor& v_in) {
  if (v_in.dim() < 1 || g_in.numel() != v_in.size(0) ||
      (g_in.dim() > 0 && g_in.size(0) != v_in.size(0))) {
    return InvalidArgument(
        "{}: weight norm '{}': g {} does not match v {} (g needs one value per "
        "row of v)",
        path, p.base, g_in.shape().ToString(), v_in.shape().ToString());
  }
  COSY_ASSIGN_OR_RETURN(Tensor g, g_in.To(DType::kF32));
  COSY_ASSIGN_OR_RETURN(Tensor v, v_in.To(DType::kF32));
  COSY_ASSIGN_OR_RETURN(Tensor w, Tensor::Empty(v.shape(), DType::kF32));
  const int64_t rows = v.size(0);
  const int64_t cols = rows == 0 ? 0 : v.numel() / rows;
  const float* gp = g.data<float>();
  const float* vp = v.data<float>();
  float* wp = w.data<float>();
  for (int64_t o = 0; o < rows; ++o) {
    double ss = 0;
    for (int64_t k = 0; k < cols; ++k)
      ss += static_cast<double>(vp[o * cols + k]) * vp[o * cols + k];
    const float scale = static_cast<float>(gp[o] / std::sqrt(ss));
    for (int64_t k = 0; k < cols; ++k) wp[o * cols + k] = vp[o * cols + k] * scale;
  }
  return w;
}

}  // namespace

Status FoldWeightNorm(Checkpoint* ckpt) {
  const auto& entries = ckpt->entries();
  std::map<std::string, Pair> pairs;  // key: spelling index + base
  std::vector<const Pair*> pair_of(entries.size(), nullptr);
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& name = entries[i].name;
    for (size_t s = 0; s < std::size(kSpellings); ++s) {
      const Spelling& sp = kSpellings[s];
      const bool is_g = name.ends_with(sp.g);
      if (!is_g && !name.ends_with(sp.v)) continue;
      const std::string base = name.substr(0, name.size() - (is_g ? sp.g : sp.v).size());
      Pair& p = pairs[std::to_string(s) + base];
      p.base = base;
      p.g_suffix = sp.g;
      p.v_suffix = sp.v;
      (is_g ? p.g : p.v) = static_cast<int>(i);
      pair_of[i] = &p;
    }
  }
  for (const auto& [key, p] : pairs) {
    if (p.g < 0 || p.v < 0) {
      return InvalidArgument("{}: weight norm '{}': has {}{} but not {}{}", ckpt->path(), p.base,
                             p.base, p.g < 0 ? p.v_suffix : p.g_suffix, p.base,
                             p.g < 0 ? p.g_suffix : p.v_suffix);
    }
  }
  std::vector<CheckpointEntry> out;
  out.reserve(entries.size() - pairs.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const Pair* p = pair_of[i];
    if (p == nullptr) {
      out.push_back(entries[i]);
      continue;
    }
    if (static_cast<int>(i) != std::min(p->g, p->v)) continue;  // second half: already folded
    COSY_ASSIGN_OR_RETURN(Tensor w,
                          Fold(ckpt->path(), *p, entries[static_cast<size_t>(p->g)].tensor,
                               entries[static_cast<size_t>(p->v)].tensor));
    out.push_back({p->base + ".weight", std::move(w)});
  }
  return ckpt->ReplaceEntries(std::move(out));
}

}  // namespace cosyflow

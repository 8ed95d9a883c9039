// onnx::Model: parse, validate, plan (topological order, integer slots, constant folding,
// lifetimes) and run.
#include "runtime/onnx/model.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <map>
#include <mutex>
#include <unordered_map>

#include "runtime/onnx/ops.h"
#include "runtime/storage.h"

namespace cosyflow::onnx {

using detail::Arena;
using detail::DescribeProto;
using detail::IsDefaultDomain;
using detail::Kernel;
using detail::ParseModel;
using detail::ToValueInfo;

namespace {

// One node of the plan. Slots are indices into the per-call value table (-1: absent).
struct Step {
  std::string name;
  std::string op_type;
  Kernel kernel;
  std::vector<int> inputs;
  std::vector<int> outputs;
  std::vector<int> release;  // slots whose last reader is this step
};

std::string NodeLabel(const ::onnx::NodeProto& n) {
  return fmt::format("node '{}' ({})", n.name(), n.op_type());
}

}  // namespace

struct Model::Impl {
  std::string name;
  std::string description;  // DescribeProto
  int opset = 0;
  int64_t num_nodes = 0;
  int64_t num_folded = 0;
  int64_t num_dropped = 0;  // constants freed after folding / weight packing
  int64_t max_tensor_bytes = kDefaultMaxTensorBytes;  // LoadOptions
  std::vector<ValueInfo> inputs, outputs;
  std::vector<int> input_slots, output_slots;
  std::vector<std::string> slot_names;
  std::vector<Tensor> constants;  // by slot; defined for initializers and folded values
  std::vector<Step> steps;
  // Idle per-call arenas kept for the next Run (at most kMaxIdleArenas).
  static constexpr size_t kMaxIdleArenas = 4;
  mutable std::mutex arenas_mu;
  mutable std::vector<std::unique_ptr<Arena>> idle_arenas;

  std::unique_ptr<Arena> TakeArena() const {
    std::lock_guard<std::mutex> lock(arenas_mu);
    if (idle_arenas.empty()) return std::make_unique<Arena>(max_tensor_bytes);
    std::unique_ptr<Arena> a = std::move(idle_arenas.back());
    idle_arenas.pop_back();
    return a;
  }
  void ReturnArena(std::unique_ptr<Arena> a) const {
    std::lock_guard<std::mutex> lock(arenas_mu);
    if (idle_arenas.size() < kMaxIdleArenas) idle_arenas.push_back(std::move(a));
  }

  // Consumes the initializers' bytes of `m` as it converts them (lower peak memory).
  Status Build(::onnx::ModelProto& m, const LoadOptions& options);
  Status CheckInputs(std::span<const Tensor> in) const;
  Result<std::vector<Tensor>> Run(std::span<const Tensor> in, RunProfile* profile) const;
};

Status Model::Impl::Build(::onnx::ModelProto& m, const LoadOptions& options) {
  for (const auto& o : m.opset_import()) {
    if (IsDefaultDomain(o.domain())) opset = static_cast<int>(o.version());
  }
  if (opset < kMinOpset || opset > kMaxOpset) {
    return Unsupported("onnx: {} imports ai.onnx opset {} (supported {}..{})", name, opset,
                       kMinOpset, kMaxOpset);
  }
  const auto& g = m.graph();
  num_nodes = g.node_size();
  max_tensor_bytes = options.max_tensor_bytes;
  // Every op type must have a kernel: name the nodes that do not.
  std::vector<std::string> bad;
  for (const auto& n : g.node()) {
    if (!IsDefaultDomain(n.domain()) || !IsSupportedOp(n.op_type())) {
      bad.push_back(fmt::format("{}{}", NodeLabel(n),
                                IsDefaultDomain(n.domain()) ? "" : " in domain " + n.domain()));
    }
  }
  if (!bad.empty()) {
    std::string list;
    for (size_t i = 0; i < std::min<size_t>(bad.size(), 5); ++i) {
      if (i) list += ", ";
      list += bad[i];
    }
    return Unsupported("onnx: {}: {} node(s) with unsupported op types: {}{}", name, bad.size(),
                       list, bad.size() > 5 ? ", ..." : "");
  }
  // Input/output counts (and absent inputs) per op: kernels rely on them.
  for (const auto& n : g.node()) {
    Status st = detail::CheckArity(n, opset);
    if (!st.ok()) return st.WithContext(fmt::format("onnx: {}: {}", name, NodeLabel(n)));
  }

  std::unordered_map<std::string, int> slot_of;
  auto slot = [&](const std::string& s) {
    auto [it, inserted] = slot_of.emplace(s, static_cast<int>(slot_names.size()));
    if (inserted) {
      slot_names.push_back(s);
      constants.emplace_back();
    }
    return it->second;
  };
  for (auto& t : *m.mutable_graph()->mutable_initializer()) {
    const int s = slot(t.name());
    Result<Tensor> value = detail::TensorFromProto(t);
    if (!value.ok()) return value.status().WithContext(fmt::format("onnx: {}", name));
    constants[s] = std::move(*value);
    std::string().swap(*t.mutable_raw_data());  // release the parsed copy now
  }
  for (const auto& v : g.input()) {
    if (slot_of.count(v.name())) continue;  // an initializer listed as input (IR < 4)
    ValueInfo info = ToValueInfo(v);
    DType dt;
    if (!detail::DTypeFromOnnx(v.type().tensor_type().elem_type(), &dt)) {
      return Unsupported("onnx: {}: input '{}' has unsupported type {}", name, v.name(),
                         detail::OnnxTypeName(v.type().tensor_type().elem_type()));
    }
    input_slots.push_back(slot(v.name()));
    inputs.push_back(std::move(info));
  }

  // Every value gets its slot now, so `constants` no longer moves while kernels are built.
  for (const auto& n : g.node()) {
    for (const auto& in : n.input()) {
      if (!in.empty()) slot(in);
    }
    for (const auto& out : n.output()) {
      if (!out.empty()) slot(out);
    }
  }

  // Topological order (Kahn) over node indices.
  const int nn = g.node_size();
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < nn; ++i) {
    for (const auto& o : g.node(i).output()) {
      if (!o.empty() && !producer.emplace(o, i).second) {
        return InvalidArgument("onnx: {}: value '{}' is produced twice", name, o);
      }
    }
  }
  std::vector<int> pending(nn, 0);
  std::vector<std::vector<int>> readers(nn);
  for (int i = 0; i < nn; ++i) {
    for (const auto& in : g.node(i).input()) {
      if (in.empty()) continue;
      auto it = producer.find(in);
      if (it != producer.end()) {
        ++pending[i];
        readers[it->second].push_back(i);
      } else if (!constants[slot_of.at(in)].defined() &&
                 std::find(input_slots.begin(), input_slots.end(), slot_of.at(in)) ==
                     input_slots.end()) {
        return InvalidArgument(
            "onnx: {}: input '{}' of {} is not a graph input, initializer or "
            "node output",
            name, in, NodeLabel(g.node(i)));
      }
    }
  }
  std::vector<int> order, ready;
  for (int i = nn - 1; i >= 0; --i) {
    if (pending[i] == 0) ready.push_back(i);
  }
  while (!ready.empty()) {
    const int i = ready.back();
    ready.pop_back();
    order.push_back(i);
    for (int r : readers[i]) {
      if (--pending[r] == 0) ready.push_back(r);
    }
  }
  if (static_cast<int>(order.size()) != nn) {
    return InvalidArgument("onnx: {}: the graph has a cycle", name);
  }

  // Kernels; nodes whose inputs are all constants run now (constant folding).
  for (int i : order) {
    const auto& n = g.node(i);
    Step step;
    step.name = n.name();
    step.op_type = n.op_type();
    std::vector<bool> absorbed(static_cast<size_t>(n.input_size()), false);
    detail::NodeView view{n, opset, {}, &absorbed};
    bool all_const = true;
    for (const auto& in : n.input()) {
      const int s = in.empty() ? -1 : slot(in);
      step.inputs.push_back(s);
      view.constant_inputs.push_back(s >= 0 && constants[s].defined() ? &constants[s] : nullptr);
      if (s >= 0 && !constants[s].defined()) all_const = false;
    }
    for (const auto& out : n.output()) step.outputs.push_back(out.empty() ? -1 : slot(out));
    detail::KernelFactory factory = detail::FindKernelFactory(n.op_type());
    auto kernel = factory(view);
    if (!kernel.ok())
      return kernel.status().WithContext(fmt::format("onnx: {}: {}", name, NodeLabel(n)));
    step.kernel = std::move(*kernel);
    if (all_const && options.fold_constants) {
      Arena arena(options.max_tensor_bytes);
      std::vector<const Tensor*> ins(view.constant_inputs.begin(), view.constant_inputs.end());
      std::vector<Tensor> outs(step.outputs.size());
      Status st = step.kernel(arena, ins, outs);
      if (!st.ok())
        return st.WithContext(fmt::format("onnx: {}: {} (constant folding)", name, NodeLabel(n)));
      for (size_t k = 0; k < outs.size(); ++k) {
        if (step.outputs[k] >= 0 && outs[k].defined()) {
          COSY_ASSIGN_OR_RETURN(constants[step.outputs[k]], outs[k].Contiguous());
        }
      }
      ++num_folded;
      continue;
    }
    for (size_t k = 0; k < absorbed.size(); ++k) {
      if (absorbed[k]) step.inputs[k] = -1;  // the kernel holds its own packed copy
    }
    steps.push_back(std::move(step));
  }

  for (const auto& v : g.output()) {
    auto it = slot_of.find(v.name());
    if (it == slot_of.end()) {
      return InvalidArgument("onnx: {}: output '{}' is never produced", name, v.name());
    }
    output_slots.push_back(it->second);
    outputs.push_back(ToValueInfo(v));
  }
  for (const std::string& extra : options.extra_outputs) {
    auto it = slot_of.find(extra);
    if (it == slot_of.end()) {
      return InvalidArgument("onnx: {}: extra output '{}' is not a value of the graph", name,
                             extra);
    }
    output_slots.push_back(it->second);
    ValueInfo info;
    info.name = extra;
    outputs.push_back(std::move(info));
  }

  // Constants that no step reads (absorbed into packed weights, or only feeding folded nodes)
  // and that are not graph outputs are dropped: the real tokenizer's 0.5 GB would otherwise be
  // held twice.
  {
    std::vector<bool> used(slot_names.size(), false);
    for (const Step& st : steps) {
      for (int s : st.inputs) {
        if (s >= 0) used[s] = true;
      }
    }
    for (int s : output_slots) used[s] = true;
    for (size_t s = 0; s < constants.size(); ++s) {
      if (!used[s] && constants[s].defined()) {
        constants[s] = Tensor();
        ++num_dropped;
      }
    }
  }

  // Lifetimes: a non-constant slot is released after its last reader (or right after its
  // producer when nothing reads it); graph outputs are kept.
  std::vector<int> last(slot_names.size(), -1);
  for (size_t i = 0; i < steps.size(); ++i) {
    for (int s : steps[i].outputs) {
      if (s >= 0) last[s] = static_cast<int>(i);
    }
    for (int s : steps[i].inputs) {
      if (s >= 0 && !constants[s].defined()) last[s] = static_cast<int>(i);
    }
  }
  for (int s : output_slots) last[s] = -1;
  for (int s : input_slots) {
    if (last[s] >= 0) last[s] = -1;  // caller-owned; never recycled anyway
  }
  for (size_t s = 0; s < last.size(); ++s) {
    if (last[s] >= 0) steps[static_cast<size_t>(last[s])].release.push_back(static_cast<int>(s));
  }
  return OkStatus();
}

Status Model::Impl::CheckInputs(std::span<const Tensor> in) const {
  if (in.size() != inputs.size()) {
    return InvalidArgument("onnx: {} takes {} inputs, got {}", name, inputs.size(), in.size());
  }
  for (size_t i = 0; i < in.size(); ++i) {
    const ValueInfo& v = inputs[i];
    const Tensor& t = in[i];
    if (!t.defined() || t.device() != Device::kCpu) {
      return InvalidArgument("onnx: {}: input '{}' must be a CPU tensor", name, v.name);
    }
    if (t.dtype() != v.dtype) {
      return InvalidArgument("onnx: {}: input '{}' must be {}, got {}", name, v.name,
                             DTypeName(v.dtype), detail::ShapeStr(t));
    }
    if (v.has_shape) {
      bool ok = t.dim() == static_cast<int>(v.dims.size());
      for (int d = 0; ok && d < t.dim(); ++d) ok = v.dims[d] < 0 || v.dims[d] == t.shape()[d];
      if (!ok) {
        return InvalidArgument("onnx: {}: input '{}' must have shape {}, got {}", name, v.name,
                               v.ShapeString(), detail::ShapeStr(t));
      }
    }
  }
  return OkStatus();
}

Result<std::vector<Tensor>> Model::Impl::Run(std::span<const Tensor> in,
                                             RunProfile* profile) const {
  using Clock = std::chrono::steady_clock;
  std::map<std::string, RunProfile::Entry> prof;
  const Clock::time_point start = Clock::now();
  COSY_RETURN_IF_ERROR(CheckInputs(in));
  std::vector<Tensor> values(slot_names.size());
  for (size_t i = 0; i < in.size(); ++i) {
    COSY_ASSIGN_OR_RETURN(values[input_slots[i]], in[i].Contiguous());
  }
  std::unique_ptr<Arena> arena_owner = TakeArena();
  Arena& arena = *arena_owner;
  std::vector<const Tensor*> ins;
  std::vector<Tensor> outs;
  for (const Step& step : steps) {
    ins.clear();
    for (int s : step.inputs) {
      if (s < 0) {
        ins.push_back(nullptr);
        continue;
      }
      const Tensor* t = constants[s].defined() ? &constants[s] : &values[s];
      if (!t->defined()) {
        return Internal("onnx: {}: node '{}' ({}): input '{}' was not computed", name, step.name,
                        step.op_type, slot_names[s]);
      }
      ins.push_back(t);
    }
    outs.assign(step.outputs.size(), Tensor());
    const Clock::time_point t0 = profile ? Clock::now() : Clock::time_point();
    Status st = step.kernel(arena, ins, outs);
    if (profile) {
      RunProfile::Entry& e = prof[step.op_type];
      e.op_type = step.op_type;
      ++e.calls;
      e.ms += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    }
    if (!st.ok()) {
      std::string shapes;
      for (const Tensor* t : ins) {
        if (!shapes.empty()) shapes += ", ";
        shapes += t ? detail::ShapeStr(*t) : "-";
      }
      return st.WithContext(fmt::format("onnx: {}: node '{}' ({}) with inputs ({})", name,
                                        step.name, step.op_type, shapes));
    }
    for (size_t k = 0; k < outs.size(); ++k) {
      if (step.outputs[k] >= 0) values[step.outputs[k]] = std::move(outs[k]);
    }
    for (int s : step.release) arena.Recycle(std::move(values[s]));
  }
  std::vector<Tensor> result;
  for (int s : output_slots) {
    const Tensor& t = constants[s].defined() ? constants[s] : values[s];
    if (!t.defined())
      return Internal("onnx: {}: output '{}' was not computed", name, slot_names[s]);
    result.push_back(t);
  }
  // Intermediates still held (graph outputs are shared with `result` and stay out).
  for (Tensor& v : values) arena.Recycle(std::move(v));
  ReturnArena(std::move(arena_owner));
  if (profile) {
    profile->by_op.clear();
    for (auto& [op, e] : prof) profile->by_op.push_back(e);
    std::sort(profile->by_op.begin(), profile->by_op.end(),
              [](const auto& a, const auto& b) { return a.ms > b.ms; });
    profile->total_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  }
  return result;
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

Result<std::shared_ptr<const Model>> Model::LoadFromBytes(std::span<const uint8_t> bytes,
                                                          const std::string& name,
                                                          const LoadOptions& options) {
  try {
    COSY_ASSIGN_OR_RETURN(::onnx::ModelProto proto, ParseModel(bytes, name));
    auto impl = std::make_unique<Impl>();
    impl->name = name;
    impl->description = DescribeProto(proto);
    COSY_RETURN_IF_ERROR(impl->Build(proto, options));
    return std::shared_ptr<const Model>(new Model(std::move(impl)));
  } catch (const std::exception& e) {
    return Internal("onnx: {}: {}", name, e.what());
  }
}

Result<std::shared_ptr<const Model>> Model::Load(const std::string& path,
                                                 const LoadOptions& options) {
  COSY_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::Open(path));
  return LoadFromBytes({file->data(), file->size()}, path, options);
}

const std::vector<ValueInfo>& Model::inputs() const { return impl_->inputs; }
const std::vector<ValueInfo>& Model::outputs() const { return impl_->outputs; }
int64_t Model::num_nodes() const { return impl_->num_nodes; }
int64_t Model::num_steps() const { return static_cast<int64_t>(impl_->steps.size()); }
int64_t Model::num_constants() const {
  return std::count_if(impl_->constants.begin(), impl_->constants.end(),
                       [](const Tensor& t) { return t.defined(); });
}

Result<std::vector<Tensor>> Model::Run(std::span<const Tensor> inputs) const {
  return Run(inputs, nullptr);
}

Result<std::vector<Tensor>> Model::Run(std::span<const Tensor> inputs, RunProfile* profile) const {
  try {
    return impl_->Run(inputs, profile);
  } catch (const std::exception& e) {
    return Internal("onnx: {}: run failed: {}", impl_->name, e.what());
  }
}

std::string Model::Describe() const {
  return impl_->description +
         fmt::format(
             "plan: {} steps after folding {} constant nodes; {} value slots, {} constants "
             "kept ({} dropped after folding / weight packing)\n",
             impl_->steps.size(), impl_->num_folded, impl_->slot_names.size(), num_constants(),
             impl_->num_dropped);
}

bool IsSupportedOp(const std::string& op_type) {
  return detail::FindKernelFactory(op_type) != nullptr;
}

std::vector<std::string> SupportedOps() { return detail::SupportedOpTypes(); }

namespace detail {

KernelFactory FindKernelFactory(const std::string& op_type) {
  for (auto table : {ElementwiseOps(), ShapeOps(), NnOps(), ReduceOps(), MiscOps()}) {
    for (const OpEntry& e : table) {
      if (op_type == e.op_type) return e.factory;
    }
  }
  return nullptr;
}

std::vector<std::string> SupportedOpTypes() {
  std::vector<std::string> v;
  for (auto table : {ElementwiseOps(), ShapeOps(), NnOps(), ReduceOps(), MiscOps()}) {
    for (const OpEntry& e : table) v.emplace_back(e.op_type);
  }
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace detail
}  // namespace cosyflow::onnx

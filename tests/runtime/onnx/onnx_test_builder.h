// Test helper: builds small ONNX models in memory with the protobuf API (onnx_ops_test,
// onnx_errors_test).
#pragma once

#include <onnx/onnx_pb.h>

#include <memory>
#include <string>
#include <vector>

#include "runtime/onnx/model.h"

namespace cosyflow::onnx::testing {

using ::onnx::TensorProto;

// A one-graph model under construction.
struct Builder {
  ::onnx::ModelProto m;
  explicit Builder(int opset = 17) {
    m.set_ir_version(8);
    m.set_producer_name("cosyflow-test");
    auto* o = m.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
  }
  ::onnx::GraphProto* g() { return m.mutable_graph(); }
  // dims: -1 for a symbolic dim.
  void Input(const std::string& name, int type, std::vector<int64_t> dims) {
    auto* v = g()->add_input();
    v->set_name(name);
    v->mutable_type()->mutable_tensor_type()->set_elem_type(type);
    auto* shape = v->mutable_type()->mutable_tensor_type()->mutable_shape();
    for (int64_t d : dims) {
      auto* dim = shape->add_dim();
      if (d >= 0)
        dim->set_dim_value(d);
      else
        dim->set_dim_param("n");
    }
  }
  void Output(const std::string& name, int type) {
    auto* v = g()->add_output();
    v->set_name(name);
    v->mutable_type()->mutable_tensor_type()->set_elem_type(type);
  }
  TensorProto* Init(const std::string& name, std::vector<int64_t> dims, std::vector<float> v) {
    auto* t = g()->add_initializer();
    t->set_name(name);
    t->set_data_type(TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    for (float x : v) t->add_float_data(x);
    return t;
  }
  void InitI64(const std::string& name, std::vector<int64_t> v) {
    auto* t = g()->add_initializer();
    t->set_name(name);
    t->set_data_type(TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) t->add_int64_data(x);
  }
  ::onnx::NodeProto* Node(const std::string& op, const std::string& name,
                          std::vector<std::string> ins, std::vector<std::string> outs) {
    auto* n = g()->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (auto& i : ins) n->add_input(i);
    for (auto& o : outs) n->add_output(o);
    return n;
  }
  Result<std::shared_ptr<const Model>> Load(const LoadOptions& options = {}) {
    std::string bytes = m.SerializeAsString();
    return Model::LoadFromBytes({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                                "built.onnx", options);
  }
};

inline void AttrInts(::onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
inline void AttrInt(::onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(v);
}
inline void AttrString(::onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::STRING);
  a->set_s(v);
}

}  // namespace cosyflow::onnx::testing

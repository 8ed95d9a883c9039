// Unpickle: a bounded pickle VM for the subset torch.save uses for state dicts (protocol 2).
//
// Only these globals load: collections.OrderedDict, builtins.dict,
// torch._utils._rebuild_tensor_v2 / _rebuild_parameter and the torch.<T>Storage classes.
// Storages become kStorage values (persistent ids) and rebuilt tensors kTensor values; no data
// is touched here. Every value lives in the document's arena, so cyclic or deep input cannot
// leak or overflow the stack on destruction; consumers that recurse must bound their depth.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "runtime/dtype.h"
#include "runtime/status.h"
#include "runtime/tensor.h"

namespace cosyflow::io {

struct PickleValue;

// torch storage element types (f64 is recognised so its error can name it).
enum class TorchStorageType : uint8_t {
  kFloat,
  kHalf,
  kBFloat16,
  kLong,
  kInt,
  kBool,
  kByte,
  kDouble
};

struct PickleTensorInfo {
  const PickleValue* storage = nullptr;  // a kStorage value
  int64_t offset = 0;                    // in elements
  Dims shape;
  Dims strides;
};

struct PickleValue {
  enum class Kind : uint8_t {
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kBytes,
    kTuple,
    kList,
    kDict,
    kGlobal,
    kStorage,
    kTensor
  };
  Kind kind = Kind::kNone;
  int64_t i = 0;  // kInt/kBool value; kStorage: element count
  double f = 0;   // kFloat
  std::string s;  // kString/kBytes; kGlobal: "module.name"; kStorage: record key
  TorchStorageType storage_type = TorchStorageType::kFloat;  // kGlobal (storage class), kStorage
  std::vector<PickleValue*> items;                           // kTuple, kList
  std::vector<std::pair<PickleValue*, PickleValue*>> dict;   // kDict, insertion order
  std::unique_ptr<std::unordered_map<std::string, size_t>> dict_index;  // string keys -> dict pos
  std::unique_ptr<PickleTensorInfo> tensor;                             // kTensor
};

std::string_view PickleKindName(PickleValue::Kind k);

struct PickleLimits {
  size_t max_stack = size_t{1} << 20;  // values on the VM stack
  size_t max_marks = size_t{1} << 16;
  size_t max_memo = size_t{1} << 20;  // memo entries
};

struct PickleDocument {
  std::vector<std::unique_ptr<PickleValue>> arena;
  const PickleValue* root = nullptr;
};

// Runs the VM over `bytes`; `where` (e.g. "llm.pt: llm/data.pkl") prefixes every error.
Result<PickleDocument> Unpickle(std::span<const uint8_t> bytes, std::string_view where,
                                const PickleLimits& limits = {});

}  // namespace cosyflow::io

// Pickle VM: opcode loop, allow-listed globals and torch tensor/storage reconstruction.
#include "runtime/io/pickle.h"

#include <cstring>

#include "runtime/io/byte_source.h"

namespace cosyflow::io {
namespace {

using Kind = PickleValue::Kind;

struct AllowedGlobal {
  std::string_view module;
  std::string_view name;
  bool is_storage;
  TorchStorageType storage_type;
};

constexpr AllowedGlobal kAllowedGlobals[] = {
    {"collections", "OrderedDict", false, {}},
    {"builtins", "dict", false, {}},
    {"__builtin__", "dict", false, {}},
    {"torch._utils", "_rebuild_tensor_v2", false, {}},
    {"torch._utils", "_rebuild_parameter", false, {}},
    {"torch", "FloatStorage", true, TorchStorageType::kFloat},
    {"torch", "HalfStorage", true, TorchStorageType::kHalf},
    {"torch", "BFloat16Storage", true, TorchStorageType::kBFloat16},
    {"torch", "LongStorage", true, TorchStorageType::kLong},
    {"torch", "IntStorage", true, TorchStorageType::kInt},
    {"torch", "BoolStorage", true, TorchStorageType::kBool},
    {"torch", "ByteStorage", true, TorchStorageType::kByte},
    {"torch", "DoubleStorage", true, TorchStorageType::kDouble},
};

class PickleVM {
 public:
  PickleVM(std::span<const uint8_t> bytes, std::string_view where, const PickleLimits& limits)
      : p_(bytes), where_(where), limits_(limits) {}

  Result<PickleDocument> Run();

 private:
  template <typename... Args>
  Status Error(fmt::format_string<Args...> f, Args&&... args) const {
    return DataLoss("{}: pickle offset {}: {}", where_, op_pos_,
                    fmt::format(f, std::forward<Args>(args)...));
  }

  PickleValue* New(Kind k) {
    doc_.arena.push_back(std::make_unique<PickleValue>());
    doc_.arena.back()->kind = k;
    return doc_.arena.back().get();
  }
  Status Push(PickleValue* v) {
    if (stack_.size() >= limits_.max_stack)
      return Error("stack exceeds {} values", limits_.max_stack);
    stack_.push_back(v);
    return OkStatus();
  }
  Result<PickleValue*> Pop() {
    if (stack_.size() <= MarkFloor()) return Error("stack underflow");
    PickleValue* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Result<PickleValue*> Top() {
    if (stack_.size() <= MarkFloor()) return Error("stack underflow");
    return stack_.back();
  }
  size_t MarkFloor() const { return marks_.empty() ? 0 : marks_.back(); }
  // Pops everything above the last MARK (and the mark itself).
  Result<std::vector<PickleValue*>> PopMark() {
    if (marks_.empty()) return Error("no MARK on the stack");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PickleValue*> out(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return out;
  }

  Result<const uint8_t*> Take(uint64_t n) {
    if (n > p_.size() - pos_) {
      return Error("needs {} bytes, only {} left (truncated pickle)", n, p_.size() - pos_);
    }
    const uint8_t* r = p_.data() + pos_;
    pos_ += static_cast<size_t>(n);
    return r;
  }
  Result<std::string_view> TakeLine() {
    const void* nl = std::memchr(p_.data() + pos_, '\n', p_.size() - pos_);
    if (nl == nullptr) return Error("unterminated text line (truncated pickle)");
    const size_t len = static_cast<size_t>(static_cast<const uint8_t*>(nl) - (p_.data() + pos_));
    std::string_view s(reinterpret_cast<const char*>(p_.data() + pos_), len);
    pos_ += len + 1;
    return s;
  }

  Status Step(uint8_t op);
  Status PushString(Kind kind, uint64_t len);
  Status PushGlobal(std::string_view module, std::string_view name);
  Status Memoize(uint64_t idx);
  Status MemoGet(uint64_t idx);
  Status SetItems(PickleValue* dict, const std::vector<PickleValue*>& kv);
  Status Append(PickleValue* list, const std::vector<PickleValue*>& vals);
  Status Reduce(PickleValue* callable, PickleValue* args);
  Status RebuildTensor(const PickleValue* args);
  Status PersistentLoad(PickleValue* pid);
  Result<PickleValue*> MakeTuple(std::vector<PickleValue*> items) {
    PickleValue* t = New(Kind::kTuple);
    t->items = std::move(items);
    return t;
  }

  std::span<const uint8_t> p_;
  std::string where_;
  PickleLimits limits_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  bool stopped_ = false;
  PickleDocument doc_;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleValue*> memo_;
};

Result<PickleDocument> PickleVM::Run() {
  while (!stopped_) {
    op_pos_ = pos_;
    if (pos_ >= p_.size()) return Error("no STOP opcode before the end (truncated pickle)");
    const uint8_t op = p_[pos_++];
    COSY_RETURN_IF_ERROR(Step(op));
  }
  if (stack_.size() != 1 || !marks_.empty()) {
    return Error("STOP with {} values and {} marks on the stack, expected 1 and 0", stack_.size(),
                 marks_.size());
  }
  doc_.root = stack_.back();
  return std::move(doc_);
}

Status PickleVM::Step(uint8_t op) {
  switch (op) {
    case 0x80: {  // PROTO
      COSY_ASSIGN_OR_RETURN(const uint8_t* b, Take(1));
      if (*b < 2 || *b > 5) return Error("unsupported pickle protocol {}", *b);
      return OkStatus();
    }
    case 0x95:  // FRAME (protocol 4): a length hint only
      return Take(8).status();
    case '.': {  // STOP
      stopped_ = true;
      return OkStatus();
    }
    case '(':  // MARK
      if (marks_.size() >= limits_.max_marks) return Error("more than {} marks", limits_.max_marks);
      marks_.push_back(stack_.size());
      return OkStatus();
    case '0':  // POP
      return Pop().status();
    case '1':  // POP_MARK
      return PopMark().status();
    case '2': {  // DUP
      COSY_ASSIGN_OR_RETURN(PickleValue * v, Top());
      return Push(v);
    }
    case 'N':
      return Push(New(Kind::kNone));
    case 0x88:
    case 0x89: {  // NEWTRUE / NEWFALSE
      PickleValue* v = New(Kind::kBool);
      v->i = op == 0x88 ? 1 : 0;
      return Push(v);
    }
    case 'J':
    case 'K':
    case 'M': {  // BININT, BININT1, BININT2
      const int n = op == 'J' ? 4 : op == 'K' ? 1 : 2;
      COSY_ASSIGN_OR_RETURN(const uint8_t* b, Take(static_cast<uint64_t>(n)));
      PickleValue* v = New(Kind::kInt);
      v->i = n == 4 ? static_cast<int32_t>(LoadLE32(b)) : n == 1 ? b[0] : LoadLE16(b);
      return Push(v);
    }
    case 0x8a:
    case 0x8b: {  // LONG1, LONG4: little-endian two's complement
      COSY_ASSIGN_OR_RETURN(const uint8_t* lb, Take(op == 0x8a ? 1 : 4));
      const uint64_t n = op == 0x8a ? lb[0] : LoadLE32(lb);
      if (n > 8) return Error("integer of {} bytes does not fit in 64 bits", n);
      COSY_ASSIGN_OR_RETURN(const uint8_t* b, Take(n));
      uint64_t u = 0;
      for (uint64_t k = 0; k < n; ++k) u |= static_cast<uint64_t>(b[k]) << (8 * k);
      if (n > 0 && n < 8 && (b[n - 1] & 0x80)) u |= ~uint64_t{0} << (8 * n);  // sign-extend
      PickleValue* v = New(Kind::kInt);
      v->i = static_cast<int64_t>(u);
      return Push(v);
    }
    case 'G': {  // BINFLOAT: big-endian double
      COSY_ASSIGN_OR_RETURN(const uint8_t* b, Take(8));
      uint64_t u = 0;
      for (int k = 0; k < 8; ++k) u = (u << 8) | b[k];
      PickleValue* v = New(Kind::kFloat);
      std::memcpy(&v->f, &u, 8);
      return Push(v);
    }
    case 'X':
    case 'B':
    case 'T': {  // BINUNICODE, BINBYTES, BINSTRING (4-byte length)
      COSY_ASSIGN_OR_RETURN(const uint8_t* b, Take(4));
      return PushString(op == 'B' ? Kind::kBytes : Kind::kString, LoadLE32(b));
    }
    case 0x8c:
    case 'C':
    case 'U': {  // SHORT_BINUNICODE, SHORT_BINBYTES, SHORT_BINSTRING
      COSY_ASSIGN_OR_RETURN(const uint8_t* b, Take(1));
      return PushString(op == 'C' ? Kind::kBytes : Kind::kString, b[0]);
    }
    case 0x8d:
    case 0x8e: {  // BINUNICODE8, BINBYTES8
      COSY_ASSIGN_OR_RETURN(const uint8_t* b, Take(8));
      return PushString(op == 0x8e ? Kind::kBytes : Kind::kString, LoadLE64(b));
    }
    case '}':
      return Push(New(Kind::kDict));
    case ']':
      return Push(New(Kind::kList));
    case ')':
      return Push(New(Kind::kTuple));
    case 'd': {  // DICT
      COSY_ASSIGN_OR_RETURN(std::vector<PickleValue*> kv, PopMark());
      PickleValue* d = New(Kind::kDict);
      COSY_RETURN_IF_ERROR(SetItems(d, kv));
      return Push(d);
    }
    case 'l':
    case 't': {  // LIST, TUPLE
      COSY_ASSIGN_OR_RETURN(std::vector<PickleValue*> items, PopMark());
      PickleValue* v = New(op == 'l' ? Kind::kList : Kind::kTuple);
      v->items = std::move(items);
      return Push(v);
    }
    case 0x85:
    case 0x86:
    case 0x87: {  // TUPLE1..3
      const size_t n = static_cast<size_t>(op - 0x84);
      std::vector<PickleValue*> items(n);
      for (size_t k = n; k-- > 0;) {
        COSY_ASSIGN_OR_RETURN(items[k], Pop());
      }
      COSY_ASSIGN_OR_RETURN(PickleValue * t, MakeTuple(std::move(items)));
      return Push(t);
    }
    case 'a': {  // APPEND
      COSY_ASSIGN_OR_RETURN(PickleValue * v, Pop());
      COSY_ASSIGN_OR_RETURN(PickleValue * list, Top());
      return Append(list, {v});
    }
    case 'e': {  // APPENDS
      COSY_ASSIGN_OR_RETURN(std::vector<PickleValue*> vals, PopMark());
      COSY_ASSIGN_OR_RETURN(PickleValue * list, Top());
      return Append(list, vals);
    }
    case 's': {  // SETITEM
      COSY_ASSIGN_OR_RETURN(PickleValue * v, Pop());
      COSY_ASSIGN_OR_RETURN(PickleValue * k, Pop());
      COSY_ASSIGN_OR_RETURN(PickleValue * d, Top());
      return SetItems(d, {k, v});
    }
    case 'u': {  // SETITEMS
      COSY_ASSIGN_OR_RETURN(std::vector<PickleValue*> kv, PopMark());
      COSY_ASSIGN_OR_RETURN(PickleValue * d, Top());
      return SetItems(d, kv);
    }
    case 'q': {  // BINPUT
      COSY_ASSIGN_OR_RETURN(const uint8_t* b, Take(1));
      return Memoize(b[0]);
    }
    case 'r': {  // LONG_BINPUT
      COSY_ASSIGN_OR_RETURN(const uint8_t* b, Take(4));
      return Memoize(LoadLE32(b));
    }
    case 0x94:
      return Memoize(memo_.size());  // MEMOIZE
    case 'h': {                      // BINGET
      COSY_ASSIGN_OR_RETURN(const uint8_t* b, Take(1));
      return MemoGet(b[0]);
    }
    case 'j': {  // LONG_BINGET
      COSY_ASSIGN_OR_RETURN(const uint8_t* b, Take(4));
      return MemoGet(LoadLE32(b));
    }
    case 'c': {  // GLOBAL "module\nname\n"
      COSY_ASSIGN_OR_RETURN(std::string_view module, TakeLine());
      COSY_ASSIGN_OR_RETURN(std::string_view name, TakeLine());
      return PushGlobal(module, name);
    }
    case 0x93: {  // STACK_GLOBAL
      COSY_ASSIGN_OR_RETURN(PickleValue * name, Pop());
      COSY_ASSIGN_OR_RETURN(PickleValue * module, Pop());
      if (name->kind != Kind::kString || module->kind != Kind::kString) {
        return Error("STACK_GLOBAL needs two strings");
      }
      return PushGlobal(module->s, name->s);
    }
    case 'R':
    case 0x81: {  // REDUCE, NEWOBJ: callable(*args)
      COSY_ASSIGN_OR_RETURN(PickleValue * args, Pop());
      COSY_ASSIGN_OR_RETURN(PickleValue * callable, Pop());
      return Reduce(callable, args);
    }
    case 'b': {  // BUILD: state for the object below; only dict attributes (torch's _metadata)
      COSY_ASSIGN_OR_RETURN(PickleValue * state, Pop());
      COSY_ASSIGN_OR_RETURN(PickleValue * obj, Top());
      (void)state;
      if (obj->kind != Kind::kDict && obj->kind != Kind::kTensor) {
        return Error("BUILD on a {} is not supported", PickleKindName(obj->kind));
      }
      return OkStatus();
    }
    case 'Q': {  // BINPERSID
      COSY_ASSIGN_OR_RETURN(PickleValue * pid, Pop());
      return PersistentLoad(pid);
    }
    default:
      return Error("unsupported pickle opcode 0x{:02x}", op);
  }
}

Status PickleVM::PushString(Kind kind, uint64_t len) {
  // Take() checks the length against the bytes left before anything is allocated.
  COSY_ASSIGN_OR_RETURN(const uint8_t* b, Take(len));
  PickleValue* v = New(kind);
  v->s.assign(reinterpret_cast<const char*>(b), static_cast<size_t>(len));
  return Push(v);
}

Status PickleVM::PushGlobal(std::string_view module, std::string_view name) {
  for (const AllowedGlobal& g : kAllowedGlobals) {
    if (g.module == module && g.name == name) {
      PickleValue* v = New(Kind::kGlobal);
      v->s = fmt::format("{}.{}", module, name);
      v->storage_type = g.storage_type;
      v->i = g.is_storage ? 1 : 0;
      return Push(v);
    }
  }
  return Unsupported("{}: pickle offset {}: global '{}.{}' is not allowed in a checkpoint", where_,
                     op_pos_, module.substr(0, 200), name.substr(0, 200));
}

Status PickleVM::Memoize(uint64_t idx) {
  COSY_ASSIGN_OR_RETURN(PickleValue * v, Top());
  if (memo_.size() >= limits_.max_memo && !memo_.count(idx)) {
    return Error("memo exceeds {} entries", limits_.max_memo);
  }
  memo_[idx] = v;
  return OkStatus();
}

Status PickleVM::MemoGet(uint64_t idx) {
  auto it = memo_.find(idx);
  if (it == memo_.end()) return Error("memo key {} was never stored", idx);
  return Push(it->second);
}

Status PickleVM::SetItems(PickleValue* d, const std::vector<PickleValue*>& kv) {
  if (d->kind != Kind::kDict) return Error("SETITEM(S) on a {}", PickleKindName(d->kind));
  if (kv.size() % 2 != 0) return Error("SETITEMS with an odd number ({}) of values", kv.size());
  for (size_t k = 0; k < kv.size(); k += 2) {
    PickleValue* key = kv[k];
    if (key->kind == Kind::kString) {
      if (!d->dict_index)
        d->dict_index = std::make_unique<std::unordered_map<std::string, size_t>>();
      auto [it, added] = d->dict_index->emplace(key->s, d->dict.size());
      if (!added) {  // Python semantics: the key keeps its position, the value is replaced
        d->dict[it->second].second = kv[k + 1];
        continue;
      }
    }
    d->dict.emplace_back(key, kv[k + 1]);
  }
  return OkStatus();
}

Status PickleVM::Append(PickleValue* list, const std::vector<PickleValue*>& vals) {
  if (list->kind != Kind::kList) return Error("APPEND(S) on a {}", PickleKindName(list->kind));
  list->items.insert(list->items.end(), vals.begin(), vals.end());
  return OkStatus();
}

Status PickleVM::Reduce(PickleValue* callable, PickleValue* args) {
  if (callable->kind != Kind::kGlobal) {
    return Error("REDUCE on a {}, expected an allowed global", PickleKindName(callable->kind));
  }
  if (args->kind != Kind::kTuple) return Error("REDUCE of {} with non-tuple args", callable->s);
  const std::string& fn = callable->s;
  if (fn == "collections.OrderedDict" || fn.ends_with(".dict")) {
    if (!args->items.empty()) return Error("{} with constructor arguments is not supported", fn);
    return Push(New(Kind::kDict));
  }
  if (fn == "torch._utils._rebuild_tensor_v2") return RebuildTensor(args);
  if (fn == "torch._utils._rebuild_parameter") {  // (tensor, requires_grad, hooks)
    if (args->items.empty() || args->items[0]->kind != Kind::kTensor) {
      return Error("_rebuild_parameter expects a tensor as its first argument");
    }
    return Push(args->items[0]);
  }
  return Error("global '{}' cannot be called", fn);
}

Status PickleVM::RebuildTensor(const PickleValue* args) {
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  const auto& a = args->items;
  if (a.size() < 4 || a[0]->kind != Kind::kStorage || a[1]->kind != Kind::kInt ||
      a[2]->kind != Kind::kTuple || a[3]->kind != Kind::kTuple) {
    return Error("_rebuild_tensor_v2 expects (storage, offset, size tuple, stride tuple, ...)");
  }
  if (a[2]->items.size() != a[3]->items.size()) {
    return Error("tensor size has {} dims but stride has {}", a[2]->items.size(),
                 a[3]->items.size());
  }
  if (a[2]->items.size() > static_cast<size_t>(kMaxDims)) {
    return Error("tensor rank {} exceeds {}", a[2]->items.size(), kMaxDims);
  }
  auto info = std::make_unique<PickleTensorInfo>();
  info->storage = a[0];
  info->offset = a[1]->i;
  for (size_t d = 0; d < a[2]->items.size(); ++d) {
    const PickleValue* sz = a[2]->items[d];
    const PickleValue* st = a[3]->items[d];
    if (sz->kind != Kind::kInt || st->kind != Kind::kInt) return Error("non-integer size/stride");
    info->shape.push_back(sz->i);
    info->strides.push_back(st->i);
  }
  PickleValue* t = New(Kind::kTensor);
  t->tensor = std::move(info);
  return Push(t);
}

Status PickleVM::PersistentLoad(PickleValue* pid) {
  // ('storage', <torch.TStorage>, key, location, numel)
  const auto& a = pid->items;
  if (pid->kind != Kind::kTuple || a.size() != 5 || a[0]->kind != Kind::kString ||
      a[0]->s != "storage" || a[1]->kind != Kind::kGlobal || a[1]->i != 1 ||
      a[2]->kind != Kind::kString || a[4]->kind != Kind::kInt) {
    return Error("persistent id is not ('storage', torch.<T>Storage, key, location, numel)");
  }
  if (a[4]->i < 0) return Error("storage '{}' has negative size {}", a[2]->s, a[4]->i);
  PickleValue* s = New(Kind::kStorage);
  s->s = a[2]->s;
  s->storage_type = a[1]->storage_type;
  s->i = a[4]->i;
  return Push(s);
}

}  // namespace

std::string_view PickleKindName(PickleValue::Kind k) {
  switch (k) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kBytes:
      return "bytes";
    case Kind::kTuple:
      return "tuple";
    case Kind::kList:
      return "list";
    case Kind::kDict:
      return "dict";
    case Kind::kGlobal:
      return "global";
    case Kind::kStorage:
      return "storage";
    case Kind::kTensor:
      return "tensor";
  }
  return "?";
}

Result<PickleDocument> Unpickle(std::span<const uint8_t> bytes, std::string_view where,
                                const PickleLimits& limits) {
  PickleVM vm(bytes, where, limits);
  return vm.Run();
}

}  // namespace cosyflow::io

// Test helpers for the checkpoint readers: file bytes, temp dirs, and builders for crafted
// torch zip archives and pickles (so bad-input cases do not need binary fixtures).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "runtime/io/zip.h"

namespace cosyflow::test {

using Bytes = std::vector<uint8_t>;

inline Bytes ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("cosyflow_io_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void PutLE(Bytes* b, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b->push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A stored-only zip archive; each entry's data starts 64-byte aligned like torch writes it.
inline Bytes StoredZip(const std::vector<std::pair<std::string, Bytes>>& files) {
  Bytes out, cd;
  for (const auto& [name, data] : files) {
    const uint64_t local = out.size();
    size_t pad = (64 - (out.size() + 30 + name.size() + 4) % 64) % 64;
    PutLE(&out, 0x04034b50, 4);
    PutLE(&out, 20, 2);
    PutLE(&out, 0, 2);
    PutLE(&out, 0, 2);  // version, flags, method
    PutLE(&out, 0, 4);
    PutLE(&out, io::Crc32(data.data(), data.size()), 4);  // time/date, crc
    PutLE(&out, data.size(), 4);
    PutLE(&out, data.size(), 4);
    PutLE(&out, name.size(), 2);
    PutLE(&out, 4 + pad, 2);
    out.insert(out.end(), name.begin(), name.end());
    PutLE(&out, 0x4246, 2);
    PutLE(&out, pad, 2);  // "FB" padding extra field, as torch
    out.insert(out.end(), pad, 'Z');
    out.insert(out.end(), data.begin(), data.end());
    PutLE(&cd, 0x02014b50, 4);
    PutLE(&cd, 20, 2);
    PutLE(&cd, 20, 2);
    PutLE(&cd, 0, 2);
    PutLE(&cd, 0, 2);
    PutLE(&cd, 0, 4);                                    // time/date
    PutLE(&cd, io::Crc32(data.data(), data.size()), 4);  // crc
    PutLE(&cd, data.size(), 4);
    PutLE(&cd, data.size(), 4);
    PutLE(&cd, name.size(), 2);
    PutLE(&cd, 0, 2);
    PutLE(&cd, 0, 2);
    PutLE(&cd, 0, 2);
    PutLE(&cd, 0, 2);
    PutLE(&cd, 0, 4);
    PutLE(&cd, local, 4);
    cd.insert(cd.end(), name.begin(), name.end());
  }
  const uint64_t cd_offset = out.size();
  out.insert(out.end(), cd.begin(), cd.end());
  PutLE(&out, 0x06054b50, 4);
  PutLE(&out, 0, 2);
  PutLE(&out, 0, 2);
  PutLE(&out, files.size(), 2);
  PutLE(&out, files.size(), 2);
  PutLE(&out, cd.size(), 4);
  PutLE(&out, cd_offset, 4);
  PutLE(&out, 0, 2);
  return out;
}

// Emits pickle opcodes by name; integers always as 8-byte LONG1 so huge values fit.
class PickleBuilder {
 public:
  PickleBuilder& Proto() { return Op(0x80).Byte(2); }
  PickleBuilder& Op(uint8_t op) { return Byte(op); }
  PickleBuilder& Byte(uint8_t b) {
    b_.push_back(b);
    return *this;
  }
  PickleBuilder& Global(const std::string& module, const std::string& name) {
    Op('c');
    b_.insert(b_.end(), module.begin(), module.end());
    Byte('\n');
    b_.insert(b_.end(), name.begin(), name.end());
    return Byte('\n');
  }
  PickleBuilder& Str(const std::string& s) {
    Op('X');
    PutLE(&b_, s.size(), 4);
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  PickleBuilder& Int(int64_t v) {
    Op(0x8a).Byte(8);
    PutLE(&b_, static_cast<uint64_t>(v), 8);
    return *this;
  }
  PickleBuilder& IntTuple(const std::vector<int64_t>& v) {
    Op('(');
    for (int64_t x : v) Int(x);
    return Op('t');
  }
  PickleBuilder& EmptyDict() {  // OrderedDict()
    return Global("collections", "OrderedDict").Op(')').Op('R');
  }
  // Pushes _rebuild_tensor_v2(('storage', torch.<cls>, key, 'cpu', numel), offset, size, stride).
  PickleBuilder& Tensor(const std::string& cls, const std::string& key, int64_t numel,
                        int64_t offset, const std::vector<int64_t>& size,
                        const std::vector<int64_t>& stride) {
    Global("torch._utils", "_rebuild_tensor_v2").Op('(');
    Op('(').Str("storage").Global("torch", cls).Str(key).Str("cpu").Int(numel).Op('t').Op('Q');
    Int(offset).IntTuple(size).IntTuple(stride).Op(0x89).EmptyDict();
    return Op('t').Op('R');
  }
  PickleBuilder& Stop() { return Op('.'); }
  const Bytes& bytes() const { return b_; }

 private:
  Bytes b_;
};

struct FakeTensor {
  std::string name;
  std::string key;
  int64_t numel;
  int64_t offset;
  std::vector<int64_t> size;
  std::vector<int64_t> stride;
  std::string cls = "FloatStorage";
};

// An OrderedDict of tensors pickled the way torch.save writes a state dict.
inline Bytes StateDictPickle(const std::vector<FakeTensor>& tensors) {
  PickleBuilder p;
  p.Proto().EmptyDict().Op('(');
  for (const FakeTensor& t : tensors) {
    p.Str(t.name).Tensor(t.cls, t.key, t.numel, t.offset, t.size, t.stride);
  }
  return p.Op('u').Stop().bytes();
}

// A torch.save-style archive "archive/..." with data.pkl and the given storage records.
inline Bytes TorchZip(const Bytes& pickle, const std::vector<std::pair<std::string, Bytes>>& data) {
  std::vector<std::pair<std::string, Bytes>> files = {{"archive/data.pkl", pickle}};
  for (const auto& [key, bytes] : data) files.push_back({"archive/data/" + key, bytes});
  files.push_back({"archive/version", Bytes{'3', '\n'}});
  return StoredZip(files);
}

inline Bytes FloatBytes(const std::vector<float>& v) {
  Bytes b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

}  // namespace cosyflow::test

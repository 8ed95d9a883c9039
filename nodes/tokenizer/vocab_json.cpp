// vocab.json reader (see vocab_json.h).
#include "nodes/tokenizer/vocab_json.h"

#include "nodes/tokenizer/utf8.h"

namespace cosyflow::tokenizer {

TextLocation LocateOffset(std::string_view text, size_t offset) {
  TextLocation loc;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++loc.line;
      loc.column = 1;
    } else {
      ++loc.column;
    }
  }
  return loc;
}

namespace {

class Reader {
 public:
  Reader(std::string_view text, std::string_view name) : text_(text), name_(name) {}

  Status Error(std::string_view what) const {
    TextLocation loc = LocateOffset(text_, pos_);
    return DataLoss("{}: entry {} (line {}:{}): {}", name_, entry_, loc.line, loc.column, what);
  }
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ >= text_.size();
  }
  size_t pos() const { return pos_; }
  void set_entry(size_t entry) { entry_ = entry; }

  Status ReadHex4(uint32_t* v) {
    if (pos_ + 4 > text_.size()) return Error("truncated \\u escape");
    *v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      int d = (c >= '0' && c <= '9')   ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : -1;
      if (d < 0) return Error("bad hex digit in \\u escape");
      *v = (*v << 4) | static_cast<uint32_t>(d);
    }
    return OkStatus();
  }

  Status ReadEscape(std::string* out) {
    if (pos_ >= text_.size()) return Error("unterminated string");
    char c = text_[pos_++];
    switch (c) {
      case '"':
      case '\\':
      case '/':
        out->push_back(c);
        return OkStatus();
      case 'b':
        out->push_back('\b');
        return OkStatus();
      case 'f':
        out->push_back('\f');
        return OkStatus();
      case 'n':
        out->push_back('\n');
        return OkStatus();
      case 'r':
        out->push_back('\r');
        return OkStatus();
      case 't':
        out->push_back('\t');
        return OkStatus();
      case 'u':
        break;
      default:
        return Error("bad escape in string");
    }
    uint32_t cp;
    COSY_RETURN_IF_ERROR(ReadHex4(&cp));
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      uint32_t lo;
      if (pos_ + 2 > text_.size() || text_[pos_] != '\\' || text_[pos_ + 1] != 'u') {
        return Error("unpaired surrogate escape");
      }
      pos_ += 2;
      COSY_RETURN_IF_ERROR(ReadHex4(&lo));
      if (lo < 0xDC00 || lo > 0xDFFF) return Error("unpaired surrogate escape");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return Error("unpaired surrogate escape");
    }
    AppendUtf8(static_cast<char32_t>(cp), out);
    return OkStatus();
  }

  Status ReadString(std::string* out) {
    if (!Consume('"')) return Error("expected a string key");
    out->clear();
    size_t run = pos_;
    while (true) {
      if (pos_ >= text_.size()) return Error("unterminated string");
      char c = text_[pos_];
      if (c == '"' || c == '\\') {
        out->append(text_.substr(run, pos_ - run));
        ++pos_;
        if (c == '"') break;
        COSY_RETURN_IF_ERROR(ReadEscape(out));
        run = pos_;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        return Error("control character in string");
      } else {
        ++pos_;
      }
    }
    if (FindInvalidUtf8(*out) != std::string::npos) return Error("invalid UTF-8 in string");
    return OkStatus();
  }

  Status ReadInt(int64_t* v) {
    SkipSpace();
    size_t start = pos_;
    *v = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      *v = *v * 10 + (text_[pos_++] - '0');
      if (*v > INT32_MAX) return Error("id out of range");
    }
    if (pos_ == start) return Error("expected a non-negative integer id");
    return OkStatus();
  }

 private:
  std::string_view text_;
  std::string_view name_;
  size_t pos_ = 0;
  size_t entry_ = 0;
};

}  // namespace

Status ParseStringIntObject(
    std::string_view text, std::string_view name,
    const std::function<Status(std::string&& key, int64_t value)>& on_entry) {
  Reader r(text, name);
  if (!r.Consume('{')) return r.Error("expected '{'");
  std::string key;
  size_t entry = 0;
  if (!r.Consume('}')) {
    while (true) {
      r.set_entry(entry);
      r.SkipSpace();
      size_t key_pos = r.pos();
      COSY_RETURN_IF_ERROR(r.ReadString(&key));
      if (!r.Consume(':')) return r.Error("expected ':'");
      int64_t value;
      COSY_RETURN_IF_ERROR(r.ReadInt(&value));
      Status status = on_entry(std::move(key), value);
      if (!status.ok()) {
        TextLocation loc = LocateOffset(text, key_pos);
        return status.WithContext(
            fmt::format("{}: entry {} (line {}:{})", name, entry, loc.line, loc.column));
      }
      ++entry;
      if (r.Consume(',')) continue;
      if (r.Consume('}')) break;
      return r.Error("expected ',' or '}'");
    }
  }
  if (!r.AtEnd()) return r.Error("trailing characters after the object");
  return OkStatus();
}

}  // namespace cosyflow::tokenizer

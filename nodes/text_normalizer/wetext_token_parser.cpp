// wetext TokenParser.reorder (see wetext_token_parser.h).
#include "nodes/text_normalizer/wetext_token_parser.h"

#include <array>
#include <utility>
#include <vector>

namespace cosyflow::text_normalizer {
namespace {

struct Order {
  std::string_view token;
  std::vector<std::string_view> keys;
};

const std::vector<Order>& Orders(WetextLang lang) {
  static const std::vector<Order> kZh = {
      {"date", {"year", "month", "day"}},
      {"fraction", {"denominator", "numerator"}},
      {"measure", {"denominator", "numerator", "value"}},
      {"money", {"value", "currency"}},
      {"time", {"noon", "hour", "minute", "second"}},
  };
  static const std::vector<Order> kEn = {
      {"date", {"preserve_order", "text", "day", "month", "year"}},
      {"money", {"integer_part", "fractional_part", "quantity", "currency_maj"}},
  };
  return lang == WetextLang::kEn ? kEn : kZh;
}

struct Token {
  std::string name;
  std::vector<std::string> order;                          // keys as given (repeats kept)
  std::vector<std::pair<std::string, std::string>> members;  // key -> last value

  const std::string* Find(std::string_view key) const {
    for (const auto& [k, v] : members)
      if (k == key) return &v;
    return nullptr;
  }
  void Append(std::string key, std::string value) {
    order.push_back(key);
    for (auto& [k, v] : members) {
      if (k == key) {
        v = std::move(value);
        return;
      }
    }
    members.emplace_back(std::move(key), std::move(value));
  }
};

bool IsKeyChar(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

// The reference's character cursor: `eos` once read() has run past the last character.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool eos() const { return eos_; }
  char c() const { return s_[i_]; }
  bool Read() {
    if (i_ + 1 < s_.size()) {
      ++i_;
      return true;
    }
    eos_ = true;
    return false;
  }
  bool SkipSpaces() {
    while (!eos_ && c() == ' ') Read();
    return !eos_;
  }
  bool Accept(char x) {
    if (eos_ || c() != x) return false;
    Read();
    return true;
  }
  // parse_chars: each character of `xs` in turn, each optional.
  void AcceptEach(std::string_view xs) {
    for (char x : xs) Accept(x);
  }
  Result<std::string> Key() {
    if (eos_) return InvalidArgument("wetext tokens: key expected at the end of '{}'", s_);
    if (c() == '\t' || c() == '\n' || c() == '\r' || c() == '\v' || c() == '\f') {
      return InvalidArgument("wetext tokens: key expected at whitespace in '{}'", s_);
    }
    std::string key;
    while (!eos_ && IsKeyChar(c())) {
      key.push_back(c());
      Read();
    }
    return key;
  }
  Result<std::string> Value() {
    std::string value;
    while (!eos_ && c() != '"') {
      const bool escape = c() == '\\';
      value.push_back(c());
      Read();
      if (escape && !eos_) {
        value.push_back(c());
        Read();
      }
    }
    // The reference loops forever on a value that never closes.
    if (eos_) return InvalidArgument("wetext tokens: unterminated value in '{}'", s_);
    return value;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
  bool eos_ = false;
};

Result<std::vector<Token>> Parse(std::string_view s) {
  if (s.empty()) return InvalidArgument("wetext tokens: the tagger output is empty");
  Cursor cur(s);
  std::vector<Token> tokens;
  while (cur.SkipSpaces()) {
    Token token;
    COSY_ASSIGN_OR_RETURN(token.name, cur.Key());
    cur.AcceptEach(" { ");
    while (cur.SkipSpaces()) {
      if (cur.c() == '}') {
        cur.Accept('}');
        break;
      }
      COSY_ASSIGN_OR_RETURN(std::string key, cur.Key());
      cur.AcceptEach(": \"");
      COSY_ASSIGN_OR_RETURN(std::string value, cur.Value());
      cur.Accept('"');
      token.Append(std::move(key), std::move(value));
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

void AppendToken(const Token& t, const std::vector<Order>& orders, std::string* out) {
  const std::vector<std::string_view>* canonical = nullptr;
  for (const auto& o : orders)
    if (o.token == t.name) canonical = &o.keys;
  if (canonical != nullptr) {
    const std::string* preserve = t.Find("preserve_order");
    if (preserve != nullptr && *preserve == "true") canonical = nullptr;
  }
  *out += t.name;
  *out += " {";
  auto field = [&](std::string_view key) {
    const std::string* v = t.Find(key);
    if (v == nullptr) return;
    *out += ' ';
    *out += key;
    *out += ": \"";
    *out += *v;
    *out += '"';
  };
  if (canonical != nullptr) {
    for (std::string_view k : *canonical) field(k);
  } else {
    for (const std::string& k : t.order) field(k);
  }
  *out += " }";
}

}  // namespace

std::string_view WetextLangName(WetextLang lang) {
  switch (lang) {
    case WetextLang::kZh:
      return "zh";
    case WetextLang::kEn:
      return "en";
    case WetextLang::kJa:
      return "ja";
  }
  return "?";
}

Result<WetextLang> ParseWetextLang(std::string_view name) {
  if (name == "zh") return WetextLang::kZh;
  if (name == "en") return WetextLang::kEn;
  if (name == "ja") return WetextLang::kJa;
  return InvalidArgument("text normalizer: language must be zh, en or ja, got '{}'", name);
}

Result<std::string> ReorderWetextTokens(std::string_view tagged, WetextLang lang) {
  COSY_ASSIGN_OR_RETURN(std::vector<Token> tokens, Parse(tagged));
  std::string out;
  out.reserve(tagged.size() + 16);
  for (const Token& t : tokens) {
    AppendToken(t, Orders(lang), &out);
    out += ' ';
  }
  // Python's strip(): the string starts with a token name (or " {" for a nameless token) and
  // ends with "} ", so only ASCII spaces can be at either end.
  const size_t first = out.find_first_not_of(' ');
  if (first == std::string::npos) return std::string();
  const size_t last = out.find_last_not_of(' ');
  return out.substr(first, last - first + 1);
}

}  // namespace cosyflow::text_normalizer

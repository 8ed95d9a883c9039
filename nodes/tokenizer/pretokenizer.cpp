// Qwen2 pre-tokenizer on PCRE2 (see pretokenizer.h).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "nodes/tokenizer/pretokenizer.h"

#include <pcre2.h>

#include <string>

namespace cosyflow::tokenizer {
namespace {

// Hugging Face runs this pattern on Oniguruma, whose Unicode \s is the White_Space property.
// PCRE2's UCP \s is \p{Z} plus \h and \v, which adds U+180E; spell White_Space out so the two
// engines agree on every code point.
constexpr std::string_view kWhiteSpace =
    R"(\t-\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

std::string PatternForPcre2() {
  std::string ws(kWhiteSpace);
  std::string pattern(kQwen2PreTokenizerPattern);
  auto replace = [&](std::string_view from, const std::string& to) {
    for (size_t p = pattern.find(from); p != std::string::npos; p = pattern.find(from, p)) {
      pattern.replace(p, from.size(), to);
      p += to.size();
    }
  };
  replace(R"([^\s\p{L}\p{N}])", "[^" + ws + R"(\p{L}\p{N}])");
  replace(R"(\S)", "[^" + ws + "]");
  replace(R"(\s)", "[" + ws + "]");
  return pattern;
}

std::string Pcre2Message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

struct Qwen2PreTokenizer::Impl {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Impl() { pcre2_code_free(code); }
};

Qwen2PreTokenizer::Qwen2PreTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Qwen2PreTokenizer::~Qwen2PreTokenizer() = default;

Result<std::unique_ptr<Qwen2PreTokenizer>> Qwen2PreTokenizer::Create() {
  auto impl = std::make_unique<Impl>();
  std::string pattern = PatternForPcre2();
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  impl->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                             PCRE2_UTF | PCRE2_UCP, &error, &error_offset, nullptr);
  if (impl->code == nullptr) {
    return Internal("pre-tokenizer regex does not compile at offset {}: {}", error_offset,
                    Pcre2Message(error));
  }
  // JIT is an optimisation only: fall back to the interpreter where it is unavailable.
  impl->jit = pcre2_jit_compile(impl->code, PCRE2_JIT_COMPLETE) == 0;
  return std::unique_ptr<Qwen2PreTokenizer>(new Qwen2PreTokenizer(std::move(impl)));
}

Status Qwen2PreTokenizer::Split(std::string_view text, std::vector<std::string_view>* words) const {
  // Match data is per call (cheap: one ovector pair) so the instance stays shareable.
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  if (md == nullptr) return MakeError(StatusCode::kResourceExhausted, "pcre2 match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  Status status;
  while (pos < text.size()) {
    // NO_UTF_CHECK: the caller validated the text; without it PCRE2 rescans the rest of the
    // subject on every call, which is quadratic on long inputs.
    int rc = PCRE2_ERROR_JIT_STACKLIMIT;
    if (impl_->jit) {
      rc = pcre2_jit_match(impl_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
    }
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {  // no JIT, or its small stack ran out: interpret
      rc = pcre2_match(impl_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      status = Internal("pre-tokenizer regex failed at byte {}: {}", pos, Pcre2Message(rc));
      break;
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t begin = ov[0], end = ov[1];
    if (begin > pos) words->push_back(text.substr(pos, begin - pos));
    if (end == begin) {  // cannot happen with this pattern; never loop forever on it
      status = Internal("pre-tokenizer regex matched empty at byte {}", begin);
      break;
    }
    words->push_back(text.substr(begin, end - begin));
    pos = end;
  }
  if (status.ok() && pos < text.size()) words->push_back(text.substr(pos));
  pcre2_match_data_free(md);
  return status;
}

}  // namespace cosyflow::tokenizer

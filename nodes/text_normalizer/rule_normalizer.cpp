// RuleNormalizer: per-language pipelines and the OpenCC wrapper (see rule_normalizer.h).
#include "nodes/text_normalizer/rule_normalizer.h"

#ifdef COSYFLOW_HAVE_OPENCC
#include <opencc.h>
#endif

#include "nodes/text_normalizer/unicode_text.h"
#include "nodes/text_normalizer/zh_tn.h"

namespace cosyflow::text_normalizer {

std::shared_ptr<const RuleNormalizer> RuleNormalizer::Create() {
  std::shared_ptr<RuleNormalizer> r(new RuleNormalizer());
#ifdef COSYFLOW_HAVE_OPENCC
  opencc_t h = opencc_open("t2s.json");
  if (h == reinterpret_cast<opencc_t>(-1)) {
    const char* err = opencc_error();
    r->opencc_error_ = std::string("OpenCC t2s.json failed to open: ") + (err ? err : "?");
  } else {
    r->opencc_ = h;
  }
#else
  r->opencc_error_ = "this build has no OpenCC (install libopencc-dev, see scripts/setup)";
#endif
  return r;
}

RuleNormalizer::~RuleNormalizer() {
#ifdef COSYFLOW_HAVE_OPENCC
  if (opencc_ != nullptr) opencc_close(static_cast<opencc_t>(opencc_));
#endif
}

Result<std::u32string> RuleNormalizer::TraditionalToSimple(std::u32string_view text) const {
  if (opencc_ == nullptr) {
    return Unsupported("text normalizer: traditional_to_simple unavailable: {}", opencc_error_);
  }
#ifdef COSYFLOW_HAVE_OPENCC
  std::string in = ToU8(text);
  std::lock_guard<std::mutex> lock(opencc_mu_);
  char* converted = opencc_convert_utf8(static_cast<opencc_t>(opencc_), in.data(), in.size());
  if (converted == nullptr) {
    const char* err = opencc_error();
    return Internal("text normalizer: OpenCC conversion failed: {}", err ? err : "?");
  }
  std::u32string out = ToU32(converted);
  opencc_convert_utf8_free(converted);
  return out;
#else
  return std::u32string(text);
#endif
}

Result<std::u32string> RuleNormalizer::NormalizeU32(std::u32string_view text, TnLang lang,
                                                    const TnOptions& o) const {
  std::u32string s(text);
  switch (lang) {
    case TnLang::kZh: {
      if (o.traditional_to_simple) {
        auto simple = TraditionalToSimple(s);
        if (!simple.ok()) return simple.status();
        s = std::move(*simple);
      }
      if (o.full_to_half) s = FullToHalf(s);
      s = ZhVerbalize(s);
      return ZhPostProcess(s, o);
    }
    case TnLang::kEn:
      return EnVerbalize(s, o);
    case TnLang::kJa:
      if (o.full_to_half) s = FullToHalf(s);
      return JaVerbalize(s);
  }
  return s;
}

Result<std::string> RuleNormalizer::Normalize(std::string_view text, TnLang lang,
                                              const TnOptions& o) const {
  auto out = NormalizeU32(ToU32(text), lang, o);
  if (!out.ok()) return out.status();
  return ToU8(*out);
}

}  // namespace cosyflow::text_normalizer

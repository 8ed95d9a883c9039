// Text normalization proper (what wetext / WeTextProcessing do): zh, en and ja rule normalizers
// behind one entry point, plus the optional OpenCC traditional->simplified converter.
//
// Thread safety: immutable after Create; Normalize may run concurrently (the OpenCC handle is
// guarded by a mutex).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "nodes/text_normalizer/tn_options.h"
#include "runtime/status.h"

namespace cosyflow::text_normalizer {

class RuleNormalizer {
 public:
  // Opens OpenCC's t2s configuration when the build has OpenCC; a failure there only makes
  // traditional_to_simple unavailable (reported when that option is used).
  static std::shared_ptr<const RuleNormalizer> Create();
  ~RuleNormalizer();

  // TN of `text` in `lang` with `options`. Invalid UTF-8 is replaced by U+FFFD first.
  // Unsupported if traditional_to_simple is asked for without OpenCC.
  Result<std::string> Normalize(std::string_view text, TnLang lang, const TnOptions& options) const;
  Result<std::u32string> NormalizeU32(std::u32string_view text, TnLang lang,
                                      const TnOptions& options) const;

  bool has_traditional_to_simple() const { return opencc_ != nullptr; }

 private:
  RuleNormalizer() = default;
  Result<std::u32string> TraditionalToSimple(std::u32string_view text) const;

  void* opencc_ = nullptr;  // opencc_t
  std::string opencc_error_;
  mutable std::mutex opencc_mu_;
};

// Verbalizers of the other two languages (see en_tn.h / ja_tn.h for their rules).
std::u32string EnVerbalize(std::u32string_view text, const TnOptions& options);
std::u32string JaVerbalize(std::u32string_view text);

}  // namespace cosyflow::text_normalizer

// zh post-processing (see zh_tn.h ZhPostProcess): erhua removal, interjection removal,
// punctuation removal and <oov> tagging.
#include <array>

#include "nodes/text_normalizer/tn_scan.h"
#include "nodes/text_normalizer/zh_tn.h"

namespace cosyflow::text_normalizer {
namespace {

// Words whose 儿 is a real morpheme (kept by remove_erhua): 儿 after these characters ...
constexpr std::u32string_view kErKeepBefore = U"婴女幼孤健男患胎少宠托孙侄弃乳孩胖混新育";
// ... or 儿 starting a word with these characters after it.
constexpr std::u32string_view kErKeepAfter = U"子童女科歌孙媳戏时";

std::u32string RemoveErhua(std::u32string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == U'儿') {
      char32_t prev = CharBefore(s, i), next = CharAt(s, i + 1);
      bool keep = (prev != 0 && kErKeepBefore.find(prev) != std::u32string_view::npos) ||
                  (next != 0 && kErKeepAfter.find(next) != std::u32string_view::npos);
      if (!keep) continue;
    }
    out.push_back(s[i]);
  }
  return out;
}

constexpr std::u32string_view kInterjections = U"呃啊嗯唔哎唉噢哦诶欸";

bool InZhVocabulary(char32_t c) {
  return c < 0x80 || IsCjkIdeograph(c) || (c >= 0x3000 && c <= 0x303F) ||
         (c >= 0xFF00 && c <= 0xFFEF) || (c >= 0x2000 && c <= 0x206F) || c == 0xB7 || c == 0xD7 ||
         c == 0xF7 || c == 0xB0 || c == 0xB1;
}

}  // namespace

std::u32string ZhPostProcess(std::u32string_view text, const TnOptions& o) {
  std::u32string s(text);
  if (o.remove_interjections) {
    std::u32string out;
    for (char32_t c : s)
      if (kInterjections.find(c) == std::u32string_view::npos) out.push_back(c);
    s = std::move(out);
  }
  if (o.remove_erhua) s = RemoveErhua(s);
  if (o.remove_puncts) {
    std::u32string out;
    for (char32_t c : s)
      if (!IsPunctOrSymbol(c)) out.push_back(c);
    s = std::move(out);
  }
  if (o.tag_oov) {
    std::u32string out;
    for (char32_t c : s) {
      if (InZhVocabulary(c)) {
        out.push_back(c);
      } else {
        out += U"<oov>";
        out.push_back(c);
        out += U"</oov>";
      }
    }
    s = std::move(out);
  }
  return s;
}

}  // namespace cosyflow::text_normalizer

// UTF-8 helpers (see utf8.h). NFC is utf8proc's: a small, well-maintained C library that
// implements exactly the Unicode normalization forms and nothing else we would have to carry.
#include "nodes/tokenizer/utf8.h"

#include <utf8proc.h>

#include <cstdlib>
#include <cstring>

namespace cosyflow::tokenizer {

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool NextCodePoint(std::string_view s, size_t* pos, char32_t* cp) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + *pos;
  size_t left = s.size() - *pos;
  if (left == 0) return false;
  unsigned char b0 = p[0];
  if (b0 < 0x80) {
    *cp = b0;
    *pos += 1;
    return true;
  }
  int len;
  char32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, min = 0x80, *cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, min = 0x800, *cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, *cp = b0 & 0x07;
  } else {
    return false;
  }
  if (left < static_cast<size_t>(len)) return false;
  for (int i = 1; i < len; ++i) {
    if ((p[i] & 0xC0) != 0x80) return false;
    *cp = (*cp << 6) | (p[i] & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) return false;
  *pos += len;
  return true;
}

size_t FindInvalidUtf8(std::string_view s) {
  size_t pos = 0;
  char32_t cp;
  while (pos < s.size()) {
    if (static_cast<unsigned char>(s[pos]) < 0x80) {
      ++pos;
    } else if (!NextCodePoint(s, &pos, &cp)) {
      return pos;
    }
  }
  return std::string_view::npos;
}

namespace {

// True when NFC maps `cp` to itself in every context: no canonical decomposition, combining
// class 0 and never the second half of a composition. Ranges checked against the UCD tables.
bool IsNfcInert(char32_t cp) {
  return cp < 0x300 || (cp >= 0x3000 && cp <= 0x3029) || (cp >= 0x3030 && cp <= 0x3098) ||
         (cp >= 0x309B && cp <= 0x30FF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
         (cp >= 0xFF00 && cp <= 0xFFEF);
}

}  // namespace

Status AppendNfc(std::string_view s, std::string* out) {
  size_t pos = 0;
  char32_t cp;
  bool inert = true;
  while (pos < s.size()) {
    if (static_cast<unsigned char>(s[pos]) < 0x80) {
      ++pos;
      continue;
    }
    if (!NextCodePoint(s, &pos, &cp)) return InvalidArgument("invalid UTF-8 at byte {}", pos);
    if (!IsNfcInert(cp)) {
      inert = false;
      break;
    }
  }
  if (inert) {
    out->append(s);
    return OkStatus();
  }
  utf8proc_uint8_t* dst = nullptr;
  utf8proc_ssize_t n = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()),
      &dst, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) {
    return Internal("utf8proc NFC failed: {}", utf8proc_errmsg(n));
  }
  out->append(reinterpret_cast<const char*>(dst), static_cast<size_t>(n));
  std::free(dst);
  return OkStatus();
}

}  // namespace cosyflow::tokenizer

namespace cosyflow::tokenizer {

namespace {

// Length of the maximal subpart of an ill-formed sequence starting at s[pos] (>= 1).
size_t MaximalSubpart(std::string_view s, size_t pos) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char b0 = byte(pos);
  int len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 1;
  }
  size_t n = 1;
  while (n < static_cast<size_t>(len) && pos + n < s.size()) {
    unsigned char b = byte(pos + n);
    bool ok = n == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) break;
    ++n;
  }
  return n;
}

}  // namespace

std::string ReplaceInvalidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  char32_t cp;
  while (pos < s.size()) {
    size_t start = pos;
    if (static_cast<unsigned char>(s[pos]) < 0x80 || NextCodePoint(s, &pos, &cp)) {
      if (pos == start) ++pos;
      out.append(s.substr(start, pos - start));
    } else {
      pos += MaximalSubpart(s, pos);
      out.append("\xEF\xBF\xBD");
    }
  }
  return out;
}

}  // namespace cosyflow::tokenizer

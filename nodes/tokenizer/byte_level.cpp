// GPT-2 byte-level alphabet tables (see byte_level.h).
#include "nodes/tokenizer/byte_level.h"

#include <array>

#include "nodes/tokenizer/utf8.h"

namespace cosyflow::tokenizer {
namespace {

bool IsPrintableByte(int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174; }

struct Tables {
  std::array<char32_t, 256> byte_to_cp{};
  std::array<int16_t, 0x144> cp_to_byte{};  // every mapped code point is < U+0144
};

const Tables& GetTables() {
  static const Tables tables = [] {
    Tables t;
    t.cp_to_byte.fill(-1);
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      char32_t cp = IsPrintableByte(b) ? static_cast<char32_t>(b) : 0x100 + next++;
      t.byte_to_cp[b] = cp;
      t.cp_to_byte[cp] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return tables;
}

}  // namespace

char32_t ByteToCodePoint(uint8_t byte) { return GetTables().byte_to_cp[byte]; }

int CodePointToByte(char32_t cp) {
  const Tables& t = GetTables();
  return cp < t.cp_to_byte.size() ? t.cp_to_byte[cp] : -1;
}

std::string ByteLevelEncode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) AppendUtf8(ByteToCodePoint(b), &out);
  return out;
}

Result<std::string> ByteLevelDecode(std::string_view spelling) {
  std::string out;
  out.reserve(spelling.size());
  size_t pos = 0;
  while (pos < spelling.size()) {
    size_t start = pos;
    char32_t cp = 0;
    if (!NextCodePoint(spelling, &pos, &cp)) {
      return InvalidArgument("invalid UTF-8 at byte {}", start);
    }
    int b = CodePointToByte(cp);
    if (b < 0) {
      return InvalidArgument("U+{:04X} at byte {} is not in the byte-level alphabet",
                             static_cast<uint32_t>(cp), start);
    }
    out.push_back(static_cast<char>(b));
  }
  return out;
}

}  // namespace cosyflow::tokenizer

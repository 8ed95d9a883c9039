// GPT-2 byte-level alphabet: the reversible byte <-> printable code point map used by Qwen2 BPE.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/status.h"

namespace cosyflow::tokenizer {

// The code point GPT-2's bytes_to_unicode assigns to `byte`: bytes 33-126, 161-172 and 174-255
// map to themselves; the other 68 byte values map, in increasing order, to U+0100..U+0143.
char32_t ByteToCodePoint(uint8_t byte);

// Inverse of ByteToCodePoint; returns -1 for a code point outside the 256-symbol alphabet.
int CodePointToByte(char32_t cp);

// Raw bytes -> their byte-level spelling as UTF-8 (how vocab.json and merges.txt write tokens).
std::string ByteLevelEncode(std::string_view bytes);

// Byte-level spelling (UTF-8) -> raw bytes; an error names the offending code point and offset.
Result<std::string> ByteLevelDecode(std::string_view spelling);

}  // namespace cosyflow::tokenizer

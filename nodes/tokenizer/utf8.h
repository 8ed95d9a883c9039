// UTF-8 helpers for the tokenizer: strict decoding, validation and NFC (via utf8proc).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "runtime/status.h"

namespace cosyflow::tokenizer {

// Appends the UTF-8 encoding of `cp` (assumed a valid scalar value) to `out`.
void AppendUtf8(char32_t cp, std::string* out);

// Decodes the code point at `*pos` and advances past it. Returns false (and leaves *pos) on an
// ill-formed sequence: truncated, overlong, surrogate, or above U+10FFFF.
bool NextCodePoint(std::string_view s, size_t* pos, char32_t* cp);

// Byte offset of the first ill-formed UTF-8 sequence, or std::string_view::npos if none.
size_t FindInvalidUtf8(std::string_view s);

// Appends NFC(s) to `out`; `s` must be valid UTF-8. Text made only of code points that NFC
// provably leaves alone (below U+0300, CJK ideographs and punctuation, full-width forms) is
// copied without calling utf8proc.
Status AppendNfc(std::string_view s, std::string* out);

}  // namespace cosyflow::tokenizer

namespace cosyflow::tokenizer {

// Returns `s` with every ill-formed sequence replaced by U+FFFD, one per maximal subpart (the
// Unicode-recommended practice, same as Rust's String::from_utf8_lossy that HF decode uses).
std::string ReplaceInvalidUtf8(std::string_view s);

}  // namespace cosyflow::tokenizer

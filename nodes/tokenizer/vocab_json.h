// Reader for vocab.json: one flat JSON object of "token": id pairs, with line/column errors.
//
// A dedicated reader instead of a DOM parse: it reports duplicate keys (a JSON DOM silently
// keeps one), names the entry and line:column of every error, and loads 150k entries fast.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "runtime/status.h"

namespace cosyflow::tokenizer {

// Calls `on_entry(key, value)` for each pair of the object in `text`, in file order; keys are
// unescaped, valid UTF-8. Values must be integers in [0, 2^31). Stops at the first error
// (syntax or from on_entry), prefixed "NAME: entry K (line L:C): " with K the 0-based pair index.
Status ParseStringIntObject(
    std::string_view text, std::string_view name,
    const std::function<Status(std::string&& key, int64_t value)>& on_entry);

// 1-based line and column of byte `offset` in `text`.
struct TextLocation {
  size_t line = 1;
  size_t column = 1;
};
TextLocation LocateOffset(std::string_view text, size_t offset);

}  // namespace cosyflow::tokenizer

// wetext's FST text normalization (what CosyVoice 2 runs without ttsfrd, spec §1.4): per
// language a tagger and a verbalizer FST in wetext's directory layout
// (DIR/{zh,en,ja}/tn/{tagger,verbalizer,verbalizer_remove_erhua}.fst), applied as
// verbalizer(reorder(tagger(text))) with FstRewriter and ReorderWetextTokens.
//
// The FSTs ship with cosyflow in nodes/text_normalizer/fsts/ (WeTextProcessing grammars,
// Apache-2.0; provenance in fsts/README.md); DefaultWetextFstDir() finds that copy without
// configuration. `fst_dir` points at any other directory in the same layout, e.g. the files
// wetext downloads for itself, to swap grammar versions.
//
// Thread safety: immutable after Load; Normalize may run concurrently. The FST files are
// loaded once per process and shared by every instance (FstRewriter::LoadShared).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/text_normalizer/fst_rewriter.h"
#include "nodes/text_normalizer/wetext_token_parser.h"
#include "runtime/status.h"

namespace cosyflow::text_normalizer {

// The shipped FSTs: the source tree's nodes/text_normalizer/fsts when it exists, else the
// installed share/cosyflow/wetext-fsts (both paths fixed by CMake at build time).
std::string DefaultWetextFstDir();

struct WetextOptions {
  std::string fst_dir;        // "" = DefaultWetextFstDir()
  bool remove_erhua = false;  // zh: verbalizer_remove_erhua.fst (CosyVoice: false)
  bool load_zh = true;
  bool load_en = true;
  bool load_ja = false;
  // Texts longer than this many bytes are normalized in pieces of at most this size, cut after
  // sentence ends (see SplitForWetext); 0 = always whole. Composition time and memory grow
  // with the text's length and its digits (the en tagger keeps ~400 lattice states per digit of
  // a digit run alive: 1 KB of digits ~0.8 GB), so a 1 MB text in one piece could need hundreds
  // of GB. Texts up to this size are exactly the
  // reference's; a longer text can differ where the grammar has equal-weight readings, since
  // the shortest path of a piece may break a tie differently than that of the whole.
  size_t max_piece_bytes = 1024;
};

// Cuts `text` into pieces of at most `max_bytes` (when possible): after the last sentence end
// in reach ('\n'; 。！？; [.!?] followed by spaces, the spaces kept with the sentence), else
// after the last space, else at the last UTF-8 character boundary (pathological input only:
// a very long run without a space). One piece when text.size() <= max_bytes or max_bytes == 0.
std::vector<std::string_view> SplitForWetext(std::string_view text, size_t max_bytes);

class WetextNormalizer {
 public:
  // Loads the FSTs of the languages asked for; errors name the missing or corrupt file.
  static Result<std::shared_ptr<const WetextNormalizer>> Load(const WetextOptions& options);

  // verbalizer(reorder(tagger(text))) in `lang`, nothing stripped (wetext 0.0.4), piece by
  // piece for long texts (max_piece_bytes) with the outputs concatenated. No digit gate and no
  // language choice: the caller decides (TextNormalizer does it like wetext).
  // FailedPrecondition-like InvalidArgument when `lang` was not loaded. `cancelled` (may be
  // null) is read before every piece: once set, Normalize stops with kCancelled (a piece takes
  // up to ~15 s and ~1 GB: 1 KB of digits through the en tagger).
  Result<std::string> Normalize(std::string_view text, WetextLang lang,
                                const std::atomic<bool>* cancelled = nullptr) const;
  // The tagger's raw output (for debugging and tests).
  Result<std::string> Tag(std::string_view text, WetextLang lang) const;

  bool has(WetextLang lang) const { return Get(lang).tagger != nullptr; }
  const std::string& fst_dir() const { return dir_; }

 private:
  struct Grammar {
    std::shared_ptr<const FstRewriter> tagger;
    std::shared_ptr<const FstRewriter> verbalizer;
  };
  const Grammar& Get(WetextLang lang) const;
  Result<const Grammar*> Require(WetextLang lang) const;

  Result<std::string> NormalizePiece(std::string_view text, const Grammar& g,
                                     WetextLang lang) const;

  std::string dir_;
  size_t max_piece_bytes_ = 0;
  Grammar zh_, en_, ja_;
};

}  // namespace cosyflow::text_normalizer

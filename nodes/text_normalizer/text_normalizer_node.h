// TextNormalizerNode ("TextNormalizer"): request text -> the segments CosyVoice 2 synthesizes.
//
// Ports:   in  text     TextRequest: a whole text per message (input "whole"), or one chunk of
//                       a bi-stream session's text (input "bistream"); reads `text`, and
//                       `mode`, `seed`, `prompt_text` (of the first chunk when bi-stream)
//          out segments TextSegments with exactly one segment per message, in order; each
//                       carries the request's mode and seed as sent and its prompt_text
//                       normalised like text_normalize(prompt_text, split=False) (spec §1.5;
//                       verbatim when text_frontend is false) — also in bi-stream sessions
// Options: input          "whole" (default) | "bistream"
//          lang           "auto" (default): CosyVoice's text_normalize (spec §1.2), which picks
//                         its zh/en branch itself; "zh" | "en" | "ja": wetext FST TN of that
//                         language only (no CosyVoice clean-up, no splitting; "ja" needs ja)
//          split          bool, default true; false = one segment, the text_normalize(split=
//                         False) string (what the reference does to prompt_text)
//          text_frontend  bool, default true; false = the text verbatim as one segment
//          tn             bool, default true; false = CosyVoice without wetext (mode '')
//          fst_dir        string, default "" = the wetext FSTs shipped with cosyflow
//                         (nodes/text_normalizer/fsts); else a directory in wetext's layout
//                         ({zh,en,ja}/tn/*.fst), relative to model_dir
//          remove_erhua   bool, default false (CosyVoice): zh verbalizer_remove_erhua.fst
//          ja             bool, default false: text with kana -> ja FSTs + zh clean-up
//          tn_only_with_digits, drop_repeated_marks (true) and keep_single_space_in_runs
//                         (false): the reference quirks of text_normalizer.h
//          token_max_n (80), token_min_n (60), merge_len (20), comma_split (false):
//                         split_paragraph; 0 < token_min_n <= token_max_n, merge_len >= 0
//          tokenizer_dir  string, default "CosyVoice-BlankEN" (relative to model_dir): en
//                         segment lengths are Qwen2 token counts; "" = none (en text then fails)
//          max_chars      int, default 200000, range [1, 16777216]: code points per whole
//                         text, or per bi-stream session in total
// Session: whole: none between messages (each TextRequest is normalized and split on its own).
//          bistream: the bytes of a UTF-8 sequence cut by a chunk boundary, and the total size.
// Bi-stream: the reference returns a text generator untouched (spec §1.2 step 1, §5.8): no TN,
//          no strip, no split; each chunk is tokenized on its own downstream. This node does the
//          same: every chunk becomes one segment, byte for byte, except that a UTF-8 sequence
//          cut at the chunk's end is held back and prepended to the next chunk (so a chunk never
//          splits a character) and ill-formed bytes become U+FFFD. Empty chunks emit nothing.
// Flush:   whole: nothing is held. bistream: end of stream emits held bytes (as U+FFFD, they
//          can only be a truncated sequence). Cancel/error emit nothing.
// Decisions: whole text that normalizes to no segment (empty, whitespace, only punctuation)
//          emits nothing: the reference's [''] would give the LM max_len = 0 (no audio) and its
//          whitespace-only case crashes. Invalid UTF-8 in whole text becomes U+FFFD.
// Cost:    wetext's FST composition: ~12,000 zh / ~6,000 en code points per second and core in
//          sentences (long texts in 1 KB pieces, docs/text_frontend.md; a 1 KB run of digits
//          ~10-15 s and ~0.8 GB); digit-free text skips it. max_chars bounds the
//          time one request can take; a cancelled session stops before its next piece.
// Errors:  Create: a missing or corrupt FST file (the message names it), a bad tokenizer_dir.
//          Request: text over max_chars, en text without a tokenizer, a number too long for
//          spell_out_number -> that session fails; other sessions continue.
#pragma once

#include <memory>
#include <string>

#include "nodes/core/node.h"
#include "nodes/text_normalizer/text_normalizer.h"

namespace cosyflow {

struct TextNormalizerNodeOptions {
  std::string input = "whole";
  std::string lang = "auto";
  bool split = true;
  bool text_frontend = true;
  text_normalizer::TextNormalizerOptions normalizer;  // tn, FSTs, quirks, split_paragraph
  std::string tokenizer_dir = "CosyVoice-BlankEN";
  int max_chars = 200000;

  void Parse(const nlohmann::json& j, const std::string& path, ErrorList* errors);
  void Validate(const std::string& path, ErrorList* errors) const;
  std::string ToString() const;
};

class TextNormalizerNode : public Node {
 public:
  using Options = TextNormalizerNodeOptions;
  static NodeSpec Spec();
  static Result<std::unique_ptr<Node>> Create(const Options& options, const NodeContext& ctx);
  // With an already loaded tokenizer (may be null: no en splitting).
  static Result<std::unique_ptr<Node>> Create(
      const Options& options, std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer);

  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo& info) override;

 private:
  TextNormalizerNode(const Options& options,
                     std::shared_ptr<const text_normalizer::TextNormalizer> normalizer)
      : options_(options), normalizer_(std::move(normalizer)) {}
  Options options_;
  std::shared_ptr<const text_normalizer::TextNormalizer> normalizer_;
};

}  // namespace cosyflow

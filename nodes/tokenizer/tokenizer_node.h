// Qwen2TokenizerNode ("Qwen2Tokenizer"): text segments -> Qwen2 token ids, one message each.
//
// Ports:   in  segments TextSegments (whole-text segments, or bi-stream chunks passed through
//                       by TextNormalizer)
//          out ids      TokenIds: one message per input segment, in order, exactly
//                       CosyVoice2Tokenizer.encode(segment) (no BOS/EOS); an empty segment gives
//                       an empty TokenIds so segments and id lists stay paired one to one;
//                       mode and seed copied from the TextSegments, prompt_ids = encode(
//                       prompt_text) (empty for an empty prompt_text)
// Options: tokenizer_dir  string, default "CosyVoice-BlankEN" (relative to model_dir): the
//                         directory holding vocab.json and merges.txt; loaded at Create
// Session: the last prompt_text and its ids (a cache). Each segment is encoded on its own, as
//          the reference does both for the
//          segments of a whole text (spec §1.5) and for each text piece of a bi-stream
//          generator (spec §2.3, §5.8): ids are never merged across a chunk boundary.
// Flush:   nothing is held; end of stream, cancel and error emit nothing.
// Errors:  a segment that is not valid UTF-8 (TextNormalizer replaces such bytes, so this only
//          happens when another producer feeds the node) -> that session fails, naming the
//          segment and byte offset.
#pragma once

#include <memory>
#include <string>

#include "nodes/core/node.h"
#include "nodes/tokenizer/qwen2_tokenizer.h"

namespace cosyflow {

struct Qwen2TokenizerNodeOptions {
  std::string tokenizer_dir = "CosyVoice-BlankEN";

  void Parse(const nlohmann::json& j, const std::string& path, ErrorList* errors);
  void Validate(const std::string& path, ErrorList* errors) const;
  std::string ToString() const;
};

class Qwen2TokenizerNode : public Node {
 public:
  using Options = Qwen2TokenizerNodeOptions;
  static NodeSpec Spec();
  static Result<std::unique_ptr<Node>> Create(const Options& options, const NodeContext& ctx);
  // With an already loaded tokenizer (shared with other nodes or tests).
  static std::unique_ptr<Node> FromTokenizer(
      std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer);

  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo& info) override;
  const std::shared_ptr<const tokenizer::Qwen2Tokenizer>& tokenizer() const { return tokenizer_; }

 private:
  explicit Qwen2TokenizerNode(std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer)
      : tokenizer_(std::move(tokenizer)) {}
  std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer_;
};

}  // namespace cosyflow

// Qwen2TokenizerNode: node adapter around Qwen2Tokenizer (see tokenizer_node.h).
#include "nodes/tokenizer/tokenizer_node.h"

#include <utility>

namespace cosyflow {
namespace {

class Qwen2TokenizerSession : public NodeSession {
 public:
  explicit Qwen2TokenizerSession(std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer)
      : tokenizer_(std::move(tokenizer)) {}

  Status Process(int, const Message& message, Emitter& out) override {
    const TextSegments* in = message.get<TextSegments>();
    if (in == nullptr) {
      return InvalidArgument("tokenizer: expected TextSegments, got {}",
                             PayloadTypeName(message.type()));
    }
    // Encode every segment first so a failing message emits nothing at all.
    std::vector<TokenIds> encoded(in->segments.size());
    for (size_t i = 0; i < in->segments.size(); ++i) {
      Status s = tokenizer_->EncodeTo(in->segments[i], &encoded[i].ids);
      if (!s.ok()) {
        return s.WithContext(fmt::format("tokenizer: message #{} segment {}",
                                         message.header.sequence, i));
      }
    }
    if (in->prompt_text != prompt_text_) {  // request fields: encode each distinct prompt once
      std::vector<int32_t> ids;
      Status s = tokenizer_->EncodeTo(in->prompt_text, &ids);
      if (!s.ok()) {
        return s.WithContext(fmt::format("tokenizer: message #{} prompt_text",
                                         message.header.sequence));
      }
      prompt_text_ = in->prompt_text;
      prompt_ids_ = std::move(ids);
    }
    for (auto& ids : encoded) {
      ids.mode = in->mode;
      ids.seed = in->seed;
      ids.speed = in->speed;
      ids.prompt = in->prompt;
      ids.prompt_ids = prompt_ids_;
      if (in->prompt != nullptr) {
        // A stored voice brings its transcript as token ids (spk2info's prompt_text); a
        // transcript or instruction sent with the request takes precedence.
        if (in->prompt_text.empty()) ids.prompt_ids = in->prompt->prompt_text_ids;
        ids.prompt_speech = in->prompt->lm_speech_tokens.empty() ? in->prompt->speech_tokens
                                                                 : in->prompt->lm_speech_tokens;
      }
      out.Emit(0, std::move(ids));
    }
    return OkStatus();
  }

  Status Close(CloseReason, Emitter&) override { return OkStatus(); }

 private:
  std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer_;
  std::string prompt_text_;          // the last message's prompt_text
  std::vector<int32_t> prompt_ids_;  // its ids
};

}  // namespace

void Qwen2TokenizerNodeOptions::Parse(const nlohmann::json& j, const std::string& path,
                                      ErrorList* errors) {
  JsonObjectReader r(j, path, errors);
  r.Read("tokenizer_dir", &tokenizer_dir);
  r.Finish();
}

void Qwen2TokenizerNodeOptions::Validate(const std::string& path, ErrorList* errors) const {
  if (tokenizer_dir.empty()) errors->Add(path + ".tokenizer_dir", "must not be empty");
}

std::string Qwen2TokenizerNodeOptions::ToString() const {
  return fmt::format("{{\"tokenizer_dir\": \"{}\"}}", tokenizer_dir);
}

NodeSpec Qwen2TokenizerNode::Spec() {
  NodeSpec s;
  s.type = "Qwen2Tokenizer";
  s.inputs = {{"segments", PayloadType::kTextSegments}};
  s.outputs = {{"ids", PayloadType::kTokenIds}};
  // No state between messages, but the order of segments matters downstream.
  s.concurrency = Concurrency::kStateful;
  return s;
}

Result<std::unique_ptr<Node>> Qwen2TokenizerNode::Create(const Options& options,
                                                         const NodeContext& ctx) {
  auto tok = tokenizer::Qwen2Tokenizer::Load(ctx.ResolvePath(options.tokenizer_dir));
  if (!tok.ok()) {
    return tok.status().WithContext(
        fmt::format("tokenizer: tokenizer_dir '{}'", options.tokenizer_dir));
  }
  return FromTokenizer(*std::move(tok));
}

std::unique_ptr<Node> Qwen2TokenizerNode::FromTokenizer(
    std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer) {
  return std::unique_ptr<Node>(new Qwen2TokenizerNode(std::move(tokenizer)));
}

Result<std::unique_ptr<NodeSession>> Qwen2TokenizerNode::OpenSession(const SessionInfo&) {
  return std::unique_ptr<NodeSession>(new Qwen2TokenizerSession(tokenizer_));
}

}  // namespace cosyflow

// TextNormalizerNode: node adapter around TextNormalizer (see text_normalizer_node.h).
#include "nodes/text_normalizer/text_normalizer_node.h"

#include <algorithm>
#include <utility>

#include "nodes/tokenizer/utf8.h"

namespace cosyflow {
namespace {

namespace tn = text_normalizer;

// Code points of `s` (ill-formed bytes count as one each, as they become U+FFFD).
size_t CountCodePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Start of a UTF-8 sequence cut by the end of `s`, or s.size() when the end is complete.
size_t IncompleteTailStart(std::string_view s) {
  const size_t lookback = std::min<size_t>(3, s.size());
  for (size_t k = 1; k <= lookback; ++k) {
    const size_t i = s.size() - k;
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return need > k ? i : s.size();
  }
  return s.size();
}

class TextNormalizerSession : public NodeSession {
 public:
  TextNormalizerSession(const TextNormalizerNodeOptions& o,
                        std::shared_ptr<const tn::TextNormalizer> normalizer,
                        const std::atomic<bool>* cancelled)
      : options_(o), normalizer_(std::move(normalizer)), cancelled_(cancelled) {}

  Status Process(int, const Message& message, Emitter& out) override {
    const TextRequest* in = message.get<TextRequest>();
    if (in == nullptr) {
      return InvalidArgument("text normalizer: expected TextRequest, got {}",
                             PayloadTypeName(message.type()));
    }
    COSY_RETURN_IF_ERROR(SetRequest(*in));
    if (in->mode == "vc") {
      // Voice conversion has no text: one empty segment carries the request to the LM node,
      // which passes the source recording's speech tokens on.
      if (options_.input == "bistream") {
        return InvalidArgument("text normalizer: mode vc takes no bi-stream text");
      }
      out.Emit(0, Segment(std::string()));
      return OkStatus();
    }
    if (options_.input == "bistream") return ProcessChunk(in->text, out);
    const size_t chars = CountCodePoints(in->text);
    if (chars > static_cast<size_t>(options_.max_chars)) {
      return InvalidArgument("text normalizer: text has {} characters, more than max_chars ({})",
                             chars, options_.max_chars);
    }
    COSY_ASSIGN_OR_RETURN(std::vector<std::string> segments, WholeText(in->text, options_.split));
    for (auto& s : segments) {
      if (!s.empty()) out.Emit(0, Segment(std::move(s)));
    }
    return OkStatus();
  }

  Status Close(CloseReason reason, Emitter& out) override {
    if (reason == CloseReason::kEndOfStream && !carry_.empty()) {
      out.Emit(0, Segment(tokenizer::ReplaceInvalidUtf8(carry_)));
    }
    carry_.clear();
    return OkStatus();
  }

 private:
  // Request fields for the speech LM: mode and seed as sent; prompt_text normalised without
  // splitting (spec §1.5; cached per distinct prompt). Whole input: each TextRequest is a
  // request. Bi-stream: the first chunk's fields hold for the session, as the LM reads them.
  Status SetRequest(const TextRequest& in) {
    if (options_.input == "bistream" && chunks_++ > 0) return OkStatus();
    request_.mode = in.mode;
    request_.seed = in.seed;
    request_.speed = in.speed;
    request_.prompt = in.prompt;
    if (!in.instruct_text.empty()) {
      // instruct2: the instruction is the LM's prompt text, as given (the reference does not
      // normalise it), ended by <|endofprompt|> (appended when the caller left it out, as the
      // v2-era reference did; HEAD expects the caller to add it).
      static constexpr std::string_view kEndOfPrompt = "<|endofprompt|>";
      std::string instruct = in.instruct_text;
      if (instruct.size() < kEndOfPrompt.size() ||
          instruct.compare(instruct.size() - kEndOfPrompt.size(), kEndOfPrompt.size(),
                           kEndOfPrompt) != 0) {
        instruct += kEndOfPrompt;
      }
      raw_prompt_.clear();
      request_.prompt_text = std::move(instruct);
      return OkStatus();
    }
    if (in.prompt_text == raw_prompt_ && !request_.prompt_text.empty() == !raw_prompt_.empty()) {
      return OkStatus();
    }
    std::string normalized;
    if (!in.prompt_text.empty()) {
      COSY_ASSIGN_OR_RETURN(std::vector<std::string> p, WholeText(in.prompt_text, false));
      for (const auto& piece : p) normalized += piece;
    }
    raw_prompt_ = in.prompt_text;
    request_.prompt_text = std::move(normalized);
    return OkStatus();
  }

  TextSegments Segment(std::string text) const {
    TextSegments t = request_;
    t.segments = {std::move(text)};
    return t;
  }

  Result<std::vector<std::string>> WholeText(const std::string& text, bool split) const {
    if (options_.lang != "auto") {
      if (!options_.text_frontend) return std::vector<std::string>{text};
      COSY_ASSIGN_OR_RETURN(tn::WetextLang lang, tn::ParseWetextLang(options_.lang));
      COSY_ASSIGN_OR_RETURN(
          std::string s,
          normalizer_->TextNormalization(tokenizer::ReplaceInvalidUtf8(text), lang, cancelled_));
      return std::vector<std::string>{std::move(s)};
    }
    const std::string valid = tokenizer::ReplaceInvalidUtf8(text);
    if (!split) {
      COSY_ASSIGN_OR_RETURN(std::string s,
                            normalizer_->Normalize(valid, options_.text_frontend, cancelled_));
      return std::vector<std::string>{std::move(s)};
    }
    return normalizer_->Segments(valid, options_.text_frontend, cancelled_);
  }

  // Bi-stream: pass the chunk through untouched, never cutting a UTF-8 sequence.
  Status ProcessChunk(const std::string& chunk, Emitter& out) {
    total_chars_ += CountCodePoints(chunk);
    if (total_chars_ > static_cast<size_t>(options_.max_chars)) {
      return InvalidArgument(
          "text normalizer: bi-stream text reached {} characters, more than max_chars ({})",
          total_chars_, options_.max_chars);
    }
    carry_ += chunk;
    const size_t cut = IncompleteTailStart(carry_);
    std::string body = carry_.substr(0, cut);
    carry_.erase(0, cut);
    if (!body.empty()) out.Emit(0, Segment(tokenizer::ReplaceInvalidUtf8(body)));
    return OkStatus();
  }

  const TextNormalizerNodeOptions options_;
  std::shared_ptr<const tn::TextNormalizer> normalizer_;
  const std::atomic<bool>* cancelled_;  // the session's cancel flag (may be null)
  TextSegments request_;    // request fields attached to every emitted segment (no segments)
  std::string raw_prompt_;  // request_.prompt_text before normalisation
  int chunks_ = 0;          // bi-stream: chunks received
  std::string carry_;       // bytes of a UTF-8 sequence cut by the last chunk boundary
  size_t total_chars_ = 0;  // bi-stream: code points received so far
};

}  // namespace

void TextNormalizerNodeOptions::Parse(const nlohmann::json& j, const std::string& path,
                                      ErrorList* errors) {
  JsonObjectReader r(j, path, errors);
  r.ReadEnum("input", &input, {"whole", "bistream"});
  r.ReadEnum("lang", &lang, {"auto", "zh", "en", "ja"});
  r.Read("split", &split);
  r.Read("text_frontend", &text_frontend);
  r.Read("tn", &normalizer.tn);
  r.Read("fst_dir", &normalizer.fst_dir);
  r.Read("remove_erhua", &normalizer.remove_erhua);
  r.Read("ja", &normalizer.ja);
  r.Read("tn_only_with_digits", &normalizer.tn_only_with_digits);
  r.Read("drop_repeated_marks", &normalizer.drop_repeated_marks);
  r.Read("keep_single_space_in_runs", &normalizer.keep_single_space_in_runs);
  r.Read("token_max_n", &normalizer.token_max_n);
  r.Read("token_min_n", &normalizer.token_min_n);
  r.Read("merge_len", &normalizer.merge_len);
  r.Read("comma_split", &normalizer.comma_split);
  r.Read("tokenizer_dir", &tokenizer_dir);
  r.Read("max_chars", &max_chars);
  r.Finish();
}

void TextNormalizerNodeOptions::Validate(const std::string& path, ErrorList* errors) const {
  if (normalizer.token_min_n <= 0) {
    errors->Add(path + ".token_min_n", "must be > 0, got {}", normalizer.token_min_n);
  } else if (normalizer.token_max_n < normalizer.token_min_n) {
    errors->Add(path + ".token_max_n", "must be >= token_min_n ({}), got {}",
                normalizer.token_min_n, normalizer.token_max_n);
  }
  if (normalizer.merge_len < 0) {
    errors->Add(path + ".merge_len", "must be >= 0, got {}", normalizer.merge_len);
  }
  if (lang == "ja" && !normalizer.ja) {
    errors->Add(path + ".lang", "\"ja\" needs option ja = true (the ja FSTs are loaded then)");
  }
  if (max_chars < 1 || max_chars > (1 << 24)) {
    errors->Add(path + ".max_chars", "must be in [1, 16777216], got {}", max_chars);
  }
}

std::string TextNormalizerNodeOptions::ToString() const {
  const auto& n = normalizer;
  return fmt::format(
      "{{\"input\": \"{}\", \"lang\": \"{}\", \"split\": {}, \"text_frontend\": {}, \"tn\": {}, "
      "\"fst_dir\": \"{}\", \"remove_erhua\": {}, \"ja\": {}, \"tn_only_with_digits\": {}, "
      "\"drop_repeated_marks\": {}, \"keep_single_space_in_runs\": {}, \"token_max_n\": {}, "
      "\"token_min_n\": {}, \"merge_len\": {}, \"comma_split\": {}, \"tokenizer_dir\": \"{}\", "
      "\"max_chars\": {}}}",
      input, lang, split, text_frontend, n.tn, n.fst_dir, n.remove_erhua, n.ja,
      n.tn_only_with_digits, n.drop_repeated_marks, n.keep_single_space_in_runs, n.token_max_n,
      n.token_min_n, n.merge_len, n.comma_split, tokenizer_dir, max_chars);
}

NodeSpec TextNormalizerNode::Spec() {
  NodeSpec s;
  s.type = "TextNormalizer";
  s.inputs = {{"text", PayloadType::kTextRequest}};
  s.outputs = {{"segments", PayloadType::kTextSegments}};
  s.concurrency = Concurrency::kStateful;
  return s;
}

Result<std::unique_ptr<Node>> TextNormalizerNode::Create(const Options& options,
                                                         const NodeContext& ctx) {
  std::shared_ptr<const tokenizer::Qwen2Tokenizer> tok;
  if (!options.tokenizer_dir.empty()) {
    const std::string dir = ctx.ResolvePath(options.tokenizer_dir);
    auto loaded = tokenizer::Qwen2Tokenizer::Load(dir);
    if (!loaded.ok()) {
      return loaded.status().WithContext(
          fmt::format("text normalizer: tokenizer_dir '{}'", options.tokenizer_dir));
    }
    tok = *std::move(loaded);
  }
  if (!options.normalizer.fst_dir.empty()) {
    Options resolved = options;
    resolved.normalizer.fst_dir = ctx.ResolvePath(options.normalizer.fst_dir);
    return Create(resolved, std::move(tok));
  }
  return Create(options, std::move(tok));
}

Result<std::unique_ptr<Node>> TextNormalizerNode::Create(
    const Options& options, std::shared_ptr<const tokenizer::Qwen2Tokenizer> tokenizer) {
  auto normalizer =
      text_normalizer::TextNormalizer::Create(options.normalizer, std::move(tokenizer));
  if (!normalizer.ok()) return normalizer.status().WithContext("text normalizer");
  return std::unique_ptr<Node>(new TextNormalizerNode(options, *std::move(normalizer)));
}

Result<std::unique_ptr<NodeSession>> TextNormalizerNode::OpenSession(const SessionInfo& info) {
  return std::unique_ptr<NodeSession>(
      new TextNormalizerSession(options_, normalizer_, info.cancelled));
}

}  // namespace cosyflow

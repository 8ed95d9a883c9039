// SpeechLmNode ("SpeechLM"): text token ids -> speech tokens, streamed as they are sampled.
//
// Ports:   in  text    TokenIds. One-shot sessions: each message is one text segment (the
//                      tokenizer's segments), generated in turn with the same prompt, segment i
//                      seeded with seed + i; the token streams are concatenated. Bi-stream
//                      sessions: any number of text chunks of one text (end of stream = end of
//                      text). The first message carries the request data: mode ("" = option
//                      `mode`), prompt_ids (zero-shot transcript or instruct2 instruction),
//                      prompt_speech (prompt speech tokens), seed (0 = option `seed`); later
//                      messages' request fields are ignored. Its `prompt` (the voice) and
//                      `speed` travel on to the flow on the first SpeechTokens message.
//                      Mode "vc": no LM; the voice's source_tokens (the recording to convert)
//                      are emitted as one utterance.
//          out tokens  SpeechTokens: speech ids < 6561 in sampling order, at most emit_every
//                      per message; the stop token itself is never emitted. The last message
//                      of each segment's utterance is marked end_of_segment (it may carry no
//                      tokens), so Flow and HiftVocoder restart per segment.
// Options: model_dir   string, default "" = the graph's model_dir (holds llm.pt and
//                      CosyVoice-BlankEN/config.json); relative paths resolve against it
//          precision   "f32" (default) | "bf16" | "int8": storage of the linear weights
//                      (int8: per-output-row scales from the f32 checkpoint at load;
//                      activations and embeddings stay f32)
//          mode        default LM layout: zero_shot (default), cross_lingual, instruct2,
//                      no_prompt (aliases instruct, sft), vc (pass-through, see above)
//          bistream    bool, default false: text arrives in chunks (spec §5.8)
//          emit_every  int in [1, 1000], default 1: tokens per SpeechTokens message (1: the
//                      flow's chunks start at their last token: the first one needs 28)
//          greedy, top_p (0,1] 0.8, top_k >= 1 25, win_size >= 1 10, tau_r (0,1] 0.1: sampling
//          seed        int >= 0, default 0: used when the request's seed is 0
//          text_id_policy "error" (default) | "modulo": a text id (target or prompt) outside
//                      the LM's text vocabulary fails the session naming the id; "modulo" maps
//                      it to id mod vocab_size instead — only for tiny TEST models whose vocab
//                      is smaller than the tokenizer's (the output is then not speech)
//          prompt_text_ids, prompt_speech_tokens: .npy int32 files ([1,L] or [L]) of a
//                      built-in voice (zero-shot transcript ids, prompt speech tokens), each
//                      used when the session's first TokenIds leaves that part empty; default
//                      "" = none
//          prompt_cache int in [0, 1024], default 8: voices (prompt texts) whose prefix
//                      KV rows ([SOS] ++ prompt text) are computed once and reused by later
//                      one-shot requests; exact (the prefix is always its own forward call);
//                      0 = off
//          min_token_text_ratio 2, max_token_text_ratio 20, max_context 4096,
//          prefill_chunk 128, final_max_tokens 0 (= max ratio · text tokens): see
//          SpeechLmGenerateOptions
//          min_tokens, max_tokens  int >= 0, default 0 = none: absolute bounds per one-shot
//                      segment (min_tokens masks every stop id, not only EOS, until that many
//                      tokens; min <= max): exact lengths for benchmarks on random weights
// Session: one SpeechLmGenerator (KV cache sized at the first message) per request. A finished
// request's state (KV cache and scratch, ~30 MB for a 10 s one-shot request at release sizes; a
// bi-stream session's is sized for max_context: ~110 MB at 4096) goes back to the model, which
// keeps up to SpeechLm::kIdleStates (2) of them, the largest, for the next requests that fit
// (SpeechLm::AcquireState): no page faults and zeroing on the way to a request's first token, at
// the cost of that memory staying resident between requests.
//          Decoding runs in bounded slices (NodeSession contract, nodes/core/node.h): each
//          Process / Continue / Close(end of stream) call does at most emit_every forward steps
//          and returns after emitting one full batch, with HasMoreWork() true while the
//          generator can go on without more text; the runner sends the batch downstream and
//          calls Continue again, so Flow starts while the LM is still decoding. A one-shot
//          segment is decoded to its stop token before the next segment's message is
//          processed. Each slice polls SessionInfo::cancelled before every forward step, so a
//          cancel stops decoding within one step.
// Flush:   end of stream runs the bi-stream final phase and emits its tokens; one-shot sessions
//          have nothing left. Cancel/error emit nothing.
// Errors:  ids outside the vocabularies, an unknown mode, a request
//          longer than max_context, or a bi-stream model error fail that session only; model
//          files and shapes are checked at Create.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nodes/core/node.h"
#include "nodes/llm/speech_lm.h"
#include "nodes/llm/speech_lm_generator.h"

namespace cosyflow {

struct SpeechLmNodeOptions {
  std::string model_dir;
  std::string precision = "f32";
  std::string mode = "zero_shot";
  bool bistream = false;
  int emit_every = 1;
  int64_t seed = 0;
  std::string text_id_policy = "error";
  int prompt_cache = 8;  // voices whose prompt-prefix KV rows are kept (0 = off)
  std::string prompt_text_ids, prompt_speech_tokens;
  SpeechLmGenerateOptions generate;

  void Parse(const nlohmann::json& j, const std::string& path, ErrorList* errors);
  void Validate(const std::string& path, ErrorList* errors) const;
  std::string ToString() const;
};

class SpeechLmNode : public Node {
 public:
  using Options = SpeechLmNodeOptions;
  static NodeSpec Spec();
  static Result<std::unique_ptr<Node>> Create(const Options& options, const NodeContext& ctx);
  // Wraps an already loaded model (tests, embedding).
  static std::unique_ptr<Node> FromModel(const Options& options,
                                         std::shared_ptr<const SpeechLm> lm);
  // The built-in voice (prompt_text_ids / prompt_speech_tokens), read by Create.
  void set_default_prompt(std::vector<int32_t> text_ids, std::vector<int32_t> speech_tokens) {
    default_prompt_text_ = std::move(text_ids);
    default_prompt_speech_ = std::move(speech_tokens);
  }

  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo& info) override;
  const Options& options() const { return options_; }

 private:
  SpeechLmNode(const Options& options, std::shared_ptr<const SpeechLm> lm)
      : options_(options),
        lm_(std::move(lm)),
        prefix_cache_(static_cast<size_t>(options.prompt_cache)) {}
  Options options_;
  std::shared_ptr<const SpeechLm> lm_;
  SpeechLmPrefixCache prefix_cache_;  // shared by the sessions (thread-safe)
  std::vector<int32_t> default_prompt_text_, default_prompt_speech_;
};

}  // namespace cosyflow

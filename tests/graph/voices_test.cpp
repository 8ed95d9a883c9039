// tts::CheckVoiceFitsSpeechLm (graph/voices.h): a voice is refused when its prompt leaves the
// SpeechLM's context no room for the shortest request, counted as SpeechLmGenerator::Start does
// ([SOS] + prompt text + 1 text token + [TASK_ID] + prompt speech + max_len - 1).
#include "graph/voices.h"

#include <doctest/doctest.h>

#include <string>

namespace cosyflow::tts {
namespace {

VoicePrompt Prompt(size_t text_tokens, size_t speech_tokens, size_t lm_speech_tokens = 0) {
  VoicePrompt v{.id = std::string("v")};
  v.prompt_text_ids.assign(text_tokens, 7);
  v.speech_tokens.assign(speech_tokens, 1);
  v.lm_speech_tokens.assign(lm_speech_tokens, 2);
  return v;
}

TEST_CASE("graph/voices: CheckVoiceFitsSpeechLm refuses a prompt one position over the limit") {
  const SpeechLmGenerateOptions lm;  // max_context 4096, max_token_text_ratio 20
  REQUIRE(lm.max_context == 4096);
  // 2 markers + 4000 + 74 prompt positions, then 1 text token + 19 fed speech tokens = 4096.
  CHECK(CheckVoiceFitsSpeechLm(Prompt(4000, 74), lm).ok());
  const Status over = CheckVoiceFitsSpeechLm(Prompt(4000, 75), lm);
  CHECK(over.code() == StatusCode::kOutOfRange);
  CHECK(over.message().find("voice 'v'") != std::string::npos);
  CHECK(over.message().find("4000 prompt_text tokens, 75 prompt speech tokens") !=
        std::string::npos);
  CHECK(over.message().find("over max_context 4096") != std::string::npos);
  // The LM's own prompt speech, where the voice has one, is what counts.
  CHECK(CheckVoiceFitsSpeechLm(Prompt(4000, 10, 75), lm).code() == StatusCode::kOutOfRange);
  CHECK(CheckVoiceFitsSpeechLm(Prompt(4000, 75, 10), lm).ok());
  // max_tokens bounds the shortest request's speech; max_context is the graph's.
  SpeechLmGenerateOptions bounded = lm;
  bounded.max_tokens = 5;
  CHECK(CheckVoiceFitsSpeechLm(Prompt(4000, 89), bounded).ok());
  CHECK(!CheckVoiceFitsSpeechLm(Prompt(4000, 90), bounded).ok());
  SpeechLmGenerateOptions small = lm;
  small.max_context = 100;
  CHECK(CheckVoiceFitsSpeechLm(Prompt(40, 38), small).ok());
  CHECK(!CheckVoiceFitsSpeechLm(Prompt(41, 38), small).ok());
}

}  // namespace
}  // namespace cosyflow::tts

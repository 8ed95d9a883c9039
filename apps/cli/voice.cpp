// `cosyflow voice add|list|remove`: the voice store (spk2info.pt, nodes/voice/voice_store.h).
//
//   cosyflow voice add --model-dir DIR --id alice --prompt-wav alice.wav --prompt-text "..."
//   cosyflow voice list --model-dir DIR [--json]
//   cosyflow voice remove --model-dir DIR --id alice
// As CosyVoice's add_zero_shot_spk: the transcript is tokenised as given (no normalisation;
// --normalize runs the text normaliser first), the recording gives the speech tokens, the prompt
// mel and the CAM++ embedding (aligned 1:2). The store is <model-dir>/spk2info.pt unless --store.
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/cli/commands.h"
#include "graph/voices.h"
#include "nodes/text_normalizer/text_normalizer.h"
#include "nodes/tokenizer/qwen2_tokenizer.h"
#include "nodes/voice/voice_frontend.h"
#include "nodes/voice/voice_store.h"

namespace cosyflow::cli {
namespace {
namespace fs = std::filesystem;

struct VoiceArgs {
  std::string model_dir = ".";
  std::string store;
  std::string id;
  std::string prompt_wav;
  std::string prompt_text;
  std::string tokenizer_dir;
  std::string speech_tokenizer;
  std::string campplus;
  bool replace = false;
  bool normalize = false;
  bool json = false;
};

std::string InDir(const std::string& dir, const std::string& given, const char* name) {
  if (!given.empty()) return given;
  return (fs::path(dir) / name).string();
}

Status Add(const VoiceArgs& a) {
  COSY_RETURN_IF_ERROR(voice::ValidateVoiceId(a.id));
  if (a.id == tts::kDefaultVoiceId) {  // as POST /v1/voices: the doors map it to the graph's
    return InvalidArgument("voice id '{}' names the graph's own voice; pick another id", a.id);
  }
  voice::VoiceStore store(InDir(a.model_dir, a.store, "spk2info.pt"));
  if (!a.replace && store.Contains(a.id)) {
    return InvalidArgument("voice add: voice '{}' already exists in {} (--replace overwrites)",
                           a.id, store.file().string());
  }
  COSY_ASSIGN_OR_RETURN(auto tokenizer, tokenizer::Qwen2Tokenizer::Load(
                                            InDir(a.model_dir, a.tokenizer_dir, "CosyVoice-BlankEN")));
  std::string text = a.prompt_text;
  if (a.normalize) {
    COSY_ASSIGN_OR_RETURN(auto tn, text_normalizer::TextNormalizer::Create(
                                           text_normalizer::TextNormalizerOptions{}, tokenizer));
    COSY_ASSIGN_OR_RETURN(text, tn->Normalize(text, /*text_frontend=*/true));
  }
  voice::VoiceFrontendFiles files{InDir(a.model_dir, a.speech_tokenizer, "speech_tokenizer_v2.onnx"),
                                  InDir(a.model_dir, a.campplus, "campplus.onnx")};
  COSY_ASSIGN_OR_RETURN(auto frontend, voice::VoiceFrontend::Load(files));
  tts::VoiceRecording recording;
  recording.path = a.prompt_wav;
  COSY_ASSIGN_OR_RETURN(VoicePrompt v, tts::MakeVoice(*frontend, *tokenizer, recording, a.id, text));
  // No graph here: the SpeechLM's default limits (a graph's own are checked by POST /v1/voices).
  COSY_RETURN_IF_ERROR(tts::CheckVoiceFitsSpeechLm(v, SpeechLmGenerateOptions{}));
  COSY_RETURN_IF_ERROR(store.Add(v, a.replace));
  nlohmann::json j;
  j["added"] = a.id;
  j["store"] = store.file().string();
  j["prompt_text_tokens"] = v.prompt_text_ids.size();
  j["speech_tokens"] = v.speech_tokens.size();
  j["prompt_seconds"] = static_cast<double>(v.feat_frames()) / 50.0;
  fmt::print("{}\n", j.dump());
  return OkStatus();
}

Status List(const VoiceArgs& a) {
  voice::VoiceStore store(InDir(a.model_dir, a.store, "spk2info.pt"));
  COSY_ASSIGN_OR_RETURN(auto voices, store.List());
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& v : voices) {
      j.push_back({{"id", v.id},
                   {"kind", v.zero_shot ? "zero_shot" : "sft"},
                   {"prompt_text_tokens", v.prompt_text_tokens},
                   {"speech_tokens", v.speech_tokens},
                   {"prompt_seconds", static_cast<double>(v.feat_frames) / 50.0},
                   {"embedding", v.has_embedding}});
    }
    fmt::print("{}\n", j.dump());
    return OkStatus();
  }
  fmt::print("{} voice(s) in {}\n", voices.size(), store.file().string());
  for (const auto& v : voices) {
    if (v.zero_shot) {
      fmt::print("  {}  zero_shot  {:.2f} s prompt, {} speech tokens, {} transcript tokens\n", v.id,
                 static_cast<double>(v.feat_frames) / 50.0, v.speech_tokens, v.prompt_text_tokens);
    } else {
      fmt::print("  {}  sft (embedding only)\n", v.id);
    }
  }
  return OkStatus();
}

Status Remove(const VoiceArgs& a) {
  voice::VoiceStore store(InDir(a.model_dir, a.store, "spk2info.pt"));
  COSY_RETURN_IF_ERROR(store.Remove(a.id));
  fmt::print("{}\n", nlohmann::json{{"removed", a.id}, {"store", store.file().string()}}.dump());
  return OkStatus();
}

void AddStoreOptions(CLI::App* cmd, VoiceArgs* a) {
  cmd->add_option("--model-dir", a->model_dir, "Model directory (holds spk2info.pt)")
      ->capture_default_str();
  cmd->add_option("--store", a->store, "Voice store file (default <model-dir>/spk2info.pt)");
}

template <typename F>
void Run(CLI::App* cmd, const char* what, std::shared_ptr<VoiceArgs> a, F f) {
  cmd->callback([a, f, what] {
    Status s = f(*a);
    if (!s.ok()) {
      fmt::print(stderr, "cosyflow voice {}: {}\n", what, s.ToString());
      SetExitCode(1);
    }
  });
}

}  // namespace

void RegisterVoice(CLI::App& app) {
  CLI::App* voice = app.add_subcommand("voice", "Voices: add from a recording, list, remove");
  voice->require_subcommand(1);

  auto add_args = std::make_shared<VoiceArgs>();
  CLI::App* add = voice->add_subcommand("add", "Add a voice from a prompt recording + transcript");
  AddStoreOptions(add, add_args.get());
  add->add_option("--id", add_args->id, "Voice id")->required();
  add->add_option("--prompt-wav", add_args->prompt_wav,
                  "Prompt recording (any libsndfile format, 16-768 kHz, <= 30 s)")
      ->required();
  add->add_option("--prompt-text", add_args->prompt_text, "Transcript of the recording")
      ->required();
  add->add_option("--tokenizer-dir", add_args->tokenizer_dir,
                  "Qwen2 tokenizer files (default <model-dir>/CosyVoice-BlankEN)");
  add->add_option("--speech-tokenizer", add_args->speech_tokenizer,
                  "speech_tokenizer_v2.onnx (default in <model-dir>)");
  add->add_option("--campplus", add_args->campplus, "campplus.onnx (default in <model-dir>)");
  add->add_flag("--replace", add_args->replace, "Overwrite a voice with the same id");
  add->add_flag("--normalize", add_args->normalize,
                "Normalise the transcript first (add_zero_shot_spk does not)");
  Run(add, "add", add_args, Add);

  auto list_args = std::make_shared<VoiceArgs>();
  CLI::App* list = voice->add_subcommand("list", "List the voices of a store");
  AddStoreOptions(list, list_args.get());
  list->add_flag("--json", list_args->json, "One JSON array");
  Run(list, "list", list_args, List);

  auto rm_args = std::make_shared<VoiceArgs>();
  CLI::App* rm = voice->add_subcommand("remove", "Remove a voice from a store");
  AddStoreOptions(rm, rm_args.get());
  rm->add_option("--id", rm_args->id, "Voice id")->required();
  Run(rm, "remove", rm_args, Remove);
}

}  // namespace cosyflow::cli

// Voice store: named voices in CosyVoice's spk2info.pt format (spec §4), so voices saved by the
// Python tool (CosyVoice2.add_zero_shot_spk + save_spkinfo) work here and the other way round.
//
// On disk: one torch.save archive holding a dict  voice id -> dict of tensors. A zero-shot voice
// has the keys add_zero_shot_spk stores (prompt_text, llm_prompt_speech_token,
// flow_prompt_speech_token, prompt_speech_feat, llm_embedding, flow_embedding and their *_len);
// an SFT voice has at least `embedding`. Keys this engine does not use are kept on rewrite.
// Writes are read-modify-write under an exclusive flock on "<file>.lock" and replace the file
// atomically (temporary file + rename), so concurrent readers always see a complete file and
// concurrent writers do not lose each other's voices. Readers take no lock.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "nodes/core/message.h"
#include "runtime/io/torch_save.h"
#include "runtime/status.h"

namespace cosyflow::voice {

// A voice's summary for listings.
struct VoiceInfo {
  std::string id;
  int64_t prompt_text_tokens = 0;
  int64_t speech_tokens = 0;   // 25 Hz
  int64_t feat_frames = 0;     // 50 Hz
  bool has_embedding = false;
  bool zero_shot = false;      // has prompt speech tokens and mel (else SFT: embedding only)
};

// Checks a new voice id: 1..128 bytes of valid UTF-8 without control characters or '/'.
Status ValidateVoiceId(const std::string& id);

// The spk2info dict entry for `v` (zero-shot keys when it has prompt tokens; else `embedding`).
Result<io::TorchDict> VoiceToEntry(const VoicePrompt& v);
// A voice from one spk2info entry (dtypes converted: ints to int32, floats to f32). Errors name
// `where` (file and voice id) and the key.
Result<VoicePrompt> VoiceFromEntry(const std::string& id,
                                   const std::vector<std::pair<std::string, Tensor>>& entry,
                                   const std::string& where);

class VoiceStore {
 public:
  explicit VoiceStore(std::filesystem::path file) : file_(std::move(file)) {}

  const std::filesystem::path& file() const { return file_; }
  // Every voice in file order (an absent file is an empty store).
  Result<std::vector<VoiceInfo>> List() const;
  // NotFound "voice 'x' not found in FILE (voices: a, b)". Cached per file version (mtime, size).
  Result<VoicePromptPtr> Get(const std::string& id) const;
  bool Contains(const std::string& id) const;
  // Adds (or with replace, overwrites) a voice; AlreadyExists-style InvalidArgument otherwise.
  Status Add(const VoicePrompt& voice, bool replace = false);
  // NotFound when absent.
  Status Remove(const std::string& id);

 private:
  struct Entry {
    std::string id;
    std::vector<std::pair<std::string, Tensor>> tensors;
  };
  Result<std::vector<Entry>> ReadAll() const;
  Status WriteAll(const std::vector<Entry>& entries) const;

  std::filesystem::path file_;
  mutable std::mutex mu_;
  mutable std::filesystem::file_time_type cached_mtime_{};
  mutable uintmax_t cached_size_ = 0;
  mutable bool cached_ = false;
  mutable std::vector<std::pair<std::string, VoicePromptPtr>> cache_;
};

}  // namespace cosyflow::voice

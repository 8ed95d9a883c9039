// Voice store on spk2info.pt (torch.save dict of dicts of tensors).
#include "nodes/voice/voice_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "runtime/io/checkpoint.h"

namespace cosyflow::voice {
namespace fs = std::filesystem;

namespace {

// The zero-shot keys add_zero_shot_spk stores, in its order (spec §4).
constexpr const char* kPromptText = "prompt_text";
constexpr const char* kLlmTokens = "llm_prompt_speech_token";
constexpr const char* kFlowTokens = "flow_prompt_speech_token";
constexpr const char* kFeat = "prompt_speech_feat";
constexpr const char* kLlmEmbedding = "llm_embedding";
constexpr const char* kFlowEmbedding = "flow_embedding";
constexpr const char* kSftEmbedding = "embedding";

const Tensor* FindKey(const std::vector<std::pair<std::string, Tensor>>& e, std::string_view k) {
  for (const auto& [name, t] : e) {
    if (name == k) return &t;
  }
  return nullptr;
}

Result<std::vector<int32_t>> Ints(const Tensor& t, const std::string& where, std::string_view key) {
  if (t.dtype() != DType::kI32 && t.dtype() != DType::kI64) {
    return InvalidArgument("{}: '{}' is {}, expected an integer tensor", where, key, t.ToString());
  }
  if (t.dim() > 2 || (t.dim() == 2 && t.size(0) != 1)) {
    return InvalidArgument("{}: '{}' has shape {}, expected [1, n]", where, key, t.ToString());
  }
  COSY_ASSIGN_OR_RETURN(Tensor c, t.To(DType::kI32));
  const int32_t* p = c.data<int32_t>();
  return std::vector<int32_t>(p, p + c.numel());
}

Result<std::vector<float>> Floats(const Tensor& t, const std::string& where, std::string_view key) {
  if (t.dtype() != DType::kF32 && t.dtype() != DType::kF16 && t.dtype() != DType::kBF16) {
    return InvalidArgument("{}: '{}' is {}, expected a float tensor", where, key, t.ToString());
  }
  COSY_ASSIGN_OR_RETURN(Tensor c, t.To(DType::kF32));
  const float* p = c.data<float>();
  return std::vector<float>(p, p + c.numel());
}

template <typename T>
Result<Tensor> Make(const Dims& shape, const std::vector<T>& v) {
  return Tensor::FromVector<T>(shape, std::span<const T>(v));
}

Result<Tensor> Len(int64_t n) {
  const std::vector<int32_t> v{static_cast<int32_t>(n)};
  return Make<int32_t>(Dims{1}, v);
}

// Exclusive advisory lock on "<file>.lock" for the duration of one read-modify-write.
class FileLock {
 public:
  static Result<FileLock> Acquire(const fs::path& file) {
    const std::string lock_path = file.string() + ".lock";
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      return InvalidArgument("{}: cannot open lock file: {}", lock_path, std::strerror(errno));
    }
    if (::flock(fd, LOCK_EX) != 0) {
      const int e = errno;
      ::close(fd);
      return InvalidArgument("{}: cannot lock: {}", lock_path, std::strerror(e));
    }
    return FileLock(fd);
  }
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock(const FileLock&) = delete;
  ~FileLock() {
    if (fd_ >= 0) {
      ::flock(fd_, LOCK_UN);
      ::close(fd_);
    }
  }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

VoiceInfo InfoOf(const VoicePrompt& v) {
  VoiceInfo i;
  i.id = v.id;
  i.prompt_text_tokens = static_cast<int64_t>(v.prompt_text_ids.size());
  i.speech_tokens = static_cast<int64_t>(v.speech_tokens.size());
  i.feat_frames = v.feat_frames();
  i.has_embedding = !v.embedding.empty();
  i.zero_shot = !v.speech_tokens.empty() && !v.feat.empty();
  return i;
}

}  // namespace

Status ValidateVoiceId(const std::string& id) {
  if (id.empty() || id.size() > 128) {
    return InvalidArgument("voice id must be 1..128 bytes, got {} bytes", id.size());
  }
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f || c == '/') {
      return InvalidArgument("voice id '{}' contains a control character or '/'", id);
    }
  }
  // "." and ".." are path segments (clients resolve /v1/voices/.. away), and an id that
  // starts or ends with a space cannot be told from its trimmed twin in a list.
  if (id == "." || id == "..") return InvalidArgument("voice id '{}' is a path segment", id);
  if (id.front() == ' ' || id.back() == ' ') {
    return InvalidArgument("voice id '{}' starts or ends with a space", id);
  }
  // UTF-8 well-formedness (lead byte + continuation count).
  for (size_t i = 0; i < id.size();) {
    const unsigned char c = static_cast<unsigned char>(id[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > id.size()) return InvalidArgument("voice id is not valid UTF-8");
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(id[i + k]) >> 6) != 2) {
        return InvalidArgument("voice id is not valid UTF-8");
      }
    }
    i += n;
  }
  return OkStatus();
}

Result<io::TorchDict> VoiceToEntry(const VoicePrompt& v) {
  io::TorchDict d;
  const bool zero_shot = !v.speech_tokens.empty();
  // As VoiceFromEntry reads: a zero-shot voice may lack the embedding (the flow then conditions
  // on zeros) and is written without it; an SFT voice is its embedding.
  const bool has_embedding = !v.embedding.empty() || !zero_shot;
  if (has_embedding && v.embedding.size() != static_cast<size_t>(VoicePrompt::kEmbeddingDim)) {
    return InvalidArgument("voice '{}': embedding has {} values, expected {}", v.id,
                           v.embedding.size(), VoicePrompt::kEmbeddingDim);
  }
  const int64_t t = static_cast<int64_t>(v.speech_tokens.size());
  Tensor emb;
  if (has_embedding) {
    COSY_ASSIGN_OR_RETURN(emb, Make<float>(Dims{1, VoicePrompt::kEmbeddingDim}, v.embedding));
  }
  if (!zero_shot) {
    d.items.emplace_back(kSftEmbedding, emb);
    return d;
  }
  if (v.feat_frames() != 2 * t || v.feat.size() % VoicePrompt::kMelBins != 0) {
    return InvalidArgument("voice '{}': prompt mel has {} values for {} tokens, expected [{}, 80]",
                           v.id, v.feat.size(), t, 2 * t);
  }
  const int64_t lp = static_cast<int64_t>(v.prompt_text_ids.size());
  COSY_ASSIGN_OR_RETURN(Tensor text, Make<int32_t>(Dims{1, lp}, v.prompt_text_ids));
  COSY_ASSIGN_OR_RETURN(Tensor tokens, Make<int32_t>(Dims{1, t}, v.speech_tokens));
  const std::vector<int32_t>& lm = v.lm_speech_tokens.empty() ? v.speech_tokens : v.lm_speech_tokens;
  COSY_ASSIGN_OR_RETURN(Tensor lm_tokens,
                        Make<int32_t>(Dims{1, static_cast<int64_t>(lm.size())}, lm));
  COSY_ASSIGN_OR_RETURN(Tensor lm_len, Len(static_cast<int64_t>(lm.size())));
  COSY_ASSIGN_OR_RETURN(Tensor feat, Make<float>(Dims{1, 2 * t, VoicePrompt::kMelBins}, v.feat));
  COSY_ASSIGN_OR_RETURN(Tensor lp_len, Len(lp));
  COSY_ASSIGN_OR_RETURN(Tensor t_len, Len(t));
  COSY_ASSIGN_OR_RETURN(Tensor f_len, Len(2 * t));
  d.items.emplace_back(kPromptText, text);
  d.items.emplace_back("prompt_text_len", lp_len);
  d.items.emplace_back(kLlmTokens, lm_tokens);
  d.items.emplace_back("llm_prompt_speech_token_len", lm_len);
  d.items.emplace_back(kFlowTokens, tokens);
  d.items.emplace_back("flow_prompt_speech_token_len", t_len);
  d.items.emplace_back(kFeat, feat);
  d.items.emplace_back("prompt_speech_feat_len", f_len);
  if (has_embedding) {
    d.items.emplace_back(kLlmEmbedding, emb);
    d.items.emplace_back(kFlowEmbedding, emb);
  }
  return d;
}

Result<VoicePrompt> VoiceFromEntry(const std::string& id,
                                   const std::vector<std::pair<std::string, Tensor>>& entry,
                                   const std::string& where) {
  VoicePrompt v;
  v.id = id;
  if (const Tensor* t = FindKey(entry, kPromptText)) {
    COSY_ASSIGN_OR_RETURN(v.prompt_text_ids, Ints(*t, where, kPromptText));
  }
  const Tensor* tok = FindKey(entry, kFlowTokens);
  const char* tok_key = kFlowTokens;
  if (tok == nullptr) {
    tok = FindKey(entry, kLlmTokens);
    tok_key = kLlmTokens;
  }
  if (tok != nullptr) {
    COSY_ASSIGN_OR_RETURN(v.speech_tokens, Ints(*tok, where, tok_key));
  }
  if (const Tensor* lm = FindKey(entry, kLlmTokens); lm != nullptr && tok_key != kLlmTokens) {
    COSY_ASSIGN_OR_RETURN(std::vector<int32_t> lm_tokens, Ints(*lm, where, kLlmTokens));
    if (lm_tokens != v.speech_tokens) v.lm_speech_tokens = std::move(lm_tokens);
  }
  if (const Tensor* f = FindKey(entry, kFeat)) {
    if (f->dim() != 3 || f->size(0) != 1 || f->size(2) != VoicePrompt::kMelBins) {
      return InvalidArgument("{}: '{}' has shape {}, expected [1, frames, 80]", where, kFeat,
                             f->ToString());
    }
    COSY_ASSIGN_OR_RETURN(v.feat, Floats(*f, where, kFeat));
  }
  const Tensor* e = FindKey(entry, kFlowEmbedding);
  const char* e_key = kFlowEmbedding;
  if (e == nullptr) {
    e = FindKey(entry, kSftEmbedding);
    e_key = kSftEmbedding;
  }
  if (e == nullptr) {
    e = FindKey(entry, kLlmEmbedding);
    e_key = kLlmEmbedding;
  }
  if (e != nullptr) {
    COSY_ASSIGN_OR_RETURN(v.embedding, Floats(*e, where, e_key));
    if (v.embedding.size() != static_cast<size_t>(VoicePrompt::kEmbeddingDim)) {
      return InvalidArgument("{}: '{}' has {} values, expected {}", where, e_key,
                             v.embedding.size(), VoicePrompt::kEmbeddingDim);
    }
  }
  if (v.speech_tokens.empty() != v.feat.empty()) {
    return InvalidArgument("{}: has {} but not {}", where,
                           v.feat.empty() ? tok_key : kFeat, v.feat.empty() ? kFeat : tok_key);
  }
  if (!v.speech_tokens.empty() &&
      v.feat_frames() != 2 * static_cast<int64_t>(v.speech_tokens.size())) {
    return InvalidArgument("{}: '{}' has {} frames for {} prompt tokens, expected {}", where, kFeat,
                           v.feat_frames(), v.speech_tokens.size(), 2 * v.speech_tokens.size());
  }
  if (v.speech_tokens.empty() && v.embedding.empty()) {
    return InvalidArgument("{}: neither prompt speech tokens nor an embedding", where);
  }
  return v;
}

Result<std::vector<VoiceStore::Entry>> VoiceStore::ReadAll() const {
  std::vector<Entry> out;
  std::error_code ec;
  if (!fs::exists(file_, ec)) return out;
  COSY_ASSIGN_OR_RETURN(Checkpoint ck, Checkpoint::Open(file_.string()));
  if (ck.format() != CheckpointFormat::kTorchZip) {
    return InvalidArgument("{}: a voice store must be a torch.save file (spk2info.pt), got {}",
                           file_.string(), CheckpointFormatName(ck.format()));
  }
  // Nested names are "<voice id>.<key>"; keys have no '.', ids may.
  for (const CheckpointEntry& e : ck.entries()) {
    const size_t dot = e.name.rfind('.');
    if (dot == std::string::npos || dot == 0) {
      return InvalidArgument("{}: top-level entry '{}' is not a dict of tensors (not spk2info)",
                             file_.string(), e.name);
    }
    std::string id = e.name.substr(0, dot);
    if (out.empty() || out.back().id != id) {
      auto it = std::find_if(out.begin(), out.end(), [&](const Entry& x) { return x.id == id; });
      if (it == out.end()) {
        out.push_back({std::move(id), {}});
      } else {
        std::rotate(it, it + 1, out.end());  // keep grouping contiguous (ids are unique keys)
      }
    }
    COSY_ASSIGN_OR_RETURN(Tensor copy, e.tensor.Clone());  // do not keep the mapping alive
    out.back().tensors.emplace_back(e.name.substr(dot + 1), std::move(copy));
  }
  return out;
}

Status VoiceStore::WriteAll(const std::vector<Entry>& entries) const {
  io::TorchDict root;
  for (const Entry& e : entries) {
    io::TorchDict d;
    for (const auto& [k, t] : e.tensors) d.items.emplace_back(k, t);
    root.items.emplace_back(e.id, std::move(d));
  }
  std::string stem = file_.stem().string();
  if (stem.empty() || stem.find('/') != std::string::npos) stem = "spk2info";
  std::error_code ec;
  if (file_.has_parent_path()) fs::create_directories(file_.parent_path(), ec);
  return io::SaveTorchDict(file_.string(), root, stem);
}

Result<std::vector<VoiceInfo>> VoiceStore::List() const {
  COSY_ASSIGN_OR_RETURN(std::vector<Entry> all, ReadAll());
  std::vector<VoiceInfo> out;
  for (const Entry& e : all) {
    COSY_ASSIGN_OR_RETURN(VoicePrompt v,
                          VoiceFromEntry(e.id, e.tensors, file_.string() + ": voice '" + e.id + "'"));
    out.push_back(InfoOf(v));
  }
  return out;
}

Result<VoicePromptPtr> VoiceStore::Get(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::error_code ec;
  const bool exists = fs::exists(file_, ec);
  const auto mtime = exists ? fs::last_write_time(file_, ec) : fs::file_time_type{};
  const uintmax_t size = exists ? fs::file_size(file_, ec) : 0;
  if (!cached_ || mtime != cached_mtime_ || size != cached_size_) {
    cache_.clear();
    cached_ = false;
    COSY_ASSIGN_OR_RETURN(std::vector<Entry> all, ReadAll());
    for (const Entry& e : all) {
      COSY_ASSIGN_OR_RETURN(VoicePrompt v, VoiceFromEntry(e.id, e.tensors,
                                                          file_.string() + ": voice '" + e.id + "'"));
      cache_.emplace_back(e.id, std::make_shared<const VoicePrompt>(std::move(v)));
    }
    cached_mtime_ = mtime;
    cached_size_ = size;
    cached_ = true;
  }
  std::string names;
  for (const auto& [k, v] : cache_) {
    if (k == id) return v;
    if (names.size() < 400) names += (names.empty() ? "" : ", ") + k;
  }
  return NotFound("voice '{}' not found in {} (voices: {})", id, file_.string(),
                  names.empty() ? "none" : names);
}

bool VoiceStore::Contains(const std::string& id) const { return Get(id).ok(); }

Status VoiceStore::Add(const VoicePrompt& voice, bool replace) {
  COSY_RETURN_IF_ERROR(ValidateVoiceId(voice.id));
  COSY_ASSIGN_OR_RETURN(io::TorchDict d, VoiceToEntry(voice));
  Entry entry{voice.id, {}};
  for (auto& [k, v] : d.items) entry.tensors.emplace_back(k, std::get<Tensor>(v));
  COSY_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(file_));
  COSY_ASSIGN_OR_RETURN(std::vector<Entry> all, ReadAll());
  auto it = std::find_if(all.begin(), all.end(), [&](const Entry& e) { return e.id == voice.id; });
  if (it != all.end()) {
    if (!replace) {
      return InvalidArgument("voice '{}' already exists in {} (remove it first, or replace)",
                             voice.id, file_.string());
    }
    *it = std::move(entry);
  } else {
    all.push_back(std::move(entry));
  }
  return WriteAll(all);
}

Status VoiceStore::Remove(const std::string& id) {
  COSY_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(file_));
  COSY_ASSIGN_OR_RETURN(std::vector<Entry> all, ReadAll());
  auto it = std::find_if(all.begin(), all.end(), [&](const Entry& e) { return e.id == id; });
  if (it == all.end()) return NotFound("voice '{}' not found in {}", id, file_.string());
  all.erase(it);
  return WriteAll(all);
}

}  // namespace cosyflow::voice

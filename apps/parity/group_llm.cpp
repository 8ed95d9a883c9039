// Parity groups of the speech LM (see tests/fixtures/tiny-seed0/README.md "llm", "llm_modes",
// "llm_bistream"): greedy decoding through SpeechLmGenerator with every forward call traced.
#include "apps/parity/group_llm.h"

#include <limits>
#include <memory>
#include <string>

#include "nodes/llm/speech_lm.h"
#include "nodes/llm/speech_lm_generator.h"
#include "runtime/kernels/cpu/softmax.h"

namespace cosyflow::parity {
namespace {

constexpr Tolerance kExact{0, 0};
constexpr Tolerance kHidden{1e-4, 0};
constexpr Tolerance kLogits{1e-3, 0};

Result<std::vector<int32_t>> Ids(const Fixture& f, const std::string& name) {
  COSY_ASSIGN_OR_RETURN(Tensor t, f.Load(name));
  COSY_ASSIGN_OR_RETURN(Tensor c, t.To(DType::kI32));
  return std::vector<int32_t>(c.data<int32_t>(), c.data<int32_t>() + c.numel());
}

// Ids of an entry that the group feeds to the engine (accounted as "used as input").
Result<std::vector<int32_t>> InputIds(const Fixture& f, Report& r, const std::string& name) {
  r.UsedAsInput(name);
  COSY_ASSIGN_OR_RETURN(Tensor t, f.Load(name));
  COSY_ASSIGN_OR_RETURN(Tensor c, t.To(DType::kI32));
  return std::vector<int32_t>(c.data<int32_t>(), c.data<int32_t>() + c.numel());
}

template <typename T>
Tensor MakeTensor(const Dims& shape, const std::vector<T>& v) {
  auto t = Tensor::FromVector<T>(shape, std::span<const T>(v));
  return t.ok() ? *t : Tensor();
}

void CompareTo(const Fixture& f, Report& r, const std::string& name, const Tensor& actual,
               const Tolerance& tol) {
  auto golden = f.Load(name);
  if (!golden.ok()) return r.Fail(name, golden.status().ToString());
  // Goldens keep the reference's batch dims ([1, ...]); compare on the golden's shape.
  auto reshaped = actual.Reshape(golden->shape());
  r.Compare(name, reshaped.ok() ? *reshaped : actual, *golden, tol);
}

Device g_llm_device = Device::kCpu;

Result<std::unique_ptr<SpeechLm>> LoadLm(const Fixture& f) {
  SpeechLmLoadOptions options;
  options.device = g_llm_device;
  return SpeechLm::Load(f.dir(), options);
}

SpeechLmGenerateOptions GreedyOptions() {
  SpeechLmGenerateOptions o;
  o.sampling.greedy = true;
  return o;
}

// Everything a greedy run produced, call by call.
struct Trace {
  std::vector<SpeechLmRow> fed;
  std::vector<int32_t> pending_len, text_pulled, out, forced_fill, tokens;
  std::vector<float> logits;  // [calls, V]
  int64_t calls = 0;
};

void Attach(SpeechLmGenerator* g, Trace* t, int64_t vocab) {
  g->set_call_observer([t, vocab](const SpeechLmCall& c) {
    t->fed.insert(t->fed.end(), c.fed.begin(), c.fed.end());
    t->pending_len.push_back(static_cast<int32_t>(c.fed.size()));
    t->text_pulled.push_back(static_cast<int32_t>(c.text_pulled));
    t->out.push_back(c.out);
    if (c.forced_fill) t->forced_fill.push_back(static_cast<int32_t>(c.index));
    t->logits.insert(t->logits.end(), c.logits, c.logits + vocab);
    ++t->calls;
  });
}

// Steps until kEnd (or kNeedText when `until_need_text`), collecting emitted tokens.
Status Drain(SpeechLmGenerator* g, Trace* t, bool until_need_text) {
  while (true) {
    COSY_ASSIGN_OR_RETURN(SpeechLmStep s, g->Step());
    if (s.kind == SpeechLmStep::Kind::kToken) t->tokens.push_back(s.token);
    if (s.kind == SpeechLmStep::Kind::kEnd) return OkStatus();
    if (s.kind == SpeechLmStep::Kind::kNeedText) {
      if (until_need_text) return OkStatus();
      return Internal("llm: generator waits for text after EndText");
    }
  }
}

Result<Tensor> Embeds(const SpeechLm& lm, const std::vector<SpeechLmRow>& rows) {
  const int64_t h = lm.config().qwen.hidden_size;
  COSY_ASSIGN_OR_RETURN(Tensor t,
                        Tensor::Empty({static_cast<int64_t>(rows.size()), h}, DType::kF32));
  COSY_RETURN_IF_ERROR(lm.Embed(rows, t.data<float>()));
  return t;
}

Status RunLlm(const Fixture& f, Report& r) {
  COSY_ASSIGN_OR_RETURN(auto lm, LoadLm(f));
  const int64_t v = lm->config().speech_vocab(), h = lm->config().qwen.hidden_size;
  SpeechLmInput in;
  COSY_ASSIGN_OR_RETURN(in.text, Ids(f, "input_text"));
  COSY_ASSIGN_OR_RETURN(in.prompt_text, Ids(f, "input_prompt_text"));
  COSY_ASSIGN_OR_RETURN(in.prompt_speech, Ids(f, "input_llm_prompt_speech_token"));
  COSY_ASSIGN_OR_RETURN(auto gen, SpeechLmGenerator::Start(*lm, GreedyOptions(), in, 0));
  Trace t;
  Attach(gen.get(), &t, v);
  COSY_RETURN_IF_ERROR(Drain(gen.get(), &t, false));

  // Prefill: embeddings and the final-normed hidden states through the model hook.
  const std::vector<SpeechLmRow> prefill(t.fed.begin(), t.fed.begin() + t.pending_len.at(0));
  COSY_ASSIGN_OR_RETURN(Tensor x, Embeds(*lm, prefill));
  CompareTo(f, r, "llm_prefill_input_embeds", x, kExact);
  COSY_ASSIGN_OR_RETURN(auto state, lm->NewState(x.size(0)));
  std::vector<float> hidden, logits(static_cast<size_t>(v));
  SpeechLmHook hook = [&hidden](const SpeechLmTap& tap) {
    if (tap.name == "final_norm")
      hidden.insert(hidden.end(), tap.data, tap.data + tap.rows * tap.cols);
  };
  COSY_RETURN_IF_ERROR(lm->Forward(state.get(), x.data<float>(), x.size(0), logits.data(), &hook));
  CompareTo(f, r, "llm_prefill_hidden", MakeTensor<float>({x.size(0), h}, hidden), kHidden);

  const std::vector<float> step0(t.logits.begin(), t.logits.begin() + v);
  CompareTo(f, r, "llm_step0_logits", MakeTensor<float>({v}, step0), kLogits);
  std::vector<float> logp(step0);
  COSY_RETURN_IF_ERROR(kernels::cpu::LogSoftmax(step0.data(), 1, v, logp.data()));
  CompareTo(f, r, "llm_step0_logp", MakeTensor<float>({v}, logp), kLogits);
  CompareTo(f, r, "llm_steps_logits", MakeTensor<float>({t.calls, v}, t.logits), kLogits);
  CompareTo(f, r, "llm_greedy_tokens",
            MakeTensor<int32_t>({static_cast<int64_t>(t.tokens.size())}, t.tokens), kExact);

  // The RAS nucleus candidate set at step 0 (EOS masked as while i < min_len).
  SpeechLmSampler sampler(SpeechLmSamplingOptions{}, v);
  logp[static_cast<size_t>(lm->config().eos_id())] = -std::numeric_limits<float>::infinity();
  std::vector<int32_t> ids;
  std::vector<float> probs;
  sampler.Nucleus(logp.data(), &ids, &probs);
  const auto n = static_cast<int64_t>(ids.size());
  CompareTo(f, r, "llm_step0_nucleus_ids", MakeTensor<int32_t>({n}, ids), kExact);
  CompareTo(f, r, "llm_step0_nucleus_probs", MakeTensor<float>({n}, probs), Tolerance{1e-4, 0});
  return OkStatus();
}

Status RunModes(const Fixture& f, Report& r) {
  COSY_ASSIGN_OR_RETURN(auto lm, LoadLm(f));
  const int64_t v = lm->config().speech_vocab();
  const auto& modes = f.manifest().at("llm_modes").at("modes");
  for (auto it = modes.begin(); it != modes.end(); ++it) {
    const std::string prefix = "llm_modes_" + it.key();
    SpeechLmInput in;
    COSY_ASSIGN_OR_RETURN(in.text, InputIds(f, r, prefix + "_in_text"));
    if (f.Find(prefix + "_in_prompt_text")) {
      COSY_ASSIGN_OR_RETURN(in.prompt_text, InputIds(f, r, prefix + "_in_prompt_text"));
    }
    if (f.Find(prefix + "_in_prompt_speech_token")) {
      COSY_ASSIGN_OR_RETURN(in.prompt_speech, InputIds(f, r, prefix + "_in_prompt_speech_token"));
    }
    // The fixture's mode names map onto the engine's modes (empty transcript = zero-shot).
    const std::string mode_name =
        it.key() == "zero_shot_empty_prompt_text" ? "zero_shot" : it.key();
    COSY_ASSIGN_OR_RETURN(SpeechLmMode mode, ParseSpeechLmMode(mode_name));
    COSY_ASSIGN_OR_RETURN(auto gen,
                          SpeechLmGenerator::Start(*lm, GreedyOptions(), in.ForMode(mode), 0));
    Trace t;
    Attach(gen.get(), &t, v);
    COSY_RETURN_IF_ERROR(Drain(gen.get(), &t, false));
    const std::vector<SpeechLmRow> prefill(t.fed.begin(), t.fed.begin() + t.pending_len.at(0));
    COSY_ASSIGN_OR_RETURN(Tensor x, Embeds(*lm, prefill));
    CompareTo(f, r, prefix + "_prefill_input_embeds", x, kExact);
    const std::vector<float> step0(t.logits.begin(), t.logits.begin() + v);
    CompareTo(f, r, prefix + "_step0_logits", MakeTensor<float>({v}, step0), kLogits);
    CompareTo(f, r, prefix + "_tokens",
              MakeTensor<int32_t>({static_cast<int64_t>(t.tokens.size())}, t.tokens), kExact);
  }
  return OkStatus();
}

Status RunBistreamOne(const SpeechLm& lm, const Fixture& f, Report& r, const std::string& p) {
  const int64_t v = lm.config().speech_vocab();
  COSY_ASSIGN_OR_RETURN(auto text, InputIds(f, r, p + "_in_text_tokens"));
  COSY_ASSIGN_OR_RETURN(auto chunk_lens, InputIds(f, r, p + "_in_chunk_lens"));
  COSY_ASSIGN_OR_RETURN(auto prompt_text, InputIds(f, r, p + "_in_prompt_text"));
  COSY_ASSIGN_OR_RETURN(auto prompt_speech, InputIds(f, r, p + "_in_prompt_speech_token"));
  COSY_ASSIGN_OR_RETURN(auto gen, SpeechLmGenerator::StartBistream(lm, GreedyOptions(), prompt_text,
                                                                   prompt_speech, 0));
  Trace t;
  Attach(gen.get(), &t, v);
  // Push the user's chunks as they would arrive, decoding as far as each allows.
  size_t at = 0;
  for (int32_t len : chunk_lens) {
    if (len < 0 || at + static_cast<size_t>(len) > text.size()) {
      return DataLoss("{}_in_chunk_lens does not add up to the text length", p);
    }
    COSY_RETURN_IF_ERROR(gen->PushText({text.data() + at, static_cast<size_t>(len)}));
    at += static_cast<size_t>(len);
    COSY_RETURN_IF_ERROR(Drain(gen.get(), &t, true));
  }
  COSY_RETURN_IF_ERROR(gen->EndText());
  COSY_RETURN_IF_ERROR(Drain(gen.get(), &t, false));

  auto vec = [](const std::vector<int32_t>& x) {
    return MakeTensor<int32_t>({static_cast<int64_t>(x.size())}, x);
  };
  CompareTo(f, r, p + "_out", vec(t.out), kExact);
  CompareTo(f, r, p + "_tokens", vec(t.tokens), kExact);
  CompareTo(f, r, p + "_pending_len", vec(t.pending_len), kExact);
  CompareTo(f, r, p + "_text_pulled", vec(t.text_pulled), kExact);
  CompareTo(f, r, p + "_forced_fill_idx", vec(t.forced_fill), kExact);
  std::vector<int32_t> fed;
  for (const SpeechLmRow& row : t.fed) {
    fed.push_back(static_cast<int32_t>(row.table));
    fed.push_back(row.id);
  }
  CompareTo(f, r, p + "_fed", MakeTensor<int32_t>({static_cast<int64_t>(t.fed.size()), 2}, fed),
            kExact);
  COSY_ASSIGN_OR_RETURN(Tensor embeds, Embeds(lm, t.fed));
  CompareTo(f, r, p + "_fed_embeds", embeds, kExact);
  CompareTo(f, r, p + "_logits", MakeTensor<float>({t.calls, v}, t.logits), kLogits);
  return OkStatus();
}

Status RunBistream(const Fixture& f, Report& r) {
  COSY_ASSIGN_OR_RETURN(auto lm, LoadLm(f));
  const auto& runs = f.manifest().at("llm_bistream_schedule");
  for (auto it = runs.begin(); it != runs.end(); ++it) {
    COSY_RETURN_IF_ERROR_CTX(RunBistreamOne(*lm, f, r, it.key()), it.key());
  }
  return OkStatus();
}

// Manifest lookups throw on a malformed fixture; turn that into a Status.
template <typename Fn>
std::function<Status(const Fixture&, Report&)> Guarded(Fn fn) {
  return [fn](const Fixture& f, Report& r) -> Status {
    try {
      return fn(f, r);
    } catch (const std::exception& e) {
      return DataLoss("{}/manifest.json: {}", f.dir(), e.what());
    }
  };
}

}  // namespace

std::vector<Group> LlmGroups() {
  return {{"llm", Guarded(RunLlm)},
          {"llm_modes", Guarded(RunModes)},
          {"llm_bistream", Guarded(RunBistream)}};
}

void SetLlmDevice(Device device) { g_llm_device = device; }
Device LlmDevice() { return g_llm_device; }

}  // namespace cosyflow::parity

// Prompt decode/check/resample (load_wav) and the token/feature alignment against the goldens.
#include "nodes/prompt_audio/prompt_audio.h"

#include <doctest/doctest.h>
#include <sndfile.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>

#include "tests/nodes/prompt_audio/prompt_audio_test_util.h"

namespace cosyflow::prompt_audio {
namespace {

using testing::FixturePath;
using testing::Golden;
using testing::GoldenF32;
using testing::MaxAbsDiff;
using testing::PromptNames;

std::string TempPath(const std::string& file) {
  auto dir = std::filesystem::temp_directory_path() / "cosyflow_prompt_audio_test";
  std::filesystem::create_directories(dir);
  return (dir / file).string();
}

void WriteWav(const std::string& path, int rate, const std::vector<float>& x) {
  auto w = AudioFileWriter::Open(path, rate, AudioFileFormat::kWav, AudioSampleFormat::kFloat);
  REQUIRE(w.ok());
  REQUIRE((*w)->Write(x).ok());
  REQUIRE((*w)->Close().ok());
}

TEST_CASE("DecodePromptFile: libsndfile decode equals wav_mono (PCM16 / 32768) exactly") {
  for (const auto& name : PromptNames()) {
    auto a = DecodePromptFile(FixturePath(name + "/prompt.wav"));
    REQUIRE_MESSAGE(a.ok(), a.status().ToString());
    const std::vector<float> want = GoldenF32(name + "/wav_mono.npy");
    REQUIRE(a->samples.size() == want.size());
    CHECK(MaxAbsDiff(a->samples.data(), want.data(), static_cast<int64_t>(want.size())) == 0.0);
  }
}

TEST_CASE("LoadPromptAudio / LoadPromptWaveforms: x16k and x24k of every fixture prompt") {
  for (const auto& name : PromptNames()) {
    const std::string wav = FixturePath(name + "/prompt.wav");
    auto x16k = LoadPromptAudio(wav, kPromptTokenizerRate);
    auto both = LoadPromptWaveforms(wav);
    REQUIRE_MESSAGE(x16k.ok(), x16k.status().ToString());
    REQUIRE_MESSAGE(both.ok(), both.status().ToString());
    CHECK(both->x16k == *x16k);
    for (const auto& [got, file] :
         {std::pair{&both->x16k, "/x16k.npy"}, std::pair{&both->x24k, "/x24k.npy"}}) {
      const std::string golden = name + file;
      const std::vector<float> want = GoldenF32(golden);
      REQUIRE(got->size() == want.size());
      double err = MaxAbsDiff(got->data(), want.data(), static_cast<int64_t>(want.size()));
      MESSAGE("LoadPromptWaveforms vs ", golden, ": max abs error ", err);
      CHECK(err <= 1e-4);
    }
    CHECK(CheckTokenizerDuration(static_cast<int64_t>(x16k->size()), wav).ok());
  }
}

TEST_CASE("Prompt front end end to end: prompt.wav -> tokenizer mel and flow mel within 1e-4") {
  // Our own resampling feeds the features here (the feature tests start from the golden x16k /
  // x24k), so this bounds the compounded error of the whole chain.
  auto whisper = WhisperLogMel::Create(128);
  auto matcha = MatchaMel::Create();
  REQUIRE((whisper.ok() && matcha.ok()));
  for (const auto& name : PromptNames()) {
    auto w = LoadPromptWaveforms(FixturePath(name + "/prompt.wav"));
    REQUIRE_MESSAGE(w.ok(), w.status().ToString());
    auto mel = whisper->Compute(w->x16k);
    auto feat = matcha->Compute(w->x24k);
    REQUIRE((mel.ok() && feat.ok()));
    testing::ExpectClose(*mel, Golden(name + "/whisper_mel128.npy"), 1e-4,
                         name + " prompt.wav -> whisper mel");
    testing::ExpectClose(*feat, Golden(name + "/prompt_mel24k.npy"), 1e-4,
                         name + " prompt.wav -> prompt_mel24k");
  }
}

TEST_CASE("PreparePromptAudio: a raw buffer; equal rates copy; a stereo file is averaged") {
  std::vector<float> x(32000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i % 97) / 97.0 - 0.5);
  auto same = PreparePromptAudio(x, 16000, 16000);
  REQUIRE(same.ok());
  CHECK(*same == x);
  auto up = PreparePromptAudio(x, 16000, 24000);
  REQUIRE(up.ok());
  CHECK(up->size() == 48000);

  // Stereo float file: L = x, R = −x/2 -> mono (x − x/2)/2 = x/4, as stored (no rescaling).
  const std::string path = TempPath("stereo.wav");
  {
    std::vector<float> inter(2 * x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      inter[2 * i] = x[i];
      inter[2 * i + 1] = -x[i] / 2;
    }
    SF_INFO info{};
    info.samplerate = 16000;
    info.channels = 2;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
    REQUIRE(f != nullptr);
    REQUIRE(sf_writef_float(f, inter.data(), static_cast<sf_count_t>(x.size())) ==
            static_cast<sf_count_t>(x.size()));
    sf_close(f);
  }
  auto mono = DecodePromptFile(path);
  REQUIRE(mono.ok());
  REQUIRE(mono->samples.size() == x.size());
  for (size_t i = 0; i < x.size(); i += 101) CHECK(mono->samples[i] == (x[i] - x[i] / 2) / 2);
}

TEST_CASE("Prompt errors: low or high rate, empty, not audio, missing, longer than 30 s") {
  const std::string low = TempPath("low_rate.wav");
  WriteWav(low, 8000, std::vector<float>(8000, 0.1f));
  auto r = LoadPromptAudio(low, 16000);
  REQUIRE(!r.ok());
  CHECK(r.status().message().find(low) != std::string::npos);
  CHECK(r.status().message().find("8000") != std::string::npos);
  CHECK(r.status().message().find("16000") != std::string::npos);
  CHECK(!PreparePromptAudio(std::vector<float>(100, 0.f), 15999, 16000).ok());
  // A header may claim up to 2^31 - 1 Hz: above 768 kHz it is refused before any resampling
  // (at INT_MAX Hz the filter asked for ~8 GB), for both targets.
  CHECK(PreparePromptAudio(std::vector<float>(768, 0.1f), 768000, 16000).ok());
  for (int rate : {768001, 2147483647}) {
    for (int target : {16000, 24000}) {
      auto high = PreparePromptAudio(std::vector<float>(100, 0.1f), rate, target, "hi.wav");
      REQUIRE(!high.ok());
      CHECK(high.status().message().find("above the maximum 768000 Hz") != std::string::npos);
    }
  }

  const std::string empty = TempPath("empty.wav");
  WriteWav(empty, 16000, {});
  r = LoadPromptAudio(empty, 16000);
  REQUIRE(!r.ok());
  CHECK(r.status().message().find(empty) != std::string::npos);
  CHECK(r.status().message().find("no audio") != std::string::npos);
  CHECK(!PreparePromptAudio({}, 16000, 24000).ok());

  const std::string text = TempPath("not_audio.wav");
  std::ofstream(text) << "this is not a wav file\n";
  r = LoadPromptAudio(text, 16000);
  REQUIRE(!r.ok());
  CHECK(r.status().message().find(text) != std::string::npos);

  r = LoadPromptAudio(TempPath("does_not_exist.wav"), 16000);
  REQUIRE(!r.ok());
  CHECK(r.status().code() == StatusCode::kNotFound);

  // Non-finite samples would make a voice that speaks silence: refused, naming the sample.
  std::vector<float> nan_at_7(1600, 0.1f);
  nan_at_7[7] = std::numeric_limits<float>::quiet_NaN();
  auto bad = PreparePromptAudio(nan_at_7, 16000, 24000, "p.wav");
  REQUIRE(!bad.ok());
  CHECK(bad.status().message().find("p.wav: sample 7 is nan") != std::string::npos);
  std::vector<float> inf_last(1600, 0.1f);
  inf_last.back() = std::numeric_limits<float>::infinity();
  CHECK(!PreparePromptAudio(inf_last, 16000, 16000).ok());  // equal rates too
  // A rate sharing no divisor with 16 kHz needs a filter of 16000 phases x ~1e6 taps: refused
  // at once instead of minutes of building it.
  const auto t0 = std::chrono::steady_clock::now();
  auto odd = PreparePromptAudio(std::vector<float>(48000, 0.1f), 700001, 16000, "odd.wav");
  REQUIRE(!odd.ok());
  CHECK(odd.status().message().find("700001 -> 16000 Hz") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));

  CHECK(CheckTokenizerDuration(30 * 16000, "p").ok());
  Status s = CheckTokenizerDuration(30 * 16000 + 1, "long.wav");
  REQUIRE(!s.ok());
  CHECK(s.code() == StatusCode::kOutOfRange);
  CHECK(s.message().find("long.wav") != std::string::npos);
  CHECK(s.message().find("30") != std::string::npos);
}

TEST_CASE("TrimPromptTokensAndFeat: L = min(T_feat/2, T_tok) matches the fixture trims") {
  for (const auto& name : PromptNames()) {
    Tensor tokens = Golden(name + "/speech_token.npy");  // [1, T_tok] i32
    Tensor feat = Golden(name + "/prompt_mel24k.npy");   // [1, T_feat, 80] f32
    auto t = TrimPromptTokensAndFeat(tokens, feat);
    REQUIRE_MESSAGE(t.ok(), t.status().ToString());
    Tensor want_tok = Golden(name + "/prompt_speech_token_trim.npy");
    Tensor want_feat = Golden(name + "/prompt_speech_feat_trim.npy");
    CHECK(t->token_len == want_tok.size(-1));
    REQUIRE(t->tokens.shape() == want_tok.shape());
    REQUIRE(t->feat.shape() == want_feat.shape());
    auto tc = t->tokens.Contiguous();
    auto fc = t->feat.Contiguous();
    REQUIRE((tc.ok() && fc.ok()));
    for (int64_t i = 0; i < want_tok.numel(); ++i) {
      REQUIRE(tc->data<int32_t>()[i] == want_tok.data<int32_t>()[i]);
    }
    CHECK(MaxAbsDiff(fc->data<float>(), want_feat.data<float>(), want_feat.numel()) == 0.0);
  }
  CHECK(AlignedPromptTokenLength(174, 87) == 87);  // spec worked example
  CHECK(AlignedPromptTokenLength(269, 135) == 134);
  CHECK(AlignedPromptTokenLength(170, 90) == 85);
}

}  // namespace
}  // namespace cosyflow::prompt_audio

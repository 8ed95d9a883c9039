// Audio I/O nodes: files written by the sink read back equal; PCM encoding; source chunking.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "nodes/audio_io/audio_io_nodes.h"
#include "nodes/core/node_harness.h"

namespace cosyflow {
namespace {

std::string TmpDir() {
  auto d = std::filesystem::temp_directory_path() / "cosyflow_audio_io_test";
  std::filesystem::create_directories(d);
  return d.string();
}

std::vector<float> Ramp(int n) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = 0.8f * std::sin(0.01f * i);
  return v;
}

void WriteThroughSink(const nlohmann::json& options, const std::vector<float>& x, int rate,
                      uint64_t session = 1) {
  auto h = NodeHarness::Make<AudioFileSinkNode>(options);
  REQUIRE_MESSAGE(h.ok(), h.status().ToString());
  REQUIRE(h->Open(session).ok());
  for (size_t pos = 0; pos < x.size(); pos += 333) {
    size_t n = std::min<size_t>(333, x.size() - pos);
    REQUIRE(h->Push(session, 0, *Audio::FromSamples(std::span<const float>(x).subspan(pos, n), rate)).ok());
  }
  REQUIRE(h->Close(session).ok());
}

TEST_CASE("AudioFileSink: float wav round-trips exactly, int16 within one step") {
  std::vector<float> x = Ramp(5000);
  std::string f32 = TmpDir() + "/f32.wav", s16 = TmpDir() + "/s16-{session}.wav";
  WriteThroughSink({{"path", f32}, {"sample_format", "float"}}, x, 22050);
  WriteThroughSink({{"path", s16}}, x, 22050, 42);
  auto a = ReadAudioFile(f32);
  REQUIRE(a.ok());
  CHECK(a->sample_rate == 22050);
  CHECK(a->samples == x);
  auto b = ReadAudioFile(TmpDir() + "/s16-42.wav");
  REQUIRE(b.ok());
  REQUIRE(b->samples.size() == x.size());
  for (size_t i = 0; i < x.size(); ++i) CHECK(std::abs(b->samples[i] - x[i]) < 1.0f / 16000);
}

TEST_CASE("AudioFileSink: flac and ogg are written; cancel deletes the partial file") {
  std::vector<float> x = Ramp(8000);
  WriteThroughSink({{"path", TmpDir() + "/a.flac"}}, x, 16000);
  WriteThroughSink({{"path", TmpDir() + "/a.ogg"}}, x, 16000);
  CHECK(ReadAudioFile(TmpDir() + "/a.flac")->samples.size() == x.size());
  CHECK(ReadAudioFile(TmpDir() + "/a.ogg")->sample_rate == 16000);
  auto h = NodeHarness::Make<AudioFileSinkNode>({{"path", TmpDir() + "/cancelled.wav"}});
  REQUIRE(h.ok());
  REQUIRE(h->Open(1).ok());
  REQUIRE(h->Push(1, 0, *Audio::FromSamples(x, 16000)).ok());
  REQUIRE(h->Close(1, CloseReason::kCancel).ok());
  CHECK(!std::filesystem::exists(TmpDir() + "/cancelled.wav"));
  auto bad = ParseNodeOptions<AudioFileSinkOptions>({{"path", "x.flac"}, {"sample_format", "float"}});
  CHECK(!bad.ok());
  CHECK(!ParseNodeOptions<AudioFileSinkOptions>({{"path", "x.mp3"}}).ok());
}

TEST_CASE("RawPcmWriter: s16le and f32le bytes") {
  std::string path = TmpDir() + "/raw.s16";
  auto h = NodeHarness::Make<RawPcmWriterNode>({{"path", path}, {"encoding", "s16le"}});
  REQUIRE(h.ok());
  REQUIRE(h->Open(1).ok());
  REQUIRE(h->Push(1, 0, *Audio::FromSamples(std::vector<float>{0.0f, 1.0f, -2.0f, 0.5f}, 8000)).ok());
  REQUIRE(h->Close(1).ok());
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  REQUIRE(bytes.size() == 8);
  int16_t v[4];
  std::memcpy(v, bytes.data(), 8);
  CHECK(v[0] == 0);
  CHECK(v[1] == 32767);
  CHECK(v[2] == -32767);  // clipped
  CHECK(v[3] == 16384);
  std::string f;
  EncodePcm(std::vector<float>{0.25f}, PcmEncoding::kF32Le, &f);
  float back;
  std::memcpy(&back, f.data(), 4);
  CHECK(back == 0.25f);
}

TEST_CASE("AudioFileSource: emits the file in chunks per request; missing file fails Create") {
  std::vector<float> x = Ramp(1000);
  std::string path = TmpDir() + "/src.wav";
  WriteThroughSink({{"path", path}, {"sample_format", "float"}}, x, 24000);
  NodeContext ctx;
  ctx.model_dir = TmpDir();
  auto h = NodeHarness::Make<AudioFileSourceNode>({{"path", "src.wav"}, {"chunk_samples", 300}}, ctx);
  REQUIRE_MESSAGE(h.ok(), h.status().ToString());
  REQUIRE(h->Open(1).ok());
  REQUIRE(h->Push(1, 0, TextRequest{}).ok());
  REQUIRE(h->Close(1).ok());
  CHECK(h->Outputs(1).size() == 4);
  CHECK(h->AudioSamples(1) == x);
  auto missing = NodeHarness::Make<AudioFileSourceNode>({{"path", "nope.wav"}}, ctx);
  REQUIRE(!missing.ok());
  CHECK(missing.status().message().find("nope.wav") != std::string::npos);
}

}  // namespace
}  // namespace cosyflow

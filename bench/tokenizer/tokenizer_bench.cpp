// cosyflow-bench-tokenizer: Qwen2Tokenizer speed on a mixed zh/en corpus and 1 MB inputs.
// Checks the ids against the JSONL first, then times; prints one JSON object.
// Usage: cosyflow-bench-tokenizer [TOKENIZER_DIR [JSONL]]
//   defaults: tests/fixtures/qwen2-tokenizer (or $COSYFLOW_TEST_FIXTURES/qwen2-tokenizer) and
//   its encodings.jsonl.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "nodes/tokenizer/qwen2_tokenizer.h"

namespace {

using cosyflow::tokenizer::Qwen2Tokenizer;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

struct Rate {
  double seconds = 0;
  size_t bytes = 0;
  size_t tokens = 0;
  std::string Json() const {
    return fmt::format(R"({{"seconds": {:.4f}, "bytes": {}, "tokens": {}, )"
                       R"("tokens_per_s": {:.0f}, "mb_per_s": {:.2f}}})",
                       seconds, bytes, tokens, tokens / seconds, bytes / seconds / 1e6);
  }
};

// Encodes every text of `corpus` (one Encode per text, as the front end calls it) until at
// least `min_seconds` have passed.
Rate TimeCorpus(const Qwen2Tokenizer& tok, const std::vector<std::string>& corpus,
                double min_seconds) {
  Rate r;
  auto start = Clock::now();
  std::vector<int32_t> ids;
  do {
    for (const std::string& text : corpus) {
      ids.clear();
      if (!tok.EncodeTo(text, &ids).ok()) std::abort();
      r.bytes += text.size();
      r.tokens += ids.size();
    }
  } while (Seconds(start) < min_seconds);
  r.seconds = Seconds(start);
  return r;
}

Rate TimeOne(const Qwen2Tokenizer& tok, const std::string& text) {
  auto start = Clock::now();
  auto ids = tok.Encode(text);
  Rate r{Seconds(start), text.size(), ids.ok() ? ids->size() : 0};
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "tests/fixtures/qwen2-tokenizer";
  if (const char* env = std::getenv("COSYFLOW_TEST_FIXTURES")) {
    dir = std::string(env) + "/qwen2-tokenizer";
  }
  if (argc > 1) dir = argv[1];
  std::string jsonl = argc > 2 ? argv[2] : dir + "/encodings.jsonl";

  auto load_start = Clock::now();
  auto loaded = Qwen2Tokenizer::Load(dir);
  double load_s = Seconds(load_start);
  if (!loaded.ok()) {
    fmt::print(stderr, "bench: {}\n", loaded.status().ToString());
    return 2;
  }
  const Qwen2Tokenizer& tok = **loaded;

  // Check first: every line must reproduce its reference ids.
  std::ifstream in(jsonl);
  if (!in) {
    fmt::print(stderr, "bench: cannot open {}\n", jsonl);
    return 2;
  }
  std::vector<std::string> texts;
  size_t mismatches = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("text")) continue;
    texts.push_back(j["text"].get<std::string>());
    auto ids = tok.Encode(texts.back());
    if (!ids.ok() || (j.contains("ids") && *ids != j["ids"].get<std::vector<int32_t>>())) {
      ++mismatches;
    }
  }
  if (texts.empty() || mismatches > 0) {
    fmt::print("{{\"ok\": false, \"lines\": {}, \"mismatches\": {}}}\n", texts.size(), mismatches);
    return 1;
  }

  // Corpus: the suite's texts repeated to ~1 MB, each encoded on its own.
  std::vector<std::string> corpus;
  size_t corpus_bytes = 0;
  while (corpus_bytes < (1u << 20)) {
    for (const std::string& t : texts) {
      corpus.push_back(t);
      corpus_bytes += t.size();
    }
  }
  // A fresh instance for the cold pass, so no word is cached yet.
  auto fresh = Qwen2Tokenizer::Load(dir);
  if (!fresh.ok()) return 2;
  Rate cold = TimeCorpus(**fresh, corpus, 0.0);
  Rate warm = TimeCorpus(tok, corpus, 2.0);

  unsigned threads = std::max(2u, std::thread::hardware_concurrency());
  std::vector<Rate> per_thread(threads);
  auto mt_start = Clock::now();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] { per_thread[t] = TimeCorpus(tok, corpus, 2.0); });
  }
  for (auto& th : pool) th.join();
  Rate mt;
  mt.seconds = Seconds(mt_start);
  for (const Rate& r : per_thread) mt.bytes += r.bytes, mt.tokens += r.tokens;

  // 1 MB single inputs: joined mixed text, CJK without spaces, one repeated letter.
  std::string mixed, cjk, letters(1u << 20, 'a');
  for (size_t i = 0; mixed.size() < (1u << 20); ++i) mixed += texts[i % texts.size()] + "\n";
  while (cjk.size() < (1u << 20)) cjk += "收到好友从远方寄来的生日礼物";

  fmt::print("{{\n  \"ok\": true,\n  \"lines_checked\": {},\n  \"load_seconds\": {:.3f},\n",
             texts.size(), load_s);
  fmt::print("  \"corpus_cold\": {},\n  \"corpus_warm\": {},\n", cold.Json(), warm.Json());
  fmt::print("  \"corpus_threads\": {},\n  \"corpus_{}_threads\": {},\n", threads, threads,
             mt.Json());
  fmt::print("  \"one_mb_mixed\": {},\n", TimeOne(tok, mixed).Json());
  fmt::print("  \"one_mb_cjk_no_spaces\": {},\n", TimeOne(tok, cjk).Json());
  fmt::print("  \"one_mb_one_letter\": {}\n}}\n", TimeOne(tok, letters).Json());
  return 0;
}

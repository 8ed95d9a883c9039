// cosyflow-bench-text-normalizer: wetext FST load time, normalize throughput (code points per
// second) for zh and en prose with numbers, and memory. Checks known outputs first, then times;
// prints one JSON object.
// Usage: cosyflow-bench-text-normalizer [TOKENIZER_DIR [FST_DIR]]
//   defaults: tests/fixtures/qwen2-tokenizer (or $COSYFLOW_TEST_FIXTURES/qwen2-tokenizer) and
//   the FSTs shipped with cosyflow.
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "nodes/text_normalizer/text_normalizer.h"

namespace {

namespace tn = cosyflow::text_normalizer;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// VmRSS / VmHWM of this process in MiB (0 when /proc is not there).
double ProcStatusMiB(const std::string& key) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) return std::atof(line.c_str() + key.size() + 1) / 1024.0;
  }
  return 0;
}

size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

struct Rate {
  double seconds = 0;
  size_t chars = 0;
  size_t calls = 0;
  std::string Json() const {
    return fmt::format(R"({{"seconds": {:.3f}, "chars": {}, "calls": {}, "chars_per_s": {:.0f}, )"
                       R"("ms_per_call": {:.2f}}})",
                       seconds, chars, calls, chars / seconds, 1e3 * seconds / calls);
  }
};

// Segments() of every sentence (one request each, as the node calls it) for >= min_seconds.
Rate Time(const tn::TextNormalizer& n, const std::vector<std::string>& sentences,
          double min_seconds) {
  Rate r;
  auto start = Clock::now();
  do {
    for (const std::string& s : sentences) {
      if (!n.Segments(s).ok()) std::abort();
      r.chars += CodePoints(s);
      ++r.calls;
    }
  } while (Seconds(start) < min_seconds);
  r.seconds = Seconds(start);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string tok_dir = "tests/fixtures/qwen2-tokenizer";
  if (const char* env = std::getenv("COSYFLOW_TEST_FIXTURES")) {
    tok_dir = std::string(env) + "/qwen2-tokenizer";
  }
  if (argc > 1) tok_dir = argv[1];
  tn::TextNormalizerOptions options;
  if (argc > 2) options.fst_dir = argv[2];

  auto tok = cosyflow::tokenizer::Qwen2Tokenizer::Load(tok_dir);
  if (!tok.ok()) {
    fmt::print(stderr, "bench: {}\n", tok.status().ToString());
    return 2;
  }
  const double rss_before = ProcStatusMiB("VmRSS");
  auto load_start = Clock::now();
  auto created = tn::TextNormalizer::Create(options, *tok);
  const double load_s = Seconds(load_start);
  if (!created.ok()) {
    fmt::print(stderr, "bench: {}\n", created.status().ToString());
    return 2;
  }
  const tn::TextNormalizer& n = **created;
  const double rss_loaded = ProcStatusMiB("VmRSS");

  // Check first (outputs of the reference, cosyvoice-frontend-text).
  struct Check {
    const char* text;
    std::vector<std::string> want;
  };
  const Check checks[] = {
      {"100美元", {"幺零零美元。"}},
      {"12.5公斤", {"十二月五日公斤。"}},
      {"110", {"one hundred and ten ."}},
      {"I have 3 apples.", {"I have three apples . ."}},
  };
  for (const Check& c : checks) {
    auto got = n.Segments(c.text);
    if (!got.ok() || *got != c.want) {
      fmt::print("{{\"ok\": false, \"text\": \"{}\"}}\n", c.text);
      return 1;
    }
  }

  const std::vector<std::string> zh = {
      "今天是2024年3月5日，气温25℃，湿度百分之60。",
      "我们一共走了12.5公里，花了300元，用时2小时15分钟。",
      "他的电话是13812345678，房间号是301。",
      "第3季度营收增长了15%，达到1.2亿元。",
      "这本书共465篇，约315万字，定价88元。",
  };
  const std::vector<std::string> en = {
      "I paid $12.50 on May 5, 2024.",
      "The meeting starts at 3:30 p.m. in room 301.",
      "Our revenue grew 15% to 1.2 million dollars in Q3.",
      "She ran 10 km in 45 minutes and 30 seconds.",
      "Call 555-1234 before the 2nd of June.",
  };
  const std::vector<std::string> zh_plain = {"收到好友从远方寄来的生日礼物，心中充满了甜蜜的快乐。"};
  Rate zh_rate = Time(n, zh, 2.0);
  Rate en_rate = Time(n, en, 2.0);
  Rate plain_rate = Time(n, zh_plain, 1.0);

  fmt::print(
      R"({{"ok": true, "fst_dir": "{}", "load_s": {:.3f}, "rss_mib": {{"before_load": {:.1f}, )"
      R"("after_load": {:.1f}, "peak": {:.1f}}}, "zh_with_numbers": {}, "en_with_numbers": {}, )"
      R"("zh_without_digits": {}}})"
      "\n",
      n.wetext()->fst_dir(), load_s, rss_before, rss_loaded, ProcStatusMiB("VmHWM"),
      zh_rate.Json(), en_rate.Json(), plain_rate.Json());
  return 0;
}

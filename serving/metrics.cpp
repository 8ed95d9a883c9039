// Prometheus text rendering of the serving metrics.
#include "serving/metrics.h"

#include <fmt/format.h>

namespace cosyflow::serving {
namespace {

const std::map<std::string, std::string>& Help() {
  static const std::map<std::string, std::string> help = {
      {"cosyflow_requests_total", "Speech requests answered, by door and status code"},
      {"cosyflow_request_errors_total", "Speech requests that ended in an error, by door"},
      {"cosyflow_http_requests_total", "HTTP requests, by route and status code"},
      {"cosyflow_audio_seconds_total", "Seconds of audio produced"},
      {"cosyflow_sessions_in_flight", "Speech requests being synthesized now"},
      {"cosyflow_node_max_queue_depth", "Largest per-session queue depth seen at each node"},
  };
  return help;
}

}  // namespace

Metrics::Metrics() {
  histograms_["cosyflow_first_audio_seconds"] = {
      "Request submit to the first audio chunk",
      {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
      {},
      0,
      0};
  histograms_["cosyflow_rtf"] = {"Real-time factor per request (compute seconds per audio second)",
                                 {0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5, 10},
                                 {},
                                 0,
                                 0};
  for (auto& [name, h] : histograms_) h.counts.assign(h.bounds.size() + 1, 0);
}

void Metrics::Count(const std::string& name, const std::string& labels, double n) {
  std::lock_guard<std::mutex> lock(mu_);
  counters_[name][labels] += n;
}

void Metrics::SetGauge(const std::string& name, const std::string& labels, double value) {
  std::lock_guard<std::mutex> lock(mu_);
  gauges_[name][labels] = value;
}

void Metrics::Observe(const std::string& name, double value) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = histograms_.find(name);
  if (it == histograms_.end()) return;
  Histogram& h = it->second;
  size_t b = 0;
  while (b < h.bounds.size() && value > h.bounds[b]) ++b;
  ++h.counts[b];
  h.sum += value;
  ++h.n;
}

double Metrics::Get(const std::string& name, const std::string& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto* m : {&counters_, &gauges_}) {
    auto it = m->find(name);
    if (it == m->end()) continue;
    auto jt = it->second.find(labels);
    if (jt != it->second.end()) return jt->second;
  }
  return 0;
}

std::string Metrics::Text() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  auto head = [&](const std::string& name, const char* type) {
    auto h = Help().find(name);
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, h == Help().end() ? name : h->second,
                       name, type);
  };
  auto series = [&](const std::string& name, const std::string& labels, double v) {
    out += labels.empty() ? fmt::format("{} {}\n", name, v)
                          : fmt::format("{}{{{}}} {}\n", name, labels, v);
  };
  for (const auto& [name, values] : counters_) {
    head(name, "counter");
    for (const auto& [labels, v] : values) series(name, labels, v);
  }
  for (const auto& [name, values] : gauges_) {
    head(name, "gauge");
    for (const auto& [labels, v] : values) series(name, labels, v);
  }
  for (const auto& [name, h] : histograms_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, h.help, name);
    uint64_t cumulative = 0;
    for (size_t b = 0; b < h.bounds.size(); ++b) {
      cumulative += h.counts[b];
      out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, h.bounds[b], cumulative);
    }
    out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, h.n, name,
                       h.sum, name, h.n);
  }
  return out;
}

}  // namespace cosyflow::serving

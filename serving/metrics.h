// Metrics: the counters, gauges and histograms of the serving doors, rendered as Prometheus
// text (exposition format 0.0.4). Thread-safe; one mutex (updates are per request, not per
// sample).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace cosyflow::serving {

class Metrics {
 public:
  Metrics();
  // name{labels} += 1. `labels` is the inside of the braces, e.g. `door="http",code="200"`.
  void Count(const std::string& name, const std::string& labels, double n = 1);
  void Observe(const std::string& name, double value);  // histograms made in the constructor
  void SetGauge(const std::string& name, const std::string& labels, double value);
  double Get(const std::string& name, const std::string& labels) const;  // counters and gauges
  std::string Text() const;

 private:
  struct Histogram {
    std::string help;
    std::vector<double> bounds;
    std::vector<uint64_t> counts;  // per bucket (not cumulative), plus +Inf
    double sum = 0;
    uint64_t n = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, double>> counters_, gauges_;
  std::map<std::string, Histogram> histograms_;
};

}  // namespace cosyflow::serving

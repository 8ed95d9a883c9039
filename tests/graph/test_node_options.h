// Options shared by the graph tests' test nodes: an optional per-message delay (slow consumer).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "nodes/core/config_errors.h"

namespace cosyflow::test {

struct DelayOptions {
  int delay_us = 0;
  void Parse(const nlohmann::json& j, const std::string& p, ErrorList* e) {
    JsonObjectReader r(j, p, e);
    r.Read("delay_us", &delay_us);
    r.Finish();
  }
  void Validate(const std::string&, ErrorList*) const {}
  std::string ToString() const { return "{}"; }
};

}  // namespace cosyflow::test

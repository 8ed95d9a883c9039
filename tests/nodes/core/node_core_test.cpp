// nodes/core: messages, option readers with JSON paths, checked config values, the registry and
// the harness.
#include <doctest/doctest.h>

#include <cstdint>
#include <stdexcept>

#include "nodes/core/json_file.h"
#include "nodes/core/node_harness.h"
#include "nodes/core/node_registry.h"

namespace cosyflow {
namespace {

TEST_CASE("Message: payload types round-trip by name and messages are shared, not copied") {
  for (int i = 0; i < kNumPayloadTypes; ++i) {
    auto t = static_cast<PayloadType>(i);
    auto back = ParsePayloadType(PayloadTypeName(t));
    REQUIRE(back.ok());
    CHECK(*back == t);
  }
  CHECK(!ParsePayloadType("Wave").ok());
  auto a = Audio::FromSamples(std::vector<float>{0.1f, 0.2f}, 24000);
  REQUIRE(a.ok());
  MessagePtr m = MakeMessage({7, 3, kFlagEndOfStream}, *a);
  MessagePtr copy = m;
  CHECK(copy.get() == m.get());
  CHECK(m->type() == PayloadType::kAudio);
  CHECK(m->header.end_of_stream());
  CHECK(m->header.closes());
  CHECK(DescribeMessage(*m) == "session 7 #3 Audio[2@24000] eos");
  CHECK(!Audio::FromSamples(std::vector<float>{1.0f}, 0).ok());
}

struct DemoOptions {
  int hop = 4;
  float gain = 1.0f;
  std::string mode = "a";
  bool on = false;
  void Parse(const nlohmann::json& j, const std::string& p, ErrorList* e) {
    JsonObjectReader r(j, p, e);
    r.Read("hop", &hop, true);
    r.Read("gain", &gain);
    r.ReadEnum("mode", &mode, {"a", "b"});
    r.Read("on", &on);
    r.Finish();
  }
  void Validate(const std::string& p, ErrorList* e) const {
    if (hop <= 0) e->Add(p + ".hop", "must be > 0, got {}", hop);
  }
  std::string ToString() const { return fmt::format("hop={}", hop); }
};

TEST_CASE("Options: reader reports every error with its JSON path") {
  ErrorList e;
  DemoOptions o;
  o.Parse({{"gain", "loud"}, {"mode", "c"}, {"extra", 1}, {"on", 1}}, "nodes[3](flow).options", &e);
  CHECK(e.size() == 5);
  CHECK(e.HasPath("nodes[3](flow).options.hop"));    // required, missing
  CHECK(e.HasPath("nodes[3](flow).options.gain"));   // wrong type
  CHECK(e.HasPath("nodes[3](flow).options.mode"));   // not in the enum
  CHECK(e.HasPath("nodes[3](flow).options.extra"));  // unknown key
  CHECK(e.HasPath("nodes[3](flow).options.on"));     // integer is not boolean
  auto ok = ParseNodeOptions<DemoOptions>({{"hop", 8}, {"gain", 2}});
  REQUIRE(ok.ok());
  CHECK(ok->hop == 8);
  CHECK(ok->gain == 2.0f);
  auto bad = ParseNodeOptions<DemoOptions>({{"hop", 0}});
  REQUIRE(!bad.ok());
  CHECK(bad.status().message().find("options.hop: must be > 0, got 0") != std::string::npos);
  ErrorList big;
  DemoOptions o2;
  o2.Parse({{"hop", 1LL << 40}}, "o", &big);
  CHECK(big.HasPath("o.hop"));
  // A float option beyond float's range would read as inf.
  ErrorList huge;
  DemoOptions o3;
  o3.Parse({{"hop", 1}, {"gain", 1e300}}, "o", &huge);
  REQUIRE(huge.HasPath("o.gain"));
  CHECK(huge.ToString().find("out of range for a 32-bit float") != std::string::npos);
  CHECK(o3.gain == 1.0f);
  auto big_ok = ParseNodeOptions<DemoOptions>({{"hop", 1}, {"gain", -3.0e38}});
  REQUIRE(big_ok.ok());
  CHECK(big_ok->gain == -3.0e38f);
}

// A node that doubles TokenIds, buffers until flush, and throws on id 666.
class DoubleNode : public Node {
 public:
  using Options = DemoOptions;
  static NodeSpec Spec() {
    return {"Double", {{"in", PayloadType::kTokenIds}}, {{"out", PayloadType::kTokenIds}}};
  }
  static Result<std::unique_ptr<Node>> Create(const Options&, const NodeContext&) {
    return std::unique_ptr<Node>(new DoubleNode());
  }
  struct S : NodeSession {
    std::vector<int32_t> held;
    Status Process(int, const Message& m, Emitter&) override {
      for (int32_t id : m.get<TokenIds>()->ids) {
        if (id == 666) throw std::runtime_error("bad id");
        held.push_back(2 * id);
      }
      return OkStatus();
    }
    Status Close(CloseReason r, Emitter& out) override {
      if (r == CloseReason::kEndOfStream) out.Emit(0, TokenIds{held});
      return OkStatus();
    }
  };
  Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo&) override {
    return std::unique_ptr<NodeSession>(new S());
  }
};

TEST_CASE("NodeHarness: flush on end of stream, nothing on cancel, exceptions become Status") {
  auto h = NodeHarness::Make<DoubleNode>({{"hop", 1}});
  REQUIRE(h.ok());
  REQUIRE(h->Open(1).ok());
  REQUIRE(h->Open(2).ok());
  REQUIRE(h->Open(3).ok());
  REQUIRE(h->Push(1, 0, TokenIds{{1, 2}}).ok());
  REQUIRE(h->Push(2, 0, TokenIds{{5}}).ok());
  REQUIRE(h->Close(1).ok());
  REQUIRE(h->Close(2, CloseReason::kCancel).ok());
  REQUIRE(h->Outputs(1).size() == 1);
  CHECK(h->Outputs(1)[0]->get<TokenIds>()->ids == std::vector<int32_t>{2, 4});
  CHECK(h->Outputs(2).empty());
  Status s = h->Push(3, 0, TokenIds{{666}});
  CHECK(s.code() == StatusCode::kInternal);
  CHECK(s.message().find("bad id") != std::string::npos);
  CHECK(!h->Push(9, 0, TokenIds{}).ok());  // never opened
}

TEST_CASE("NodeRegistry: explicit registration, duplicates rejected") {
  NodeRegistry r;
  REQUIRE(r.Register(MakeNodeType<DoubleNode>()).ok());
  CHECK(!r.Register(MakeNodeType<DoubleNode>()).ok());
  const NodeTypeInfo* t = r.Find("Double");
  REQUIRE(t);
  ErrorList e;
  auto opts = t->parse({{"hop", 2}}, "x", &e);
  CHECK(e.empty());
  CHECK(opts->ToString() == "hop=2");
  CHECK(r.Find("Triple") == nullptr);
}

TEST_CASE("JsonToValue: integers must be whole and fit the target; floats must fit") {
  using nlohmann::json;
  int32_t i = 7;
  CHECK(JsonToValue(json(2147483647), &i).ok());
  CHECK(i == 2147483647);
  CHECK(JsonToValue(json(-2147483648LL), &i).ok());
  CHECK(i == INT32_MIN);
  CHECK(JsonToValue(json(2147483648LL), &i).message() ==
        "integer 2147483648 is out of range [-2147483648, 2147483647]");
  CHECK(JsonToValue(json(-2147483649LL), &i).message().find("out of range") != std::string::npos);
  CHECK(JsonToValue(json(4294967296ULL), &i).message().find("out of range") != std::string::npos);
  CHECK(JsonToValue(json(2147483647.0), &i).ok());
  CHECK(JsonToValue(json(2147483648.0), &i).message().find("out of range") != std::string::npos);
  CHECK(JsonToValue(json(1.5), &i).message() == "expected an integer, got 1.5");
  CHECK(JsonToValue(json(true), &i).message() == "expected an integer, got true");
  CHECK(i == 2147483647);  // the last good value: errors leave the field untouched
  int64_t l = 0;
  CHECK(JsonToValue(json(-9223372036854775808.0), &l).ok());
  CHECK(l == INT64_MIN);
  CHECK(JsonToValue(json(9223372036854775808.0), &l).message().find("out of range") !=
        std::string::npos);
  CHECK(JsonToValue(json(18446744073709551615ULL), &l).message().find("out of range") !=
        std::string::npos);
  CHECK(JsonToValue(json(1e12), &l).ok());
  CHECK(l == 1000000000000LL);
  float f = 0;
  CHECK(JsonToValue(json(3), &f).ok());
  CHECK(f == 3.0f);
  CHECK(JsonToValue(json(1e39), &f).message().find("out of range") != std::string::npos);
  CHECK(JsonToValue(json("1"), &f).message() == "expected a number, got \"1\"");
  std::vector<std::vector<int32_t>> nested;
  CHECK(JsonToValue(json::parse("[[1, 2], [3, 4.5]]"), &nested).message() ==
        "[1]: [1]: expected an integer, got 4.5");
  CHECK(nested.empty());  // untouched on error
  CHECK(ReadJsonField(json::parse(R"({"k": null})"), "k", "cfg", &i).ok());
  CHECK(ReadJsonField(json::parse(R"({"k": 0.5})"), "k", "cfg", &i).message() ==
        "cfg: k: expected an integer, got 0.5");
  CHECK(ReadJsonField(json::parse("[1]"), "k", "cfg", &i).message() ==
        "cfg: expected an object, got [1]");
  // A long value is cut in messages, at an ASCII boundary.
  const std::string m = JsonToValue(json(std::vector<std::string>(100, "\xc3\xa9")), &i).message();
  CHECK(m.size() < 120);
  CHECK(m.find("[\"\\u00e9\",") != std::string::npos);
  CHECK(m.substr(m.size() - 3) == "...");
}

}  // namespace
}  // namespace cosyflow

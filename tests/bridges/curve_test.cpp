// CURVE on the bridges: a client with the server's key is served (encrypted), one with a wrong
// server key is refused at connect time; key files are checked; with an allow-list (ZAP) only
// listed client keys are served.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "bridges/zap.h"
#include "tests/bridges/bridge_test_util.h"

namespace cosyflow::bridges {
namespace {
using namespace test;

struct KeyPair {
  std::string public_file, secret_file;
};

KeyPair MakeKeys(const std::string& dir, const std::string& name) {
  char pub[41], sec[41];
  REQUIRE(zmq_curve_keypair(pub, sec) == 0);
  KeyPair k{dir + "/" + name + ".key", dir + "/" + name + "_secret.key"};
  std::ofstream(k.public_file) << pub << "\n";
  std::ofstream(k.secret_file) << sec << "\n";
  return k;
}

}  // namespace

TEST_CASE("Bridge CURVE: the right server key is served, a wrong one refused") {
  if (!zmq_has("curve")) {
    MESSAGE("libzmq without CURVE; skipped");
    return;
  }
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("cosyflow_curve_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const KeyPair server = MakeKeys(dir, "server"), client = MakeKeys(dir, "client"),
                other = MakeKeys(dir, "other");

  auto p = Pipeline::FromText(kResampleGraph);
  REQUIRE(p.ok());
  REQUIRE((*p)->Start().ok());
  BridgeServerOptions so;
  so.endpoints = {"tcp://127.0.0.1:0"};
  so.curve.secret_file = server.secret_file;
  auto srv = BridgeServer::Start(p->get(), so);
  REQUIRE_MESSAGE(srv.ok(), srv.status().ToString());
  const std::string endpoint = (*srv)->endpoints()[0];

  auto right = AudioClient(endpoint);
  right.curve = {server.public_file, client.public_file, client.secret_file};
  auto c = BridgeClient::Connect(right);
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  auto id = (*c)->OpenSession();
  auto a = Audio::FromSamples(Ramp(2400), 24000);
  REQUIRE((*c)->Send(*id, *a).ok());
  REQUIRE((*c)->Send(*id, Payload{}, kFlagEndOfStream).ok());
  auto [audio, st] = Collect(**c, *id);
  CHECK_MESSAGE(st.ok(), st.ToString());
  CHECK(audio.size() > 1500);

  auto wrong = right;
  wrong.curve.server_public_file = other.public_file;
  wrong.connect_timeout_ms = 500;
  auto refused = BridgeClient::Connect(wrong);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == StatusCode::kUnavailable);

  auto plain = AudioClient(endpoint);  // no CURVE at all
  plain.connect_timeout_ms = 500;
  CHECK_FALSE(BridgeClient::Connect(plain).ok());

  auto bad_file = right;
  bad_file.curve.secret_file = dir + "/missing.key";
  auto missing = BridgeClient::Connect(bad_file);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("CURVE key file " + dir + "/missing.key: cannot open") !=
        std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("Bridge CURVE: an allow-list serves listed client keys and refuses others") {
  if (!zmq_has("curve")) {
    MESSAGE("libzmq without CURVE; skipped");
    return;
  }
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("cosyflow_zap_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const KeyPair server = MakeKeys(dir, "server"), listed = MakeKeys(dir, "listed"),
                unlisted = MakeKeys(dir, "unlisted");
  {
    std::ifstream in(listed.public_file);
    std::string key;
    in >> key;
    std::ofstream(dir + "/allow.txt") << "# clients allowed\n" << key << "  # the listed one\n\n";
  }
  std::ofstream(dir + "/bad_allow.txt") << "not-a-key\n";
  {  // '#' is a Z85 character: only '#' at a line start or after a blank opens a comment
    uint8_t bin[32] = {0, 0, 0, 84};
    char z85[41];
    REQUIRE(zmq_z85_encode(z85, bin, 32) != nullptr);
    REQUIRE(std::string(z85).find('#') != std::string::npos);
    std::ofstream(dir + "/hash_allow.txt") << z85 << " # a key with '#'\n";
    auto keys = ReadCurveAllowList(dir + "/hash_allow.txt");
    REQUIRE_MESSAGE(keys.ok(), keys.status().ToString());
    CHECK(keys->size() == 1);
    CHECK(keys->count(std::string(reinterpret_cast<const char*>(bin), 32)) == 1);
  }

  auto p = Pipeline::FromText(kResampleGraph);
  REQUIRE(p.ok());
  REQUIRE((*p)->Start().ok());
  BridgeServerOptions so;
  so.endpoints = {"tcp://127.0.0.1:0"};
  so.curve.secret_file = server.secret_file;
  so.curve_allow_file = dir + "/bad_allow.txt";
  auto bad = BridgeServer::Start(p->get(), so);
  REQUIRE_FALSE(bad.ok());
  CHECK_MESSAGE(bad.status().message().find("bad_allow.txt line 1") != std::string::npos,
                bad.status().message());
  so.curve_allow_file = dir + "/allow.txt";
  auto srv = BridgeServer::Start(p->get(), so);
  REQUIRE_MESSAGE(srv.ok(), srv.status().ToString());
  const std::string endpoint = (*srv)->endpoints()[0];

  auto ok = AudioClient(endpoint);
  ok.curve = {server.public_file, listed.public_file, listed.secret_file};
  auto c = BridgeClient::Connect(ok);
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  auto id = (*c)->OpenSession();
  REQUIRE(id.ok());
  REQUIRE((*c)->Send(*id, *Audio::FromSamples(Ramp(2400), 24000)).ok());
  REQUIRE((*c)->Send(*id, Payload{}, kFlagEndOfStream).ok());
  auto [audio, st] = Collect(**c, *id);
  CHECK_MESSAGE(st.ok(), st.ToString());
  CHECK(audio.size() > 1500);

  auto refused = ok;  // the right server key, but a client key not on the list
  refused.curve.public_file = unlisted.public_file;
  refused.curve.secret_file = unlisted.secret_file;
  refused.connect_timeout_ms = 500;
  auto r = BridgeClient::Connect(refused);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kUnavailable);
  CHECK((*srv)->stats().sessions_opened == 1);
  std::filesystem::remove_all(dir);
}

}  // namespace cosyflow::bridges

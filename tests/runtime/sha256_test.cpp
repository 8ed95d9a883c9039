// Sha256 against the FIPS 180-4 / NIST example digests, across block boundaries and split
// updates.
#include "runtime/sha256.h"

#include <doctest/doctest.h>

#include <string>

namespace cosyflow {
namespace {

std::string HexOf(const std::string& s) { return Sha256::Hex(Sha256().Update(s).Final()); }

TEST_CASE("sha256: NIST examples") {
  CHECK(HexOf("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(HexOf("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(HexOf("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(HexOf(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256: split updates equal one update; fields are length-prefixed") {
  const std::string text(200, 'x');
  for (size_t cut : {0, 1, 55, 56, 63, 64, 65, 128, 199}) {
    Sha256 h;
    h.Update(text.substr(0, cut)).Update(text.substr(cut));
    CHECK(Sha256::Hex(h.Final()) == HexOf(text));
  }
  CHECK(Sha256().UpdateField("ab").UpdateField("c").Final() !=
        Sha256().UpdateField("a").UpdateField("bc").Final());
}

}  // namespace
}  // namespace cosyflow

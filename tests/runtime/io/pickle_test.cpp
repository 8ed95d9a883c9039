// Tests for the pickle VM: opcodes torch uses, memo sharing, limits and refusals.
#include "runtime/io/pickle.h"

#include <doctest/doctest.h>

#include "tests/runtime/io/io_test_util.h"

namespace cosyflow::io {
namespace {

using test::Bytes;
using Kind = PickleValue::Kind;

Result<PickleDocument> Run(const Bytes& b) { return Unpickle(b, "t.pkl"); }

TEST_CASE("Pickle: scalars, strings, containers and memo") {
  // [1, -2, 300, 70000, 2**40, -1 (LONG1), 1.5, True, None, 'hé', (1,), {'k': 'v'}, memo copy]
  Bytes b = {0x80, 2,    ']', 'q',  0,    '(',  'K',  1,    'J',  0xfe, 0xff, 0xff, 0xff, 'M',
             0x2c, 0x01, 'J', 0x70, 0x11, 0x01, 0x00, 0x8a, 6,    0,    0,    0,    0,    0,
             1,    0x8a, 1,   0xff, 'G',  0x3f, 0xf8, 0,    0,    0,    0,    0,    0,    0x88,
             'N',  0x8c, 3,   'h',  0xc3, 0xa9, 'K',  1,    0x85, '}',  'X',  1,    0,    0,
             0,    'k',  'X', 1,    0,    0,    0,    'v',  's',  'h',  0,    'e',  '.'};
  auto doc = Run(b);
  REQUIRE_MESSAGE(doc.ok(), doc.status().ToString());
  const PickleValue* list = doc->root;
  REQUIRE(list->kind == Kind::kList);
  REQUIRE(list->items.size() == 13);
  CHECK(list->items[0]->i == 1);
  CHECK(list->items[1]->i == -2);
  CHECK(list->items[2]->i == 300);
  CHECK(list->items[3]->i == 70000);
  CHECK(list->items[4]->i == (int64_t{1} << 40));
  CHECK(list->items[5]->i == -1);
  CHECK(list->items[6]->f == 1.5);
  CHECK(list->items[7]->kind == Kind::kBool);
  CHECK(list->items[8]->kind == Kind::kNone);
  CHECK(list->items[9]->s == "h\xc3\xa9");
  CHECK(list->items[10]->kind == Kind::kTuple);
  CHECK(list->items[11]->kind == Kind::kDict);
  CHECK(list->items[11]->dict[0].second->s == "v");
  CHECK(list->items[12] == list);  // BINGET 0 is the list itself (a cycle is harmless)
}

TEST_CASE("Pickle: duplicate dict keys keep their position and take the last value") {
  test::PickleBuilder p;
  p.Proto().Op('}').Op('(').Str("a").Int(1).Str("b").Int(2).Str("a").Int(3).Op('u').Stop();
  auto doc = Run(p.bytes());
  REQUIRE(doc.ok());
  REQUIRE(doc->root->dict.size() == 2);
  CHECK(doc->root->dict[0].first->s == "a");
  CHECK(doc->root->dict[0].second->i == 3);
}

TEST_CASE("Pickle: torch tensors rebuild into tensor values with their storage") {
  test::PickleBuilder p;
  p.Proto().Tensor("HalfStorage", "5", 10, 2, {2, 3}, {3, 1}).Stop();
  auto doc = Run(p.bytes());
  REQUIRE_MESSAGE(doc.ok(), doc.status().ToString());
  REQUIRE(doc->root->kind == Kind::kTensor);
  const PickleTensorInfo& t = *doc->root->tensor;
  CHECK(t.offset == 2);
  CHECK(t.shape == Dims{2, 3});
  CHECK(t.strides == Dims{3, 1});
  CHECK(t.storage->s == "5");
  CHECK(t.storage->i == 10);
  CHECK(t.storage->storage_type == TorchStorageType::kHalf);
}

TEST_CASE("Pickle: refusals name the problem and the offset") {
  SUBCASE("unknown opcode") {
    auto r = Run(Bytes{0x80, 2, 0xff, '.'});
    REQUIRE(!r.ok());
    CHECK(r.status().message() == "t.pkl: pickle offset 2: unsupported pickle opcode 0xff");
  }
  SUBCASE("disallowed global") {
    test::PickleBuilder p;
    p.Proto().Global("builtins", "eval").Stop();
    auto r = Run(p.bytes());
    REQUIRE(!r.ok());
    CHECK(r.status().message().find("'builtins.eval' is not allowed") != std::string::npos);
  }
  SUBCASE("calling a storage class") {
    test::PickleBuilder p;
    p.Proto().Global("torch", "FloatStorage").Op(')').Op('R').Stop();
    CHECK(!Run(p.bytes()).ok());
  }
  SUBCASE("string longer than the input") {
    auto r = Run(Bytes{0x80, 2, 'X', 0xff, 0xff, 0xff, 0x7f, 'a', '.'});
    REQUIRE(!r.ok());
    CHECK(r.status().message().find("truncated") != std::string::npos);
  }
  SUBCASE("huge LONG4") { CHECK(!Run(Bytes{0x80, 2, 0x8b, 0xff, 0xff, 0xff, 0xff, '.'}).ok()); }
  SUBCASE("stack underflow and missing mark") {
    CHECK(!Run(Bytes{0x80, 2, 's', '.'}).ok());
    CHECK(!Run(Bytes{0x80, 2, ']', 'e', '.'}).ok());
    CHECK(!Run(Bytes{0x80, 2, '(', '0', '.'}).ok());  // POP may not cross a MARK
  }
  SUBCASE("memo miss") { CHECK(!Run(Bytes{0x80, 2, 'h', 3, '.'}).ok()); }
  SUBCASE("no STOP") { CHECK(!Run(Bytes{0x80, 2, 'N'}).ok()); }
  SUBCASE("STOP with extra values") { CHECK(!Run(Bytes{0x80, 2, 'N', 'N', '.'}).ok()); }
  SUBCASE("stack limit") {
    Bytes b = {0x80, 2};
    b.insert(b.end(), 100, 'N');
    b.push_back('.');
    PickleLimits limits;
    limits.max_stack = 50;
    auto r = Unpickle(b, "t.pkl", limits);
    REQUIRE(!r.ok());
    CHECK(r.status().message().find("stack exceeds 50") != std::string::npos);
  }
  SUBCASE("deep nesting does not recurse") {
    Bytes b = {0x80, 2, ')'};
    b.insert(b.end(), 200000, 0x85);  // ((((),),),)... 200k levels
    b.push_back('.');
    auto r = Run(b);
    CHECK(r.ok());  // values live in a flat arena: no recursive destruction
  }
}

}  // namespace
}  // namespace cosyflow::io

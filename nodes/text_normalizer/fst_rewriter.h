// One compiled rewrite grammar (a wetext tagger or verbalizer FST) applied the way wetext's
// kaldifst TextNormalizer applies it: a linear byte acceptor of the input is composed with the
// grammar and the single shortest path's output labels, epsilons dropped, are the result.
//
// Thread safety: immutable after Load; Rewrite may run concurrently (per-call state only).
// LoadShared keeps one copy per file per process (the FSTs are megabytes and take tens of
// milliseconds to read), so every normalizer instance shares them.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "runtime/status.h"

namespace cosyflow::text_normalizer {

class FstRewriter {
 public:
  // Reads an OpenFst binary FST over the standard (tropical) arc, any registered container
  // type (wetext writes "vector"; "const" also works), and checks its structure. Errors name
  // the file: NotFound (missing/unreadable), DataLoss (not an FST, truncated, corrupt).
  static Result<std::shared_ptr<const FstRewriter>> Load(const std::string& path);
  // Load through a process-wide cache keyed by path: a file already loaded (and still held by
  // someone) is not read again.
  static Result<std::shared_ptr<const FstRewriter>> LoadShared(const std::string& path);

  ~FstRewriter();
  FstRewriter(const FstRewriter&) = delete;
  FstRewriter& operator=(const FstRewriter&) = delete;

  // Output of the single shortest path of (bytes of `input` o grammar), as bytes; "" when the
  // grammar rejects the input (empty composition), as kaldifst returns. Internal if the path
  // carries an output label that is not a byte.
  // The composition never creates states that cannot reach a final one (a state of the
  // grammar that cannot read the next input byte), so it explores a fraction of what OpenFst's
  // Compose does (en tagger: ~2 % of the states) and yields the same connected lattice.
  Result<std::string> Rewrite(std::string_view input) const;
  // Self-check: whether the pruned composition's lattice equals fst::Compose + Connect's for
  // `input`, state numbers, arc order and weights included (tests; costs both compositions).
  Result<bool> PrunedLatticeIsExact(std::string_view input) const;

  const std::string& path() const { return path_; }
  size_t num_states() const;
  size_t num_arcs() const;

 private:
  struct Impl;
  FstRewriter(std::string path, std::unique_ptr<Impl> impl);

  std::string path_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cosyflow::text_normalizer

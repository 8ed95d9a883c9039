// FstRewriter: OpenFst compose (pruned, same lattice) + single shortest path (fst_rewriter.h).
#include "nodes/text_normalizer/fst_rewriter.h"

#include <fst/fstlib.h>

#include <array>
#include <exception>
#include <fstream>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace cosyflow::text_normalizer {
namespace {

// What pynini / kaldifst mark a compiled string with. Composition picks its matchers from these
// bits, and that choice orders the lattice's arcs and so breaks shortest-path ties: keep them
// identical to the reference's so equal-weight readings resolve the same way.
constexpr uint64_t kCompiledStringProps =
    fst::kAcceptor | fst::kIDeterministic | fst::kODeterministic | fst::kILabelSorted |
    fst::kOLabelSorted | fst::kUnweighted | fst::kAcyclic | fst::kInitialAcyclic |
    fst::kTopSorted | fst::kAccessible | fst::kCoAccessible | fst::kString |
    fst::kUnweightedCycles;

// Linear acceptor of the bytes of `s`, each byte unsigned (label 0..255). A NUL byte becomes
// label 0, epsilon, exactly as in kaldifst: the grammar never sees it.
fst::StdVectorFst StringAcceptor(std::string_view s) {
  fst::StdVectorFst a;
  a.ReserveStates(static_cast<fst::StdArc::StateId>(s.size() + 1));
  auto state = a.AddState();
  a.SetStart(state);
  for (unsigned char byte : s) {
    const auto next = a.AddState();
    a.AddArc(state, fst::StdArc(byte, byte, fst::TropicalWeight::One(), next));
    state = next;
  }
  a.SetFinal(state, fst::TropicalWeight::One());
  a.SetProperties(kCompiledStringProps, kCompiledStringProps);
  return a;
}

// Every arc points at an existing state and the start state exists (a corrupt file that still
// parses must not send composition out of bounds).
// On the FST as read, before anything walks its arcs (building the ConstFst computes its
// properties by a depth-first search, which follows an arc to a state that does not exist).
Status CheckStructure(const fst::StdExpandedFst& f, const std::string& path) {
  const auto n = f.NumStates();
  if (n == 0 || f.Start() < 0 || f.Start() >= n) {
    return DataLoss("wetext FST {}: no valid start state ({} states)", path, n);
  }
  for (fst::StdArc::StateId s = 0; s < n; ++s) {
    for (fst::ArcIterator<fst::StdFst> it(f, s); !it.Done(); it.Next()) {
      const auto& arc = it.Value();
      if (arc.nextstate < 0 || arc.nextstate >= n || arc.ilabel < 0 || arc.olabel < 0) {
        return DataLoss("wetext FST {}: state {} has an arc to state {} (of {}), corrupt file",
                        path, s, arc.nextstate, n);
      }
    }
  }
  return OkStatus();
}

using StateId = fst::StdArc::StateId;

// What each grammar state can read next: bit l (1..255) of state s is set when s reads byte l
// on an arc, directly or after arcs that read nothing; bit 0 when s reaches a final state
// reading nothing. Input labels above 255 never match a byte and are left out.
class NextLabels {
 public:
  explicit NextLabels(const fst::StdConstFst& f) : bits_(static_cast<size_t>(f.NumStates())) {
    const StateId n = f.NumStates();
    std::vector<size_t> pred_begin(static_cast<size_t>(n) + 1, 0);  // CSR of epsilon predecessors
    for (StateId s = 0; s < n; ++s) {
      if (f.Final(s) != fst::TropicalWeight::Zero()) Set(s, 0);
      for (fst::ArcIterator<fst::StdConstFst> it(f, s); !it.Done(); it.Next()) {
        const auto& arc = it.Value();
        if (arc.ilabel == 0) {
          ++pred_begin[static_cast<size_t>(arc.nextstate) + 1];
        } else if (arc.ilabel <= 255) {
          Set(s, arc.ilabel);
        }
      }
    }
    for (size_t i = 1; i < pred_begin.size(); ++i) pred_begin[i] += pred_begin[i - 1];
    std::vector<StateId> preds(pred_begin.back());
    std::vector<size_t> fill(pred_begin.begin(), pred_begin.end() - 1);
    for (StateId s = 0; s < n; ++s) {
      for (fst::ArcIterator<fst::StdConstFst> it(f, s); !it.Done(); it.Next()) {
        if (it.Value().ilabel == 0) preds[fill[static_cast<size_t>(it.Value().nextstate)]++] = s;
      }
    }
    // Propagate backwards along arcs that read nothing until nothing changes (cycles too).
    std::vector<StateId> work;
    std::vector<char> queued(static_cast<size_t>(n), 1);
    for (StateId s = n - 1; s >= 0; --s) work.push_back(s);
    while (!work.empty()) {
      const StateId q = work.back();
      work.pop_back();
      queued[static_cast<size_t>(q)] = 0;
      const Bits& from = bits_[static_cast<size_t>(q)];
      for (size_t k = pred_begin[static_cast<size_t>(q)]; k < pred_begin[q + 1]; ++k) {
        Bits& to = bits_[static_cast<size_t>(preds[k])];
        bool grew = false;
        for (size_t w = 0; w < to.size(); ++w) {
          const uint64_t merged = to[w] | from[w];
          grew |= merged != to[w];
          to[w] = merged;
        }
        if (grew && !queued[static_cast<size_t>(preds[k])]) {
          queued[static_cast<size_t>(preds[k])] = 1;
          work.push_back(preds[k]);
        }
      }
    }
  }

  bool CanRead(StateId s, int label) const {
    return (bits_[static_cast<size_t>(s)][static_cast<size_t>(label) >> 6] >> (label & 63)) & 1u;
  }

 private:
  using Bits = std::array<uint64_t, 4>;
  void Set(StateId s, int label) {
    bits_[static_cast<size_t>(s)][static_cast<size_t>(label) >> 6] |= uint64_t{1} << (label & 63);
  }
  std::vector<Bits> bits_;
};

// OpenFst's default composition filter (what fst::Compose uses here) that also refuses an arc
// into a state that cannot lead to a final one: the grammar state cannot read the next input
// byte (or, at the end of the input, cannot reach a final state reading nothing). Such states
// are exactly the ones Connect would delete later; never creating them leaves the connected
// lattice identical, state numbers and arc order included: every state that survives Connect
// is first reached from a surviving state, so the surviving states are discovered, numbered
// and expanded in the same relative order, with the same arcs in the same order. The en
// tagger's states that read nothing fan out to every token class, most of which die at the next
// byte, so this skips ~98 % of the states composition used to create.
template <class M>
class LiveFilter {
 public:
  using Inner = fst::SequenceComposeFilter<M>;
  using Matcher1 = M;
  using Matcher2 = M;
  using FST1 = typename M::FST;
  using FST2 = typename M::FST;
  using FilterState = typename Inner::FilterState;
  using Arc = typename FST1::Arc;
  using Weight = typename Arc::Weight;

  // `next_byte[p]`: the first non-NUL byte of the input at or after position p (acceptor state
  // p), 0 at the end; `next` describes the second FST.
  LiveFilter(const FST1& fst1, const FST2& fst2, const NextLabels* next,
             const std::vector<int>* next_byte)
      : inner_(fst1, fst2), next_(next), next_byte_(next_byte) {}
  // What ComposeFstImpl needs to compile; without the tables nothing is pruned.
  LiveFilter(const FST1& fst1, const FST2& fst2, Matcher1* matcher1 = nullptr,
             Matcher2* matcher2 = nullptr)
      : inner_(fst1, fst2, matcher1, matcher2), next_(nullptr), next_byte_(nullptr) {}
  LiveFilter(const LiveFilter& other, bool safe = false)
      : inner_(other.inner_, safe), next_(other.next_), next_byte_(other.next_byte_) {}

  FilterState Start() const { return inner_.Start(); }
  void SetState(StateId s1, StateId s2, const FilterState& fs) { inner_.SetState(s1, s2, fs); }
  FilterState FilterArc(Arc* arc1, Arc* arc2) const {
    const FilterState fs = inner_.FilterArc(arc1, arc2);
    if (fs == FilterState::NoState() || next_ == nullptr) return fs;
    const int byte = (*next_byte_)[static_cast<size_t>(arc1->nextstate)];
    return next_->CanRead(arc2->nextstate, byte) ? fs : FilterState::NoState();
  }
  void FilterFinal(Weight* w1, Weight* w2) const { inner_.FilterFinal(w1, w2); }
  Matcher1* GetMatcher1() { return inner_.GetMatcher1(); }
  Matcher2* GetMatcher2() { return inner_.GetMatcher2(); }
  uint64_t Properties(uint64_t props) const { return inner_.Properties(props); }

 private:
  Inner inner_;
  const NextLabels* next_;
  const std::vector<int>* next_byte_;
};

}  // namespace

struct FstRewriter::Impl {
  std::unique_ptr<const fst::StdConstFst> fst;
  std::unique_ptr<const NextLabels> next;

  // (acceptor of `input`) o fst, connected: what fst::Compose gives, built without the states
  // that cannot reach a final one when `prune` (see LiveFilter).
  fst::StdVectorFst Lattice(std::string_view input, bool prune) const {
    const fst::StdVectorFst acceptor = StringAcceptor(input);
    fst::StdVectorFst lattice;
    if (!prune) {
      fst::Compose(acceptor, *fst, &lattice);
      return lattice;
    }
    std::vector<int> next_byte(input.size() + 1, 0);
    for (size_t p = input.size(); p-- > 0;) {
      const auto byte = static_cast<unsigned char>(input[p]);
      next_byte[p] = byte != 0 ? byte : next_byte[p + 1];
    }
    using M = fst::Matcher<fst::StdFst>;
    fst::ComposeFstOptions<fst::StdArc, M, LiveFilter<M>> opts(
        fst::CacheOptions(), nullptr, nullptr,
        new LiveFilter<M>(acceptor, *fst, next.get(), &next_byte));
    opts.gc_limit = 0;  // as fst::Compose: cache every state for the copy
    lattice = fst::ComposeFst<fst::StdArc>(acceptor, *fst, opts);
    fst::Connect(&lattice);
    return lattice;
  }
};

FstRewriter::FstRewriter(std::string path, std::unique_ptr<Impl> impl)
    : path_(std::move(path)), impl_(std::move(impl)) {}

FstRewriter::~FstRewriter() = default;

Result<std::shared_ptr<const FstRewriter>> FstRewriter::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("wetext FST {}: cannot open the file", path);
  try {
    fst::FstHeader header;
    if (!header.Read(in, path)) {
      return DataLoss("wetext FST {}: not an OpenFst binary FST (bad header)", path);
    }
    if (header.ArcType() != fst::StdArc::Type()) {
      return DataLoss("wetext FST {}: arc type '{}', expected '{}'", path, header.ArcType(),
                      fst::StdArc::Type());
    }
    in.seekg(0);
    fst::FstReadOptions opts(path);
    std::unique_ptr<fst::StdFst> read(fst::StdFst::Read(in, opts));
    if (read == nullptr || read->Properties(fst::kError, false)) {
      return DataLoss("wetext FST {}: cannot read the '{}' FST (truncated or corrupt)", path,
                      header.FstType());
    }
    const auto* expanded = dynamic_cast<const fst::StdExpandedFst*>(read.get());
    if (expanded == nullptr) {
      return DataLoss("wetext FST {}: '{}' is not an expanded FST (const or vector)", path,
                      header.FstType());
    }
    COSY_RETURN_IF_ERROR(CheckStructure(*expanded, path));
    auto impl = std::make_unique<Impl>();
    impl->fst = std::make_unique<const fst::StdConstFst>(*read);
    impl->next = std::make_unique<const NextLabels>(*impl->fst);
    return std::shared_ptr<const FstRewriter>(new FstRewriter(path, std::move(impl)));
  } catch (const std::exception& e) {
    // A corrupt count can make OpenFst allocate absurd sizes (bad_alloc, length_error).
    return DataLoss("wetext FST {}: corrupt file ({})", path, e.what());
  }
}

Result<std::shared_ptr<const FstRewriter>> FstRewriter::LoadShared(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<const FstRewriter>> cache;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache.find(path); it != cache.end()) {
    if (auto held = it->second.lock()) return held;
  }
  COSY_ASSIGN_OR_RETURN(std::shared_ptr<const FstRewriter> loaded, Load(path));
  cache[path] = loaded;
  return loaded;
}

Result<std::string> FstRewriter::Rewrite(std::string_view input) const {
  try {
    const fst::StdVectorFst lattice = impl_->Lattice(input, /*prune=*/true);
    if (lattice.Properties(fst::kError, false)) {
      return Internal("wetext FST {}: composition failed", path_);
    }
    std::string out;
    if (lattice.Start() == fst::kNoStateId) return out;  // the grammar rejects the input
    fst::StdVectorFst best;
    fst::ShortestPath(lattice, &best, 1);
    auto state = best.Start();
    // The single shortest path is a chain: follow it from the start, one arc per state.
    for (size_t steps = 0; state != fst::kNoStateId; ++steps) {
      if (steps > static_cast<size_t>(best.NumStates())) {
        return Internal("wetext FST {}: shortest path is not a chain", path_);
      }
      fst::ArcIterator<fst::StdVectorFst> it(best, state);
      if (it.Done()) break;
      const auto& arc = it.Value();
      if (arc.olabel > 255) {
        return Internal("wetext FST {}: output label {} is not a byte", path_, arc.olabel);
      }
      if (arc.olabel != 0) out.push_back(static_cast<char>(arc.olabel));
      state = arc.nextstate;
    }
    return out;
  } catch (const std::bad_alloc&) {
    return MakeError(StatusCode::kResourceExhausted,
                     "wetext FST {}: out of memory rewriting {} bytes", path_, input.size());
  }
}

Result<bool> FstRewriter::PrunedLatticeIsExact(std::string_view input) const {
  try {
    const fst::StdVectorFst pruned = impl_->Lattice(input, /*prune=*/true);
    const fst::StdVectorFst plain = impl_->Lattice(input, /*prune=*/false);
    // fst::Equal compares state by state, arc by arc (labels, weights, next states) and finals.
    return pruned.NumStates() == plain.NumStates() && fst::Equal(pruned, plain, 0.0f);
  } catch (const std::bad_alloc&) {
    return MakeError(StatusCode::kResourceExhausted,
                     "wetext FST {}: out of memory composing {} bytes", path_, input.size());
  }
}

size_t FstRewriter::num_states() const { return impl_->fst->NumStates(); }

size_t FstRewriter::num_arcs() const {
  size_t n = 0;
  for (fst::StdArc::StateId s = 0; s < impl_->fst->NumStates(); ++s) n += impl_->fst->NumArcs(s);
  return n;
}

}  // namespace cosyflow::text_normalizer

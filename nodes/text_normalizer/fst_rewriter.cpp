// FstRewriter: OpenFst compose + single shortest path (see fst_rewriter.h).
#include "nodes/text_normalizer/fst_rewriter.h"

#include <fst/fstlib.h>

#include <exception>
#include <fstream>
#include <map>
#include <mutex>
#include <utility>

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
Status CheckStructure(const fst::StdConstFst& f, const std::string& path) {
  const auto n = f.NumStates();
  if (n == 0 || f.Start() < 0 || f.Start() >= n) {
    return DataLoss("wetext FST {}: no valid start state ({} states)", path, n);
  }
  for (fst::StdArc::StateId s = 0; s < n; ++s) {
    for (fst::ArcIterator<fst::StdConstFst> it(f, s); !it.Done(); it.Next()) {
      const auto& arc = it.Value();
      if (arc.nextstate < 0 || arc.nextstate >= n || arc.ilabel < 0 || arc.olabel < 0) {
        return DataLoss("wetext FST {}: state {} has an arc to state {} (of {}), corrupt file",
                        path, s, arc.nextstate, n);
      }
    }
  }
  return OkStatus();
}

}  // namespace

struct FstRewriter::Impl {
  std::unique_ptr<const fst::StdConstFst> fst;
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
    auto impl = std::make_unique<Impl>();
    impl->fst = std::make_unique<const fst::StdConstFst>(*read);
    COSY_RETURN_IF_ERROR(CheckStructure(*impl->fst, path));
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
    const fst::StdVectorFst acceptor = StringAcceptor(input);
    fst::StdVectorFst lattice;
    fst::Compose(acceptor, *impl_->fst, &lattice);
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

size_t FstRewriter::num_states() const { return impl_->fst->NumStates(); }

size_t FstRewriter::num_arcs() const {
  size_t n = 0;
  for (fst::StdArc::StateId s = 0; s < impl_->fst->NumStates(); ++s) n += impl_->fst->NumArcs(s);
  return n;
}

}  // namespace cosyflow::text_normalizer

// The node contract every pipeline stage implements (see STYLE.md "Nodes").
//
// A node type has a static spec (type name used in graph files, named ports with payload
// types, concurrency, devices) and an options struct with Parse / Validate / ToString.
// Lifecycle:
//   Create(options, context)  once per graph node; loads files/weights (immutable, shared)
//   OpenSession(info)         per request; returns the per-session state (NodeSession)
//   NodeSession::Process      per input message; emits zero or more messages, never blocks on
//                             I/O or on other nodes
//   NodeSession::Continue     while HasMoreWork(): one more bounded slice of pending work
//   NodeSession::Close        once per session: reason kEndOfStream -> flush the tail;
//                             kCancel / kError -> drop state and emit nothing
// A Status error from Process/Continue/Close fails only that session. Exceptions are caught by
// the caller (runner or harness) and treated the same way; a failing call's emits are dropped.
//
// Long work (decoding a whole LLM request) is split into bounded calls: Process (or
// Close(kEndOfStream)) does a slice, emits what it has, and leaves HasMoreWork() true; the
// caller then forwards those messages downstream at once and calls Continue again later, as
// another task, until HasMoreWork() is false. Only then does the session's next input message
// (or its end of stream) reach Process/Close, so per-session order is kept. Before each
// Continue the runner applies the same backpressure as before a Process (it parks the session
// while a downstream queue of the session is full, no thread waits); a cancel or an upstream
// error drops the pending work and calls Close(kCancel / kError) instead. Emits are therefore
// delivered when the call that made them returns: a node streams by returning often, not by
// blocking inside Emit (chosen over a blocking emitter so Process never waits on other nodes).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "nodes/core/config_errors.h"
#include "nodes/core/message.h"
#include "runtime/dtype.h"
#include "runtime/status.h"

namespace cosyflow {

struct PortSpec {
  std::string name;
  PayloadType type;
};

enum class Concurrency : uint8_t {
  kStateless,  // sessions carry no state between messages
  kStateful,   // per-session state: messages of one session are processed serially, in order
};

struct NodeSpec {
  std::string type;  // name used in graph files, e.g. "Resampler"
  std::vector<PortSpec> inputs;
  std::vector<PortSpec> outputs;
  Concurrency concurrency = Concurrency::kStateful;
  std::vector<Device> devices = {Device::kCpu};
  // A session source (a network ingress such as ZmqReceive): no input ports; the node opens
  // sessions itself (graph/session_source.h). The graph plan gives it an implicit graph input
  // named after the node id, typed as its first output, whose messages reach Process on port 0.
  bool source = false;

  int InputIndex(std::string_view name) const;   // -1 when absent
  int OutputIndex(std::string_view name) const;  // -1 when absent
};

// What Create gets besides its options.
struct NodeContext {
  std::string id;         // node id from the graph file
  Device device = Device::kCpu;
  std::string model_dir;  // "" = current directory
  // Input files (weights, reference audio) named relatively resolve against model_dir.
  std::string ResolvePath(const std::string& path) const;
};

struct SessionInfo {
  uint64_t session_id = 0;
  // Set (by another thread) once the session is cancelled; null when the caller cannot cancel
  // mid-call. A node whose Process runs long (LLM decoding) polls it to stop early.
  const std::atomic<bool>* cancelled = nullptr;
  // Wakes a session parked in Waiting() (callable from any thread, also after the session
  // closed); empty when the caller does not park sessions (then Waiting() is not consulted).
  std::function<void()> wake;
};

// Sink for the messages a session emits; the caller fills in the header.
class Emitter {
 public:
  virtual ~Emitter() = default;
  // Emits `payload` on output port `port` (index into NodeSpec::outputs).
  virtual void Emit(int port, Payload payload) = 0;
};

enum class CloseReason : uint8_t { kEndOfStream, kCancel, kError };

class NodeSession {
 public:
  virtual ~NodeSession() = default;
  // `port` indexes NodeSpec::inputs; `message` is a data message (never a control message).
  virtual Status Process(int port, const Message& message, Emitter& out) = 0;
  virtual Status Close(CloseReason reason, Emitter& out) = 0;
  // True when the last Process / Continue / Close(kEndOfStream) left work to do in Continue.
  virtual bool HasMoreWork() const { return false; }
  // True when the pending work waits for an outside event (a network reply, flow-control
  // credit): the runner then parks the session without holding a worker until
  // SessionInfo::wake is called, and calls Continue after that (or closes the session on a
  // cancel). Only consulted while HasMoreWork(). A wake while the session is idle makes the
  // runner ask HasMoreWork() again (so outside events, e.g. a reply, can start new work).
  virtual bool Waiting() const { return false; }
  // Does the next bounded slice of the pending work (only called while HasMoreWork()).
  virtual Status Continue(Emitter& out) {
    (void)out;
    return OkStatus();
  }
};

class Node {
 public:
  virtual ~Node() = default;
  virtual Result<std::unique_ptr<NodeSession>> OpenSession(const SessionInfo& info) = 0;
};

// Type-erased options (the concrete struct lives with the node type).
class NodeOptionsBase {
 public:
  virtual ~NodeOptionsBase() = default;
  virtual std::string ToString() const = 0;
};

}  // namespace cosyflow

// ZAP (ZeroMQ authentication protocol, RFC 27) allow-lists of CURVE client keys.
//
// One handler thread per process answers the ZAP requests of every CURVE server socket of the
// bridge context; each server that names an allow-list gets its own ZAP domain. A client whose
// public key is not on its server's list is refused during the CURVE handshake (status 400),
// so it never reaches the bridge protocol; requests for domains without a list are allowed.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "runtime/status.h"

namespace cosyflow::bridges {

// Client public keys from `path`: Z85 (40 characters) one per line; blank lines and comments
// ('#' at the start of a line or after a blank; Z85 itself uses '#') are ignored. InvalidArgument naming the file and line for a malformed key, or for a
// list without any key.
Result<std::set<std::string>> ReadCurveAllowList(const std::string& path);

// Starts answering ZAP requests for `domain` from the keys in `path`; the list stays in force
// while the returned handle lives.
Result<std::shared_ptr<void>> RegisterZapAllowList(const std::string& domain,
                                                   const std::string& path);

}  // namespace cosyflow::bridges

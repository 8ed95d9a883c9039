// SHA-256, incremental (OpenSSL libcrypto underneath): content keys for caches (e.g. a prompt
// recording's samples) where a collision would silently return the wrong entry.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace cosyflow {

class Sha256 {
 public:
  using Digest = std::array<uint8_t, 32>;

  Sha256();
  Sha256& Update(const void* data, size_t size);
  Sha256& Update(std::string_view s) { return Update(s.data(), s.size()); }
  // Length-prefixed: Update(a).Update(b) and Update(a + b) differ, so fields cannot run into
  // each other.
  Sha256& UpdateField(const void* data, size_t size);
  Sha256& UpdateField(std::string_view s) { return UpdateField(s.data(), s.size()); }
  // Finishes and returns the digest; the object must not be used afterwards.
  Digest Final();

  static std::string Hex(const Digest& d);

 private:
  std::unique_ptr<evp_md_ctx_st, void (*)(evp_md_ctx_st*)> ctx_;
};

}  // namespace cosyflow

// SHA-256 over OpenSSL's libcrypto (SHA-NI / AVX2 code paths chosen by OpenSSL at run time).
#include "runtime/sha256.h"

#include <openssl/evp.h>

#include <new>

namespace cosyflow {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
    throw std::bad_alloc();  // only when OpenSSL cannot allocate its context
  }
}

Sha256& Sha256::Update(const void* data, size_t size) {
  if (size > 0) EVP_DigestUpdate(ctx_.get(), data, size);
  return *this;
}

Sha256& Sha256::UpdateField(const void* data, size_t size) {
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(size) >> (8 * i));
  Update(len, sizeof(len));
  return Update(data, size);
}

Sha256::Digest Sha256::Final() {
  Digest d{};
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx_.get(), d.data(), &n);
  return d;
}

std::string Sha256::Hex(const Digest& d) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  for (uint8_t b : d) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

}  // namespace cosyflow

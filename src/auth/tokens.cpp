// auth/tokens.cpp — HS256 access tokens via libjwt, the signing-key file, and libsodium helpers.
#include <jwt.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>

#include "auth/auth.h"
#include "auth/auth_internal.h"

namespace inhouse::auth {

namespace detail {

void init_sodium() {
  static std::once_flag once;
  static int rc = 0;
  std::call_once(once, [] { rc = sodium_init(); });
  if (rc < 0) throw Error("libsodium failed to initialise");
}

std::vector<uint8_t> random_bytes(size_t n) {
  init_sodium();
  std::vector<uint8_t> out(n);
  randombytes_buf(out.data(), n);
  return out;
}

std::string to_hex(const std::vector<uint8_t>& bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();
  return out;
}

std::string base64url(const std::vector<uint8_t>& bytes) {
  const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), variant);
  out.resize(out.find('\0'));
  return out;
}

std::string keyed_digest(const std::vector<uint8_t>& key, std::string_view text) {
  std::string out(crypto_generichash_BYTES, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                     reinterpret_cast<const unsigned char*>(text.data()), text.size(), key.data(),
                     key.size());
  return out;
}

}  // namespace detail

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

constexpr size_t kKeyBytes = 32;
constexpr const char* kIssuer = "inhouse";

struct JwtDeleter {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtDeleter>;

std::vector<uint8_t> read_key_file(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error("cannot stat " + path.string());
  if (st.st_mode & (S_IRWXG | S_IRWXO))
    throw Error("signing key " + path.string() + " is accessible by group or others; chmod 600 it");
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (key.size() < kKeyBytes)
    throw Error("signing key " + path.string() + " has " + std::to_string(key.size()) +
                " bytes; at least " + std::to_string(kKeyBytes) + " are needed");
  return key;
}

void create_key_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  const auto key = detail::random_bytes(kKeyBytes);
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw Error("cannot create signing key " + tmp.string());
    ::chmod(tmp.c_str(), 0600);  // before any key byte is written
    const bool ok = std::fwrite(key.data(), 1, key.size(), f) == key.size() && std::fflush(f) == 0 &&
                    ::fsync(fileno(f)) == 0;
    std::fclose(f);
    if (!ok) throw Error("cannot write signing key " + tmp.string());
  }
  // link() fails if another process created the key first; then both use that one.
  if (::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    std::filesystem::remove(tmp, ec);
    throw Error("cannot install signing key " + path.string());
  }
  std::filesystem::remove(tmp, ec);
}

}  // namespace

TokenSigner::TokenSigner(std::vector<uint8_t> key) : key_(std::move(key)) {
  if (key_.size() < kKeyBytes) throw Error("a signing key needs at least 32 bytes");
}

TokenSigner TokenSigner::from_key_file(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) create_key_file(path);
  return TokenSigner(read_key_file(path));
}

std::string TokenSigner::issue(const Client& client, int64_t ttl_seconds, int64_t now) const {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) throw Error("cannot create a token");
  JwtPtr jwt(raw);
  const std::string jti = detail::to_hex(detail::random_bytes(16));
  const bool ok = jwt_set_alg(jwt.get(), JWT_ALG_HS256, key_.data(), int(key_.size())) == 0 &&
                  jwt_add_grant(jwt.get(), "iss", kIssuer) == 0 &&
                  jwt_add_grant(jwt.get(), "sub", client.id.c_str()) == 0 &&
                  jwt_add_grant(jwt.get(), "role", client.role.c_str()) == 0 &&
                  jwt_add_grant(jwt.get(), "jti", jti.c_str()) == 0 &&
                  jwt_add_grant_int(jwt.get(), "iat", long(now)) == 0 &&
                  jwt_add_grant_int(jwt.get(), "exp", long(now + ttl_seconds)) == 0;
  if (!ok) throw Error("cannot build a token");
  char* s = jwt_encode_str(jwt.get());
  if (!s) throw Error("cannot sign a token");
  std::string out(s);
  std::free(s);  // libjwt 1.10 allocates with malloc (jwt_free_str came later)
  return out;
}

TokenClaims TokenSigner::verify(std::string_view token, int64_t now) const {
  if (token.empty() || token.size() > 8192) throw TokenError("malformed token");
  jwt_t* raw = nullptr;
  const std::string t(token);
  // With a key given, libjwt checks the HMAC; it also refuses "alg":"none" then, and we check
  // the algorithm again so no other algorithm is ever accepted.
  if (jwt_decode(&raw, t.c_str(), key_.data(), int(key_.size())) != 0 || !raw)
    throw TokenError("invalid token (malformed or bad signature)");
  JwtPtr jwt(raw);
  if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256) throw TokenError("token algorithm is not HS256");
  const char* iss = jwt_get_grant(jwt.get(), "iss");
  if (!iss || std::string_view(iss) != kIssuer) throw TokenError("token issuer is not inhouse");
  const char* sub = jwt_get_grant(jwt.get(), "sub");
  if (!sub || !*sub) throw TokenError("token has no subject");
  const char* role = jwt_get_grant(jwt.get(), "role");
  TokenClaims c;
  c.client_id = sub;
  c.role = role ? role : "";
  c.issued_at = jwt_get_grant_int(jwt.get(), "iat");
  c.expires_at = jwt_get_grant_int(jwt.get(), "exp");
  if (c.expires_at <= 0) throw TokenError("token has no expiry");
  if (now >= c.expires_at) throw TokenError("token expired");
  return c;
}

}  // namespace inhouse::auth

// auth — owns who may call the server: clients (id, name, role, owning user) whose secrets are
// stored only as Argon2id hashes (libsodium) in the shared database (db::SharedDatabase: the
// data directory's SQLite file or PostgreSQL), API keys that carry a
// client's id and secret, and the HS256 JWT access tokens (libjwt) issued for them, with a
// signing key generated on first use and kept in a file only its owner can read.
// Which role may do what (rate limits, knowledge-base permissions) is decided elsewhere
// (server: rate limits by client role; access: a client's user's roles and the ACL policy).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "db/db.h"

namespace inhouse::auth {

// Bad input to the store: an invalid or duplicate client name, an invalid role.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Client {
  std::string id;    // "cl_" + 24 hex digits
  std::string name;
  std::string role;
  int64_t created_at = 0;  // unix seconds
  std::string user;        // the access::User it acts for; "" = none (personal / service use)
};

// What add() returns: the secret exists only here; the store keeps its hash.
struct NewClient {
  Client client;
  std::string secret;   // 43 characters of URL-safe base64 (256 random bits)
  std::string api_key;  // "ih." + id + "." + secret: usable directly as a Bearer token
};

// Clients in the `clients` table of a SharedDatabase. Thread-safe.
class ClientStore {
 public:
  // Creates/migrates its table in `db`, which must outlive the store.
  explicit ClientStore(db::SharedDatabase& db);
  // The same over a borrowed plain SQLite connection (the data directory's own); callers
  // must not use `db` from another thread while the store does.
  explicit ClientStore(db::Database& db);
  ~ClientStore();
  ClientStore(const ClientStore&) = delete;
  ClientStore& operator=(const ClientStore&) = delete;

  // Names, roles and users: 1-64 characters of [A-Za-z0-9_.@-] (user may be "" = none).
  // Throws Error on a duplicate name. Whether `user` exists is the caller's check (access).
  NewClient add(std::string_view name, std::string_view role, std::string_view user = "");
  // The client when id and secret match, else nullopt (unknown id and wrong secret look the
  // same to the caller). Argon2id verification costs ~0.1 s and 64 MiB by design.
  std::optional<Client> authenticate(std::string_view client_id, std::string_view secret);
  // An "ih.<id>.<secret>" key; successful checks are remembered (keyed hash, 5 minutes) so
  // per-request API-key use does not pay Argon2id every time.
  std::optional<Client> authenticate_api_key(std::string_view api_key);
  std::optional<Client> find(std::string_view client_id);
  std::optional<Client> find_by_name(std::string_view name);
  std::vector<Client> list();
  std::vector<Client> list_for_user(std::string_view user);  // the clients acting for `user`
  bool remove(std::string_view client_id);  // false when unknown
  // Removes every client of `user` (a user's removal or erasure); how many there were.
  size_t remove_for_user(std::string_view user);

 private:
  std::optional<Client> load(std::string_view column, std::string_view value);
  std::vector<Client> load_all(std::string_view where, const std::vector<db::Value>& params);

  std::unique_ptr<db::SharedDatabase> owned_;  // the adapter over a borrowed db::Database
  db::SharedDatabase& db_;
  std::mutex mutex_;  // guards verified_
  std::vector<uint8_t> cache_key_;  // random per process: cached digests mean nothing on disk
  struct CachedKey {
    std::string digest;
    std::chrono::steady_clock::time_point expires;
  };
  std::unordered_map<std::string, CachedKey> verified_;  // client id -> digest of its API key
};

// Why a token was refused; the server answers 401 for all of them.
class TokenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TokenClaims {
  std::string client_id;
  std::string role;
  int64_t issued_at = 0;
  int64_t expires_at = 0;
};

// Issues and checks HS256 JWTs: {"iss":"inhouse","sub":client id,"role","iat","exp","jti"}.
class TokenSigner {
 public:
  explicit TokenSigner(std::vector<uint8_t> key);  // at least 32 bytes
  // Reads the key file, or creates it with 32 random bytes and mode 0600 when missing.
  // Throws Error when the file exists but is too short or readable by others.
  static TokenSigner from_key_file(const std::filesystem::path& path);

  std::string issue(const Client& client, int64_t ttl_seconds, int64_t now_unix) const;
  // Throws TokenError: malformed, not HS256, bad signature, wrong issuer, expired, no subject.
  TokenClaims verify(std::string_view token, int64_t now_unix) const;

 private:
  std::vector<uint8_t> key_;
};

int64_t unix_now();

}  // namespace inhouse::auth

// auth/clients.cpp — the client table: random ids and secrets from libsodium, secrets hashed
// with Argon2id (crypto_pwhash_str, interactive limits), API-key checks cached as keyed digests.
#include <sodium.h>

#include <algorithm>
#include <cctype>

#include "auth/auth.h"
#include "auth/auth_internal.h"

namespace inhouse::auth {
namespace {

constexpr auto kApiKeyCacheTtl = std::chrono::minutes(5);
constexpr std::string_view kApiKeyPrefix = "ih.";

const std::vector<std::string> kMigrations = {
    "CREATE TABLE clients ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  role TEXT NOT NULL,"
    "  secret_hash TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL)",
};

void check_identifier(std::string_view what, std::string_view s) {
  const bool ok = !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '@';
  });
  if (!ok)
    throw Error(std::string(what) + " '" + std::string(s.substr(0, 80)) +
                "' is invalid: use 1-64 characters of letters, digits, _ - . @");
}

std::string hash_secret(std::string_view secret) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, secret.data(), secret.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
    throw Error("cannot hash the secret: out of memory");
  return out;
}

}  // namespace

ClientStore::ClientStore(db::Database& db) : db_(db) {
  detail::init_sodium();
  db_.migrate("auth.clients", kMigrations);
  cache_key_ = detail::random_bytes(crypto_generichash_KEYBYTES);
}

NewClient ClientStore::add(std::string_view name, std::string_view role) {
  check_identifier("client name", name);
  check_identifier("role", role);
  NewClient out;
  out.client = {"cl_" + detail::to_hex(detail::random_bytes(12)), std::string(name), std::string(role),
                unix_now()};
  out.secret = detail::base64url(detail::random_bytes(32));
  out.api_key = std::string(kApiKeyPrefix) + out.client.id + "." + out.secret;
  const std::string hash = hash_secret(out.secret);

  std::lock_guard lock(mutex_);
  if (load("name", name)) throw Error("a client named '" + std::string(name) + "' already exists");
  db_.prepare("INSERT INTO clients(id, name, role, secret_hash, created_at) VALUES(?,?,?,?,?)")
      .bind(1, out.client.id)
      .bind(2, out.client.name)
      .bind(3, out.client.role)
      .bind(4, hash)
      .bind(5, out.client.created_at)
      .run();
  return out;
}

std::optional<Client> ClientStore::load(std::string_view column, std::string_view value) {
  auto st = db_.prepare("SELECT id, name, role, created_at FROM clients WHERE " + std::string(column) + " = ?");
  st.bind(1, value);
  if (!st.step()) return std::nullopt;
  return Client{st.column_text(0), st.column_text(1), st.column_text(2), st.column_int(3)};
}

std::optional<Client> ClientStore::find(std::string_view client_id) {
  std::lock_guard lock(mutex_);
  return load("id", client_id);
}

std::optional<Client> ClientStore::find_by_name(std::string_view name) {
  std::lock_guard lock(mutex_);
  return load("name", name);
}

std::vector<Client> ClientStore::list() {
  std::lock_guard lock(mutex_);
  std::vector<Client> out;
  auto st = db_.prepare("SELECT id, name, role, created_at FROM clients ORDER BY created_at, name");
  while (st.step()) out.push_back({st.column_text(0), st.column_text(1), st.column_text(2), st.column_int(3)});
  return out;
}

bool ClientStore::remove(std::string_view client_id) {
  std::lock_guard lock(mutex_);
  verified_.erase(std::string(client_id));
  db_.prepare("DELETE FROM clients WHERE id = ?").bind(1, client_id).run();
  return db_.changes() > 0;
}

std::optional<Client> ClientStore::authenticate(std::string_view client_id, std::string_view secret) {
  std::string hash;
  std::optional<Client> client;
  {
    std::lock_guard lock(mutex_);
    auto st = db_.prepare("SELECT secret_hash FROM clients WHERE id = ?");
    st.bind(1, client_id);
    if (st.step()) hash = st.column_text(0);
    client = load("id", client_id);
  }
  // Verify outside the lock: Argon2id is deliberately slow. An unknown id still pays for a
  // hash so timing does not reveal which ids exist.
  if (!client) {
    static const std::string dummy = hash_secret("not a secret");
    (void)!crypto_pwhash_str_verify(dummy.c_str(), secret.data(), secret.size());
    return std::nullopt;
  }
  if (crypto_pwhash_str_verify(hash.c_str(), secret.data(), secret.size()) != 0) return std::nullopt;
  return client;
}

std::optional<Client> ClientStore::authenticate_api_key(std::string_view api_key) {
  if (!api_key.starts_with(kApiKeyPrefix)) return std::nullopt;
  const std::string_view rest = api_key.substr(kApiKeyPrefix.size());
  const size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string id(rest.substr(0, dot));
  const std::string_view secret = rest.substr(dot + 1);
  const std::string digest = detail::keyed_digest(cache_key_, api_key);
  {
    std::lock_guard lock(mutex_);
    const auto it = verified_.find(id);
    if (it != verified_.end() && std::chrono::steady_clock::now() < it->second.expires &&
        sodium_memcmp(it->second.digest.data(), digest.data(), digest.size()) == 0)
      return load("id", id);
  }
  auto client = authenticate(id, secret);
  if (client) {
    std::lock_guard lock(mutex_);
    verified_[id] = {digest, std::chrono::steady_clock::now() + kApiKeyCacheTtl};
  }
  return client;
}

}  // namespace inhouse::auth

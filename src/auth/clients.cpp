// auth/clients.cpp — the client table (portable SQL over db::SharedDatabase): random ids and
// secrets from libsodium, secrets hashed with Argon2id (crypto_pwhash_str, interactive limits),
// API-key checks cached as keyed digests.
#include <sodium.h>

#include <algorithm>
#include <cctype>

#include "auth/auth.h"
#include "auth/auth_internal.h"

namespace inhouse::auth {
namespace {

constexpr auto kApiKeyCacheTtl = std::chrono::minutes(5);
constexpr std::string_view kApiKeyPrefix = "ih.";

// Portable SQL (db::SharedDatabase). Migration 0 is the original SQLite table (BIGINT and
// INTEGER are the same there; existing data directories never re-run it); 1 and 2 add the
// owning user. The column is user_name because USER is reserved in PostgreSQL.
const std::vector<std::string> kMigrations = {
    "CREATE TABLE clients ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  role TEXT NOT NULL,"
    "  secret_hash TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL)",
    "ALTER TABLE clients ADD COLUMN user_name TEXT NOT NULL DEFAULT ''",
    "CREATE INDEX clients_by_user ON clients(user_name)",
};

constexpr std::string_view kColumns = "SELECT id, name, role, created_at, user_name";

Client client_of(const db::Row& r) {
  return Client{r[0].text(), r[1].text(), r[2].text(), r[3].integer(), r[4].text()};
}

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

ClientStore::ClientStore(db::SharedDatabase& db) : db_(db) {
  detail::init_sodium();
  db_.migrate("auth.clients", kMigrations);
  cache_key_ = detail::random_bytes(crypto_generichash_KEYBYTES);
}

ClientStore::ClientStore(db::Database& db) : owned_(db::borrow_shared(db)), db_(*owned_) {
  detail::init_sodium();
  db_.migrate("auth.clients", kMigrations);
  cache_key_ = detail::random_bytes(crypto_generichash_KEYBYTES);
}

ClientStore::~ClientStore() = default;

NewClient ClientStore::add(std::string_view name, std::string_view role, std::string_view user) {
  check_identifier("client name", name);
  check_identifier("role", role);
  if (!user.empty()) check_identifier("user name", user);
  NewClient out;
  out.client = {"cl_" + detail::to_hex(detail::random_bytes(12)), std::string(name), std::string(role),
                unix_now(), std::string(user)};
  out.secret = detail::base64url(detail::random_bytes(32));
  out.api_key = std::string(kApiKeyPrefix) + out.client.id + "." + out.secret;
  const std::string hash = hash_secret(out.secret);

  // ON CONFLICT DO NOTHING: a duplicate name inserts nothing, on either backend, without a
  // constraint error (another replica may have added it between a check and the insert).
  const auto rows = db_.query(
      "INSERT INTO clients(id, name, role, secret_hash, created_at, user_name) VALUES(?,?,?,?,?,?) "
      "ON CONFLICT DO NOTHING RETURNING id",
      {out.client.id, out.client.name, out.client.role, hash, out.client.created_at, out.client.user});
  if (rows.empty()) throw Error("a client named '" + std::string(name) + "' already exists");
  return out;
}

std::optional<Client> ClientStore::load(std::string_view column, std::string_view value) {
  auto all = load_all(std::string(column) + " = ?", {value});
  if (all.empty()) return std::nullopt;
  return std::move(all.front());
}

std::vector<Client> ClientStore::load_all(std::string_view where, const std::vector<db::Value>& params) {
  std::string sql = std::string(kColumns) + " FROM clients";
  if (!where.empty()) sql += " WHERE " + std::string(where);
  sql += " ORDER BY created_at, name";
  std::vector<Client> out;
  for (const db::Row& r : db_.query(sql, params)) out.push_back(client_of(r));
  return out;
}

std::optional<Client> ClientStore::find(std::string_view client_id) { return load("id", client_id); }

std::optional<Client> ClientStore::find_by_name(std::string_view name) { return load("name", name); }

std::vector<Client> ClientStore::list() { return load_all("", {}); }

std::vector<Client> ClientStore::list_for_user(std::string_view user) {
  if (user.empty()) return {};
  return load_all("user_name = ?", {user});
}

bool ClientStore::remove(std::string_view client_id) {
  {
    std::lock_guard lock(mutex_);
    verified_.erase(std::string(client_id));
  }
  return db_.execute("DELETE FROM clients WHERE id = ?", {client_id}) > 0;
}

size_t ClientStore::remove_for_user(std::string_view user) {
  if (user.empty()) return 0;
  size_t removed = 0;
  db_.transaction([&] {
    const auto clients = list_for_user(user);
    {
      std::lock_guard lock(mutex_);
      for (const Client& c : clients) verified_.erase(c.id);
    }
    removed = size_t(db_.execute("DELETE FROM clients WHERE user_name = ?", {user}));
  });
  return removed;
}

std::optional<Client> ClientStore::authenticate(std::string_view client_id, std::string_view secret) {
  std::string hash;
  std::optional<Client> client;
  const auto rows = db_.query(std::string(kColumns) + ", secret_hash FROM clients WHERE id = ?", {client_id});
  if (!rows.empty()) {
    client = client_of(rows[0]);
    hash = rows[0][5].text();
  }
  // An unknown id still pays for a hash so timing does not reveal which ids exist.
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
  bool cached = false;
  {
    std::lock_guard lock(mutex_);
    const auto it = verified_.find(id);
    cached = it != verified_.end() && std::chrono::steady_clock::now() < it->second.expires &&
             sodium_memcmp(it->second.digest.data(), digest.data(), digest.size()) == 0;
  }
  if (cached) return load("id", id);  // gone when another process removed it meanwhile
  auto client = authenticate(id, secret);
  if (client) {
    std::lock_guard lock(mutex_);
    verified_[id] = {digest, std::chrono::steady_clock::now() + kApiKeyCacheTtl};
  }
  return client;
}

}  // namespace inhouse::auth

// Tests for clients (Argon2id-hashed secrets, API keys) and HS256 access tokens.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "auth/auth.h"

namespace fs = std::filesystem;
using namespace inhouse;
using auth::ClientStore;
using auth::TokenError;
using auth::TokenSigner;

namespace {

fs::path temp_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("inhouse-auth-test-" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(ClientStore, SecretIsStoredOnlyAsArgon2idHash) {
  db::Database db = db::Database::open(":memory:");
  ClientStore store(db);
  const auto c = store.add("ci-bot", "viewer");
  EXPECT_EQ(c.client.id.size(), 27u);
  EXPECT_EQ(c.secret.size(), 43u);
  auto st = db.prepare("SELECT secret_hash FROM clients");
  ASSERT_TRUE(st.step());
  const std::string hash = st.column_text(0);
  EXPECT_TRUE(hash.starts_with("$argon2id$")) << hash;
  EXPECT_EQ(hash.find(c.secret), std::string::npos);
}

TEST(ClientStore, AuthenticatesRightSecretOnly) {
  db::Database db = db::Database::open(":memory:");
  ClientStore store(db);
  const auto c = store.add("alice", "admin");
  const auto ok = store.authenticate(c.client.id, c.secret);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->name, "alice");
  EXPECT_EQ(ok->role, "admin");
  EXPECT_FALSE(store.authenticate(c.client.id, c.secret + "x"));
  EXPECT_FALSE(store.authenticate(c.client.id, ""));
  EXPECT_FALSE(store.authenticate("cl_unknown", c.secret));
}

TEST(ClientStore, ApiKeysWorkUntilTheClientIsRemoved) {
  db::Database db = db::Database::open(":memory:");
  ClientStore store(db);
  const auto c = store.add("svc", "viewer");
  EXPECT_TRUE(c.api_key.starts_with("ih."));
  ASSERT_TRUE(store.authenticate_api_key(c.api_key));
  ASSERT_TRUE(store.authenticate_api_key(c.api_key));  // cached path
  std::string tampered = c.api_key;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(store.authenticate_api_key(tampered));
  EXPECT_FALSE(store.authenticate_api_key("ih.nodot"));
  EXPECT_FALSE(store.authenticate_api_key("Bearer x"));
  EXPECT_TRUE(store.remove(c.client.id));
  EXPECT_FALSE(store.authenticate_api_key(c.api_key));
  EXPECT_FALSE(store.remove(c.client.id));
}

TEST(ClientStore, RejectsBadAndDuplicateNames) {
  db::Database db = db::Database::open(":memory:");
  ClientStore store(db);
  store.add("bob", "viewer");
  EXPECT_THROW(store.add("bob", "admin"), auth::Error);
  EXPECT_THROW(store.add("", "viewer"), auth::Error);
  EXPECT_THROW(store.add("has space", "viewer"), auth::Error);
  EXPECT_THROW(store.add("x", "bad'role"), auth::Error);
  EXPECT_THROW(store.add(std::string(65, 'a'), "viewer"), auth::Error);
  EXPECT_EQ(store.list().size(), 1u);
  EXPECT_TRUE(store.find_by_name("bob"));
}

TEST(ClientStore, PersistsAcrossReopen) {
  const fs::path dir = temp_dir("persist");
  auth::NewClient c;
  {
    db::Database db = db::Database::open(dir / "inhouse.db");
    ClientStore store(db);
    c = store.add("keeper", "viewer");
  }
  db::Database db = db::Database::open(dir / "inhouse.db");
  ClientStore store(db);
  EXPECT_TRUE(store.authenticate(c.client.id, c.secret));
}

TEST(ClientStore, WorksOverSharedDatabaseWithOwningUser) {
  const fs::path dir = temp_dir("shared");
  auto shared = db::open_shared_sqlite(dir / "inhouse.db");
  ClientStore store(*shared);
  const auto a = store.add("laptop", "viewer", "alice");
  const auto b = store.add("phone", "viewer", "alice");
  const auto c = store.add("ci", "viewer");
  EXPECT_EQ(a.client.user, "alice");
  EXPECT_EQ(c.client.user, "");
  const auto found = store.authenticate(a.client.id, a.secret);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->user, "alice");
  ASSERT_TRUE(store.authenticate_api_key(b.api_key));
  EXPECT_EQ(store.find_by_name("phone")->user, "alice");
  EXPECT_EQ(store.list_for_user("alice").size(), 2u);
  EXPECT_TRUE(store.list_for_user("").empty());  // "" is nobody, not every unowned client
  EXPECT_THROW(store.add("x", "viewer", "bad user"), auth::Error);
  EXPECT_THROW(store.add("laptop", "viewer", "bob"), auth::Error);  // duplicate name

  EXPECT_EQ(store.remove_for_user("alice"), 2u);
  EXPECT_FALSE(store.authenticate_api_key(b.api_key));  // the cached key is forgotten too
  EXPECT_TRUE(store.list_for_user("alice").empty());
  EXPECT_EQ(store.list().size(), 1u);
  EXPECT_EQ(store.remove_for_user("alice"), 0u);
}

TEST(ClientStore, SharedAndPlainConnectionsSeeTheSameClients) {
  const fs::path dir = temp_dir("both");
  auto shared = db::open_shared_sqlite(dir / "inhouse.db");
  ClientStore a(*shared);
  db::Database plain = db::Database::open(dir / "inhouse.db");
  ClientStore b(plain);
  const auto c = a.add("svc", "admin", "carol");
  const auto seen = b.authenticate_api_key(c.api_key);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->user, "carol");
  // A removal through one store is seen by the other even where it cached the key.
  EXPECT_TRUE(b.remove(c.client.id));
  EXPECT_FALSE(a.authenticate_api_key(c.api_key));
}

// A data directory made before clients had users: schema version 1, no user_name column.
TEST(ClientStore, MigratesTheOriginalTable) {
  const fs::path dir = temp_dir("migrate");
  {
    db::Database db = db::Database::open(dir / "inhouse.db");
    db.migrate("auth.clients", {"CREATE TABLE clients (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
                                "role TEXT NOT NULL, secret_hash TEXT NOT NULL, created_at INTEGER NOT NULL)"});
    db.exec("INSERT INTO clients VALUES('cl_old', 'old', 'viewer', 'x', 5)");
  }
  db::Database db = db::Database::open(dir / "inhouse.db");
  ClientStore store(db);
  const auto old = store.find("cl_old");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->name, "old");
  EXPECT_EQ(old->user, "");
  EXPECT_EQ(old->created_at, 5);
  store.add("new", "viewer", "dave");
  EXPECT_EQ(store.list().size(), 2u);
  auto st = db.prepare("SELECT version FROM schema_versions WHERE component = 'auth.clients'");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.column_int(0), 3);
}

auth::Client test_client() { return {"cl_0123", "t", "viewer", 0}; }

TEST(TokenSigner, IssuesAndVerifies) {
  TokenSigner s(std::vector<uint8_t>(32, 7));
  const std::string tok = s.issue(test_client(), 3600, 1000);
  const auto claims = s.verify(tok, 1001);
  EXPECT_EQ(claims.client_id, "cl_0123");
  EXPECT_EQ(claims.role, "viewer");
  EXPECT_EQ(claims.issued_at, 1000);
  EXPECT_EQ(claims.expires_at, 4600);
}

TEST(TokenSigner, RejectsExpiredTamperedForeignAndMalformed) {
  TokenSigner s(std::vector<uint8_t>(32, 7));
  const std::string tok = s.issue(test_client(), 60, 1000);
  EXPECT_THROW(s.verify(tok, 1060), TokenError);  // expired at exactly exp
  TokenSigner other(std::vector<uint8_t>(32, 8));
  EXPECT_THROW(other.verify(tok, 1001), TokenError);  // signed with another key
  // Change one character of the payload: the signature no longer matches.
  std::string tampered = tok;
  const size_t dot = tampered.find('.');
  tampered[dot + 5] = tampered[dot + 5] == 'a' ? 'b' : 'a';
  EXPECT_THROW(s.verify(tampered, 1001), TokenError);
  EXPECT_THROW(s.verify("", 1001), TokenError);
  EXPECT_THROW(s.verify("not.a.jwt", 1001), TokenError);
  EXPECT_THROW(s.verify(std::string(10000, 'a'), 1001), TokenError);
  // alg "none" with the same claims and no signature.
  const std::string none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";  // {"alg":"none","typ":"JWT"}
  const std::string payload = tok.substr(dot + 1, tok.rfind('.') - dot - 1);
  EXPECT_THROW(s.verify(none_header + "." + payload + ".", 1001), TokenError);
}

TEST(TokenSigner, KeyFileIsCreatedPrivateAndReused) {
  const fs::path dir = temp_dir("key");
  const fs::path key = dir / "jwt.key";
  const auto a = TokenSigner::from_key_file(key);
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const auto b = TokenSigner::from_key_file(key);
  EXPECT_NO_THROW(b.verify(a.issue(test_client(), 60, 1000), 1001));
}

TEST(TokenSigner, RefusesWeakOrExposedKeys) {
  const fs::path dir = temp_dir("weak");
  const fs::path key = dir / "jwt.key";
  std::ofstream(key) << "short";
  ::chmod(key.c_str(), 0600);
  EXPECT_THROW(TokenSigner::from_key_file(key), auth::Error);
  std::ofstream(key) << std::string(40, 'k');
  ::chmod(key.c_str(), 0644);
  EXPECT_THROW(TokenSigner::from_key_file(key), auth::Error);
  EXPECT_THROW(TokenSigner(std::vector<uint8_t>(16, 1)), auth::Error);
}

}  // namespace

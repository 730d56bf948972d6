// access/access.cpp — users, groups and role grants in portable SQL over db::SharedDatabase;
// the policy kept as one versioned JSON row (access_policy) that every process caches and
// reloads when the version moves; and the decisions: most specific resource key first.
#include <algorithm>
#include <chrono>

#include "access/access.h"

namespace inhouse::access {

// The policy as decisions use it.
struct CompiledPolicy {
  Policy policy;
  int64_t version = 0;
  std::unordered_map<std::string, unsigned> role_bits;  // role -> 1 << Permission
  std::unordered_set<std::string> kbs_with_inner_keys;  // kbs some "kb/..." key refines
};

namespace {

// One statement per migration (PostgreSQL and SQLite both run them). Names are prefixed
// access_ and columns avoid USER (reserved in PostgreSQL).
const std::vector<std::string> kMigrations = {
    "CREATE TABLE access_users (name TEXT PRIMARY KEY, display_name TEXT NOT NULL, email TEXT NOT NULL,"
    " created_at BIGINT NOT NULL)",
    "CREATE TABLE access_groups (name TEXT PRIMARY KEY, created_at BIGINT NOT NULL)",
    "CREATE TABLE access_user_roles (user_name TEXT NOT NULL REFERENCES access_users(name) ON DELETE CASCADE,"
    " role TEXT NOT NULL, PRIMARY KEY (user_name, role))",
    "CREATE TABLE access_group_roles (group_name TEXT NOT NULL REFERENCES access_groups(name) ON DELETE CASCADE,"
    " role TEXT NOT NULL, PRIMARY KEY (group_name, role))",
    "CREATE TABLE access_members (group_name TEXT NOT NULL REFERENCES access_groups(name) ON DELETE CASCADE,"
    " user_name TEXT NOT NULL REFERENCES access_users(name) ON DELETE CASCADE, PRIMARY KEY (group_name, user_name))",
    "CREATE INDEX access_members_by_user ON access_members(user_name)",
    // One row (id 1); version grows by one per import, which is what other processes watch.
    "CREATE TABLE access_policy (id BIGINT PRIMARY KEY, version BIGINT NOT NULL, body TEXT NOT NULL,"
    " updated_at BIGINT NOT NULL)",
};

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

unsigned bit(Permission p) { return 1u << unsigned(p); }

void check_name(const char* what, const std::string& name) {
  if (!valid_name(name))
    throw Error(Error::Code::Invalid, std::string(what) + " '" + name.substr(0, 80) +
                                          "' is invalid: use 1-64 characters of letters, digits, _ - . @");
}

bool has_control(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

void check_profile(const std::string& display_name, const std::string& email) {
  if (display_name.size() > 200 || has_control(display_name))
    throw Error(Error::Code::Invalid, "display name: at most 200 bytes, no control characters");
  if (email.empty()) return;
  const size_t at = email.find('@');
  const bool ok = email.size() <= 254 && at != std::string::npos && at > 0 && at + 1 < email.size() &&
                  email.find('@', at + 1) == std::string::npos && !has_control(email) &&
                  email.find(' ') == std::string::npos;
  if (!ok) throw Error(Error::Code::Invalid, "email '" + email.substr(0, 80) + "' is not an address like name@example.com");
}

std::vector<std::string> column(const std::vector<db::Row>& rows) {
  std::vector<std::string> out;
  for (const db::Row& r : rows) out.push_back(r[0].text());
  return out;
}

std::shared_ptr<const CompiledPolicy> compile(Policy policy, int64_t version) {
  auto c = std::make_shared<CompiledPolicy>();
  for (const auto& [role, perms] : policy.roles) {
    unsigned bits = 0;
    for (Permission p : perms) bits |= bit(p);
    c->role_bits[role] = bits;
  }
  for (const auto& [key, roles] : policy.resources)
    if (const size_t slash = key.find('/'); slash != std::string::npos) c->kbs_with_inner_keys.insert(key.substr(0, slash));
  c->policy = std::move(policy);
  c->version = version;
  return c;
}

// The permissions `roles` (sorted) have on the resource through the roles it lists.
unsigned granted(const CompiledPolicy& p, const std::vector<std::string>& listed, const std::vector<std::string>& roles) {
  unsigned bits = 0;
  for (const std::string& role : listed)
    if (std::binary_search(roles.begin(), roles.end(), role)) {
      const auto it = p.role_bits.find(role);
      if (it != p.role_bits.end()) bits |= it->second;
    }
  return bits;
}

// The most specific key present in the policy for kb[/rel], or nullptr.
const std::pair<const std::string, std::vector<std::string>>* match(const CompiledPolicy& p, std::string_view kb,
                                                                      std::string_view rel) {
  const auto& res = p.policy.resources;
  while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
  while (!rel.empty() && rel.back() == '/') rel.remove_suffix(1);
  std::string key(kb);
  if (!kb.empty() && !rel.empty()) {
    key += '/';
    key += rel;
    for (;;) {
      if (const auto it = res.find(key); it != res.end()) return &*it;
      const size_t slash = key.find_last_of('/');
      if (slash <= kb.size()) break;  // back at the kb itself
      key.resize(slash);
    }
    key.resize(kb.size());
  }
  if (!kb.empty())
    if (const auto it = res.find(key); it != res.end()) return &*it;
  if (const auto it = res.find("*"); it != res.end()) return &*it;
  return nullptr;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

AccessControl::AccessControl(db::SharedDatabase& db, int64_t recheck_ms) : db_(db), recheck_ms_(recheck_ms) {
  db_.migrate("access", kMigrations);
}

// ---- users and groups ------------------------------------------------------------------------

void AccessControl::require_user(const std::string& name) {
  if (db_.query("SELECT 1 FROM access_users WHERE name = ?", {name}).empty())
    throw Error(Error::Code::NotFound, "no user named '" + name.substr(0, 80) + "'");
}

void AccessControl::require_group(const std::string& name) {
  if (db_.query("SELECT 1 FROM access_groups WHERE name = ?", {name}).empty())
    throw Error(Error::Code::NotFound, "no group named '" + name.substr(0, 80) + "'");
}

User AccessControl::add_user(const std::string& name, const std::string& display_name, const std::string& email,
                             const std::vector<std::string>& roles) {
  check_name("user name", name);
  check_profile(display_name, email);
  for (const std::string& r : roles) check_name("role", r);
  db_.transaction([&] {
    const auto inserted = db_.query(
        "INSERT INTO access_users(name, display_name, email, created_at) VALUES(?,?,?,?) "
        "ON CONFLICT DO NOTHING RETURNING name",
        {name, display_name, email, unix_now()});
    if (inserted.empty()) throw Error(Error::Code::AlreadyExists, "a user named '" + name + "' already exists");
    for (const std::string& r : roles)
      db_.execute("INSERT INTO access_user_roles(user_name, role) VALUES(?,?) ON CONFLICT DO NOTHING", {name, r});
  });
  return *find_user(name);
}

bool AccessControl::remove_user(const std::string& name) {
  int64_t removed = 0;
  db_.transaction([&] {
    db_.execute("DELETE FROM access_members WHERE user_name = ?", {name});
    db_.execute("DELETE FROM access_user_roles WHERE user_name = ?", {name});
    removed = db_.execute("DELETE FROM access_users WHERE name = ?", {name});
  });
  return removed > 0;
}

std::optional<User> AccessControl::find_user(const std::string& name) {
  const auto rows = db_.query("SELECT name, display_name, email, created_at FROM access_users WHERE name = ?", {name});
  if (rows.empty()) return std::nullopt;
  User u{rows[0][0].text(), rows[0][1].text(), rows[0][2].text(), rows[0][3].integer(), {}, {}};
  u.roles = column(db_.query("SELECT role FROM access_user_roles WHERE user_name = ? ORDER BY role", {name}));
  u.groups = column(db_.query("SELECT group_name FROM access_members WHERE user_name = ? ORDER BY group_name", {name}));
  return u;
}

std::vector<User> AccessControl::users() {
  std::vector<User> out;
  for (const std::string& name : column(db_.query("SELECT name FROM access_users ORDER BY name")))
    if (auto u = find_user(name)) out.push_back(std::move(*u));
  return out;
}

Group AccessControl::add_group(const std::string& name, const std::vector<std::string>& roles) {
  check_name("group name", name);
  for (const std::string& r : roles) check_name("role", r);
  db_.transaction([&] {
    const auto inserted = db_.query(
        "INSERT INTO access_groups(name, created_at) VALUES(?,?) ON CONFLICT DO NOTHING RETURNING name",
        {name, unix_now()});
    if (inserted.empty()) throw Error(Error::Code::AlreadyExists, "a group named '" + name + "' already exists");
    for (const std::string& r : roles)
      db_.execute("INSERT INTO access_group_roles(group_name, role) VALUES(?,?) ON CONFLICT DO NOTHING", {name, r});
  });
  return *find_group(name);
}

bool AccessControl::remove_group(const std::string& name) {
  int64_t removed = 0;
  db_.transaction([&] {
    db_.execute("DELETE FROM access_members WHERE group_name = ?", {name});
    db_.execute("DELETE FROM access_group_roles WHERE group_name = ?", {name});
    removed = db_.execute("DELETE FROM access_groups WHERE name = ?", {name});
  });
  return removed > 0;
}

std::optional<Group> AccessControl::find_group(const std::string& name) {
  const auto rows = db_.query("SELECT name, created_at FROM access_groups WHERE name = ?", {name});
  if (rows.empty()) return std::nullopt;
  Group g{rows[0][0].text(), rows[0][1].integer(), {}, {}};
  g.roles = column(db_.query("SELECT role FROM access_group_roles WHERE group_name = ? ORDER BY role", {name}));
  g.members = column(db_.query("SELECT user_name FROM access_members WHERE group_name = ? ORDER BY user_name", {name}));
  return g;
}

std::vector<Group> AccessControl::groups() {
  std::vector<Group> out;
  for (const std::string& name : column(db_.query("SELECT name FROM access_groups ORDER BY name")))
    if (auto g = find_group(name)) out.push_back(std::move(*g));
  return out;
}

void AccessControl::grant_user_role(const std::string& user, const std::string& role) {
  check_name("role", role);
  db_.transaction([&] {
    require_user(user);
    db_.execute("INSERT INTO access_user_roles(user_name, role) VALUES(?,?) ON CONFLICT DO NOTHING", {user, role});
  });
}

bool AccessControl::revoke_user_role(const std::string& user, const std::string& role) {
  int64_t n = 0;
  db_.transaction([&] {
    require_user(user);
    n = db_.execute("DELETE FROM access_user_roles WHERE user_name = ? AND role = ?", {user, role});
  });
  return n > 0;
}

void AccessControl::grant_group_role(const std::string& group, const std::string& role) {
  check_name("role", role);
  db_.transaction([&] {
    require_group(group);
    db_.execute("INSERT INTO access_group_roles(group_name, role) VALUES(?,?) ON CONFLICT DO NOTHING", {group, role});
  });
}

bool AccessControl::revoke_group_role(const std::string& group, const std::string& role) {
  int64_t n = 0;
  db_.transaction([&] {
    require_group(group);
    n = db_.execute("DELETE FROM access_group_roles WHERE group_name = ? AND role = ?", {group, role});
  });
  return n > 0;
}

void AccessControl::add_member(const std::string& group, const std::string& user) {
  db_.transaction([&] {
    require_group(group);
    require_user(user);
    db_.execute("INSERT INTO access_members(group_name, user_name) VALUES(?,?) ON CONFLICT DO NOTHING", {group, user});
  });
}

bool AccessControl::remove_member(const std::string& group, const std::string& user) {
  int64_t n = 0;
  db_.transaction([&] {
    require_group(group);
    n = db_.execute("DELETE FROM access_members WHERE group_name = ? AND user_name = ?", {group, user});
  });
  return n > 0;
}

std::vector<std::string> AccessControl::effective_roles(const std::string& user) {
  // No transaction: BEGIN IMMEDIATE would make every request a writer on SQLite.
  require_user(user);
  return column(db_.query(
      "SELECT role FROM access_user_roles WHERE user_name = ? "
      "UNION SELECT r.role FROM access_group_roles r JOIN access_members m ON m.group_name = r.group_name "
      "WHERE m.user_name = ? ORDER BY 1",
      {user, user}));
}

// ---- the policy ------------------------------------------------------------------------------

void AccessControl::import_policy(const Policy& policy) {
  Policy::from_json(policy.to_json());  // a Policy built by hand gets the same checks as a file
  db_.execute(
      "INSERT INTO access_policy(id, version, body, updated_at) VALUES(1, 1, ?, ?) "
      "ON CONFLICT (id) DO UPDATE SET version = access_policy.version + 1, body = excluded.body, "
      "updated_at = excluded.updated_at",
      {policy.to_json().dump(), unix_now()});
  std::lock_guard lock(mutex_);
  cached_version_ = -1;  // reload on next use
}

std::shared_ptr<const CompiledPolicy> AccessControl::current() {
  std::lock_guard lock(mutex_);
  const int64_t now = steady_ms();
  if (cached_version_ >= 0 && now - checked_at_ms_ < recheck_ms_) return cached_;
  checked_at_ms_ = now;
  const auto rows = db_.query("SELECT version FROM access_policy WHERE id = 1");
  const int64_t version = rows.empty() ? 0 : rows[0][0].integer();
  if (version == cached_version_) return cached_;
  if (version == 0) {
    cached_.reset();
  } else {
    const auto body = db_.query("SELECT version, body FROM access_policy WHERE id = 1");
    if (body.empty()) throw Error(Error::Code::NotFound, "the access policy vanished while loading");
    cached_ = compile(Policy::parse(body[0][1].text()), body[0][0].integer());
  }
  cached_version_ = cached_ ? cached_->version : 0;
  return cached_;
}

std::optional<Policy> AccessControl::policy() {
  const auto p = current();
  if (!p) return std::nullopt;
  return p->policy;
}

bool AccessControl::enabled() { return current() != nullptr; }

// ---- decisions -------------------------------------------------------------------------------

Principal AccessControl::unrestricted() {
  Principal p;
  p.unrestricted = true;
  p.admin = true;
  return p;
}

Principal AccessControl::principal_for_roles(const std::vector<std::string>& roles) {
  auto policy = current();
  if (!policy) return unrestricted();
  Principal p;
  p.roles = roles;
  std::sort(p.roles.begin(), p.roles.end());
  p.roles.erase(std::unique(p.roles.begin(), p.roles.end()), p.roles.end());
  p.admin = std::binary_search(p.roles.begin(), p.roles.end(), std::string(kAdminRole));
  p.policy = std::move(policy);
  return p;
}

Principal AccessControl::principal_for_user(const std::string& user) {
  if (!current()) return unrestricted();
  std::vector<std::string> roles;
  try {
    roles = effective_roles(user);
  } catch (const Error& e) {
    if (e.code() != Error::Code::NotFound) throw;  // an unknown user holds no roles
  }
  Principal p = principal_for_roles(roles);
  p.user = user;
  return p;
}

Decision AccessControl::decide(const Principal& who, Permission what, std::string_view kb, std::string_view rel) {
  if (who.unrestricted) return {true, "", "unrestricted (no access policy imported)"};
  if (!who.policy) return {false, "", "no policy snapshot in this principal (deny)"};
  const auto* hit = match(*who.policy, kb, rel);
  const std::string perm = permission_name(what);
  if (!hit) return {false, "", "no resource key matches (default deny)"};
  const unsigned bits = granted(*who.policy, hit->second, who.roles);
  if (bits & bit(what)) {
    std::vector<std::string> via;
    for (const std::string& r : hit->second)
      if (std::binary_search(who.roles.begin(), who.roles.end(), r)) {
        const auto it = who.policy->role_bits.find(r);
        if (it != who.policy->role_bits.end() && (it->second & bit(what))) via.push_back(r);
      }
    return {true, hit->first, "allowed by \"" + hit->first + "\" through role " + join(via) + " (" + perm + ")"};
  }
  return {false, hit->first,
          "denied by \"" + hit->first + "\": it allows [" + join(hit->second) + "], none of which grants " + perm +
              " to roles [" + join(who.roles) + "]"};
}

bool AccessControl::allowed(const Principal& who, Permission what, std::string_view kb, std::string_view rel) {
  if (who.unrestricted) return true;
  if (!who.policy) return false;
  const auto* hit = match(*who.policy, kb, rel);
  return hit && (granted(*who.policy, hit->second, who.roles) & bit(what));
}

Decision AccessControl::decide_resource(const Principal& who, Permission what, std::string_view resource) {
  if (!valid_resource_key(resource))
    throw Error(Error::Code::Invalid, "resource '" + std::string(resource.substr(0, 80)) +
                                          "' is not \"kb\", \"kb/folder\", \"kb/path/to/doc.md\" or \"*\"");
  if (resource == "*") return decide(who, what, "", "");
  const size_t slash = resource.find('/');
  if (slash == std::string_view::npos) return decide(who, what, resource, "");
  return decide(who, what, resource.substr(0, slash), resource.substr(slash + 1));
}

bool AccessControl::can_see_kb(const Principal& who, std::string_view kb) {
  if (allowed(who, Permission::Read, kb)) return true;
  if (!who.policy) return false;
  const std::string prefix = std::string(kb) + "/";
  for (const auto& [key, roles] : who.policy->policy.resources)
    if (key.starts_with(prefix) && (granted(*who.policy, roles, who.roles) & bit(Permission::Read))) return true;
  return false;
}

std::optional<std::unordered_set<int64_t>> AccessControl::readable_documents(const Principal& who,
                                                                              kb::KnowledgeStore& store,
                                                                              const std::string& kb) {
  if (who.unrestricted) return std::nullopt;
  if (!who.policy) return std::unordered_set<int64_t>{};
  if (!who.policy->kbs_with_inner_keys.contains(kb)) {  // the kb's own key decides for all of it
    if (allowed(who, Permission::Read, kb)) return std::nullopt;
    return std::unordered_set<int64_t>{};
  }
  const kb::KbInfo info = store.get(kb);
  std::unordered_set<int64_t> out;
  for (const kb::DocumentInfo& d : store.documents(kb))
    if (allowed(who, Permission::Read, kb, document_resource_path(info, d.path))) out.insert(d.id);
  return out;
}

}  // namespace inhouse::access

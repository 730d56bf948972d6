// access — owns who may read, write and delete what: users, groups and the roles granted to
// them (tables in the shared database, so server replicas on PostgreSQL share them), and the
// access policy that says which permissions each role has and which roles are allowed on which
// knowledge bases, folders and documents. Decisions are default-deny once a policy exists.
//
// The policy, exactly this JSON form (file `inhouse role import FILE`, or the admin API):
//   {"roles": {"admin": ["read","write","delete"], "viewer": ["read"]},
//    "resources": {"financial_reports": ["admin"], "*": ["admin", "viewer"]}}
// - roles: role name -> its permissions, each one of "read", "write", "delete".
// - resources: resource key -> the roles allowed on it. A role listed on a resource has all of
//   its permissions there. Keys:
//     "<kb>"                 a knowledge base;
//     "<kb>/<folder>"        a folder, relative to the kb root it was added under;
//     "<kb>/<path/doc.md>"   a document, the same way (document_resource_path() computes it);
//     "*"                    everything no other key covers.
//   The most specific key matching a document decides (document > deeper folder > folder >
//   kb > "*"): a key is inherited downward unless a more specific key overrides it. Nothing
//   matching → deny.
//
// Two modes, explicit in the API:
// - Personal (no policy imported yet: enabled() is false): a single-user data directory;
//   every principal is unrestricted and every decision allows.
// - Enforced (once import_policy() has run: enabled() is true): decisions follow the policy.
//
// Administrators: a user holding the role named "admin" (directly or through a group) may use
// admin operations (Principal::admin). It has no document access beyond what the policy
// grants the "admin" role (list it on "*" for that).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "db/db.h"
#include "kb/kb.h"

namespace inhouse::access {

// Bad requests: unknown or duplicate user/group, invalid name. (db::Error passes through.)
class Error : public std::runtime_error {
 public:
  enum class Code { NotFound, AlreadyExists, Invalid };
  Error(Code code, const std::string& what) : std::runtime_error(what), code_(code) {}
  Code code() const { return code_; }

 private:
  Code code_;
};

// A malformed policy; what() names the offending field ("resources.\"kb/x\"[1]: ...").
class PolicyError : public Error {
 public:
  explicit PolicyError(const std::string& what) : Error(Code::Invalid, "invalid policy: " + what) {}
};

enum class Permission { Read, Write, Delete };
const char* permission_name(Permission p);                       // "read", "write", "delete"
std::optional<Permission> parse_permission(std::string_view name);  // nullopt for other names

// The role every administrator holds.
inline constexpr std::string_view kAdminRole = "admin";

// User, group and role names: 1-64 characters of [A-Za-z0-9_.@-].
bool valid_name(std::string_view name);

struct Policy {
  // role -> permissions (no duplicates), in the order given.
  std::map<std::string, std::vector<Permission>> roles;
  // resource key -> roles allowed on it (each defined in `roles`, no duplicates).
  std::map<std::string, std::vector<std::string>> resources;

  // Parses and validates the JSON text. Throws PolicyError: not JSON, not an object, a
  // top-level key other than "roles"/"resources" (both required), a duplicate key anywhere, an
  // invalid role name, a permission list that is not an array of "read"/"write"/"delete" or
  // repeats one, a bad resource key, a resource whose roles are not an array of defined role
  // names or repeat one.
  static Policy parse(std::string_view json_text);
  static Policy from_json(const nlohmann::json& j);  // the same checks on parsed JSON
  nlohmann::json to_json() const;                    // the same form parse() takes
};

// "*", or "<kb>" ([A-Za-z0-9_.-]{1,64}) optionally followed by "/<relative path>" (no empty,
// "." or ".." segment, no trailing "/", no control characters, at most 4096 bytes).
bool valid_resource_key(std::string_view key);

// The policy in the form decisions use (access.cpp).
struct CompiledPolicy;

// Who is asking, with roles resolved once (per request). Carries the policy snapshot it was
// made under, so one request's decisions are consistent even if the policy changes meanwhile.
struct Principal {
  std::string user;                // "" for an anonymous / role-only principal
  std::vector<std::string> roles;  // effective roles: own ∪ groups', sorted, unique
  bool unrestricted = false;       // personal mode (no policy): everything allowed
  bool admin = false;              // holds kAdminRole, or unrestricted
  std::shared_ptr<const CompiledPolicy> policy;  // null when unrestricted
};

// Which key decided and how.
struct Decision {
  bool allowed = false;
  std::string resource;  // the matching key ("" when none matched or unrestricted)
  std::string reason;    // one line for humans: "viewer allowed on kb/finance (read)", ...
};

struct User {
  std::string name;
  std::string display_name;  // free text, at most 200 bytes, no control characters
  std::string email;         // "" or one '@' with text either side, at most 254 bytes
  int64_t created_at = 0;    // unix seconds
  std::vector<std::string> roles;   // granted directly, sorted
  std::vector<std::string> groups;  // member of, sorted
};

struct Group {
  std::string name;
  int64_t created_at = 0;
  std::vector<std::string> roles;    // sorted
  std::vector<std::string> members;  // user names, sorted
};

// The resource path of a stored document within its kb: relative to the longest of the kb's
// roots that contains it (a root that is the file itself gives its file name), else the
// stored path itself without a leading '/' (uploads: their name).
std::string document_resource_path(const kb::KbInfo& kb, const std::string& stored_path);

// Users, groups and the policy in a SharedDatabase. Thread-safe. The policy is cached in
// memory and reloaded when its version row changes (another process or replica imported one);
// the version is checked by principal_for_user()/principal_for_roles(), enabled(), policy()
// and decide() at most once per `recheck_ms` (0 = every call).
class AccessControl {
 public:
  // Creates/migrates its tables (component "access"). `db` must outlive this.
  explicit AccessControl(db::SharedDatabase& db, int64_t recheck_ms = 1000);

  // ---- users and groups (throw Error: NotFound, AlreadyExists, Invalid) ----
  User add_user(const std::string& name, const std::string& display_name = "", const std::string& email = "",
                const std::vector<std::string>& roles = {});
  bool remove_user(const std::string& name);  // also its roles and memberships; false if unknown
  std::optional<User> find_user(const std::string& name);
  std::vector<User> users();  // by name
  Group add_group(const std::string& name, const std::vector<std::string>& roles = {});
  bool remove_group(const std::string& name);  // also its roles and memberships
  std::optional<Group> find_group(const std::string& name);
  std::vector<Group> groups();
  // Granting a role that the policy does not define is allowed (it grants nothing until a
  // policy defines it). Granting twice is a no-op; revoke returns false when not held.
  void grant_user_role(const std::string& user, const std::string& role);
  bool revoke_user_role(const std::string& user, const std::string& role);
  void grant_group_role(const std::string& group, const std::string& role);
  bool revoke_group_role(const std::string& group, const std::string& role);
  void add_member(const std::string& group, const std::string& user);
  bool remove_member(const std::string& group, const std::string& user);
  // Own roles ∪ roles of the user's groups, sorted; NotFound for an unknown user.
  std::vector<std::string> effective_roles(const std::string& user);

  // ---- the policy ----
  // Replaces roles and resources in one transaction and turns enforcement on.
  void import_policy(const Policy& policy);
  std::optional<Policy> policy();  // nullopt in personal mode
  bool enabled();                  // a policy has been imported

  // ---- decisions ----
  // Personal mode → unrestricted. Enforced → the user's effective roles; an unknown user gets
  // no roles (everything denied).
  Principal principal_for_user(const std::string& user);
  // A principal with exactly these roles (e.g. a client without a user, by its client role).
  Principal principal_for_roles(const std::vector<std::string>& roles);
  static Principal unrestricted();

  // On the kb itself (doc_rel_path "") or on a document/folder inside it (a path as
  // document_resource_path() gives).
  bool allowed(const Principal& who, Permission what, std::string_view kb, std::string_view doc_rel_path = "");
  Decision decide(const Principal& who, Permission what, std::string_view kb, std::string_view doc_rel_path = "");
  // `role check`: for a resource key as written in the policy ("kb", "kb/path", or "*").
  Decision decide_resource(const Principal& who, Permission what, std::string_view resource);
  // Whether the principal may read anything in the kb (the kb itself or some folder/document
  // key under it): what a kb listing should show.
  bool can_see_kb(const Principal& who, std::string_view kb);
  // The documents of `kb` the principal may read: nullopt = all of them (fast path when no
  // policy key is more specific than the kb, or unrestricted), else their ids (maybe empty).
  // The caller checks that the kb exists (the fast path does not read the store; the other
  // one passes kb::Error NotFound through).
  std::optional<std::unordered_set<int64_t>> readable_documents(const Principal& who, kb::KnowledgeStore& store,
                                                                const std::string& kb);

 private:
  std::shared_ptr<const CompiledPolicy> current();  // reloaded when the version changed
  void require_user(const std::string& name);
  void require_group(const std::string& name);

  db::SharedDatabase& db_;
  int64_t recheck_ms_;
  std::mutex mutex_;  // guards the cache below
  std::shared_ptr<const CompiledPolicy> cached_;
  int64_t cached_version_ = -1;  // -1: not loaded yet; 0: no policy row
  int64_t checked_at_ms_ = 0;    // steady clock
};

}  // namespace inhouse::access

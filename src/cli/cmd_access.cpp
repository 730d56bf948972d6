// inhouse user|group|role ...: users, groups and the access policy in the shared database (the
// data directory's inhouse.db, or the PostgreSQL server a --config's database_url names).
//   user add NAME [--display-name S] [--email E] [--role R]... | list | show NAME | rm NAME |
//        grant NAME ROLE | revoke NAME ROLE
//   group add NAME [--role R]... | list | show NAME | rm NAME | add-member GROUP USER |
//         remove-member GROUP USER | grant GROUP ROLE | revoke GROUP ROLE
//   role import FILE | export | list | check USER PERMISSION RESOURCE
// list/show/check take --json. Every subcommand takes --data-dir and --config.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "access/access.h"
#include "audit/audit.h"
#include "auth/auth.h"
#include "cli/access_common.h"
#include "cli/commands.h"
#include "server/server.h"

namespace inhouse::cli {
namespace {

using nlohmann::json;

struct AccessOptions {
  std::string data_dir, config;
  std::string name, member, role, file, permission, resource;
  std::string display_name, email;
  std::vector<std::string> roles;
  bool json = false;
};

// One open database with the stores over it, for one command.
struct Session {
  std::unique_ptr<db::SharedDatabase> db;
  access::AccessControl access;
  explicit Session(const AccessOptions& o) : db(open_shared_db(o.data_dir, o.config)), access(*db, 0) {}

  void changed(const std::string& resource, json details) { audit_access_change(*db, resource, std::move(details)); }
};

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ",") + s;
  return out.empty() ? "-" : out;
}

json user_json(const access::User& u) {
  return {{"name", u.name}, {"display_name", u.display_name}, {"email", u.email}, {"created_at", u.created_at},
          {"roles", u.roles}, {"groups", u.groups}};
}

json group_json(const access::Group& g) {
  return {{"name", g.name}, {"created_at", g.created_at}, {"roles", g.roles}, {"members", g.members}};
}

void print_json(const json& j) { std::printf("%s\n", j.dump(2).c_str()); }

// ---- user ------------------------------------------------------------------------------------

void user_add(const AccessOptions& o) {
  Session s(o);
  const access::User u = s.access.add_user(o.name, o.display_name, o.email, o.roles);
  s.changed("user:" + u.name, {{"op", "user.add"}, {"roles", u.roles}});
  std::printf("added user %s (roles: %s)\n", u.name.c_str(), joined(u.roles).c_str());
}

void user_list(const AccessOptions& o) {
  Session s(o);
  const auto users = s.access.users();
  if (o.json) {
    json arr = json::array();
    for (const auto& u : users) arr.push_back(user_json(u));
    return print_json(arr);
  }
  for (const auto& u : users)
    std::printf("%s\t%s\t%s\troles=%s\tgroups=%s\n", u.name.c_str(), u.display_name.c_str(), u.email.c_str(),
                joined(u.roles).c_str(), joined(u.groups).c_str());
}

void user_show(const AccessOptions& o) {
  Session s(o);
  const auto u = s.access.find_user(o.name);
  if (!u) throw std::runtime_error("no user named '" + o.name + "'");
  const auto effective = s.access.effective_roles(o.name);
  auth::ClientStore clients(*s.db);
  const auto own = clients.list_for_user(o.name);
  if (o.json) {
    json j = user_json(*u);
    j["effective_roles"] = effective;
    j["admin"] = std::find(effective.begin(), effective.end(), access::kAdminRole) != effective.end();
    json cl = json::array();
    for (const auto& c : own) cl.push_back({{"id", c.id}, {"name", c.name}, {"role", c.role}});
    j["clients"] = std::move(cl);
    return print_json(j);
  }
  std::printf("name: %s\ndisplay_name: %s\nemail: %s\ncreated_at: %lld\nroles: %s\ngroups: %s\n"
              "effective_roles: %s\n",
              u->name.c_str(), u->display_name.c_str(), u->email.c_str(), (long long)u->created_at,
              joined(u->roles).c_str(), joined(u->groups).c_str(), joined(effective).c_str());
  for (const auto& c : own) std::printf("client: %s\t%s\t%s\n", c.id.c_str(), c.name.c_str(), c.role.c_str());
}

void user_rm(const AccessOptions& o) {
  Session s(o);
  if (!s.access.remove_user(o.name)) throw std::runtime_error("no user named '" + o.name + "'");
  auth::ClientStore clients(*s.db);
  const size_t n = clients.remove_for_user(o.name);
  s.changed("user:" + o.name, {{"op", "user.remove"}, {"clients_removed", n}});
  std::printf("removed user %s (and %zu client%s)\n", o.name.c_str(), n, n == 1 ? "" : "s");
}

void user_grant(const AccessOptions& o, bool grant) {
  Session s(o);
  if (grant) {
    s.access.grant_user_role(o.name, o.role);
  } else if (!s.access.revoke_user_role(o.name, o.role)) {
    throw std::runtime_error("user '" + o.name + "' does not hold role '" + o.role + "' directly");
  }
  s.changed("user:" + o.name, {{"op", grant ? "role.grant" : "role.revoke"}, {"role", o.role}});
  std::printf("%s: roles %s\n", o.name.c_str(), joined(s.access.find_user(o.name)->roles).c_str());
}

// ---- group -----------------------------------------------------------------------------------

void group_add(const AccessOptions& o) {
  Session s(o);
  const access::Group g = s.access.add_group(o.name, o.roles);
  s.changed("group:" + g.name, {{"op", "group.add"}, {"roles", g.roles}});
  std::printf("added group %s (roles: %s)\n", g.name.c_str(), joined(g.roles).c_str());
}

void group_list(const AccessOptions& o) {
  Session s(o);
  const auto groups = s.access.groups();
  if (o.json) {
    json arr = json::array();
    for (const auto& g : groups) arr.push_back(group_json(g));
    return print_json(arr);
  }
  for (const auto& g : groups)
    std::printf("%s\troles=%s\tmembers=%s\n", g.name.c_str(), joined(g.roles).c_str(), joined(g.members).c_str());
}

void group_show(const AccessOptions& o) {
  Session s(o);
  const auto g = s.access.find_group(o.name);
  if (!g) throw std::runtime_error("no group named '" + o.name + "'");
  if (o.json) return print_json(group_json(*g));
  std::printf("name: %s\nroles: %s\nmembers: %s\n", g->name.c_str(), joined(g->roles).c_str(),
              joined(g->members).c_str());
}

void group_rm(const AccessOptions& o) {
  Session s(o);
  if (!s.access.remove_group(o.name)) throw std::runtime_error("no group named '" + o.name + "'");
  s.changed("group:" + o.name, {{"op", "group.remove"}});
  std::printf("removed group %s\n", o.name.c_str());
}

void group_member(const AccessOptions& o, bool add) {
  Session s(o);
  if (add) {
    s.access.add_member(o.name, o.member);
  } else if (!s.access.remove_member(o.name, o.member)) {
    throw std::runtime_error("user '" + o.member + "' is not a member of group '" + o.name + "'");
  }
  s.changed("group:" + o.name, {{"op", add ? "member.add" : "member.remove"}, {"user", o.member}});
  std::printf("%s: members %s\n", o.name.c_str(), joined(s.access.find_group(o.name)->members).c_str());
}

void group_grant(const AccessOptions& o, bool grant) {
  Session s(o);
  if (grant) {
    s.access.grant_group_role(o.name, o.role);
  } else if (!s.access.revoke_group_role(o.name, o.role)) {
    throw std::runtime_error("group '" + o.name + "' does not hold role '" + o.role + "'");
  }
  s.changed("group:" + o.name, {{"op", grant ? "role.grant" : "role.revoke"}, {"role", o.role}});
  std::printf("%s: roles %s\n", o.name.c_str(), joined(s.access.find_group(o.name)->roles).c_str());
}

// ---- role ------------------------------------------------------------------------------------

void role_import(const AccessOptions& o) {
  std::ifstream in(o.file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + o.file);
  std::ostringstream text;
  text << in.rdbuf();
  const access::Policy policy = [&] {  // parse before opening anything: bad input changes nothing
    try {
      return access::Policy::parse(text.str());
    } catch (const access::PolicyError& e) {
      throw std::runtime_error(o.file + ": " + e.what());
    }
  }();
  Session s(o);
  s.access.import_policy(policy);
  s.changed("policy", {{"op", "policy.import"}, {"policy", policy.to_json()}});
  std::printf("imported %zu roles and %zu resources from %s; access control is enforced (default deny)\n",
              policy.roles.size(), policy.resources.size(), o.file.c_str());
  bool has_admin = false;
  for (const auto& u : s.access.users()) {
    const auto roles = s.access.effective_roles(u.name);
    has_admin = has_admin || std::find(roles.begin(), roles.end(), access::kAdminRole) != roles.end();
  }
  if (!has_admin)
    std::fprintf(stderr, "warning: no user holds the '%s' role; grant it (inhouse user grant NAME %s) "
                         "so someone can administer access\n",
                 std::string(access::kAdminRole).c_str(), std::string(access::kAdminRole).c_str());
}

void role_export(const AccessOptions& o) {
  Session s(o);
  const auto p = s.access.policy();
  if (!p) throw std::runtime_error("no access policy imported (access control is off: everything is allowed)");
  print_json(p->to_json());
}

void role_list(const AccessOptions& o) {
  Session s(o);
  const auto p = s.access.policy();
  if (o.json) return print_json(p ? p->to_json() : json(nullptr));
  if (!p) {
    std::printf("no access policy imported: access control is off and everything is allowed\n");
    return;
  }
  for (const auto& [role, perms] : p->roles) {
    std::vector<std::string> names;
    for (auto perm : perms) names.push_back(access::permission_name(perm));
    std::printf("role %s\t%s\n", role.c_str(), joined(names).c_str());
  }
  for (const auto& [key, roles] : p->resources) std::printf("resource %s\t%s\n", key.c_str(), joined(roles).c_str());
}

void role_check(const AccessOptions& o) {
  const auto perm = access::parse_permission(o.permission);
  if (!perm) throw std::runtime_error("permission '" + o.permission + "' is not read, write or delete");
  Session s(o);
  if (s.access.enabled() && !s.access.find_user(o.name)) throw std::runtime_error("no user named '" + o.name + "'");
  const access::Principal who = s.access.principal_for_user(o.name);
  const access::Decision d = s.access.decide_resource(who, *perm, o.resource);
  if (o.json)
    return print_json({{"user", o.name}, {"permission", o.permission}, {"resource", o.resource},
                       {"allowed", d.allowed}, {"decided_by", d.resource}, {"roles", who.roles}, {"reason", d.reason}});
  std::printf("%s\n%s\n", d.allowed ? "allow" : "deny", d.reason.c_str());
}

// ---- registration ----------------------------------------------------------------------------

CLI::App* sub(CLI::App* parent, const char* name, const char* help, AccessOptions& o) {
  auto* cmd = parent->add_subcommand(name, help);
  cmd->add_option("--data-dir", o.data_dir, "Data directory (default: the config's, $INHOUSE_DATA_DIR or ~/.local/share/inhouse)");
  cmd->add_option("--config", o.config, "inhouse.toml whose data_dir / database_url to use")->check(CLI::ExistingFile);
  return cmd;
}

void register_user(CLI::App& app, std::shared_ptr<AccessOptions> o) {
  auto* cmd = app.add_subcommand("user", "Manage users (people whose clients and roles decide what they may access)");
  cmd->require_subcommand(1);
  auto* a = sub(cmd, "add", "Add a user", *o);
  a->add_option("name", o->name, "User name (1-64 of A-Z a-z 0-9 _ . @ -)")->required();
  a->add_option("--display-name", o->display_name, "Full name");
  a->add_option("--email", o->email, "Email address");
  a->add_option("--role", o->roles, "A role to grant (repeatable)");
  a->callback([o] { user_add(*o); });
  auto* l = sub(cmd, "list", "List users with their roles and groups", *o);
  l->add_flag("--json", o->json, "Print JSON");
  l->callback([o] { user_list(*o); });
  auto* s = sub(cmd, "show", "Show a user, its effective roles and clients", *o);
  s->add_option("name", o->name, "User name")->required();
  s->add_flag("--json", o->json, "Print JSON");
  s->callback([o] { user_show(*o); });
  auto* r = sub(cmd, "rm", "Remove a user, its roles, group memberships and clients", *o);
  r->add_option("name", o->name, "User name")->required();
  r->callback([o] { user_rm(*o); });
  for (const bool grant : {true, false}) {
    auto* g = sub(cmd, grant ? "grant" : "revoke", grant ? "Grant a role to a user" : "Revoke a user's role", *o);
    g->add_option("name", o->name, "User name")->required();
    g->add_option("role", o->role, "Role")->required();
    g->callback([o, grant] { user_grant(*o, grant); });
  }
}

void register_group(CLI::App& app, std::shared_ptr<AccessOptions> o) {
  auto* cmd = app.add_subcommand("group", "Manage groups (their roles apply to every member)");
  cmd->require_subcommand(1);
  auto* a = sub(cmd, "add", "Add a group", *o);
  a->add_option("name", o->name, "Group name")->required();
  a->add_option("--role", o->roles, "A role to grant (repeatable)");
  a->callback([o] { group_add(*o); });
  auto* l = sub(cmd, "list", "List groups with their roles and members", *o);
  l->add_flag("--json", o->json, "Print JSON");
  l->callback([o] { group_list(*o); });
  auto* s = sub(cmd, "show", "Show a group", *o);
  s->add_option("name", o->name, "Group name")->required();
  s->add_flag("--json", o->json, "Print JSON");
  s->callback([o] { group_show(*o); });
  auto* r = sub(cmd, "rm", "Remove a group (members keep their own roles)", *o);
  r->add_option("name", o->name, "Group name")->required();
  r->callback([o] { group_rm(*o); });
  for (const bool add : {true, false}) {
    auto* m = sub(cmd, add ? "add-member" : "remove-member", add ? "Add a user to a group" : "Remove a user from a group", *o);
    m->add_option("group", o->name, "Group name")->required();
    m->add_option("user", o->member, "User name")->required();
    m->callback([o, add] { group_member(*o, add); });
  }
  for (const bool grant : {true, false}) {
    auto* g = sub(cmd, grant ? "grant" : "revoke", grant ? "Grant a role to a group" : "Revoke a group's role", *o);
    g->add_option("group", o->name, "Group name")->required();
    g->add_option("role", o->role, "Role")->required();
    g->callback([o, grant] { group_grant(*o, grant); });
  }
}

void register_role(CLI::App& app, std::shared_ptr<AccessOptions> o) {
  auto* cmd = app.add_subcommand("role", "Manage the access policy: roles, their permissions and resource ACLs");
  cmd->require_subcommand(1);
  auto* i = sub(cmd, "import", "Replace the policy with a JSON file (a malformed file changes nothing)", *o);
  i->add_option("file", o->file, R"(Policy: {"roles": {"viewer": ["read"]}, "resources": {"kb": ["viewer"]}})")->required();
  i->callback([o] { role_import(*o); });
  auto* e = sub(cmd, "export", "Print the policy as JSON (the form import takes)", *o);
  e->callback([o] { role_export(*o); });
  auto* l = sub(cmd, "list", "List roles with their permissions and resources with their roles", *o);
  l->add_flag("--json", o->json, "Print JSON (null when no policy)");
  l->callback([o] { role_list(*o); });
  auto* c = sub(cmd, "check", "Whether a user may read/write/delete a resource, and which key decided", *o);
  c->add_option("user", o->name, "User name")->required();
  c->add_option("permission", o->permission, "read, write or delete")->required();
  c->add_option("resource", o->resource, "\"kb\", \"kb/folder\", \"kb/path/to/doc.md\" or \"*\"")->required();
  c->add_flag("--json", o->json, "Print JSON");
  c->callback([o] { role_check(*o); });
}

}  // namespace

std::string cli_actor() {
  const char* login = getlogin();
  if (!login) login = std::getenv("USER");
  return std::string("cli:") + (login && *login ? login : "unknown");
}

void audit_access_change(db::SharedDatabase& db, const std::string& resource, nlohmann::json details) {
  audit::Event e;
  e.actor = cli_actor();
  e.action = audit::kAccessChange;
  e.resource = resource;
  e.source = "cli";
  e.details = std::move(details);
  audit::AuditLog(db).append(e);
}

std::unique_ptr<db::SharedDatabase> open_shared_db(const std::string& data_dir, const std::string& config) {
  std::string dir = data_dir;
  if (!config.empty()) {
    const server::ServerConfig c = server::load_config(config);
    if (!c.database_url.empty()) return db::open_shared(c.database_url);
    if (dir.empty()) dir = c.data_dir.string();
  }
  const std::filesystem::path data = server::resolve_data_dir(dir);
  std::filesystem::create_directories(data);
  return db::open_shared_sqlite(data / "inhouse.db");
}

void register_access(CLI::App& app) {
  auto o = std::make_shared<AccessOptions>();
  register_user(app, o);
  register_group(app, o);
  register_role(app, o);
}

}  // namespace inhouse::cli

// server/routes_admin.cpp — who a caller is to the access policy, the audit trail of what they
// do, housekeeping (storage tiers, retention dates), and the administrators' API:
//   GET|POST   /api/v1/admin/users                 list | add {"name", "display_name"?, "email"?, "roles"?}
//   GET|DELETE /api/v1/admin/users/NAME            show | remove (with the user's clients)
//   POST       /api/v1/admin/users/NAME/roles      grant {"role"}
//   DELETE     /api/v1/admin/users/NAME/roles/R    revoke
//   GET|POST   /api/v1/admin/groups                list | add {"name", "roles"?}
//   DELETE     /api/v1/admin/groups/NAME           remove
//   POST       /api/v1/admin/groups/NAME/members   add {"user"};  DELETE .../members/USER
//   POST       /api/v1/admin/groups/NAME/roles     grant {"role"}; DELETE .../roles/R
//   GET|PUT    /api/v1/admin/policy                the policy JSON | replace it (validated first)
//   GET|POST   /api/v1/admin/clients               list | add {"name", "role", "user"?} (secret shown once)
//   DELETE     /api/v1/admin/clients/ID            remove
//   GET        /api/v1/admin/audit                 JSON lines; ?actor= &action= &since_ms= &until_ms= &limit=
//   GET        /api/v1/admin/audit/verify          the hash chain's check
//   GET        /api/v1/admin/privacy/export?user=U everything stored about a user
//   POST       /api/v1/admin/privacy/erase         {"user"}: erase a user and their data
//   GET        /api/v1/admin/privacy/scan?kb=K     documents holding personal data
// Every route needs an administrator (a user with the "admin" role; anyone in personal mode),
// and every change is audited as access.change (or privacy.erase).
#include <cstring>
#include <sstream>

#include "privacy/privacy.h"
#include "server/server_impl.h"

namespace inhouse::server {
namespace {

using nlohmann::json;

const char* kNameRe = R"(([A-Za-z0-9_.@\-]{1,64}))";

std::string admin_route(const std::string& tail) { return "/api/v1/admin" + tail; }

// access's errors as HTTP errors.
template <typename F>
auto access_call(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const access::PolicyError& e) {
    throw bad_request(e.what());
  } catch (const access::Error& e) {
    switch (e.code()) {
      case access::Error::Code::NotFound: throw not_found(e.what());
      case access::Error::Code::AlreadyExists: throw ApiError{409, e.what(), {}, "conflict_error"};
      case access::Error::Code::Invalid: throw bad_request(e.what());
    }
    throw;
  } catch (const auth::Error& e) {
    throw bad_request(e.what());
  }
}

json user_json(const access::User& u) {
  return {{"name", u.name}, {"display_name", u.display_name}, {"email", u.email},
          {"created_at", u.created_at}, {"roles", u.roles}, {"groups", u.groups}};
}

json group_json(const access::Group& g) {
  return {{"name", g.name}, {"created_at", g.created_at}, {"roles", g.roles}, {"members", g.members}};
}

json client_json(const auth::Client& c) {
  return {{"id", c.id}, {"name", c.name}, {"role", c.role}, {"user", c.user}, {"created_at", c.created_at}};
}

std::optional<int64_t> int_param(const httplib::Request& req, const char* name) {
  if (!req.has_param(name)) return std::nullopt;
  const std::string v = req.get_param_value(name);
  try {
    size_t used = 0;
    const int64_t n = std::stoll(v, &used);
    if (used == v.size() && n >= 0) return n;
  } catch (const std::exception&) {
  }
  throw bad_request("query parameter '" + std::string(name) + "' must be a non-negative integer");
}

}  // namespace

access::Principal Server::Impl::who(const Caller& c) {
  if (!c.user.empty()) return access->principal_for_user(c.user);
  if (!access->enabled()) return access::AccessControl::unrestricted();
  if (c.authenticated) return access->principal_for_roles({c.role});  // a service client: its role
  return access->principal_for_roles({});  // anonymous: nothing
}

void Server::Impl::audit(const Caller& c, const std::string& action, const std::string& resource,
                         const std::string& result, json details) {
  audit::Event e;
  e.actor = !c.user.empty() ? c.user : c.client;
  e.action = action;
  e.resource = resource;
  e.source = c.peer_addr + ":" + std::to_string(c.peer_port);
  e.result = result;
  if (!c.client.empty() && c.client != e.actor) details["client"] = c.client;
  e.details = std::move(details);
  audit_log->append(e);
}

void Server::Impl::require_admin(const Caller& c, const std::string& action) {
  if (who(c).admin) return;
  audit(c, action, "admin", audit::kDenied);
  throw forbidden("this needs an administrator (a user with the \"admin\" role)");
}

void Server::Impl::housekeeping_once() {
  try {
    if (config.warm_after_seconds > 0 || config.cold_after_seconds > 0)
      kb_store->apply_tier_policy(config.warm_after_seconds, config.cold_after_seconds, unix_now());
    privacy::enforce_retention(*kb_store, *audit_log, privacy::today_utc());
  } catch (const std::exception& e) {  // logged and retried next round; serving goes on
    std::fprintf(stderr, "inhouse: housekeeping: %s\n", e.what());
  }
}

void Server::Impl::install_admin_routes() {
  // Wraps an admin handler: admission, the administrator check, access's errors.
  auto admin = [this](std::string what, std::function<void(const Caller&, const httplib::Request&, httplib::Response&)> h) {
    return guard([this, what, h](const httplib::Request& req, httplib::Response& res) {
      const Caller caller = admit(req);
      require_admin(caller, what);
      access_call([&] { h(caller, req, res); });
    });
  };
  auto body_of = [](const httplib::Request& req) { return Fields::parse(req.body); };
  auto change = [this](const Caller& c, const std::string& resource, json details) {
    audit(c, audit::kAccessChange, resource, audit::kOk, std::move(details));
  };

  // ---- users ----
  http->Get(admin_route("/users"), admin("admin.users", [this](const Caller&, const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    for (const auto& u : access->users()) out.push_back(user_json(u));
    send_json(res, {{"object", "list"}, {"data", out}});
  }));
  http->Post(admin_route("/users"), admin("admin.users", [=, this](const Caller& c, const httplib::Request& req, httplib::Response& res) {
    const json body = body_of(req);
    const Fields f(body);
    const access::User u = access->add_user(f.required_string("name"), f.string("display_name").value_or(""),
                                            f.string("email").value_or(""), f.strings("roles", 64));
    change(c, "user:" + u.name, {{"op", "user.add"}, {"roles", u.roles}});
    send_json(res, user_json(u), 201);
  }));
  http->Get(admin_route(std::string("/users/") + kNameRe), admin("admin.users", [this](const Caller&, const httplib::Request& req, httplib::Response& res) {
    const auto u = access->find_user(req.matches[1]);
    if (!u) throw not_found("no user '" + std::string(req.matches[1]) + "'");
    send_json(res, user_json(*u));
  }));
  http->Delete(admin_route(std::string("/users/") + kNameRe), admin("admin.users", [=, this](const Caller& c, const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    if (!access->remove_user(name)) throw not_found("no user '" + name + "'");
    const size_t n = clients->remove_for_user(name);
    change(c, "user:" + name, {{"op", "user.remove"}, {"clients_removed", n}});
    send_json(res, {{"deleted", name}, {"clients_removed", n}});
  }));

  // ---- groups ----
  http->Get(admin_route("/groups"), admin("admin.groups", [this](const Caller&, const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    for (const auto& g : access->groups()) out.push_back(group_json(g));
    send_json(res, {{"object", "list"}, {"data", out}});
  }));
  http->Post(admin_route("/groups"), admin("admin.groups", [=, this](const Caller& c, const httplib::Request& req, httplib::Response& res) {
    const json body = body_of(req);
    const Fields f(body);
    const access::Group g = access->add_group(f.required_string("name"), f.strings("roles", 64));
    change(c, "group:" + g.name, {{"op", "group.add"}, {"roles", g.roles}});
    send_json(res, group_json(g), 201);
  }));
  http->Delete(admin_route(std::string("/groups/") + kNameRe), admin("admin.groups", [=, this](const Caller& c, const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    if (!access->remove_group(name)) throw not_found("no group '" + name + "'");
    change(c, "group:" + name, {{"op", "group.remove"}});
    send_json(res, {{"deleted", name}});
  }));
  // ---- role grants of users and groups, group members ----
  // POST /api/v1/admin/OWNERS/NAME/ITEMS {"FIELD": X} adds, DELETE .../ITEMS/X removes.
  struct Relation {
    const char* owners;  // "users" | "groups"
    const char* items;   // "roles" | "members"
    const char* field;   // "role" | "user"
    std::function<void(const std::string&, const std::string&)> add;
    std::function<bool(const std::string&, const std::string&)> remove;
    std::function<json(const std::string&)> show;
  };
  auto show_user = [this](const std::string& n) { return user_json(*access->find_user(n)); };
  auto show_group = [this](const std::string& n) { return group_json(*access->find_group(n)); };
  const Relation relations[] = {
      {"users", "roles", "role", [this](auto& n, auto& r) { access->grant_user_role(n, r); },
       [this](auto& n, auto& r) { return access->revoke_user_role(n, r); }, show_user},
      {"groups", "roles", "role", [this](auto& n, auto& r) { access->grant_group_role(n, r); },
       [this](auto& n, auto& r) { return access->revoke_group_role(n, r); }, show_group},
      {"groups", "members", "user", [this](auto& n, auto& u) { access->add_member(n, u); },
       [this](auto& n, auto& u) { return access->remove_member(n, u); }, show_group},
  };
  for (const Relation& rel : relations) {
    const std::string base = std::string("/") + rel.owners + "/" + kNameRe + "/" + rel.items;
    const std::string what = std::string("admin.") + rel.owners;
    const std::string resource = std::string(rel.owners).substr(0, std::strlen(rel.owners) - 1) + ":";
    const std::string op = std::string(rel.items) == "roles" ? "role." : "member.";
    http->Post(admin_route(base), admin(what, [=, this](const Caller& c, const httplib::Request& req, httplib::Response& res) {
      const std::string name = req.matches[1];
      const json body = body_of(req);
      const std::string item = Fields(body).required_string(rel.field);
      rel.add(name, item);
      change(c, resource + name, {{"op", op + (op == "role." ? "grant" : "add")}, {rel.field, item}});
      send_json(res, rel.show(name));
    }));
    http->Delete(admin_route(base + "/" + kNameRe), admin(what, [=, this](const Caller& c, const httplib::Request& req, httplib::Response& res) {
      const std::string name = req.matches[1], item = req.matches[2];
      if (!rel.remove(name, item))
        throw not_found(std::string(rel.owners) + " '" + name + "' has no " + rel.field + " '" + item + "'");
      change(c, resource + name, {{"op", op + (op == "role." ? "revoke" : "remove")}, {rel.field, item}});
      send_json(res, rel.show(name));
    }));
  }

  // ---- policy ----
  http->Get(admin_route("/policy"), admin("admin.policy", [this](const Caller&, const httplib::Request&, httplib::Response& res) {
    const auto p = access->policy();
    send_json(res, p ? p->to_json() : json{{"roles", json::object()}, {"resources", json::object()}, {"enforced", false}});
  }));
  http->Put(admin_route("/policy"), admin("admin.policy", [=, this](const Caller& c, const httplib::Request& req, httplib::Response& res) {
    const access::Policy p = access::Policy::parse(req.body);  // PolicyError → 400, nothing changed
    access->import_policy(p);
    change(c, "policy", {{"op", "policy.import"}, {"policy", p.to_json()}});
    send_json(res, p.to_json());
  }));

  // ---- clients ----
  http->Get(admin_route("/clients"), admin("admin.clients", [this](const Caller&, const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    for (const auto& cl : clients->list()) out.push_back(client_json(cl));
    send_json(res, {{"object", "list"}, {"data", out}});
  }));
  http->Post(admin_route("/clients"), admin("admin.clients", [=, this](const Caller& c, const httplib::Request& req, httplib::Response& res) {
    const json body = body_of(req);
    const Fields f(body);
    const std::string user = f.string("user").value_or("");
    if (!user.empty() && !access->find_user(user)) throw not_found("no user '" + user + "'");
    const auth::NewClient nc = clients->add(f.required_string("name"), f.required_string("role"), user);
    change(c, "client:" + nc.client.name, {{"op", "client.add"}, {"role", nc.client.role}, {"user", user}});
    json out = client_json(nc.client);
    out["client_secret"] = nc.secret;
    out["api_key"] = nc.api_key;
    res.set_header("Cache-Control", "no-store");
    send_json(res, out, 201);
  }));
  http->Delete(admin_route(R"(/clients/(cl_[0-9a-f]{1,64}))"), admin("admin.clients", [=, this](const Caller& c, const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    const auto cl = clients->find(id);
    if (!cl || !clients->remove(id)) throw not_found("no client '" + id + "'");
    change(c, "client:" + cl->name, {{"op", "client.remove"}});
    send_json(res, {{"deleted", id}});
  }));

  // ---- audit ----
  http->Get(admin_route("/audit"), admin("admin.audit", [this](const Caller&, const httplib::Request& req, httplib::Response& res) {
    audit::Filter f;
    if (req.has_param("actor")) f.actor = req.get_param_value("actor");
    if (req.has_param("action")) f.action = req.get_param_value("action");
    f.since_ms = int_param(req, "since_ms");
    f.until_ms = int_param(req, "until_ms");
    if (const auto limit = int_param(req, "limit")) {
      f.limit = size_t(*limit);
      f.newest = true;
    }
    std::ostringstream out;
    audit_log->export_jsonl(out, f);
    res.set_content(out.str(), "application/x-ndjson");
  }));
  http->Get(admin_route("/audit/verify"), admin("admin.audit", [this](const Caller&, const httplib::Request&, httplib::Response& res) {
    const audit::VerifyReport r = audit_log->verify();
    send_json(res, {{"ok", r.ok}, {"entries", r.entries}, {"first_bad_seq", r.first_bad_seq}, {"problem", r.problem},
                    {"head", {{"seq", r.head.seq}, {"hash", r.head.hash}}}});
  }));

  // ---- data-subject requests ----
  const privacy::Stores stores{*access, *clients, *audit_log, *kb_store};
  http->Get(admin_route("/privacy/export"), admin("admin.privacy", [=, this](const Caller& c, const httplib::Request& req, httplib::Response& res) {
    const std::string user = req.get_param_value("user");
    if (!access::valid_name(user)) throw bad_request("query parameter 'user' must name a user");
    json out = privacy::export_user(stores, user);
    audit(c, "privacy.export", "user:" + user);
    send_json(res, out);
  }));
  http->Post(admin_route("/privacy/erase"), admin("admin.privacy", [=, this](const Caller& c, const httplib::Request& req, httplib::Response& res) {
    const json body = body_of(req);
    const std::string user = Fields(body).required_string("user");
    const std::string by = !c.user.empty() ? c.user : c.client;
    const privacy::Erasure e = privacy::erase_user(stores, user, by, c.peer_addr);
    send_json(res, {{"user", user}, {"user_existed", e.user_existed}, {"clients", e.clients},
                    {"documents", e.documents}, {"audit_entries", e.audit_entries}});
  }));
  http->Get(admin_route("/privacy/scan"), admin("admin.privacy", [this](const Caller& c, const httplib::Request& req, httplib::Response& res) {
    const std::string kb_name = req.get_param_value("kb");
    if (kb_name.empty()) throw bad_request("query parameter 'kb' is required");
    privacy::KbScan scan;
    try {
      scan = privacy::scan_kb(*kb_store, kb_name);
    } catch (const kb::Error& e) {
      throw not_found(e.what());
    }
    audit(c, "privacy.scan", "kb:" + kb_name);
    send_json(res, privacy::scan_json(scan));
  }));
}

}  // namespace inhouse::server

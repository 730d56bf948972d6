// inhouse client add NAME --role ROLE [--user USER] | list | rm NAME [--data-dir DIR] [--config
// FILE]: the API clients in the shared database (the data directory's inhouse.db, or the
// config's database_url). `add` prints the secret once, alone on the last line.
#include <cstdio>
#include <memory>

#include "access/access.h"
#include "auth/auth.h"
#include "cli/access_common.h"
#include "cli/commands.h"

namespace inhouse::cli {
namespace {

struct ClientOptions {
  std::string name, role = "viewer", user, data_dir, config;
  bool json = false;
};

void add(const ClientOptions& o) {
  auto db = open_shared_db(o.data_dir, o.config);
  if (!o.user.empty()) {
    access::AccessControl users(*db);
    if (!users.find_user(o.user))
      throw std::runtime_error("no user named '" + o.user + "' (add it first: inhouse user add " + o.user + ")");
  }
  auth::ClientStore store(*db);
  const auth::NewClient c = store.add(o.name, o.role, o.user);
  audit_access_change(*db, "client:" + c.client.name, {{"op", "client.add"}, {"role", c.client.role}, {"user", o.user}});
  std::printf("client_id: %s\nname: %s\nrole: %s\nuser: %s\napi_key: %s\n"
              "The secret is shown only now; store it safely:\n%s\n",
              c.client.id.c_str(), c.client.name.c_str(), c.client.role.c_str(),
              c.client.user.empty() ? "-" : c.client.user.c_str(), c.api_key.c_str(), c.secret.c_str());
}

void list(const ClientOptions& o) {
  auto db = open_shared_db(o.data_dir, o.config);
  auth::ClientStore store(*db);
  for (const auth::Client& c : store.list())
    std::printf("%s\t%s\t%s\t%s\n", c.id.c_str(), c.name.c_str(), c.role.c_str(), c.user.empty() ? "-" : c.user.c_str());
}

void remove(const ClientOptions& o) {
  auto db = open_shared_db(o.data_dir, o.config);
  auth::ClientStore store(*db);
  auto c = store.find_by_name(o.name);
  if (!c) c = store.find(o.name);
  if (!c || !store.remove(c->id)) throw std::runtime_error("no client named '" + o.name + "'");
  audit_access_change(*db, "client:" + c->name, {{"op", "client.remove"}});
  std::printf("removed %s (%s)\n", c->name.c_str(), c->id.c_str());
}

void add_store_options(CLI::App* cmd, ClientOptions& o) {
  cmd->add_option("--data-dir", o.data_dir, "Data directory");
  cmd->add_option("--config", o.config, "inhouse.toml whose data_dir / database_url to use")->check(CLI::ExistingFile);
}

}  // namespace

void register_client(CLI::App& app) {
  auto o = std::make_shared<ClientOptions>();
  auto* cmd = app.add_subcommand("client", "Manage API clients (credentials for /api/v1/auth and API keys)");
  cmd->require_subcommand(1);
  auto* a = cmd->add_subcommand("add", "Create a client and print its secret once");
  a->add_option("name", o->name, "Client name")->required();
  a->add_option("--role", o->role, "Role (decides rate limits and permissions)")->capture_default_str();
  a->add_option("--user", o->user, "The user this client acts for (see `inhouse user`)");
  add_store_options(a, *o);
  a->callback([o] { add(*o); });
  auto* l = cmd->add_subcommand("list", "List clients (id, name, role, user)");
  add_store_options(l, *o);
  l->callback([o] { list(*o); });
  auto* r = cmd->add_subcommand("rm", "Remove a client (by name or id); its tokens stop working");
  r->add_option("name", o->name, "Client name or id")->required();
  add_store_options(r, *o);
  r->callback([o] { remove(*o); });
}

}  // namespace inhouse::cli

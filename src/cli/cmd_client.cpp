// inhouse client add NAME --role ROLE | list | rm NAME [--data-dir DIR]: the API clients in the
// data directory's database. `add` prints the secret once, alone on the last line.
#include <cstdio>
#include <memory>

#include "auth/auth.h"
#include "cli/commands.h"
#include "server/server.h"

namespace inhouse::cli {
namespace {

struct ClientOptions {
  std::string name, role = "viewer", data_dir;
  bool json = false;
};

db::Database open_db(const ClientOptions& o) {
  return db::Database::open(server::resolve_data_dir(o.data_dir) / "inhouse.db");
}

void add(const ClientOptions& o) {
  db::Database db = open_db(o);
  auth::ClientStore store(db);
  const auth::NewClient c = store.add(o.name, o.role);
  std::printf("client_id: %s\nname: %s\nrole: %s\napi_key: %s\n"
              "The secret is shown only now; store it safely:\n%s\n",
              c.client.id.c_str(), c.client.name.c_str(), c.client.role.c_str(), c.api_key.c_str(),
              c.secret.c_str());
}

void list(const ClientOptions& o) {
  db::Database db = open_db(o);
  auth::ClientStore store(db);
  for (const auth::Client& c : store.list())
    std::printf("%s\t%s\t%s\n", c.id.c_str(), c.name.c_str(), c.role.c_str());
}

void remove(const ClientOptions& o) {
  db::Database db = open_db(o);
  auth::ClientStore store(db);
  auto c = store.find_by_name(o.name);
  if (!c) c = store.find(o.name);
  if (!c || !store.remove(c->id)) throw std::runtime_error("no client named '" + o.name + "'");
  std::printf("removed %s (%s)\n", c->name.c_str(), c->id.c_str());
}

}  // namespace

void register_client(CLI::App& app) {
  auto o = std::make_shared<ClientOptions>();
  auto* cmd = app.add_subcommand("client", "Manage API clients (credentials for /api/v1/auth and API keys)");
  cmd->require_subcommand(1);
  auto* a = cmd->add_subcommand("add", "Create a client and print its secret once");
  a->add_option("name", o->name, "Client name")->required();
  a->add_option("--role", o->role, "Role (decides rate limits and permissions)")->capture_default_str();
  a->add_option("--data-dir", o->data_dir, "Data directory");
  a->callback([o] { add(*o); });
  auto* l = cmd->add_subcommand("list", "List clients (id, name, role)");
  l->add_option("--data-dir", o->data_dir, "Data directory");
  l->callback([o] { list(*o); });
  auto* r = cmd->add_subcommand("rm", "Remove a client (by name or id); its tokens stop working");
  r->add_option("name", o->name, "Client name or id")->required();
  r->add_option("--data-dir", o->data_dir, "Data directory");
  r->callback([o] { remove(*o); });
}

}  // namespace inhouse::cli

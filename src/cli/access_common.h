// What `inhouse user|group|role` (cmd_access.cpp), `client` and `privacy` share: opening the
// shared database where users, roles, clients and the audit log live, and the CLI's audit actor.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "db/db.h"

namespace inhouse::cli {

// The config's database_url when --config names one that sets it (PostgreSQL shared by
// replicas), else data_dir/inhouse.db (data_dir: the flag, the config's, $INHOUSE_DATA_DIR or
// ~/.local/share/inhouse; created when missing).
std::unique_ptr<db::SharedDatabase> open_shared_db(const std::string& data_dir, const std::string& config);
// Who the audit log names for a command run here: "cli:<login name>".
std::string cli_actor();
// Appends an access.change entry by cli_actor() to the audit log: every change to users, groups,
// clients and the policy is audited, as over HTTP.
void audit_access_change(db::SharedDatabase& db, const std::string& resource, nlohmann::json details);

}  // namespace inhouse::cli

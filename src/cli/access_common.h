// What `inhouse user|group|role` (cmd_access.cpp) and `inhouse client` (cmd_client.cpp) share:
// opening the shared database where users, roles and clients live.
#pragma once

#include <memory>
#include <string>

#include "db/db.h"

namespace inhouse::cli {

// The config's database_url when --config names one that sets it (PostgreSQL shared by
// replicas), else data_dir/inhouse.db (data_dir: the flag, the config's, $INHOUSE_DATA_DIR or
// ~/.local/share/inhouse; created when missing).
std::unique_ptr<db::SharedDatabase> open_shared_db(const std::string& data_dir, const std::string& config);

}  // namespace inhouse::cli

// db/postgres.cpp — SharedDatabase over a PostgreSQL server (libpq). (Being written.)
#include "db/db.h"

namespace inhouse::db {

std::unique_ptr<SharedDatabase> open_postgres(const std::string& conninfo) {
  (void)conninfo;
  throw Error("database: PostgreSQL support is not built yet", 0);
}

}  // namespace inhouse::db

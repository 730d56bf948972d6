// inhouse audit verify|list|export|head [--data-dir DIR] [--config FILE]: the audit log in the
// data directory's database (or the config's database_url). `verify` exits 1 on a broken chain,
// naming the first bad entry; `export` writes JSON lines.
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>

#include "audit/audit.h"
#include "cli/commands.h"
#include "server/server.h"

namespace inhouse::cli {
namespace {

struct AuditOptions {
  std::string data_dir, config, database;
  std::string actor, action, since, until, output;
  size_t limit = 0;
  bool json = false;
};

// --database, else the config's database_url, else DATA_DIR/inhouse.db (which must exist:
// reading the log of a directory that has none is a mistake, not an empty log).
std::unique_ptr<db::SharedDatabase> open_shared_db(const AuditOptions& o) {
  server::ServerConfig cfg;
  if (!o.config.empty()) cfg = server::load_config(o.config);
  const std::string url = !o.database.empty() ? o.database : cfg.database_url;
  if (!url.empty()) return db::open_shared(url);
  const auto dir = server::resolve_data_dir(o.data_dir.empty() ? cfg.data_dir.string() : o.data_dir);
  const auto path = dir / "inhouse.db";
  if (!std::filesystem::exists(path)) throw std::runtime_error("no database at " + path.string());
  return db::open_shared_sqlite(path);
}

// Unix milliseconds from "1732890000000" (ms), "2026-11-29", "2026-11-29T15:30:00Z" or
// "2026-11-29 15:30:00" (UTC).
int64_t parse_time(const std::string& s, const char* flag) {
  if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos) return std::stoll(s);
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  char sep = 0, z = 0;
  const int n = std::sscanf(s.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%c", &y, &mo, &d, &sep, &h, &mi, &sec, &z);
  const bool date_only = n == 3 && s.size() == 10;
  const bool date_time = (n == 7 || (n == 8 && z == 'Z')) && (sep == 'T' || sep == ' ');
  if ((!date_only && !date_time) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
    throw std::runtime_error(std::string(flag) + ": '" + s +
                             "' is not a time (use YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or unix milliseconds)");
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return int64_t(timegm(&tm)) * 1000;
}

audit::Filter filter_of(const AuditOptions& o) {
  audit::Filter f;
  if (!o.actor.empty()) f.actor = o.actor;
  if (!o.action.empty()) f.action = o.action;
  if (!o.since.empty()) f.since_ms = parse_time(o.since, "--since");
  if (!o.until.empty()) f.until_ms = parse_time(o.until, "--until");
  f.limit = o.limit;
  return f;
}

void verify(const AuditOptions& o) {
  auto db = open_shared_db(o);
  const audit::VerifyReport r = audit::AuditLog(*db).verify();
  if (o.json) {
    nlohmann::json j = {{"ok", r.ok}, {"entries", r.entries}, {"head", {{"seq", r.head.seq}, {"hash", r.head.hash}}}};
    if (!r.ok) j["first_bad_seq"] = r.first_bad_seq, j["problem"] = r.problem;
    std::printf("%s\n", j.dump().c_str());
  } else if (r.ok) {
    std::printf("ok: %lld entries, head %lld %s\n", (long long)r.entries, (long long)r.head.seq, r.head.hash.c_str());
  }
  if (!r.ok)
    throw std::runtime_error("audit log broken at entry " + std::to_string(r.first_bad_seq) + ": " + r.problem + " (" +
                             std::to_string(r.entries) + " entries before it verify)");
}

void list(const AuditOptions& o) {
  auto db = open_shared_db(o);
  audit::Filter f = filter_of(o);
  f.newest = true;  // --limit N: the last N
  for (const audit::Entry& e : audit::AuditLog(*db).list(f)) {
    const nlohmann::json j = audit::to_json(e);
    if (o.json) {
      std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      continue;
    }
    if (e.erased) {
      std::printf("%6lld  %s  (erased)\n", (long long)e.seq, j["time"].get<std::string>().c_str());
      continue;
    }
    std::printf("%6lld  %s  %-8s %-14s %-16s %-24s %-18s %s\n", (long long)e.seq,
                j["time"].get<std::string>().c_str(), e.result.c_str(), e.action.c_str(),
                e.actor.empty() ? "-" : e.actor.c_str(), e.resource.empty() ? "-" : e.resource.c_str(),
                e.source.empty() ? "-" : e.source.c_str(),
                e.details.empty() ? "" : e.details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  }
}

void export_jsonl(const AuditOptions& o) {
  auto db = open_shared_db(o);
  audit::AuditLog log(*db);
  if (o.output.empty() || o.output == "-") {
    log.export_jsonl(std::cout, filter_of(o));
    if (!std::cout) throw std::runtime_error("cannot write to stdout");
    return;
  }
  std::ofstream out(o.output, std::ios::binary);
  if (!out) throw std::runtime_error("cannot write " + o.output);
  const size_t n = log.export_jsonl(out, filter_of(o));
  if (!out.flush()) throw std::runtime_error("cannot write " + o.output);
  std::fprintf(stderr, "%zu entries written to %s\n", n, o.output.c_str());
}

void head(const AuditOptions& o) {
  auto db = open_shared_db(o);
  const audit::Head h = audit::AuditLog(*db).head();
  if (o.json) std::printf("%s\n", nlohmann::json({{"seq", h.seq}, {"hash", h.hash}}).dump().c_str());
  else std::printf("%lld %s\n", (long long)h.seq, h.hash.c_str());
}

void add_db_flags(CLI::App* cmd, AuditOptions& o) {
  cmd->add_option("--data-dir", o.data_dir, "Data directory (default: the config's, $INHOUSE_DATA_DIR or ~/.local/share/inhouse)");
  cmd->add_option("--config", o.config, "inhouse.toml whose data_dir / database_url to use")->check(CLI::ExistingFile);
  cmd->add_option("--database", o.database, "Shared database URL (postgresql://... or sqlite:PATH) instead of the data directory's");
}

void add_filter_flags(CLI::App* cmd, AuditOptions& o) {
  cmd->add_option("--actor", o.actor, "Only this user or client");
  cmd->add_option("--action", o.action, "Only this action (login, token.issue, kb.read, kb.search, kb.ask, kb.write, ...)");
  cmd->add_option("--since", o.since, "From this time on (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or unix ms, UTC)");
  cmd->add_option("--until", o.until, "Before this time");
}

}  // namespace

void register_audit(CLI::App& app) {
  auto o = std::make_shared<AuditOptions>();
  auto* cmd = app.add_subcommand("audit", "Check, read and export the hash-chained audit log");
  cmd->require_subcommand(1);

  auto* v = cmd->add_subcommand("verify", "Walk the hash chain; exit 1 naming the first bad entry");
  add_db_flags(v, *o);
  v->add_flag("--json", o->json, "Print the report as JSON");
  v->callback([o] { verify(*o); });

  auto* l = cmd->add_subcommand("list", "Print entries (oldest first)");
  add_db_flags(l, *o);
  add_filter_flags(l, *o);
  l->add_option("--limit", o->limit, "Only the newest N");
  l->add_flag("--json", o->json, "One JSON object per line");
  l->callback([o] { list(*o); });

  auto* e = cmd->add_subcommand("export", "Write entries as JSON lines");
  add_db_flags(e, *o);
  add_filter_flags(e, *o);
  e->add_option("-o,--output", o->output, "File to write (default: stdout)");
  e->add_flag("--json", o->json, "Accepted for symmetry; the export is always JSON lines");
  e->callback([o] { export_jsonl(*o); });

  auto* h = cmd->add_subcommand("head", "Print the last entry's seq and hash (record it elsewhere to detect truncation)");
  add_db_flags(h, *o);
  h->add_flag("--json", o->json, "Print as JSON");
  h->callback([o] { head(*o); });
}

}  // namespace inhouse::cli

// inhouse backup create [--data-dir DIR] DEST | verify DIR | restore DIR [--data-dir DIR] [--force]:
// consistent backups of the whole data directory (safe while `inhouse serve` runs; restore is
// not), their checks, and the hooks in DATA_DIR/hooks/backup.d. Each exits 1 on failure.
#include <cstdio>
#include <memory>

#include "audit/audit.h"
#include "backup/backup.h"
#include "cli/commands.h"
#include "server/server.h"

namespace inhouse::cli {
namespace {

struct BackupOptions {
  std::string data_dir, config, dest, dir;
  int hook_timeout = 600;
  bool no_hooks = false, force = false, json = false;
};

std::filesystem::path data_dir_of(const BackupOptions& o) {
  std::string dir = o.data_dir;
  if (dir.empty() && !o.config.empty()) dir = server::load_config(o.config).data_dir.string();
  return server::resolve_data_dir(dir);
}

void create(const BackupOptions& o) {
  backup::CreateOptions opt;
  opt.hook_timeout_s = o.hook_timeout;
  opt.run_hooks = !o.no_hooks;
  // An audit log in PostgreSQL is not in the data directory (back that database up with
  // pg_dump from a hook); its head still goes into the manifest, to detect truncation later.
  if (!o.config.empty()) {
    const server::ServerConfig cfg = server::load_config(o.config);
    if (!cfg.database_url.empty() && !cfg.database_url.starts_with("sqlite:")) {
      auto db = db::open_shared(cfg.database_url);
      const audit::Head h = audit::AuditLog(*db).head();
      opt.audit_head = nlohmann::json{{"seq", h.seq}, {"hash", h.hash}};
    }
  }
  const backup::CreateResult r = backup::create(data_dir_of(o), o.dest, opt);
  if (o.json) {
    nlohmann::json hooks = nlohmann::json::array();
    for (const auto& h : r.hooks)
      hooks.push_back({{"name", h.name}, {"exit_code", h.exit_code}, {"timed_out", h.timed_out}, {"output", h.output}});
    std::printf("%s\n", nlohmann::json({{"path", r.path.string()}, {"files", r.files}, {"bytes", r.bytes},
                                        {"audit_head", r.manifest["audit_head"]}, {"hooks", hooks}})
                            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("backup: %s\nfiles: %zu (%llu bytes)\n", r.path.c_str(), r.files, (unsigned long long)r.bytes);
    if (!r.manifest["audit_head"].is_null())
      std::printf("audit head: %lld %s\n", (long long)r.manifest["audit_head"]["seq"].get<int64_t>(),
                  r.manifest["audit_head"]["hash"].get<std::string>().c_str());
    for (const auto& h : r.hooks) {
      if (h.ok()) std::printf("hook %s: ok\n", h.name.c_str());
      else std::printf("hook %s: FAILED (%s)\n%s", h.name.c_str(),
                       h.timed_out ? "timed out" : ("exit " + std::to_string(h.exit_code)).c_str(), h.output.c_str());
    }
  }
  std::fflush(stdout);
  if (!r.hooks_ok()) throw std::runtime_error("backup " + r.path.string() + " was made, but a hook failed");
}

void verify(const BackupOptions& o) {
  const backup::VerifyReport r = backup::verify(o.dir);
  if (o.json) {
    std::printf("%s\n", nlohmann::json({{"ok", r.ok}, {"files", r.files}, {"problems", r.problems}}).dump().c_str());
  } else if (r.ok) {
    std::printf("ok: %zu files match the manifest, databases pass integrity_check\n", r.files);
  } else {
    for (const auto& p : r.problems) std::printf("%s\n", p.c_str());
  }
  std::fflush(stdout);
  if (!r.ok)
    throw std::runtime_error("backup " + o.dir + " is damaged (" + std::to_string(r.problems.size()) + " problems)");
}

void restore(const BackupOptions& o) {
  const auto target = data_dir_of(o);
  const backup::RestoreResult r = backup::restore(o.dir, target, o.force);
  std::printf("restored %zu files (%llu bytes) into %s\n", r.files, (unsigned long long)r.bytes, target.c_str());
}

void add_dir_flags(CLI::App* cmd, BackupOptions& o) {
  cmd->add_option("--data-dir", o.data_dir, "Data directory (default: the config's, $INHOUSE_DATA_DIR or ~/.local/share/inhouse)");
  cmd->add_option("--config", o.config, "inhouse.toml whose data_dir to use")->check(CLI::ExistingFile);
}

}  // namespace

void register_backup(CLI::App& app) {
  auto o = std::make_shared<BackupOptions>();
  auto* cmd = app.add_subcommand("backup", "Back up, check and restore the whole data directory");
  cmd->require_subcommand(1);

  auto* c = cmd->add_subcommand("create", "Write DEST/inhouse-backup-<UTC time>/ (safe while serving), then run hooks/backup.d");
  c->add_option("dest", o->dest, "Directory to put the backup in (created if missing)")->required();
  add_dir_flags(c, *o);
  c->add_option("--hook-timeout", o->hook_timeout, "Seconds each hook may run")->capture_default_str()->check(CLI::PositiveNumber);
  c->add_flag("--no-hooks", o->no_hooks, "Do not run hooks/backup.d");
  c->add_flag("--json", o->json, "Print the result as JSON");
  c->callback([o] { create(*o); });

  auto* v = cmd->add_subcommand("verify", "Check a backup's files against its manifest and its databases' integrity");
  v->add_option("dir", o->dir, "Backup directory")->required();
  v->add_flag("--json", o->json, "Print the report as JSON");
  v->callback([o] { verify(*o); });

  auto* r = cmd->add_subcommand("restore", "Replace the data directory by a verified backup (stop the server first)");
  r->add_option("dir", o->dir, "Backup directory")->required();
  add_dir_flags(r, *o);
  r->add_flag("--force", o->force, "Replace a data directory that is not empty");
  r->callback([o] { restore(*o); });
}

}  // namespace inhouse::cli

// inhouse privacy scan KB | export USER | erase USER --yes | retention [--dry-run]
// (--data-dir / --config as the kb commands): personal-data scans of a knowledge base's
// documents, and data-subject requests (GDPR/CCPA) over the data directory's stores. Export,
// erasure and retention purges are recorded in the audit log (actor "cli:<login>").
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/access_common.h"
#include "cli/commands.h"
#include "cli/kb_common.h"
#include "privacy/privacy.h"

namespace inhouse::cli {
namespace {

struct PrivacyOptions {
  KbOptions store;  // --data-dir, --config
  std::string target, output;
  bool json = false, yes = false, dry_run = false;
};

// The stores a data-subject request reaches, opened together.
struct OpenStores {
  std::unique_ptr<db::SharedDatabase> db;
  std::unique_ptr<access::AccessControl> access;
  std::unique_ptr<auth::ClientStore> clients;
  std::unique_ptr<audit::AuditLog> audit;
  std::unique_ptr<kb::KnowledgeStore> kb;

  explicit OpenStores(const KbOptions& o)
      : db(open_shared_db(o.data_dir, o.config)),
        access(std::make_unique<access::AccessControl>(*db)),
        clients(std::make_unique<auth::ClientStore>(*db)),
        audit(std::make_unique<audit::AuditLog>(*db)),
        kb(std::make_unique<kb::KnowledgeStore>(open_store(o))) {}
  privacy::Stores stores() const { return {*access, *clients, *audit, *kb}; }
};

void print_scan(const privacy::KbScan& s) {
  std::printf("%s: %lld documents scanned, %zu with personal data\n", s.kb.c_str(),
              static_cast<long long>(s.documents_scanned), s.documents.size());
  for (const privacy::DocumentScan& d : s.documents) {
    std::printf("  %s (%s):", d.title.c_str(), d.path.c_str());
    for (size_t k = 0; k < privacy::kKinds; ++k)
      if (d.counts[k] > 0)
        std::printf(" %s %lld", privacy::kind_name(privacy::Kind(k)), static_cast<long long>(d.counts[k]));
    std::printf("\n");
    for (const privacy::Finding& f : d.examples) std::printf("    %s: %s\n", privacy::kind_name(f.kind), f.excerpt.c_str());
  }
}

void scan(const PrivacyOptions& o) {
  kb::KnowledgeStore store = open_store(o.store);
  const privacy::KbScan s = privacy::scan_kb(store, o.target);
  if (o.json) std::printf("%s\n", privacy::scan_json(s).dump(2).c_str());
  else print_scan(s);
}

void export_user(const PrivacyOptions& o) {
  OpenStores s(o.store);
  const nlohmann::json out = privacy::export_user(s.stores(), o.target);
  audit::Event e;
  e.actor = cli_actor();
  e.action = "privacy.export";
  e.resource = "user:" + o.target;
  e.source = "cli";
  s.audit->append(e);
  const std::string text = out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (o.output.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return;
  }
  std::ofstream f(o.output, std::ios::binary);
  f << text;
  if (!f.flush()) throw std::runtime_error("cannot write " + o.output);
  std::fprintf(stderr, "wrote %s\n", o.output.c_str());
}

void erase_user(const PrivacyOptions& o) {
  if (!o.yes) throw std::runtime_error("erasing '" + o.target + "' cannot be undone: add --yes");
  OpenStores s(o.store);
  const privacy::Erasure r = privacy::erase_user(s.stores(), o.target, cli_actor(), "cli");
  std::printf("erased %s: user record %s, %lld documents, %lld clients, %lld audit entries\n", o.target.c_str(),
              r.user_existed ? "removed" : "absent", static_cast<long long>(r.documents),
              static_cast<long long>(r.clients), static_cast<long long>(r.audit_entries));
}

void retention(const PrivacyOptions& o) {
  OpenStores s(o.store);
  const std::string today = privacy::today_utc();
  if (o.dry_run) {
    for (const kb::DocumentRef& ref : s.kb->retention_expired(today))
      std::printf("would purge %s/%s (retention %s)\n", ref.kb.c_str(), ref.document.path.c_str(),
                  ref.document.fields.value("retention", "").c_str());
    return;
  }
  for (const kb::DocumentRef& ref : privacy::enforce_retention(*s.kb, *s.audit, today))
    std::printf("purged %s/%s (retention %s)\n", ref.kb.c_str(), ref.document.path.c_str(),
                ref.document.fields.value("retention", "").c_str());
}

}  // namespace

void register_privacy(CLI::App& app) {
  auto o = std::make_shared<PrivacyOptions>();
  auto* cmd = app.add_subcommand("privacy", "Personal data: scans, data-subject export and erasure, retention");
  cmd->require_subcommand(1);
  auto* s = cmd->add_subcommand("scan", "List a knowledge base's documents that contain personal data (masked)");
  s->add_option("kb", o->target, "Knowledge base")->required();
  s->add_flag("--json", o->json, "One JSON object");
  add_store_flags(s, o->store);
  s->callback([o] { scan(*o); });
  auto* x = cmd->add_subcommand("export", "Everything stored about a user, as JSON");
  x->add_option("user", o->target, "User name")->required();
  x->add_option("-o,--output", o->output, "Write to this file instead of stdout");
  add_store_flags(x, o->store);
  x->callback([o] { export_user(*o); });
  auto* e = cmd->add_subcommand("erase", "Erase a user: their documents, clients, record and audit details");
  e->add_option("user", o->target, "User name")->required();
  e->add_flag("--yes", o->yes, "Confirm: this cannot be undone");
  add_store_flags(e, o->store);
  e->callback([o] { erase_user(*o); });
  auto* r = cmd->add_subcommand("retention", "Purge documents whose retention date has passed");
  r->add_flag("--dry-run", o->dry_run, "Only list them");
  add_store_flags(r, o->store);
  r->callback([o] { retention(*o); });
}

}  // namespace inhouse::cli

// inhouse kb create|add|sync|list|show|rm|links|search|history|diff|restore|meta|tier ...: knowledge bases in the data
// directory (--data-dir DIR, else --config FILE's data_dir, else $INHOUSE_DATA_DIR, else
// ~/.local/share/inhouse). `ask` and `summarize` (answers from a chat model) are in
// cmd_kb_answer.cpp. list, show, search, links, add, sync, history and meta take --json.
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <memory>

#include "cli/commands.h"
#include "cli/kb_common.h"
#include "server/server.h"

namespace inhouse::cli {
namespace {

using nlohmann::json;

void create(const KbOptions& o) {
  kb::KnowledgeStore store = open_store(o);
  std::unique_ptr<kb::Embedder> embedder;
  if (!o.embed_model.empty()) embedder = kb::open_gguf_embedder(o.embed_model, o.threads);
  const kb::KbInfo info = store.create(o.name, embedder ? embedder->name() : "", embedder ? embedder->dim() : 0,
                                       o.description);
  std::printf("created knowledge base '%s' (%s)\n", info.name.c_str(),
              info.dim ? ("vectors: " + std::to_string(info.dim) + "-d from " + info.embed_model).c_str()
                       : "keyword search only: no embedding model");
}

// A one-line progress bar on a terminal; nothing per file otherwise (problems are listed after).
kb::IngestProgress progress_bar(bool quiet) {
  if (quiet || !isatty(STDERR_FILENO)) return {};
  return [](const kb::IngestEvent& ev) {
    if (ev.total == 0) return;  // removals
    const int width = 30, filled = int(width * ev.done / ev.total);
    std::string name = ev.path.size() > 40 ? "..." + ev.path.substr(ev.path.size() - 37) : ev.path;
    std::fprintf(stderr, "\r[%s%s] %zu/%zu %-40s", std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), ev.done, ev.total, name.c_str());
    if (ev.done == ev.total) std::fputc('\n', stderr);
  };
}

void print_report(const kb::IngestReport& r, bool as_json) {
  const double secs = r.seconds > 0 ? r.seconds : 1e-9;
  const size_t written = r.added + r.updated;
  if (as_json) {
    json problems = json::array();
    for (const auto& p : r.problems)
      problems.push_back({{"path", p.path}, {"status", kb::ingest_event_name(p.kind)}, {"message", p.message}});
    std::printf("%s\n", json{{"added", r.added}, {"updated", r.updated}, {"unchanged", r.unchanged},
                             {"removed", r.removed}, {"skipped", r.skipped}, {"failed", r.failed},
                             {"chunks", r.chunks}, {"seconds", r.seconds},
                             {"documents_per_s", written / secs}, {"chunks_per_s", r.chunks / secs},
                             {"problems", problems}}.dump().c_str());
    return;
  }
  for (const auto& p : r.problems)
    std::fprintf(stderr, "%s: %s: %s\n", kb::ingest_event_name(p.kind), p.path.c_str(), p.message.c_str());
  std::printf("added %zu, updated %zu, unchanged %zu, removed %zu, skipped %zu, failed %zu; "
              "%zu chunks in %.2f s (%.1f documents/s, %.1f chunks/s)\n",
              r.added, r.updated, r.unchanged, r.removed, r.skipped, r.failed, r.chunks, r.seconds,
              written / secs, r.chunks / secs);
}

void add(const KbOptions& o) {
  kb::KnowledgeStore store = open_store(o);
  std::unique_ptr<kb::Embedder> embedder = embedder_for(store.get(o.name), o);
  std::vector<std::filesystem::path> paths(o.paths.begin(), o.paths.end());
  const kb::IngestReport r =
      kb::ingest_paths(store, o.name, paths, embedder.get(), ingest_options(o), progress_bar(o.json));
  print_report(r, o.json);
}

void sync(const KbOptions& o) {
  kb::KnowledgeStore store = open_store(o);
  std::unique_ptr<kb::Embedder> embedder = embedder_for(store.get(o.name), o);
  print_report(kb::sync_kb(store, o.name, embedder.get(), ingest_options(o), progress_bar(o.json)), o.json);
}

json info_json(const kb::KbInfo& i) {
  return {{"name", i.name}, {"description", i.description}, {"embed_model", i.embed_model}, {"dim", i.dim},
          {"created_at", i.created_at}, {"documents", i.documents}, {"chunks", i.chunks}, {"roots", i.roots}};
}

void list(const KbOptions& o) {
  kb::KnowledgeStore store = open_store(o);
  const auto kbs = store.list();
  if (o.json) {
    json out = json::array();
    for (const auto& i : kbs) out.push_back(info_json(i));
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  if (kbs.empty()) std::printf("no knowledge bases (create one with: inhouse kb create NAME)\n");
  for (const auto& i : kbs)
    std::printf("%-24s %6lld documents %8lld chunks  %s\n", i.name.c_str(), (long long)i.documents,
                (long long)i.chunks, i.dim ? "hybrid" : "keyword only");
}

void show(const KbOptions& o) {
  kb::KnowledgeStore store = open_store(o);
  const kb::KbInfo info = store.get(o.name);
  const auto docs = store.documents(o.name);
  if (o.json) {
    json out = info_json(info), files = json::array();
    for (const auto& d : docs)
      files.push_back({{"path", d.path}, {"title", d.title}, {"format", kb::format_name(d.format)},
                       {"chunks", d.chunks}, {"size", d.size}, {"ingested_at", d.ingested_at},
                       {"tags", d.tags}, {"metadata", d.metadata}, {"fields", d.fields}, {"version", d.version}});
    out["files"] = files;
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("name: %s\ndescription: %s\nembedding model: %s\ndocuments: %lld\nchunks: %lld\n", info.name.c_str(),
              info.description.c_str(), info.dim ? info.embed_model.c_str() : "(none: keyword search only)",
              (long long)info.documents, (long long)info.chunks);
  for (const auto& r : info.roots) std::printf("root: %s\n", r.c_str());
  for (const auto& d : docs)
    std::printf("  %-8s %4lld chunks  %s  (%s)\n", kb::format_name(d.format), (long long)d.chunks, d.title.c_str(),
                d.path.c_str());
}

void remove(const KbOptions& o) {
  kb::KnowledgeStore store = open_store(o);
  if (o.paths.empty()) {
    store.remove(o.name);
    std::printf("removed knowledge base '%s'\n", o.name.c_str());
    return;
  }
  for (const std::string& p : o.paths) {
    const auto doc = store.find_document(o.name, p);
    if (!doc || !store.remove_document(o.name, doc->path))
      throw std::runtime_error("no document '" + p + "' in knowledge base '" + o.name + "'");
    std::printf("removed %s\n", doc->path.c_str());
  }
}

json link_json(const kb::NoteLink& l) {
  json j = {{"from_path", l.from_path}, {"from_title", l.from_title}, {"target", l.link.target},
            {"heading", l.link.heading}, {"alias", l.link.alias}, {"resolved", l.resolved.has_value()}};
  if (l.resolved) j.update({{"to_path", l.to_path}, {"to_title", l.to_title}});
  return j;
}

void links(const KbOptions& o) {
  kb::KnowledgeStore store = open_store(o);
  const kb::NoteLinks nl = store.links(o.name, o.note);
  if (o.json) {
    json out = {{"note", o.note}, {"outgoing", json::array()}, {"backlinks", json::array()}};
    for (const auto& l : nl.outgoing) out["outgoing"].push_back(link_json(l));
    for (const auto& l : nl.backlinks) out["backlinks"].push_back(link_json(l));
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("outgoing (%zu):\n", nl.outgoing.size());
  for (const auto& l : nl.outgoing)
    std::printf("  -> [[%s]]%s\n", l.link.target.c_str(), l.resolved ? ("  " + l.to_path).c_str() : "  (no such note)");
  std::printf("backlinks (%zu):\n", nl.backlinks.size());
  for (const auto& l : nl.backlinks) std::printf("  <- %s  (%s)\n", l.from_title.c_str(), l.from_path.c_str());
}

void search(const KbOptions& o) {
  kb::KnowledgeStore store = open_store(o);
  const kb::KbInfo info = store.get(o.name);
  const kb::SearchResult r = store.search(o.name, make_query(info, o, o.query));
  if (o.json) {
    std::printf("%s\n", kb::search_result_json(o.name, r).dump(2).c_str());
    return;
  }
  if (!r.note.empty()) std::fprintf(stderr, "note: %s\n", r.note.c_str());
  if (r.hits.empty()) std::printf("no results\n");
  for (size_t i = 0; i < r.hits.size(); ++i) {
    const auto& h = r.hits[i];
    std::printf("%2zu. %.4f  %s\n    %s\n    %s\n", i + 1, h.score, kb::heading_trail(h.title, h.chunk.headings).c_str(),
                h.path.c_str(), h.snippet.c_str());
  }
}

// The document DOC (path, title, file name or alias) names; an error when none.
kb::DocumentInfo document_of(kb::KnowledgeStore& store, const KbOptions& o) {
  const auto doc = store.find_document(o.name, o.note);
  if (!doc) throw std::runtime_error("no document '" + o.note + "' in knowledge base '" + o.name + "'");
  return *doc;
}

std::string time_text(int64_t t) {
  char buf[32];
  const std::time_t tt = std::time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

void history(const KbOptions& o) {
  kb::KnowledgeStore store = open_store(o);
  const kb::DocumentInfo doc = document_of(store, o);
  const auto versions = store.history(o.name, doc.id);
  if (o.json) {
    json out = {{"path", doc.path}, {"document_id", doc.id}, {"versions", json::array()}};
    for (const auto& v : versions)
      out["versions"].push_back({{"version", v.version}, {"current", v.current}, {"title", v.title},
                                 {"content_hash", v.content_hash}, {"format", kb::format_name(v.format)},
                                 {"size", v.size}, {"chunks", v.chunks}, {"created_at", v.created_at},
                                 {"replaced_at", v.replaced_at}, {"metadata", v.metadata}});
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("%s\n", doc.path.c_str());
  for (const auto& v : versions)
    std::printf("  v%-4lld %s  %8lld bytes %4lld chunks  %s%s\n", (long long)v.version, time_text(v.created_at).c_str(),
                (long long)v.size, (long long)v.chunks, v.title.c_str(), v.current ? "  (current)" : "");
}

void diff(const KbOptions& o) {
  kb::KnowledgeStore store = open_store(o);
  const kb::DocumentInfo doc = document_of(store, o);
  const auto versions = store.history(o.name, doc.id);
  // No versions given: the one before the current → the current; one: that → the current.
  int64_t from = versions.size() > 1 ? versions[1].version : doc.version, to = doc.version;
  if (!o.versions.empty()) from = o.versions[0];
  if (o.versions.size() > 1) to = o.versions[1];
  std::fputs(store.diff(o.name, doc.id, from, to).c_str(), stdout);
}

void restore(const KbOptions& o) {
  kb::KnowledgeStore store = open_store(o);
  const kb::DocumentInfo doc = document_of(store, o);
  const int64_t now = store.restore_version(o.name, doc.id, o.versions.at(0));
  store.flush();
  std::printf("restored %s to version %lld (now version %lld)\n", doc.path.c_str(), (long long)o.versions[0],
              (long long)now);
}

void meta(const KbOptions& o) {
  kb::KnowledgeStore store = open_store(o);
  kb::DocumentInfo doc = document_of(store, o);
  json patch = json::object();
  for (const auto& [key, value] : parse_where(o.set_fields)) patch[key] = value;
  for (const std::string& key : o.unset_fields) patch[key] = nullptr;
  if (!patch.empty()) {
    store.set_fields(o.name, doc.id, patch);
    doc = *store.find_document(o.name, doc.path);
  }
  if (o.json) {
    std::printf("%s\n", json{{"path", doc.path}, {"fields", doc.fields}, {"metadata", doc.metadata}}.dump(2).c_str());
    return;
  }
  std::printf("%s\nfields:\n", doc.path.c_str());
  for (const auto& [key, value] : doc.fields.items()) std::printf("  %s = %s\n", key.c_str(), value.get<std::string>().c_str());
  std::printf("metadata:\n");
  for (const auto& [key, value] : doc.metadata.items()) std::printf("  %s = %s\n", key.c_str(), value.dump().c_str());
}

void tier(const KbOptions& o) {
  kb::KnowledgeStore store = open_store(o);
  if (!o.tier.empty()) {
    if (o.name.empty()) throw std::runtime_error("--set needs a knowledge base");
    store.set_tier(o.name, *kb::parse_tier(o.tier));
  }
  if (o.apply_policy) {
    const auto moved = store.apply_tier_policy(o.warm_after_s, o.cold_after_s, std::time(nullptr));
    if (!o.json)
      for (const auto& t : moved) std::printf("moved %s to %s\n", t.kb.c_str(), kb::tier_name(t.tier));
  }
  std::vector<kb::TierInfo> infos;
  if (o.name.empty())
    infos = store.tier_info();
  else
    infos.push_back(store.tier_info(o.name));
  if (o.json) {
    json out = json::array();
    for (const auto& t : infos)
      out.push_back({{"kb", t.kb}, {"tier", kb::tier_name(t.tier)}, {"last_access", t.last_access},
                     {"index_loaded", t.index_loaded}, {"archived", t.archived}, {"archive_bytes", t.archive_bytes}});
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  for (const auto& t : infos)
    std::printf("%-24s %-5s last access %s%s\n", t.kb.c_str(), kb::tier_name(t.tier), time_text(t.last_access).c_str(),
                t.archived ? ("  archived (" + std::to_string(t.archive_bytes) + " bytes)").c_str() : "");
}

}  // namespace

void register_kb(CLI::App& app) {
  auto o = std::make_shared<KbOptions>();
  auto* cmd = app.add_subcommand("kb", "Knowledge bases: ingest notes and documents, search, ask");
  cmd->require_subcommand(1);

  auto* c = add_kb_subcommand(cmd, "create", "Create a knowledge base", *o);
  c->add_option("--embed-model", o->embed_model, "bert GGUF embedding model (default: none, keyword search only)")
      ->check(CLI::ExistingFile);
  c->add_option("--description", o->description, "What it holds");
  c->callback([o] { create(*o); });

  auto* a = add_kb_subcommand(cmd, "add", "Add files and folders (recursively: Markdown, HTML, PDF, text)", *o);
  a->add_option("paths", o->paths, "Files or folders")->required();
  add_ingest_flags(a, *o);
  a->callback([o] { add(*o); });

  auto* s = add_kb_subcommand(cmd, "sync", "Re-ingest changed files, add new ones, drop deleted ones", *o);
  add_ingest_flags(s, *o);
  s->callback([o] { sync(*o); });

  auto* l = cmd->add_subcommand("list", "List knowledge bases");
  add_store_flags(l, *o);
  l->add_flag("--json", o->json, "Machine-readable output");
  l->callback([o] { list(*o); });

  auto* sh = add_kb_subcommand(cmd, "show", "Show a knowledge base and its documents", *o);
  sh->add_flag("--json", o->json, "Machine-readable output");
  sh->callback([o] { show(*o); });

  auto* r = add_kb_subcommand(cmd, "rm", "Remove a knowledge base, or only the given documents from it", *o);
  r->add_option("documents", o->paths, "Documents (path or title) to remove instead of the whole kb");
  r->callback([o] { remove(*o); });

  auto* ln = add_kb_subcommand(cmd, "links", "Outgoing links and backlinks of a note", *o);
  ln->add_option("note", o->note, "Note (path, title, file name or alias)")->required();
  ln->add_flag("--json", o->json, "Machine-readable output");
  ln->callback([o] { links(*o); });

  auto* se = add_kb_subcommand(cmd, "search", "Hybrid (vector + BM25) search", *o);
  se->add_option("query", o->query, "What to look for")->required();
  add_search_flags(se, *o);
  se->add_flag("--json", o->json, "Machine-readable output");
  se->callback([o] { search(*o); });

  auto* hi = add_kb_subcommand(cmd, "history", "Versions of a document, newest first", *o);
  hi->add_option("document", o->note, "Document (path, title, file name or alias)")->required();
  hi->add_flag("--json", o->json, "Machine-readable output");
  hi->callback([o] { history(*o); });

  auto* di = add_kb_subcommand(cmd, "diff", "Unified diff between two versions of a document", *o);
  di->add_option("document", o->note, "Document (path, title, file name or alias)")->required();
  di->add_option("versions", o->versions, "FROM [TO] (default: the previous version, then the current one)")
      ->expected(0, 2);
  di->callback([o] { diff(*o); });

  auto* re = add_kb_subcommand(cmd, "restore", "Make an earlier version of a document current again", *o);
  re->add_option("document", o->note, "Document (path, title, file name or alias)")->required();
  re->add_option("version", o->versions, "Version to restore")->required()->expected(1);
  re->callback([o] { restore(*o); });

  auto* me = add_kb_subcommand(cmd, "meta", "Show or change a document's custom fields", *o);
  me->add_option("document", o->note, "Document (path, title, file name or alias)")->required();
  me->add_option("--set", o->set_fields, "Set a field (repeatable)")->type_name("KEY=VALUE");
  me->add_option("--unset", o->unset_fields, "Remove a field (repeatable)")->type_name("KEY");
  me->add_flag("--json", o->json, "Machine-readable output");
  me->callback([o] { meta(*o); });

  auto* ti = cmd->add_subcommand("tier", "Show or change storage tiers (hot, warm, cold)");
  ti->add_option("name", o->name, "Knowledge base (default: all)");
  add_store_flags(ti, *o);
  ti->add_option("--set", o->tier, "Move the kb to this tier now")->check(CLI::IsMember({"hot", "warm", "cold"}));
  ti->add_flag("--apply", o->apply_policy, "Apply the policy: idle kbs become warm, then cold");
  ti->add_option("--warm-after", o->warm_after_s, "Seconds idle before hot → warm (0: never)")->capture_default_str();
  ti->add_option("--cold-after", o->cold_after_s, "Seconds idle before → cold (0: never)")->capture_default_str();
  ti->add_flag("--json", o->json, "Machine-readable output");
  ti->callback([o] { tier(*o); });

  register_kb_answers(cmd, o);
}

}  // namespace inhouse::cli

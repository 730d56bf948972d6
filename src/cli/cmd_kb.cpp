// inhouse kb create|add|sync|list|show|rm|links|search ...: knowledge bases in the data
// directory (--data-dir DIR, else --config FILE's data_dir, else $INHOUSE_DATA_DIR, else
// ~/.local/share/inhouse). `ask` and `summarize` (answers from a chat model) are in
// cmd_kb_answer.cpp. list, show, search, links, add and sync take --json.
#include <unistd.h>

#include <cstdio>
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
                       {"tags", d.tags}, {"metadata", d.metadata}});
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

  register_kb_answers(cmd, o);
}

}  // namespace inhouse::cli

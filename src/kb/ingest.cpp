// kb/ingest.cpp — from files on disk to stored documents: walking folders, content hashes that
// let `sync` skip unchanged files, parsing, chunking with the embedder's token measure and
// embedding each chunk with its title/heading context. One bad file never stops the others.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include <sodium.h>

#include "db/db.h"
#include "kb/kb.h"

namespace inhouse::kb {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

bool is_hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return name.size() > 1 && name[0] == '.';
}

// Known-format files under `root` (or root itself), hidden entries skipped, in path order.
void collect_files(const fs::path& root, std::vector<fs::path>& out) {
  std::error_code ec;
  if (fs::is_regular_file(root, ec)) {
    if (format_of(root)) out.push_back(root);
    return;
  }
  if (!fs::is_directory(root, ec)) return;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (is_hidden(it->path())) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec) && format_of(it->path())) out.push_back(it->path());
  }
}

std::string absolute_key(const fs::path& p) {
  return fs::weakly_canonical(fs::absolute(p)).string();
}

std::string read_bytes(const fs::path& path, size_t max_bytes) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) throw std::runtime_error("cannot read: " + ec.message());
  if (size > max_bytes)
    throw std::runtime_error("file is " + std::to_string(size) + " bytes; the limit is " + std::to_string(max_bytes));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open for reading");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool under_root(const std::string& path, const std::string& root) {
  return path == root || (path.size() > root.size() && path.starts_with(root) &&
                          (path[root.size()] == '/' || root.ends_with('/')));
}

void check_embedder(const KbInfo& info, const Embedder* embedder) {
  const int dim = embedder ? embedder->dim() : 0;
  if (info.dim != dim)
    throw Error(Error::Code::Invalid,
                "knowledge base '" + info.name + "' " +
                    (info.dim ? "holds " + std::to_string(info.dim) + "-dimensional vectors from " + info.embed_model
                              : std::string("has no embedding model")) +
                    (embedder ? "; the given model makes " + std::to_string(dim) + "-dimensional ones"
                              : "; no embedding model was given"));
}

// Handles the files one by one, reporting each; `known` maps stored paths to content hashes.
IngestReport ingest_files(KnowledgeStore& store, const std::string& kb, const std::vector<fs::path>& files,
                          Embedder* embedder, const IngestOptions& options, const IngestProgress& progress) {
  const auto t0 = Clock::now();
  std::map<std::string, std::string> known;
  for (const DocumentInfo& d : store.documents(kb)) known[d.path] = d.content_hash;

  IngestReport report;
  IngestEvent ev;
  ev.total = files.size();
  for (const fs::path& file : files) {
    ev.path = absolute_key(file);
    ev.message.clear();
    ev.chunks = 0;
    try {
      const std::string bytes = read_bytes(file, options.max_file_bytes);
      const std::string hash = content_hash(bytes);
      const auto old = known.find(ev.path);
      if (old != known.end() && old->second == hash) {
        ev.kind = IngestEvent::Kind::Unchanged;
        ++report.unchanged;
      } else {
        DocumentInput doc = prepare_document(ev.path, bytes, *format_of(file), embedder, options);
        store.put_document(kb, doc);
        ev.kind = old == known.end() ? IngestEvent::Kind::Added : IngestEvent::Kind::Updated;
        ev.chunks = doc.chunks.size();
        report.chunks += ev.chunks;
        ++(old == known.end() ? report.added : report.updated);
        known[ev.path] = hash;
      }
    } catch (const ParseError& e) {
      ev.kind = IngestEvent::Kind::Failed;
      ev.message = e.what();
    } catch (const Error&) {
      throw;  // the store refused: not a problem of this file
    } catch (const db::Error&) {
      throw;  // the database failed (disk full, I/O): stop rather than skip every file
    } catch (const std::runtime_error& e) {  // unreadable, too big, the encoder refused
      ev.kind = IngestEvent::Kind::Skipped;
      ev.message = e.what();
    }
    if (ev.kind == IngestEvent::Kind::Failed) ++report.failed;
    if (ev.kind == IngestEvent::Kind::Skipped) ++report.skipped;
    if (!ev.message.empty()) report.problems.push_back(ev);
    ++ev.done;
    if (progress) progress(ev);
  }
  store.flush();  // the vector index file too, or the next start rebuilds it from SQLite
  report.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return report;
}

}  // namespace

const char* ingest_event_name(IngestEvent::Kind k) {
  switch (k) {
    case IngestEvent::Kind::Added: return "added";
    case IngestEvent::Kind::Updated: return "updated";
    case IngestEvent::Kind::Unchanged: return "unchanged";
    case IngestEvent::Kind::Removed: return "removed";
    case IngestEvent::Kind::Skipped: return "skipped";
    case IngestEvent::Kind::Failed: return "failed";
  }
  return "?";
}

std::string content_hash(std::string_view bytes) {
  static const bool sodium_ready = sodium_init() >= 0;  // idempotent; BLAKE2b needs no RNG
  (void)sodium_ready;
  unsigned char digest[32];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                     nullptr, 0);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : digest) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

DocumentInput prepare_document(const std::string& key, std::string_view bytes, Format format, Embedder* embedder,
                               const IngestOptions& options) {
  const std::string stem = fs::path(key).stem().string();
  const Note note = parse_document(format, bytes, stem);

  TokenCounter count = embedder ? TokenCounter([embedder](std::string_view t) { return embedder->count_tokens(t); })
                                : TokenCounter(approximate_tokens);
  ChunkOptions chunking = options.chunking;
  if (embedder) {  // room for [CLS]/[SEP] and the title/heading context line
    const size_t limit = embedder->max_tokens() > 48 ? embedder->max_tokens() - 48 : embedder->max_tokens() / 2;
    chunking.max_tokens = std::max<size_t>(1, std::min(chunking.max_tokens, limit));
    chunking.overlap_tokens = std::min(chunking.overlap_tokens, chunking.max_tokens / 2);
  }

  DocumentInput doc;
  doc.path = key;
  doc.title = note.title;
  doc.format = format;
  doc.content_hash = content_hash(bytes);
  doc.size = int64_t(bytes.size());
  doc.metadata = note.metadata.is_object() ? note.metadata : nlohmann::json::object();
  doc.tags = note.tags;
  doc.aliases = note.aliases;
  doc.links = note.links;
  doc.body = note_body(note);
  for (const Chunk& c : chunk_note(note, chunking, count)) {
    ChunkInput in{.headings = c.headings, .text = c.text, .tokens = c.tokens, .embedding = {}};
    if (embedder) in.embedding = embedder->embed(c.with_context(note.title));
    doc.chunks.push_back(std::move(in));
  }
  return doc;
}

IngestReport ingest_paths(KnowledgeStore& store, const std::string& kb, const std::vector<fs::path>& paths,
                          Embedder* embedder, const IngestOptions& options, const IngestProgress& progress) {
  check_embedder(store.get(kb), embedder);
  std::vector<fs::path> files;
  for (const fs::path& p : paths) {
    std::error_code ec;
    if (!fs::exists(p, ec)) throw Error(Error::Code::NotFound, "no such file or folder: " + p.string());
    store.add_root(kb, absolute_key(p));
    collect_files(p, files);
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return ingest_files(store, kb, files, embedder, options, progress);
}

IngestReport sync_kb(KnowledgeStore& store, const std::string& kb, Embedder* embedder, const IngestOptions& options,
                     const IngestProgress& progress) {
  const KbInfo info = store.get(kb);
  check_embedder(info, embedder);
  std::vector<fs::path> files;
  for (const std::string& root : info.roots) collect_files(root, files);
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());

  std::set<std::string> present;
  for (const fs::path& f : files) present.insert(absolute_key(f));
  size_t removed = 0;
  for (const DocumentInfo& d : store.documents(kb)) {
    const bool in_a_root = std::any_of(info.roots.begin(), info.roots.end(),
                                       [&](const std::string& r) { return under_root(d.path, r); });
    if (!in_a_root || present.count(d.path)) continue;  // uploads and live files stay
    store.remove_document(kb, d.path);
    ++removed;
    if (progress) progress({.kind = IngestEvent::Kind::Removed, .path = d.path, .message = {}, .chunks = 0, .done = 0, .total = 0});
  }
  IngestReport report = ingest_files(store, kb, files, embedder, options, progress);
  report.removed = removed;
  return report;
}

}  // namespace inhouse::kb

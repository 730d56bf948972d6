// kb — owns knowledge bases: turning notes and documents into searchable pieces and finding
// them again. Documents: Markdown notes (Obsidian / Logseq vaults: YAML front matter, headings,
// [[wikilinks]] and [[link|alias]], #tags, Logseq `key:: value` properties and bullet blocks),
// HTML (gumbo), PDF (poppler-cpp) and plain text, each parsed into a Note. Chunking: a Note cut
// into pieces that fit an embedding model's token budget, with overlap and the heading path kept
// as context. Storage: knowledge bases, documents, chunks and links in the data directory's
// SQLite database (WAL) with an FTS5 keyword index (BM25), chunk vectors in a FAISS index
// persisted beside it (exact inner product, HNSW past a size); hybrid search by reciprocal-rank
// fusion. Ingestion (walking folders, hashing, embedding) and answers (RAG prompts) sit on top.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

namespace inhouse::kb {

// A note that cannot be parsed (e.g. malformed front matter); what() says where.
class ParseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// [[target#heading|alias]]; embeds (![[...]]) are links too.
struct Link {
  std::string target;
  std::string heading;  // empty when the link names the whole note
  std::string alias;    // empty when none
  bool operator==(const Link&) const = default;
};

struct Section {
  std::vector<std::string> headings;  // heading path, outermost first; empty before the first heading
  std::string text;                   // the body: paragraphs separated by blank lines, links as their display text
};

struct Note {
  std::string title;          // front matter `title`, else the first level-1 heading, else the file stem
  nlohmann::json metadata;    // front matter and Logseq page properties (an object)
  std::vector<std::string> tags;  // from #tags, front matter `tags` and Logseq `tags::`, without '#', unique, in order
  std::vector<Link> links;        // outgoing links in order of first appearance, unique
  std::vector<std::string> aliases;  // front matter `aliases` / Logseq `alias::`: other names links may use
  std::vector<Section> sections;
};

// Parses one Markdown note. `file_stem` is the note's file name without extension (the title of
// last resort and what other notes' [[links]] usually name). Throws ParseError.
Note parse_markdown(std::string_view text, std::string_view file_stem);

// ---- chunking --------------------------------------------------------------------------------

struct Chunk {
  std::vector<std::string> headings;  // the section's heading path
  std::string text;
  size_t tokens = 0;                  // of text, as the counter measured it
  // "Title > Heading > Subheading\n\n" + text: what an embedding model should see.
  std::string with_context(std::string_view title) const;
};

// "Title > Heading > Subheading" (a heading equal to the title is not repeated).
std::string heading_trail(std::string_view title, const std::vector<std::string>& headings);

struct ChunkOptions {
  size_t max_tokens = 256;     // a chunk's text never exceeds this (a single word longer than it is cut)
  size_t overlap_tokens = 32;  // a chunk repeats up to this much of the end of the previous one
};

using TokenCounter = std::function<size_t(std::string_view)>;

// Cuts each section at paragraph, then sentence, then word boundaries into chunks of at most
// max_tokens; consecutive chunks of one section overlap by up to overlap_tokens. Sections are
// never merged, so every chunk has exactly one heading path. Throws std::invalid_argument when
// overlap_tokens >= max_tokens or max_tokens is 0.
std::vector<Chunk> chunk_note(const Note& note, const ChunkOptions& options, const TokenCounter& count);

// ---- other document formats (document.cpp, html.cpp, pdf.cpp) -------------------------------

enum class Format { Markdown, Html, Pdf, Text };
const char* format_name(Format f);  // "markdown", "html", "pdf", "text"

// The format a file's extension says (case-insensitive): .md .markdown → Markdown; .html .htm
// .xhtml → Html; .pdf → Pdf; .txt .text .rst .org → Text. nullopt for anything else (skipped).
std::optional<Format> format_of(const std::filesystem::path& path);

// Byte offset of the first invalid UTF-8 sequence (bad lead or continuation byte, truncated
// sequence, overlong form, surrogate, past U+10FFFF); nullopt when all of text is valid.
std::optional<size_t> find_invalid_utf8(std::string_view text);

// HTML → Note: title from <title>, else the first <h1>, else the stem; <h1>..<h6> start
// sections (heading path by level); p/div/blockquote/... become paragraphs, whitespace
// collapsed as a browser would; <pre> kept verbatim; a list is one paragraph with a line per
// item ("- item", "1. item", nested items indented); a table is one paragraph with a line per
// row, cells joined by " | "; script, style, nav, noscript, template, svg, iframe and elements
// with the hidden attribute or role="navigation" dropped; entities decoded;
// <meta name|property=... content=...> → metadata (meta keywords → tags too);
// relative <a href> to other documents (an extension format_of knows, or none) → links
// (target = the href path's file stem, percent-decoded; heading = the #fragment). Malformed
// HTML is recovered as browsers do and invalid UTF-8 becomes U+FFFD (parse_document is the
// strict one). Throws ParseError only for pathologically deep nesting (over 4096 open
// elements), which would make the HTML5 tree builder superlinearly slow. An empty page gives
// a Note with no sections.
Note parse_html(std::string_view html, std::string_view file_stem);
// PDF bytes → Note: one section per page that has text (heading "Page N", text in reading
// order), document info (title, author, subject, keywords, creator, producer, created,
// modified, pages) → metadata, Title → title (else the stem), Keywords → tags. Throws ParseError
// for bytes poppler cannot open (garbage, truncated past repair), an encrypted file that needs
// a password, or one with no extractable text (scanned pages; OCR is not done).
Note parse_pdf(std::string_view bytes, std::string_view file_stem);
// Plain text → Note: CRLF/CR → LF, trailing spaces dropped, paragraphs split at blank lines,
// one section without headings (none for an empty or all-blank text), title = stem. Throws
// ParseError for invalid UTF-8.
Note parse_text(std::string_view text, std::string_view file_stem);
// Dispatches on the format. Text formats (Markdown, Html, Text) must be valid UTF-8: invalid
// UTF-8 → ParseError naming the byte offset; a UTF-8 BOM is dropped and CRLF/CR become LF
// first. An empty (or BOM-only) text file is not an error: a Note with no sections. An empty
// PDF is (not a PDF). Throws ParseError.
Note parse_document(Format format, std::string_view bytes, std::string_view file_stem);

// ---- storage and search (store.cpp, vector_index.cpp, search.cpp) ---------------------------

// Bad requests to the store: unknown or duplicate knowledge base, invalid name, wrong vector
// dimension. (db::Error for database failures passes through.)
class Error : public std::runtime_error {
 public:
  enum class Code { NotFound, AlreadyExists, Invalid };
  Error(Code code, const std::string& what) : std::runtime_error(what), code_(code) {}
  Code code() const { return code_; }

 private:
  Code code_;
};

struct KbInfo {
  int64_t id = 0;
  std::string name;            // [A-Za-z0-9_.-]{1,64}, unique
  std::string description;
  std::string embed_model;     // name of the embedding model its vectors come from; "" = keyword only
  int dim = 0;                 // vector dimension; 0 = no vectors
  int64_t created_at = 0;      // unix seconds
  int64_t documents = 0;
  int64_t chunks = 0;
  std::vector<std::string> roots;  // folders/files added with `kb add` (what `kb sync` walks)
};

struct ChunkInput {
  std::vector<std::string> headings;
  std::string text;
  size_t tokens = 0;
  std::vector<float> embedding;  // dim floats, L2-normalised; empty when the kb has no vectors
};

struct DocumentInput {
  std::string path;          // the key within its kb: absolute source path (or upload name)
  std::string title;
  Format format = Format::Text;
  std::string content_hash;  // hex digest of the file's bytes (sync compares it)
  int64_t size = 0;
  nlohmann::json metadata = nlohmann::json::object();
  std::vector<std::string> tags;
  std::vector<std::string> aliases;
  std::vector<Link> links;
  std::vector<ChunkInput> chunks;
  // The whole document as parsed: each section's new headings as "#"-prefixed lines, then its
  // text (prepare_document fills it). What version_text/diff show; "" = the chunks' texts.
  std::string body;
  // Initial custom fields (e.g. {"owner": "alice"} for an upload): set only for keys the document
  // does not have yet, so a re-ingest never overwrites what set_fields stored.
  nlohmann::json fields = nlohmann::json::object();
};

struct DocumentInfo {
  int64_t id = 0;
  std::string path, title, content_hash;
  Format format = Format::Text;
  int64_t size = 0;
  int64_t ingested_at = 0;   // unix seconds
  int64_t chunks = 0;
  nlohmann::json metadata = nlohmann::json::object();
  std::vector<std::string> tags;
  int64_t version = 1;       // current version number (see history())
  nlohmann::json fields = nlohmann::json::object();  // custom fields (set_fields): string values
};

// One version of a document: the current one or one kept in its history.
struct DocumentVersion {
  int64_t version = 0;
  bool current = false;
  std::string title, content_hash;
  Format format = Format::Text;
  int64_t size = 0;
  int64_t chunks = 0;
  int64_t created_at = 0;   // when this version was stored (unix seconds)
  int64_t replaced_at = 0;  // when a newer version replaced it; 0 for the current one
  nlohmann::json metadata = nlohmann::json::object();
};

// A document together with the kb it is in (for the cross-kb queries of privacy tooling).
struct DocumentRef {
  std::string kb;
  DocumentInfo document;
};

struct StoredChunk {
  int64_t id = 0;
  int64_t document_id = 0;
  int ordinal = 0;           // position within its document
  std::vector<std::string> headings;
  std::string text;
};

// A link between two notes of one kb; `resolved` is the target document when a note's title,
// file stem or alias matches the link target (case-insensitive), else nullopt (a dangling link).
struct NoteLink {
  std::string from_path, from_title;
  Link link;
  std::optional<int64_t> resolved;
  std::string to_path, to_title;  // of the resolved document, else empty
};

struct NoteLinks {
  std::vector<NoteLink> outgoing;
  std::vector<NoteLink> backlinks;
};

enum class SearchMode { Vector, Keyword, Hybrid };

// A set of document ids (an access-control allow-list); nullopt everywhere means "all documents".
using DocumentIds = std::unordered_set<int64_t>;

struct SearchQuery {
  std::string text;
  std::vector<float> embedding;  // of text, L2-normalised; empty → keyword only
  size_t k = 10;
  SearchMode mode = SearchMode::Hybrid;
  // Only chunks of these documents can be hits (the ids a user may read); nullopt = all.
  std::optional<DocumentIds> documents;
  // Metadata filter, every entry must match: key → value equality against the document's custom
  // field of that key if it has one, else its metadata value (string, number or bool compared
  // as text: 3 → "3", true → "true"; a list matches when one element does).
  std::map<std::string, std::string> where;
};

struct SearchHit {
  StoredChunk chunk;
  std::string path, title;
  double score = 0;          // what ranked it: cosine (vector), -bm25 (keyword), RRF sum (hybrid)
  std::optional<int> vector_rank, keyword_rank;  // 1-based rank in each list it appeared in
  std::string snippet;       // a short excerpt around the match, matches marked with [..]
};

struct SearchResult {
  std::vector<SearchHit> hits;
  SearchMode mode_used = SearchMode::Hybrid;  // Keyword when no vectors were available
  std::string note;  // why the mode changed (e.g. "no embedding model: keyword search only"), else ""
};

// Tuning of the vector indexes (tests force small thresholds).
struct StoreOptions {
  // Past this many vectors a kb's index switches from exact search (IndexFlatIP: a full scan,
  // ~2 ms per query at 20k x 384 floats) to HNSW (log-time, approximate, costly to build).
  size_t hnsw_threshold = 20000;
  int hnsw_m = 32;                // graph degree
  int hnsw_ef_construction = 80;  // build-time beam
  // Query-time beam (>= k is enforced). bench_kb, random unit vectors (dim 384, 10k): recall@10
  // vs exact is 0.90 at 128, 0.98 at 256, 1.00 at 512.
  int hnsw_ef_search = 256;
  // A filtered vector search (SearchQuery::documents / where) over at most this many allowed
  // chunks scans exactly those vectors; a larger allow-list walks the HNSW graph with a filter.
  // bench_kb (dim 384): scanning 5,000 allowed vectors costs about what an HNSW query does.
  size_t exact_filter_limit = 5000;
};

// Storage tier of a kb (tier.cpp). hot: the vector index stays in memory once loaded. warm: it
// is read from its file for each use and dropped after. cold: chunks and keyword rows live in a
// zstd archive (data_dir/kb/<id>.cold.zst) instead of SQLite; any access restores them (the kb
// becomes warm). Search works in every tier, slower the colder.
enum class Tier { Hot, Warm, Cold };
const char* tier_name(Tier t);                         // "hot", "warm", "cold"
std::optional<Tier> parse_tier(std::string_view name);  // nullopt for other names

struct TierInfo {
  std::string kb;
  Tier tier = Tier::Hot;
  int64_t last_access = 0;    // unix seconds (kept to within a minute); created_at if never used
  bool index_loaded = false;  // the vector index is in memory now
  bool archived = false;      // chunks are in the archive, not in SQLite
  int64_t archive_bytes = 0;
};

// What a kb's vector index holds (loading it when needed); for `kb info` and tests.
struct VectorIndexInfo {
  std::string kind = "none";  // "none" (kb without vectors), "flat" or "hnsw"
  int64_t vectors = 0;        // live vectors
  int64_t tombstones = 0;     // deleted vectors HNSW still holds (hidden from results until a rebuild)
  bool rebuilt = false;       // loading found the file missing, stale or corrupt and rebuilt it from SQLite
};

const char* search_mode_name(SearchMode mode);                  // "vector", "keyword", "hybrid"
std::optional<SearchMode> parse_search_mode(std::string_view name);  // nullopt for other names
// {"kb", "mode", "note", "hits": [{"rank", "score", "path", "title", "headings", "snippet",
// "chunk_id", "vector_rank", "keyword_rank"}]}: `kb search --json` and the HTTP search answer.
nlohmann::json search_result_json(const std::string& kb, const SearchResult& r);

// The knowledge bases of one data directory: tables in `data_dir/inhouse.db`, vectors in
// `data_dir/kb/<id>.faiss`. SQLite is the source of truth (chunk embeddings are stored there too);
// the FAISS file is a cache that open() checks and rebuilds when missing or stale, so a crash
// at any point loses nothing acknowledged. Thread-safe (one internal mutex).
class KnowledgeStore {
 public:
  static KnowledgeStore open(const std::filesystem::path& data_dir, const StoreOptions& options = {});
  KnowledgeStore(KnowledgeStore&&) noexcept;
  KnowledgeStore& operator=(KnowledgeStore&&) noexcept;
  ~KnowledgeStore();  // saves dirty vector indexes

  KbInfo create(const std::string& name, const std::string& embed_model, int dim,
                const std::string& description = "");
  std::optional<KbInfo> find(const std::string& name);
  KbInfo get(const std::string& name);  // throws Error(NotFound)
  std::vector<KbInfo> list();
  void remove(const std::string& name);  // the kb, its documents, chunks, vectors, index file
  void add_root(const std::string& kb, const std::string& root);

  // Adds or replaces (same path) a document with its chunks, FTS rows and vectors in one
  // transaction; durable (synchronous=FULL) when it returns. Returns the document id (kept on
  // replace). Embeddings are re-normalised; Error(Invalid) for an empty path, an embedding whose
  // size is not the kb's dim (any embedding in a dim-0 kb), NaN/inf or all-zero values.
  int64_t put_document(const std::string& kb, const DocumentInput& doc);
  bool remove_document(const std::string& kb, const std::string& path);
  std::vector<DocumentInfo> documents(const std::string& kb);
  std::vector<DocumentInfo> documents(const std::string& kb, const std::optional<DocumentIds>& allowed);
  // By path, else by title / file stem / alias (case-insensitive).
  std::optional<DocumentInfo> find_document(const std::string& kb, const std::string& path_or_title);
  std::vector<StoredChunk> chunks(const std::string& kb, int64_t document_id);  // Error(NotFound) if not in kb

  // `note` as find_document takes it; Error(NotFound) when no document matches.
  NoteLinks links(const std::string& kb, const std::string& note);
  // The same seen by someone who may read only `allowed`: a note outside it is NotFound (as if
  // absent; names resolve among allowed documents only), backlinks from documents outside it are
  // dropped, and outgoing links to documents outside it look dangling (the link text is part of
  // the readable note; that the target exists is not).
  NoteLinks links(const std::string& kb, const std::string& note, const std::optional<DocumentIds>& allowed);
  // The documents of kb in `documents` (nullopt: all) that match every `where` entry (see
  // SearchQuery::where); nullopt when both are empty (no filter). What search applies.
  std::optional<DocumentIds> allowed_documents(const std::string& kb, const std::optional<DocumentIds>& documents,
                                               const std::map<std::string, std::string>& where);
  // k is capped at 1000. Only chunks of documents passing query.documents and query.where are
  // returned, and up to k of them whenever that many match (filtering happens inside the
  // keyword query and the vector search, not after a fixed top-k). Hybrid/Vector fall back to Keyword (with a note) when the kb has no
  // vectors or the query no embedding; a query embedding of the wrong size is Error(Invalid).
  SearchResult search(const std::string& kb, const SearchQuery& query);

  // Writes dirty vector indexes to disk (temp file + rename). Also done on destruction; worth
  // calling after a large ingest, since a process killed before it rebuilds the index on next use.
  void flush();
  VectorIndexInfo vector_index_info(const std::string& kb);

  // ---- storage tiers (tier.cpp) ----
  // Moves a kb to a tier now (cold: archives it; hot/warm from cold: restores it first).
  void set_tier(const std::string& kb, Tier tier);
  // By idleness (now - last access): cold after cold_after_s, else warm after warm_after_s for a
  // hot kb (0 = never). Never promotes. Returns the kbs it moved, as they are after the move.
  std::vector<TierInfo> apply_tier_policy(int64_t warm_after_s, int64_t cold_after_s, int64_t now);
  TierInfo tier_info(const std::string& kb);
  std::vector<TierInfo> tier_info();  // every kb, by name

  // ---- versions (versions.cpp) ----
  // put_document replacing a document whose content_hash differs keeps the replaced version
  // (title, metadata, body, chunks with their embeddings, links, tags: zstd-compressed) in its
  // history and numbers the new one version + 1. remove_document drops the history with the
  // document; purge_document also scrubs it from disk. Error(NotFound) for a document not in kb
  // or a version it does not have.
  std::vector<DocumentVersion> history(const std::string& kb, int64_t document_id);  // newest first, current included
  std::string version_text(const std::string& kb, int64_t document_id, int64_t version);
  // A unified diff (---/+++ headers, @@ hunks, 3 lines of context) from one version's text to
  // another's; "" when they are equal.
  std::string diff(const std::string& kb, int64_t document_id, int64_t from, int64_t to);
  // Makes a kept version current again (its chunks and vectors come back without re-embedding);
  // the version it replaces joins the history. Returns the new current version number.
  int64_t restore_version(const std::string& kb, int64_t document_id, int64_t version);
  // Erasure: the document, its chunks, FTS rows, vectors, history and fields, with SQLite's
  // secure_delete on, the FTS index merged and the vector index rebuilt and saved so no copy of
  // its text or vectors is left in the files. False when it is not in kb.
  bool purge_document(const std::string& kb, int64_t document_id);

  // ---- custom fields (versions.cpp) ----
  // Patches a document's custom fields: a string sets, a number or bool sets its text, null
  // removes; kept across re-ingests and versions. Keys 1-64 bytes; `retention` must be a date
  // YYYY-MM-DD. Error(Invalid) for anything else (nothing changed), Error(NotFound) for no document.
  void set_fields(const std::string& kb, int64_t document_id, const nlohmann::json& patch);
  // Across all kbs: documents whose field `key` equals value (e.g. owner = a user), and those
  // whose `retention` date is before `date` (YYYY-MM-DD, else Error(Invalid)). By kb, then path.
  std::vector<DocumentRef> documents_with_field(const std::string& key, const std::string& value);
  std::vector<DocumentRef> retention_expired(const std::string& date);

 private:
  struct Impl;
  explicit KnowledgeStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- embedding (embedder.cpp) ------------------------------------------------------------

// What ingestion and search need from an embedding model. count_tokens() is also the chunker's
// budget measure, so chunks fit the model.
class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual std::string name() const = 0;  // recorded as the kb's embed_model
  virtual int dim() const = 0;
  virtual size_t max_tokens() const = 0;  // most tokens one embed() takes (special tokens included)
  virtual size_t count_tokens(std::string_view text) const = 0;  // without special tokens
  virtual std::vector<float> embed(std::string_view text) = 0;   // L2-normalised; longer input truncated
};

// A `bert` GGUF model through model::Encoder with its own WordPiece vocabulary. name() is the
// file's absolute path. Throws std::runtime_error when the file is not an embedding model.
std::unique_ptr<Embedder> open_gguf_embedder(const std::string& path, int threads = 0);

// The token measure used without an embedding model: words, with each CJK character a word.
size_t approximate_tokens(std::string_view text);

// ---- ingestion (ingest.cpp) ----------------------------------------------------------------

struct IngestOptions {
  ChunkOptions chunking;
  size_t max_file_bytes = 64u << 20;  // bigger files are skipped with a message
};

struct IngestEvent {
  enum class Kind { Added, Updated, Unchanged, Removed, Skipped, Failed };
  Kind kind = Kind::Added;
  std::string path;
  std::string message;   // why it was skipped / failed
  size_t chunks = 0;
  size_t done = 0, total = 0;  // files handled so far / to handle (for a progress bar)
};
const char* ingest_event_name(IngestEvent::Kind k);  // "added", "updated", ...

struct IngestReport {
  size_t added = 0, updated = 0, unchanged = 0, removed = 0, skipped = 0, failed = 0;
  size_t chunks = 0;         // written
  double seconds = 0;
  std::vector<IngestEvent> problems;  // Skipped and Failed events
};

using IngestProgress = std::function<void(const IngestEvent&)>;

// Turns one file's bytes into what the store keeps: parse (format from the name), chunk with the
// embedder's token measure, embed each chunk (with its title/heading context). Throws ParseError.
DocumentInput prepare_document(const std::string& key, std::string_view bytes, Format format,
                               Embedder* embedder, const IngestOptions& options);

// Adds files and folders (recursively; hidden entries such as .obsidian/.git skipped; only known
// formats) to the kb, recording each path as a root. A file whose content hash is unchanged is
// not re-read. A file that fails is reported and skipped; the rest continue. The embedder must
// match the kb's (name and dim), or be null for a keyword-only kb.
IngestReport ingest_paths(KnowledgeStore& store, const std::string& kb,
                          const std::vector<std::filesystem::path>& paths, Embedder* embedder,
                          const IngestOptions& options, const IngestProgress& progress = {});
// Walks the kb's roots again: changed files re-ingested (by content hash), new ones added,
// documents whose file is gone removed.
IngestReport sync_kb(KnowledgeStore& store, const std::string& kb, Embedder* embedder,
                     const IngestOptions& options, const IngestProgress& progress = {});

// The Markdown-ish text of a parsed note (DocumentInput::body): a section's headings that differ
// from the previous section's as "#"-prefixed lines (depth = position in the path), then its text.
std::string note_body(const Note& note);
// A unified line diff of two texts labelled from_label/to_label; "" when they are equal.
std::string unified_diff(std::string_view from, std::string_view to, const std::string& from_label,
                         const std::string& to_label);

// Hex BLAKE2b-256 of bytes (content hashes).
std::string content_hash(std::string_view bytes);

// ---- answers (answer.cpp) ------------------------------------------------------------------

struct Source {
  int number = 0;  // [number] in the answer
  std::string path, title;
  std::vector<std::string> headings;
  int64_t chunk_id = 0;
  std::string text;
  bool linked = false;  // pulled in through a link from a retrieved note, not retrieved itself
};

struct RagPrompt {
  nlohmann::json messages = nlohmann::json::array();  // system + user, for a chat template
  std::vector<Source> sources;
};

// The reply when retrieval finds nothing: the model is not asked.
inline constexpr std::string_view kNoAnswer = "The notes do not contain an answer to this question.";

// Sources from the hits (one per chunk, in rank order, within max_context_tokens measured by
// count) and a prompt that asks for an answer from them only, citing [n], and to reply exactly
// kNoAnswer when they do not contain it.
RagPrompt build_rag_prompt(const std::string& question, const std::vector<Source>& sources);
// The source numbers an answer cites — "[2]", "[1, 3]", "[1][3]" — in order of first citation,
// only numbers in 1..n_sources, each once.
std::vector<int> cited_sources(std::string_view answer, size_t n_sources);
// Retrieves for a question: search, then (with_links) the first chunk of notes linked from the
// top hits as extra sources. Keeps sources within max_context_tokens. A linked note must pass
// the query's filter (documents and where) too.
std::vector<Source> retrieve_sources(KnowledgeStore& store, const std::string& kb, const SearchQuery& query,
                                     bool with_links, size_t max_context_tokens, const TokenCounter& count);

// A long note is summarised in pieces of at most max_tokens each, then the piece summaries are
// summarised together. summary_pieces() cuts the note's chunk texts into such pieces;
// summary_messages() is the prompt for one piece (or, with `combine`, for the joined summaries).
std::vector<std::string> summary_pieces(const std::vector<StoredChunk>& chunks, size_t max_tokens, const TokenCounter& count);
nlohmann::json summary_messages(const std::string& title, const std::string& text, bool combine);

}  // namespace inhouse::kb

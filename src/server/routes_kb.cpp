// server/routes_kb.cpp — knowledge bases over HTTP, behind the server's authentication, rate
// limits and uniform errors:
//   GET    /api/v1/kb                         list
//   POST   /api/v1/kb                         create {"name", "description"?, "embed_model"?}
//   GET    /api/v1/kb/NAME                    show (with its documents)
//   DELETE /api/v1/kb/NAME                    remove
//   POST   /api/v1/kb/NAME/documents          upload {"path", "content" | "content_base64", "format"?}
//   DELETE /api/v1/kb/NAME/documents?path=P   remove one document
//   POST   /api/v1/kb/NAME/search             {"query", "k"?, "mode"?}
//   POST   /api/v1/kb/NAME/ask                {"question", "model"?, "k"?, "mode"?, "stream"?, "max_tokens"?, "links"?}
//   GET    /api/v1/kb/NAME/documents?path=P   download one document (its current text, fields)
//   PATCH  /api/v1/kb/NAME/documents?path=P   custom fields {"fields": {"department": "finance", "x": null}}
//   GET    /api/v1/kb/NAME/documents/history?path=P            its versions, newest first
//   GET    /api/v1/kb/NAME/documents/diff?path=P[&from=V&to=W] unified diff (default: previous → current)
//   POST   /api/v1/kb/NAME/documents/restore  {"path", "version"}  make an old version current
//   GET    /api/v1/kb/NAME/links?note=N       outgoing links and backlinks
// Access (access::AccessControl): a kb the caller may read nothing of is 404, as if absent;
// listings, documents, search hits, answers' sources and link graphs hold only documents the
// caller may read; writing and deleting need those permissions on the document (403). Every
// call is audited (kb.read / kb.search / kb.ask / kb.write / kb.delete, "denied" when refused).
#include <sodium.h>

#include "kb/kb.h"
#include "server/server_impl.h"

namespace inhouse::server {
namespace {

using nlohmann::json;

const char* kName = R"(([A-Za-z0-9_.\-]{1,64}))";

std::string route(const std::string& tail = "") { return std::string("/api/v1/kb/") + kName + tail; }

// kb's errors as HTTP errors; anything else goes on to guard().
template <typename F>
auto kb_call(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const kb::Error& e) {
    switch (e.code()) {
      case kb::Error::Code::NotFound: throw not_found(e.what());
      case kb::Error::Code::AlreadyExists: throw ApiError{409, e.what(), {}, "conflict_error"};
      case kb::Error::Code::Invalid: throw bad_request(e.what());
    }
    throw;
  } catch (const kb::ParseError& e) {
    throw ApiError{422, std::string("cannot parse the document: ") + e.what(), {}, "invalid_request_error"};
  }
}

json info_json(const kb::KbInfo& i) {
  return {{"name", i.name}, {"description", i.description}, {"embed_model", i.embed_model}, {"dim", i.dim},
          {"created_at", i.created_at}, {"documents", i.documents}, {"chunks", i.chunks}};
}

json document_json(const kb::DocumentInfo& d) {
  return {{"id", d.id}, {"path", d.path}, {"title", d.title}, {"format", kb::format_name(d.format)},
          {"chunks", d.chunks}, {"size", d.size}, {"ingested_at", d.ingested_at}, {"tags", d.tags},
          {"metadata", d.metadata}, {"fields", d.fields}, {"version", d.version}};
}

std::string kb_resource(const std::string& kb, const std::string& doc_path = "") {
  return "kb:" + kb + (doc_path.empty() ? "" : "/" + doc_path);
}

json source_json(const kb::Source& s) {
  return {{"number", s.number}, {"path", s.path}, {"title", s.title}, {"headings", s.headings},
          {"chunk_id", s.chunk_id}, {"linked", s.linked}};
}

kb::SearchMode mode_field(const Fields& f) {
  const auto mode = kb::parse_search_mode(f.string("mode").value_or("hybrid"));
  if (!mode) throw bad_request("field 'mode' must be \"vector\", \"keyword\" or \"hybrid\"");
  return *mode;
}

std::string decode_base64(const std::string& text) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  size_t n = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(), " \r\n",
                        &n, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0)
    throw bad_request("field 'content_base64' is not valid base64");
  out.resize(n);
  return out;
}

}  // namespace

kb::Embedder* Server::Impl::kb_embedder(const kb::KbInfo& info) {
  if (info.dim == 0) return nullptr;
  std::lock_guard lock(kb_mutex);
  auto& slot = kb_embedders[info.embed_model];
  if (!slot) {
    try {
      slot = kb::open_gguf_embedder(info.embed_model, config.threads);
    } catch (const std::exception& e) {
      kb_embedders.erase(info.embed_model);
      throw ApiError{503, "knowledge base '" + info.name + "' needs embedding model " + info.embed_model + ": " + e.what(),
                     {}, "server_error"};
    }
  }
  return slot.get();
}

// Embedding models are not thread-safe: one caller at a time.
std::vector<float> Server::Impl::kb_embed(const kb::KbInfo& info, const std::string& text) {
  kb::Embedder* e = kb_embedder(info);
  if (!e) return {};
  std::lock_guard lock(kb_embed_mutex);
  return e->embed(text);
}

std::optional<kb::DocumentIds> Server::Impl::kb_readable(const Caller& c, const access::Principal& p,
                                                        const std::string& name, const char* action) {
  const bool exists = kb_store->find(name).has_value();
  if (exists && access->can_see_kb(p, name)) {
    auto readable = kb_call([&] { return access->readable_documents(p, *kb_store, name); });
    if (!readable || !readable->empty() || access->allowed(p, access::Permission::Read, name)) return readable;
  }
  if (exists) audit(c, action, kb_resource(name), audit::kDenied);
  throw not_found("no knowledge base '" + name + "'");
}

void Server::Impl::kb_require(const Caller& c, const access::Principal& p, access::Permission perm,
                              const std::string& name, const std::string& doc_rel, const char* action) {
  const access::Decision d = access->decide(p, perm, name, doc_rel);
  if (d.allowed) return;
  audit(c, action, kb_resource(name, doc_rel), audit::kDenied, {{"permission", access::permission_name(perm)}});
  throw forbidden(std::string("no '") + access::permission_name(perm) + "' permission on " +
                  (doc_rel.empty() ? "knowledge base '" + name + "'" : "'" + doc_rel + "' in knowledge base '" + name + "'"));
}

namespace {

// A stored document's path as the access policy names it (uploads, stored as "upload:NAME",
// are named NAME).
std::string doc_rel_path(const kb::KbInfo& info, const std::string& stored_path) {
  return access::document_resource_path(info, stored_path);
}

}  // namespace

void Server::Impl::install_kb_routes() {
  kb_store = std::make_unique<kb::KnowledgeStore>(kb::KnowledgeStore::open(config.data_dir));

  http->Get("/api/v1/kb", guard([this](const httplib::Request& req, httplib::Response& res) {
    const Caller caller = admit(req);
    const access::Principal p = who(caller);
    json out = json::array();
    for (const auto& i : kb_store->list())
      if (access->can_see_kb(p, i.name)) out.push_back(info_json(i));
    audit(caller, audit::kKbRead, "kb:*", audit::kOk, {{"op", "list"}, {"shown", out.size()}});
    send_json(res, {{"object", "list"}, {"data", out}});
  }));

  http->Post("/api/v1/kb", guard([this](const httplib::Request& req, httplib::Response& res) {
    const auto [caller, body] = begin(req);
    const Fields f(body);
    const std::string name = f.required_string("name");
    kb_require(caller, who(caller), access::Permission::Write, name, "", audit::kKbWrite);
    std::string embed_path;
    int dim = 0;
    if (auto model = f.string("embed_model"); model || !embed_models.empty()) {
      EmbedModel& m = embed_model(model);
      embed_path = std::filesystem::absolute(m.path).lexically_normal().string();
      dim = int(m.encoder.n_embd());
    }
    const kb::KbInfo info = kb_call([&] { return kb_store->create(name, embed_path, dim, f.string("description").value_or("")); });
    audit(caller, audit::kKbWrite, kb_resource(name), audit::kOk, {{"op", "create"}});
    send_json(res, info_json(info), 201);
  }));

  http->Get(route(), guard([this](const httplib::Request& req, httplib::Response& res) {
    const Caller caller = admit(req);
    const std::string name = req.matches[1];
    const auto readable = kb_readable(caller, who(caller), name, audit::kKbRead);
    json out = info_json(kb_call([&] { return kb_store->get(name); }));
    json docs = json::array();
    for (const auto& d : kb_call([&] { return kb_store->documents(name, readable); })) docs.push_back(document_json(d));
    if (readable) {  // counts of what the caller cannot read would leak
      out["documents"] = docs.size();
      out.erase("chunks");
    }
    out["files"] = docs;
    audit(caller, audit::kKbRead, kb_resource(name), audit::kOk, {{"op", "show"}});
    send_json(res, out);
  }));

  http->Delete(route(), guard([this](const httplib::Request& req, httplib::Response& res) {
    const Caller caller = admit(req);
    const std::string name = req.matches[1];
    const access::Principal p = who(caller);
    kb_readable(caller, p, name, audit::kKbDelete);
    kb_require(caller, p, access::Permission::Delete, name, "", audit::kKbDelete);
    kb_call([&] { kb_store->remove(name); });
    audit(caller, audit::kKbDelete, kb_resource(name), audit::kOk, {{"op", "remove_kb"}});
    send_json(res, {{"deleted", name}});
  }));

  http->Post(route("/documents"), guard([this](const httplib::Request& req, httplib::Response& res) {
    const auto [caller, body] = begin(req);
    const std::string name = req.matches[1];
    const Fields f(body);
    const std::string path = f.required_string("path");
    const auto text = f.string("content");
    const auto b64 = f.string("content_base64");
    if (bool(text) == bool(b64)) throw bad_request("give exactly one of fields 'content' and 'content_base64'");
    const std::string bytes = text ? *text : decode_base64(*b64);
    std::optional<kb::Format> format = kb::format_of(path);
    if (auto given = f.string("format")) {
      format = *given == "markdown" ? kb::Format::Markdown : *given == "html" ? kb::Format::Html
             : *given == "pdf"      ? kb::Format::Pdf      : *given == "text" ? kb::Format::Text
                                    : throw bad_request("field 'format' must be markdown, html, pdf or text");
    }
    if (!format) throw bad_request("field 'path' has an unknown extension; give 'format'");
    const access::Principal p = who(caller);
    kb_readable(caller, p, name, audit::kKbWrite);
    const kb::KbInfo info = kb_call([&] { return kb_store->get(name); });
    const std::string stored = "upload:" + path;
    kb_require(caller, p, access::Permission::Write, name, doc_rel_path(info, stored), audit::kKbWrite);
    kb::Embedder* embedder = kb_embedder(info);
    kb::DocumentInput doc = kb_call([&] {
      std::unique_lock lock(kb_embed_mutex, std::defer_lock);
      if (embedder) lock.lock();
      return kb::prepare_document(stored, bytes, *format, embedder, {});
    });
    if (!caller.user.empty()) doc.fields["owner"] = caller.user;
    const int64_t id = kb_call([&] { return kb_store->put_document(name, doc); });
    audit(caller, audit::kKbWrite, kb_resource(name, doc_rel_path(info, stored)), audit::kOk,
          {{"op", "upload"}, {"document_id", id}, {"bytes", bytes.size()}});
    send_json(res, {{"id", id}, {"path", doc.path}, {"title", doc.title}, {"chunks", doc.chunks.size()}}, 201);
  }));

  // The readable document that ?path= names (by path, title or alias), else 404.
  auto readable_document = [this](const Caller& caller, const access::Principal& p, const std::string& name,
                                  const std::string& path, const char* action) {
    if (path.empty()) throw bad_request("query parameter 'path' is required");
    const auto readable = kb_readable(caller, p, name, action);
    auto doc = kb_call([&] { return kb_store->find_document(name, "upload:" + path); });
    if (!doc) doc = kb_call([&] { return kb_store->find_document(name, path); });
    if (!doc || (readable && !readable->count(doc->id)))
      throw not_found("no document '" + path + "' in knowledge base '" + name + "'");
    return *doc;
  };

  http->Get(route("/documents"), guard([this, readable_document](const httplib::Request& req, httplib::Response& res) {
    const Caller caller = admit(req);
    const std::string name = req.matches[1];
    const kb::DocumentInfo doc = readable_document(caller, who(caller), name, req.get_param_value("path"), audit::kKbRead);
    std::string text;
    for (const auto& v : kb_call([&] { return kb_store->history(name, doc.id); }))
      if (v.current) text = kb_call([&] { return kb_store->version_text(name, doc.id, v.version); });
    const kb::KbInfo info = kb_call([&] { return kb_store->get(name); });
    audit(caller, audit::kKbRead, kb_resource(name, doc_rel_path(info, doc.path)), audit::kOk, {{"op", "download"}});
    json out = document_json(doc);
    out["text"] = text;
    send_json(res, out);
  }));

  http->Patch(route("/documents"), guard([this, readable_document](const httplib::Request& req, httplib::Response& res) {
    const auto [caller, body] = begin(req);
    const std::string name = req.matches[1];
    const access::Principal p = who(caller);
    const kb::DocumentInfo doc = readable_document(caller, p, name, req.get_param_value("path"), audit::kKbWrite);
    const kb::KbInfo info = kb_call([&] { return kb_store->get(name); });
    kb_require(caller, p, access::Permission::Write, name, doc_rel_path(info, doc.path), audit::kKbWrite);
    const json* patch = Fields(body).get("fields");
    if (!patch || !patch->is_object()) throw bad_request("field 'fields' must be an object");
    kb_call([&] { kb_store->set_fields(name, doc.id, *patch); });
    audit(caller, audit::kKbWrite, kb_resource(name, doc_rel_path(info, doc.path)), audit::kOk,
          {{"op", "fields"}, {"fields", *patch}});
    send_json(res, document_json(*kb_call([&] { return kb_store->find_document(name, doc.path); })));
  }));

  // Versions: the history and diffs need read, a restore needs write on the document.
  auto version_param = [](const httplib::Request& req, const char* name) -> std::optional<int64_t> {
    if (!req.has_param(name)) return std::nullopt;
    try {
      return std::stoll(req.get_param_value(name));
    } catch (const std::exception&) {
      throw bad_request(std::string("query parameter '") + name + "' must be a version number");
    }
  };
  http->Get(route("/documents/history"), guard([this, readable_document](const httplib::Request& req, httplib::Response& res) {
    const Caller caller = admit(req);
    const std::string name = req.matches[1];
    const kb::DocumentInfo doc = readable_document(caller, who(caller), name, req.get_param_value("path"), audit::kKbRead);
    json out = json::array();
    for (const kb::DocumentVersion& v : kb_call([&] { return kb_store->history(name, doc.id); }))
      out.push_back({{"version", v.version}, {"current", v.current}, {"title", v.title}, {"content_hash", v.content_hash},
                     {"size", v.size}, {"chunks", v.chunks}, {"created_at", v.created_at}, {"replaced_at", v.replaced_at}});
    audit(caller, audit::kKbRead, kb_resource(name, doc_rel_path(kb_store->get(name), doc.path)), audit::kOk, {{"op", "history"}});
    send_json(res, {{"path", doc.path}, {"versions", out}});
  }));
  http->Get(route("/documents/diff"), guard([this, readable_document, version_param](const httplib::Request& req, httplib::Response& res) {
    const Caller caller = admit(req);
    const std::string name = req.matches[1];
    const kb::DocumentInfo doc = readable_document(caller, who(caller), name, req.get_param_value("path"), audit::kKbRead);
    const int64_t to = version_param(req, "to").value_or(doc.version);
    const int64_t from = version_param(req, "from").value_or(to - 1);
    const std::string diff = kb_call([&] { return kb_store->diff(name, doc.id, from, to); });
    audit(caller, audit::kKbRead, kb_resource(name, doc_rel_path(kb_store->get(name), doc.path)), audit::kOk,
          {{"op", "diff"}, {"from", from}, {"to", to}});
    res.set_content(diff, "text/x-diff; charset=utf-8");
  }));
  http->Post(route("/documents/restore"), guard([this, readable_document](const httplib::Request& req, httplib::Response& res) {
    const auto [caller, body] = begin(req);
    const std::string name = req.matches[1];
    const Fields f(body);
    const access::Principal p = who(caller);
    const kb::DocumentInfo doc = readable_document(caller, p, name, f.required_string("path"), audit::kKbWrite);
    const std::string rel = doc_rel_path(kb_call([&] { return kb_store->get(name); }), doc.path);
    kb_require(caller, p, access::Permission::Write, name, rel, audit::kKbWrite);
    const int64_t version = f.integer("version", 1, INT64_MAX).value_or(0);
    if (version == 0) throw bad_request("field 'version' is required");
    const int64_t now = kb_call([&] { return kb_store->restore_version(name, doc.id, version); });
    audit(caller, audit::kKbWrite, kb_resource(name, rel), audit::kOk, {{"op", "restore"}, {"version", version}, {"new_version", now}});
    send_json(res, {{"path", doc.path}, {"restored", version}, {"version", now}});
  }));

  http->Delete(route("/documents"), guard([this, readable_document](const httplib::Request& req, httplib::Response& res) {
    const Caller caller = admit(req);
    const std::string name = req.matches[1];
    const access::Principal p = who(caller);
    const kb::DocumentInfo doc = readable_document(caller, p, name, req.get_param_value("path"), audit::kKbDelete);
    const kb::KbInfo info = kb_call([&] { return kb_store->get(name); });
    kb_require(caller, p, access::Permission::Delete, name, doc_rel_path(info, doc.path), audit::kKbDelete);
    if (!kb_call([&] { return kb_store->remove_document(name, doc.path); }))
      throw not_found("no document '" + req.get_param_value("path") + "' in knowledge base '" + name + "'");
    audit(caller, audit::kKbDelete, kb_resource(name, doc_rel_path(info, doc.path)), audit::kOk, {{"op", "remove"}});
    send_json(res, {{"deleted", doc.path}});
  }));

  http->Get(route("/links"), guard([this](const httplib::Request& req, httplib::Response& res) {
    const Caller caller = admit(req);
    const std::string name = req.matches[1];
    const std::string note = req.get_param_value("note");
    if (note.empty()) throw bad_request("query parameter 'note' is required");
    const auto readable = kb_readable(caller, who(caller), name, audit::kKbRead);
    const kb::NoteLinks nl = kb_call([&] { return kb_store->links(name, note, readable); });
    auto one = [](const kb::NoteLink& l) {
      return json{{"from_path", l.from_path}, {"from_title", l.from_title}, {"target", l.link.target},
                  {"resolved", l.resolved.has_value()}, {"to_path", l.to_path}, {"to_title", l.to_title}};
    };
    json out = {{"outgoing", json::array()}, {"backlinks", json::array()}};
    for (const auto& l : nl.outgoing) out["outgoing"].push_back(one(l));
    for (const auto& l : nl.backlinks) out["backlinks"].push_back(one(l));
    audit(caller, audit::kKbRead, kb_resource(name), audit::kOk, {{"op", "links"}, {"note", note}});
    send_json(res, out);
  }));

  http->Post(route("/search"), guard([this](const httplib::Request& req, httplib::Response& res) {
    const auto [caller, body] = begin(req);
    const std::string name = req.matches[1];
    const auto readable = kb_readable(caller, who(caller), name, audit::kKbSearch);
    const kb::SearchQuery q = kb_query(name, Fields(body), "query", readable);
    const kb::SearchResult r = kb_call([&] { return kb_store->search(name, q); });
    audit(caller, audit::kKbSearch, kb_resource(name), audit::kOk,
          {{"query", q.text}, {"mode", kb::search_mode_name(r.mode_used)}, {"hits", r.hits.size()}});
    send_json(res, kb::search_result_json(name, r));
  }));

  http->Post(route("/ask"), guard([this](const httplib::Request& req, httplib::Response& res) { kb_ask(req, res); }));
}

kb::SearchQuery Server::Impl::kb_query(const std::string& kb_name, const Fields& f, const char* text_field,
                                       std::optional<kb::DocumentIds> readable) {
  kb::SearchQuery q;
  q.text = f.required_string(text_field);
  q.k = size_t(f.integer("k", 1, 100).value_or(10));
  q.mode = mode_field(f);
  q.documents = std::move(readable);
  if (const json* where = f.get("where")) {
    if (!where->is_object()) throw bad_request("field 'where' must be an object of field names to values");
    for (const auto& [k, v] : where->items()) {
      if (!v.is_string() && !v.is_number() && !v.is_boolean())
        throw bad_request("field 'where." + k + "' must be a string, number or boolean");
      q.where[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
  }
  const kb::KbInfo info = kb_call([&] { return kb_store->get(kb_name); });
  if (q.mode != kb::SearchMode::Keyword) q.embedding = kb_embed(info, q.text);
  return q;
}

void Server::Impl::kb_ask(const httplib::Request& req, httplib::Response& res) {
  const auto [caller, body] = begin(req);
  const std::string name = req.matches[1];
  const Fields f(body);
  ChatModel& m = chat_model(f.string("model"));
  const auto readable = kb_readable(caller, who(caller), name, audit::kKbAsk);
  const kb::SearchQuery q = kb_query(name, f, "question", readable);
  const auto count = [&m](std::string_view t) { return m.tokenizer.encode(t, false, false).size(); };
  const size_t budget = size_t(std::max<int64_t>(64, m.scheduler->n_ctx() / 2));  // half the context for sources
  const std::vector<kb::Source> sources =
      kb_call([&] { return kb::retrieve_sources(*kb_store, name, q, f.boolean("links").value_or(true), budget, count); });
  json cited = json::array();
  for (const auto& s : sources) cited.push_back(source_json(s));
  audit(caller, audit::kKbAsk, kb_resource(name), audit::kOk, {{"question", q.text}, {"sources", sources.size()}});
  const bool streaming = f.boolean("stream").value_or(false);
  if (sources.empty()) {  // nothing to answer from: the model is not asked
    const json out = {{"answer", kb::kNoAnswer}, {"sources", cited}, {"cited", json::array()}, {"finish_reason", "stop"}};
    if (!streaming) return send_json(res, out);
    res.set_content("data: " + json{{"sources", cited}}.dump() + "\n\ndata: " + json{{"text", kb::kNoAnswer}}.dump() +
                        "\n\ndata: " + json{{"done", true}, {"finish_reason", "stop"}}.dump() + "\n\n",
                    "text/event-stream");
    return;
  }
  GenerationSpec spec;
  spec.model = &m;
  const std::string text = m.render(kb::build_rag_prompt(q.text, sources).messages);
  spec.prompt = m.tokenize(text, true);
  spec.sampling = openai_sampling(f);
  spec.max_tokens = int(f.integer("max_tokens", 1, m.scheduler->n_ctx()).value_or(512));
  spec.split_reasoning = true;
  spec.start_in_reasoning = engine::prompt_opens_reasoning(text);
  auto usage = [](const engine::GenerationResult& r) {
    const int64_t n = int64_t(r.tokens.size());
    return json{{"prompt_tokens", r.prompt_tokens}, {"completion_tokens", n}, {"total_tokens", r.prompt_tokens + n}};
  };
  auto finish = [](const engine::GenerationResult& r) { return engine::finish_reason_name(r.finish_reason); };
  Generation g = start(spec);
  if (!streaming) {
    std::string reasoning, content;
    const engine::GenerationResult r = wait(g, m, caller, reasoning, content);
    json out = {{"answer", content}, {"sources", cited}, {"cited", kb::cited_sources(content, sources.size())},
                {"finish_reason", finish(r)}, {"usage", usage(r)}};
    if (!reasoning.empty()) out["reasoning"] = reasoning;
    return send_json(res, out);
  }
  auto event = [](const json& j) { return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n"; };
  auto sent_sources = std::make_shared<bool>(false);
  auto sources_once = [event, cited, sent_sources]() {
    if (*sent_sources) return std::string();
    *sent_sources = true;
    return event({{"sources", cited}});
  };
  auto answer = std::make_shared<std::string>();
  auto on_delta = [event, sources_once, answer](const engine::TokenTextStream::Delta& d) {
    std::string out = sources_once();
    *answer += d.content;
    if (!d.reasoning.empty()) out += event({{"reasoning", d.reasoning}});
    if (!d.content.empty()) out += event({{"text", d.content}});
    return out;
  };
  auto on_end = [event, usage, finish, sources_once, answer, n = sources.size()](const engine::GenerationResult& r) {
    std::string out = sources_once();
    if (r.finish_reason == engine::FinishReason::Error)
      return out + event(error_body({500, "generation failed: " + r.error, {}, "server_error"}));
    return out + event({{"done", true}, {"cited", kb::cited_sources(*answer, n)}, {"finish_reason", finish(r)},
                        {"usage", usage(r)}});
  };
  stream(res, "text/event-stream", std::move(g), m, caller, on_delta, on_end, ": keep-alive\n\n");
}

}  // namespace inhouse::server

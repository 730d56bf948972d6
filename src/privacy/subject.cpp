// privacy/subject.cpp — data-subject export and erasure, and retention dates.
#include "privacy/privacy.h"

#include <ctime>

namespace inhouse::privacy {

using nlohmann::json;

namespace {

json user_json(const access::User& u) {
  return {{"name", u.name}, {"display_name", u.display_name}, {"email", u.email},
          {"created_at", u.created_at}, {"roles", u.roles}, {"groups", u.groups}};
}

std::string document_text(kb::KnowledgeStore& store, const kb::DocumentRef& ref) {
  for (const kb::DocumentVersion& v : store.history(ref.kb, ref.document.id))
    if (v.current) return store.version_text(ref.kb, ref.document.id, v.version);
  return {};
}

}  // namespace

json export_user(const Stores& s, const std::string& user) {
  json out = {{"user", nullptr}, {"clients", json::array()}, {"documents", json::array()}, {"audit", json::array()}};
  if (auto u = s.access.find_user(user)) out["user"] = user_json(*u);
  for (const auth::Client& c : s.clients.list_for_user(user))
    out["clients"].push_back({{"id", c.id}, {"name", c.name}, {"role", c.role}, {"created_at", c.created_at}});
  for (const kb::DocumentRef& ref : s.kb.documents_with_field("owner", user)) {
    const kb::DocumentInfo& d = ref.document;
    json versions = json::array();
    for (const kb::DocumentVersion& v : s.kb.history(ref.kb, d.id))
      versions.push_back({{"version", v.version}, {"current", v.current}, {"created_at", v.created_at}});
    out["documents"].push_back({{"kb", ref.kb}, {"path", d.path}, {"title", d.title}, {"fields", d.fields},
                                {"metadata", d.metadata}, {"versions", versions}, {"text", document_text(s.kb, ref)}});
  }
  for (const audit::Entry& e : s.audit.list())
    if (!e.erased && audit::mentions(e, user)) out["audit"].push_back(audit::to_json(e));
  return out;
}

Erasure erase_user(const Stores& s, const std::string& user, const std::string& erased_by, const std::string& source) {
  if (!access::valid_name(user)) throw access::Error(access::Error::Code::Invalid, "invalid user name '" + user + "'");
  Erasure r;
  for (const kb::DocumentRef& ref : s.kb.documents_with_field("owner", user))
    r.documents += s.kb.purge_document(ref.kb, ref.document.id) ? 1 : 0;
  r.clients = int64_t(s.clients.remove_for_user(user));
  r.user_existed = s.access.remove_user(user);
  r.audit_entries = s.audit.erase_actor(user, erased_by, source);
  return r;
}

std::string today_utc() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

std::vector<kb::DocumentRef> enforce_retention(kb::KnowledgeStore& store, audit::AuditLog& audit,
                                               const std::string& today) {
  std::vector<kb::DocumentRef> purged;
  for (const kb::DocumentRef& ref : store.retention_expired(today)) {
    if (!store.purge_document(ref.kb, ref.document.id)) continue;
    audit::Event e;
    e.actor = "retention";
    e.action = audit::kKbDelete;
    e.resource = "kb:" + ref.kb + "/" + ref.document.path;
    e.source = "housekeeping";
    e.details = {{"reason", "retention"}, {"retention", ref.document.fields.value("retention", "")}};
    audit.append(e);
    purged.push_back(ref);
  }
  return purged;
}

}  // namespace inhouse::privacy

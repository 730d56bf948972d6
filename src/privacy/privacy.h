// privacy — owns personal data across the modules that hold it: a scanner for emails, phone
// numbers, Chinese resident ID numbers and bank card numbers in text and in a knowledge base's
// documents (for review); data-subject requests (GDPR/CCPA export and erasure) over the user
// record (access), the user's clients (auth), the documents the user owns (kb: custom field
// `owner`) and audit entries by or about the user (audit); retention dates. The server keeps
// no chat transcripts, so there are none to export or erase.
//
// Scanner: a finding never carries the value itself, only a masked form ("z***@e***.com",
// "138******78", "110*************3X", "6222 **** **** 1234"), so a scan report can be shown
// to reviewers and logged.
//
// What counts as a match (the validators cut false positives from dates, timestamps, versions,
// IP addresses and ISBNs):
// - email: ASCII local part and dotted domain with a 2+ letter TLD, not inside a longer word;
// - phone: +CC international numbers (8-15 digits with the country code); Chinese mobiles
//   1[3-9]x xxxx xxxx (optional +86 / 0086, spaces or dashes between the groups); national
//   forms with separators: (415) 555-2671, 415-555-2671, 415.555.2671, 010-12345678,
//   (010) 12345678, 020 7946 0958; never a longer digit run or a decimal;
// - cn_resident_id: 18 characters (17 digits + digit or X), a known province code, a real
//   birth date (1900 to this century), the ISO 7064 MOD 11-2 check character;
// - bank_card: 13-19 digits, contiguous or in groups of 4 (Amex 4-6-5) split by one kind of
//   space or dash, Luhn-valid, an issuer prefix of Visa, Mastercard, Amex, UnionPay, JCB,
//   Discover, Diners or Maestro, not part of a longer digit run.
// Where two kinds overlap the first in this order wins: email, cn_resident_id, bank_card, phone.
// Input need not be valid UTF-8: invalid sequences are skipped over, never a crash.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "access/access.h"
#include "audit/audit.h"
#include "auth/auth.h"
#include "kb/kb.h"

namespace inhouse::privacy {

enum class Kind { Email, Phone, CnResidentId, BankCard };
inline constexpr size_t kKinds = 4;
const char* kind_name(Kind k);  // "email", "phone", "cn_resident_id", "bank_card"

struct Finding {
  Kind kind = Kind::Email;
  size_t offset = 0;    // bytes into the scanned text
  size_t length = 0;    // bytes
  std::string excerpt;  // the value masked: never the value itself
};

// Every finding in text, by offset.
std::vector<Finding> scan_text(std::string_view text);

// The value masked as Finding::excerpt shows it (exposed for tests and callers that mask
// values found elsewhere).
std::string mask(Kind kind, std::string_view value);

// ---- knowledge bases ---------------------------------------------------------------------------

struct DocumentScan {
  int64_t document_id = 0;
  std::string path, title;
  // Distinct values per kind (the chunks' overlap repeats text, so repeats are counted once),
  // indexed by Kind.
  std::array<int64_t, kKinds> counts{};
  std::vector<Finding> examples;  // the first few distinct findings; offsets within their chunk
  int64_t total() const;
};

struct KbScan {
  std::string kb;
  int64_t documents_scanned = 0;
  std::vector<DocumentScan> documents;  // only those with findings, in the store's order
};

struct ScanOptions {
  size_t max_examples = 3;  // per document
};

// Scans the title and every chunk of every document of `kb`. Throws kb::Error(NotFound) for
// an unknown kb.
KbScan scan_kb(kb::KnowledgeStore& store, const std::string& kb, const ScanOptions& options = {});

// {"kb", "documents_scanned", "documents_with_findings", "totals": {kind: n},
//  "documents": [{"id", "path", "title", "counts": {kind: n}, "examples": [{"kind", "excerpt"}]}]}
nlohmann::json scan_json(const KbScan& scan);

// ---- data-subject requests and retention (subject.cpp) -----------------------------------------

// The stores a data-subject request reaches.
struct Stores {
  access::AccessControl& access;
  auth::ClientStore& clients;
  audit::AuditLog& audit;
  kb::KnowledgeStore& kb;
};

// Everything stored about `user`: {"user": {...} | null, "clients": [{id, name, role,
// created_at}] (never secrets), "documents": [{kb, path, title, fields, metadata, versions,
// text}] (documents whose `owner` field is the user, with their current text),
// "audit": [entries whose actor, resource, source or details mention the user]}.
nlohmann::json export_user(const Stores& s, const std::string& user);

struct Erasure {
  bool user_existed = false;
  int64_t clients = 0, documents = 0, audit_entries = 0;
};

// Erases `user`: the documents they own (purged with their versions, chunks and vectors), their
// clients, the user record (roles, memberships), and the payload of every audit entry about
// them; the audit log keeps one privacy.erase entry by `erased_by` saying only how much went.
Erasure erase_user(const Stores& s, const std::string& user, const std::string& erased_by,
                   const std::string& source);

// Purges every document whose `retention` field is a date before `today` (YYYY-MM-DD), one
// audit entry (actor "retention") per document. Returns what was purged.
std::vector<kb::DocumentRef> enforce_retention(kb::KnowledgeStore& store, audit::AuditLog& audit,
                                               const std::string& today);
// Today's date in UTC as YYYY-MM-DD.
std::string today_utc();

}  // namespace inhouse::privacy

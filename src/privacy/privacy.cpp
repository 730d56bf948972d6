// privacy/privacy.cpp — the personal-data scanner: PCRE2 patterns find candidates (UTF mode that
// tolerates invalid UTF-8), validators keep the real ones (check digits, dates, issuer
// prefixes, digit counts), and overlaps go to the more specific kind.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>

#include "privacy/privacy.h"

namespace inhouse::privacy {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Email: return "email";
    case Kind::Phone: return "phone";
    case Kind::CnResidentId: return "cn_resident_id";
    case Kind::BankCard: return "bank_card";
  }
  return "?";
}

namespace {

std::string digits_of(std::string_view s) {
  std::string d;
  for (char c : s)
    if (c >= '0' && c <= '9') d += c;
  return d;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// ---- validators: given a candidate match, the length to keep (0 = reject) ----------------------

size_t accept_email(std::string_view m) {
  const size_t at = m.find('@');
  const std::string_view local = m.substr(0, at), domain = m.substr(at + 1);
  if (local.size() > 64 || domain.size() > 253) return 0;
  if (local.find("..") != std::string_view::npos) return 0;
  return m.size();
}

int days_in_month(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

int current_year() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  return tm.tm_year + 1900;
}

// GB 11643-1999: 6-digit region (first two = province), YYYYMMDD birth date, 3-digit sequence,
// ISO 7064 MOD 11-2 check character.
size_t accept_resident_id(std::string_view m) {
  static const std::set<int> kProvinces = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41,
                                           42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81,
                                           82, 83};
  auto num = [&](size_t at, size_t n) {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) v = v * 10 + (m[i] - '0');
    return v;
  };
  if (!kProvinces.count(num(0, 2))) return 0;
  const int year = num(6, 4), month = num(10, 2), day = num(12, 2);
  if (year < 1900 || year > current_year() || month < 1 || month > 12 || day < 1 ||
      day > days_in_month(year, month))
    return 0;
  static constexpr int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  int sum = 0;
  for (size_t i = 0; i < 17; ++i) sum += (m[i] - '0') * kWeights[i];
  static constexpr char kCheck[] = "10X98765432";
  return char(std::toupper(static_cast<unsigned char>(m[17]))) == kCheck[sum % 11] ? m.size() : 0;
}

bool luhn_valid(const std::string& d) {
  int sum = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    int v = d[d.size() - 1 - i] - '0';
    if (i % 2 == 1) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
    sum += v;
  }
  return sum % 10 == 0;
}

// Issuer identification: the prefixes and lengths of the major networks.
bool known_issuer(const std::string& d) {
  const size_t n = d.size();
  auto prefix = [&](size_t k) { return std::stoi(d.substr(0, k)); };
  const int p2 = prefix(2), p3 = prefix(3), p4 = prefix(4);
  if (d[0] == '4') return n == 13 || n == 16 || n == 19;                                  // Visa
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n == 16;              // Mastercard
  if (p2 == 34 || p2 == 37) return n == 15;                                               // Amex
  if (p2 == 62) return n >= 16 && n <= 19;                                                // UnionPay
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19;                                // JCB
  if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649)) return n >= 16 && n <= 19;      // Discover
  if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39) return n >= 14 && n <= 19;  // Diners
  if (p2 == 50 || (p2 >= 56 && p2 <= 69)) return n >= 13 && n <= 19;                     // Maestro
  return false;
}

size_t accept_bank_card(std::string_view m) {
  const std::string d = digits_of(m);
  if (d.size() < 13 || d.size() > 19) return 0;
  return luhn_valid(d) && known_issuer(d) ? m.size() : 0;
}

size_t accept_phone(std::string_view m) { return m.size(); }

// E.164 allows at most 15 digits with the country code: trailing groups beyond that belong to
// something else (a year, a count), so they are cut off at a separator.
size_t accept_international(std::string_view m) {
  size_t end = m.size();
  while (digits_of(m.substr(0, end)).size() > 15) {
    const size_t cut = m.substr(0, end).find_last_of(" .-");
    if (cut == std::string_view::npos) return 0;
    end = cut;
  }
  return digits_of(m.substr(0, end)).size() >= 8 ? end : 0;
}

// ---- patterns ---------------------------------------------------------------------------------

struct Pattern {
  Kind kind;
  const char* regex;
  size_t (*accept)(std::string_view);
};

// In priority order: where two overlap, the earlier wins. \d and \w are ASCII-only (no UCP), so
// Chinese text right next to a value is a boundary, while digits inside a word (hex digests,
// commit ids, serial numbers like "SN4111111111111111") are not values.
constexpr Pattern kPatterns[] = {
    {Kind::Email,
     R"((?<![A-Za-z0-9._%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?@)"
     R"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-]|\.[A-Za-z0-9]))",
     accept_email},
    {Kind::CnResidentId, R"((?<![0-9A-Za-z])[1-9]\d{16}[\dXx](?![0-9A-Za-z]))", accept_resident_id},
    {Kind::BankCard,
     R"((?<![\w.,])(?:\d{13,19}|(?<!\d[ -])(?:\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{3})?|\d{4}([ -])\d{6}\2\d{5})))"
     R"((?!\w|[.,]\d))",
     accept_bank_card},
    // Chinese mobile: 1[3-9]x xxxx xxxx, optionally +86 / 0086.
    {Kind::Phone, R"((?<![\w.+])(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\w|[.,]\d))", accept_phone},
    // International: +CC, an optional (area), groups split by space, dot or dash.
    {Kind::Phone, R"((?<![\w+])\+[1-9]\d{0,2}(?:[ .-]?\(\d{1,4}\))?[ .-]?\d{1,14}(?:[ .-]\d{1,10}){0,5}(?![\w+]|[.,]\d))",
     accept_international},
    // National forms that need their separators (so bare digit runs, dates and versions stay out).
    {Kind::Phone,
     R"((?<![\w.+/-])(?:\(\d{3}\) ?\d{3}[-. ]\d{4}|\d{3}([-.])\d{3}\1\d{4}|\(0\d{2,3}\) ?\d{7,8}|0\d{2,3}-\d{7,8})"
     R"(|0\d{2,4} \d{3,4} \d{4})(?!\w|[.,/-]\d))",
     accept_phone},
};

struct CodeDeleter {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
struct MatchDataDeleter {
  void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};

struct Compiled {
  const Pattern* pattern;
  std::unique_ptr<pcre2_code, CodeDeleter> code;
};

const std::vector<Compiled>& compiled_patterns() {
  static const std::vector<Compiled> all = [] {
    std::vector<Compiled> out;
    for (const Pattern& p : kPatterns) {
      int err = 0;
      PCRE2_SIZE at = 0;
      pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.regex), PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &err, &at, nullptr);
      if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        throw std::logic_error("privacy: pattern for " + std::string(kind_name(p.kind)) + " does not compile at " +
                               std::to_string(at) + ": " + reinterpret_cast<const char*>(msg));
      }
      pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional: the interpreter is the fallback
      out.push_back({&p, std::unique_ptr<pcre2_code, CodeDeleter>(code)});
    }
    return out;
  }();
  return all;
}

void mask_digits(std::string& s, size_t keep_first, size_t keep_last) {
  size_t total = 0;
  for (char c : s) total += is_digit(c);
  size_t seen = 0;
  for (char& c : s) {
    if (!is_digit(c)) continue;
    if (seen >= keep_first && seen + keep_last < total) c = '*';
    ++seen;
  }
}

}  // namespace

std::string mask(Kind kind, std::string_view value) {
  std::string s(value);
  switch (kind) {
    case Kind::Email: {
      const size_t at = s.find('@');
      if (at == std::string::npos || at == 0 || at + 1 >= s.size()) return "***";
      const std::string domain = s.substr(at + 1);
      const size_t dot = domain.rfind('.');
      const std::string tld = dot == std::string::npos ? "" : domain.substr(dot);
      return s.substr(0, 1) + "***@" + domain.substr(0, 1) + "***" + tld;
    }
    case Kind::Phone: mask_digits(s, 3, 2); break;
    case Kind::CnResidentId:
      for (size_t i = 3; i + 2 < s.size(); ++i) s[i] = '*';
      break;
    case Kind::BankCard: mask_digits(s, 4, 4); break;
  }
  return s;
}

std::vector<Finding> scan_text(std::string_view text) {
  struct Candidate {
    size_t priority, offset, length;
  };
  std::vector<Candidate> candidates;
  const auto& patterns = compiled_patterns();
  auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  for (size_t p = 0; p < patterns.size(); ++p) {
    std::unique_ptr<pcre2_match_data, MatchDataDeleter> md(
        pcre2_match_data_create_from_pattern(patterns[p].code.get(), nullptr));
    size_t start = 0;
    while (start <= text.size()) {
      const int rc = pcre2_match(patterns[p].code.get(), subject, text.size(), start, 0, md.get(), nullptr);
      if (rc < 0) break;  // no (further) match, or a limit hit: stop this pattern, never fail the scan
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
      const size_t begin = ov[0], end = ov[1];
      const size_t keep = patterns[p].pattern->accept(text.substr(begin, end - begin));
      if (keep > 0) candidates.push_back({p, begin, keep});
      // Matches start at an ASCII character, so begin + 1 is a character boundary.
      start = keep > 0 ? begin + keep : begin + 1;
    }
  }
  // Earlier patterns win overlaps.
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.priority < b.priority; });
  std::map<size_t, size_t> taken;  // offset -> end of the findings kept so far
  auto overlaps = [&](size_t begin, size_t end) {
    auto next = taken.lower_bound(begin);
    if (next != taken.end() && next->first < end) return true;
    return next != taken.begin() && std::prev(next)->second > begin;
  };
  std::vector<Finding> out;
  for (const Candidate& c : candidates) {
    if (overlaps(c.offset, c.offset + c.length)) continue;
    taken.emplace(c.offset, c.offset + c.length);
    const Kind kind = patterns[c.priority].pattern->kind;
    out.push_back({kind, c.offset, c.length, mask(kind, text.substr(c.offset, c.length))});
  }
  std::sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) { return a.offset < b.offset; });
  return out;
}

// ---- knowledge bases ---------------------------------------------------------------------------

int64_t DocumentScan::total() const {
  int64_t n = 0;
  for (int64_t c : counts) n += c;
  return n;
}

KbScan scan_kb(kb::KnowledgeStore& store, const std::string& kb_name, const ScanOptions& options) {
  store.get(kb_name);  // kb::Error(NotFound) for an unknown kb
  KbScan scan;
  scan.kb = kb_name;
  for (const kb::DocumentInfo& doc : store.documents(kb_name)) {
    ++scan.documents_scanned;
    DocumentScan d;
    d.document_id = doc.id;
    d.path = doc.path;
    d.title = doc.title;
    std::set<std::pair<Kind, std::string>> seen;  // normalised values, kept only while scanning
    auto add = [&](std::string_view text) {
      for (Finding& f : scan_text(text)) {
        std::string key(text.substr(f.offset, f.length));
        if (f.kind == Kind::Email) {
          for (char& c : key) c = char(std::tolower(static_cast<unsigned char>(c)));
        } else if (f.kind == Kind::CnResidentId) {
          key.back() = char(std::toupper(static_cast<unsigned char>(key.back())));
        } else {
          key = digits_of(key);
        }
        if (!seen.insert({f.kind, std::move(key)}).second) continue;
        ++d.counts[size_t(f.kind)];
        if (d.examples.size() < options.max_examples) d.examples.push_back(std::move(f));
      }
    };
    add(doc.title);
    for (const kb::StoredChunk& chunk : store.chunks(kb_name, doc.id)) add(chunk.text);
    if (d.total() > 0) scan.documents.push_back(std::move(d));
  }
  return scan;
}

nlohmann::json scan_json(const KbScan& scan) {
  auto counts_json = [](const std::array<int64_t, kKinds>& counts) {
    nlohmann::json j = nlohmann::json::object();
    for (size_t k = 0; k < kKinds; ++k) j[kind_name(Kind(k))] = counts[k];
    return j;
  };
  std::array<int64_t, kKinds> totals{};
  nlohmann::json docs = nlohmann::json::array();
  for (const DocumentScan& d : scan.documents) {
    nlohmann::json examples = nlohmann::json::array();
    for (const Finding& f : d.examples) examples.push_back({{"kind", kind_name(f.kind)}, {"excerpt", f.excerpt}});
    for (size_t k = 0; k < kKinds; ++k) totals[k] += d.counts[k];
    docs.push_back({{"id", d.document_id},
                    {"path", d.path},
                    {"title", d.title},
                    {"counts", counts_json(d.counts)},
                    {"examples", std::move(examples)}});
  }
  return {{"kb", scan.kb},
          {"documents_scanned", scan.documents_scanned},
          {"documents_with_findings", int64_t(scan.documents.size())},
          {"totals", counts_json(totals)},
          {"documents", std::move(docs)}};
}

}  // namespace inhouse::privacy

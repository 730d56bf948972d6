// Tests for the personal-data scanner: tables of values that must and must not be found, alone
// and inside Chinese and English text, masking, overlaps, invalid UTF-8, and a kb scan.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <random>

#include "privacy/privacy.h"

namespace fs = std::filesystem;
using inhouse::privacy::Finding;
using inhouse::privacy::Kind;
using inhouse::privacy::kind_name;
using inhouse::privacy::scan_text;

namespace {

struct Case {
  const char* value;
  Kind kind;
};

// Each found alone, inside English and inside Chinese text, with exact offset and length.
const Case kPositives[] = {
    {"zhang.san@example.com", Kind::Email},
    {"a_b+tag@mail.example.co.uk", Kind::Email},
    {"HR-Team@Company.CN", Kind::Email},
    {"13812345678", Kind::Phone},
    {"138 1234 5678", Kind::Phone},
    {"138-1234-5678", Kind::Phone},
    {"+86 13812345678", Kind::Phone},
    {"+8613812345678", Kind::Phone},
    {"008619912345678", Kind::Phone},
    {"+1 (415) 555-2671", Kind::Phone},
    {"+44 20 7946 0958", Kind::Phone},
    {"+49-30-1234567", Kind::Phone},
    {"(415) 555-2671", Kind::Phone},
    {"415-555-2671", Kind::Phone},
    {"415.555.2671", Kind::Phone},
    {"010-12345678", Kind::Phone},
    {"(0755) 1234567", Kind::Phone},
    {"020 7946 0958", Kind::Phone},
    {"11010519491231002X", Kind::CnResidentId},
    {"44030419900307123x", Kind::CnResidentId},
    {"310115200002294567", Kind::CnResidentId},  // born on a leap day
    {"510108198511110010", Kind::CnResidentId},
    {"4111111111111111", Kind::BankCard},
    {"4111 1111 1111 1111", Kind::BankCard},
    {"4111-1111-1111-1111", Kind::BankCard},
    {"5500005555555559", Kind::BankCard},
    {"378282246310005", Kind::BankCard},
    {"3782 822463 10005", Kind::BankCard},
    {"6011111111111117", Kind::BankCard},
    {"3530111333300000", Kind::BankCard},
    {"6228480012345671", Kind::BankCard},
    {"622588123456789016", Kind::BankCard},
    {"6222021234567890128", Kind::BankCard},
    {"6222 0212 3456 7890 128", Kind::BankCard},
};

// Nothing may be found in these, alone or in text.
const char* const kNegatives[] = {
    // checksums and dates that do not hold
    "110105194912310021",   // resident ID, wrong check digit
    "110105194913310021",   // month 13 (check digit right)
    "110105190102290022",   // 1901-02-29 is not a day
    "990105194912310023",   // no province 99
    "110105189901010025",   // born 1899
    "11010521990101002X",   // born in 2199
    "4111111111111112",     // Luhn-invalid
    "4111 1111 1111 1112",
    "1234567812345670",     // Luhn-valid, no issuer starts with 1
    "41111111111111111111",  // 20 digits: a longer run
    "4111111111111111123",  // Visa prefix, 19 digits, Luhn-invalid
    // timestamps and dates
    "1700000000", "1700000000123", "1700000000129", "20240115123045", "2024-01-15", "2024/01/15",
    "2024-01-15T10:30:00Z", "2024年1月15日", "15.01.2024", "20231129",
    // versions, IPs, ISBNs, decimals, money
    "v1.2.3", "10.15.7", "192.168.1.100", "10.0.0.1", "255.255.255.0", "2001:db8::1",
    "ISBN 978-0-306-40615-7", "9780306406157", "9780306406156", "0-306-40615-2", "3.14159265358979",
    "0.13812345678", "1,234,567.89", "¥1234567890",
    // not quite phones
    "12345678901",   // 11 digits, not a mobile prefix
    "1381234567",    // 10 digits
    "138123456789",  // 12 digits
    "+1.5", "5 + 3 = 8",
    // digits inside words: hex digests, commit ids, package versions, serial numbers
    "commit 68b59bbc42ba9ec69496758743924d54a95742f0", "36c14139285982def6ad942d4b2d8bef7ed4ea7",
    "1:10~+20191229111838+6991d5728f1-1", "SN4111111111111111", "id_13812345678", "x11010519491231002X",
    // not quite emails
    "user@localhost", "@example.com", "a..b@example.com", "name@", "foo@bar", "x@y.z",
};

std::string describe(const std::vector<Finding>& fs) {
  std::string s;
  for (const auto& f : fs)
    s += std::string(kind_name(f.kind)) + "@" + std::to_string(f.offset) + "+" + std::to_string(f.length) + " ";
  return s;
}

void expect_one(const std::string& text, const Case& c, size_t offset) {
  const auto found = scan_text(text);
  ASSERT_EQ(found.size(), 1u) << "in: " << text << "\nfound: " << describe(found);
  EXPECT_EQ(found[0].kind, c.kind) << text;
  EXPECT_EQ(found[0].offset, offset) << text;
  EXPECT_EQ(found[0].length, std::string_view(c.value).size()) << text;
  EXPECT_EQ(found[0].excerpt.find(c.value), std::string::npos) << "excerpt shows the value: " << found[0].excerpt;
}

TEST(ScanText, FindsEachValueAloneAndInText) {
  for (const Case& c : kPositives) {
    SCOPED_TRACE(c.value);
    const std::string v = c.value;
    expect_one(v, c, 0);
    expect_one("Contact: " + v + ", thanks.", c, 9);
    expect_one("请联系" + v + "谢谢", c, 9);            // CJK directly around it
    expect_one("电话：" + v + "。", c, 9);              // full-width punctuation
    expect_one("(" + v + ")\n", c, 1);
  }
}

TEST(ScanText, FindsNothingInLookalikes) {
  for (const char* n : kNegatives) {
    EXPECT_TRUE(scan_text(n).empty()) << n << " → " << describe(scan_text(n));
    const std::string text = std::string("Report ") + n + " 记录于系统中 " + n + ".";
    EXPECT_TRUE(scan_text(text).empty()) << text << " → " << describe(scan_text(text));
  }
}

TEST(ScanText, DoesNotMatchInsideLongerDigitRuns) {
  EXPECT_TRUE(scan_text("94111111111111111").empty());
  EXPECT_TRUE(scan_text("41111111111111110").empty());
  EXPECT_TRUE(scan_text("913812345678").empty());
  EXPECT_TRUE(scan_text("138123456789").empty());
  EXPECT_TRUE(scan_text("511010519491231002X").empty());
  EXPECT_TRUE(scan_text("order 1234 4111 1111 1111 1111").empty());  // a fifth group in front
}

TEST(ScanText, FindsSeveralInOrder) {
  const std::string text =
      "张三，身份证 11010519491231002X，手机 13812345678，邮箱 zhang.san@example.com，"
      "工资卡 6222 0212 3456 7890 128。Call +1 (415) 555-2671 or 415-555-2671.";
  const auto found = scan_text(text);
  ASSERT_EQ(found.size(), 6u) << describe(found);
  const Kind kinds[] = {Kind::CnResidentId, Kind::Phone, Kind::Email, Kind::BankCard, Kind::Phone, Kind::Phone};
  for (size_t i = 0; i < found.size(); ++i) {
    EXPECT_EQ(found[i].kind, kinds[i]) << i;
    if (i > 0) {
      EXPECT_GT(found[i].offset, found[i - 1].offset);
    }
  }
  EXPECT_EQ(text.substr(found[1].offset, found[1].length), "13812345678");
}

TEST(ScanText, MoreSpecificKindsWinOverlaps) {
  // A resident ID starting with 4 also looks like a Visa number to the card pattern.
  const std::string id = "44030419900307123X";
  auto found = scan_text(id);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].kind, Kind::CnResidentId);
  // A mobile number as an email's local part is one email.
  found = scan_text("13812345678@qq.com");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].kind, Kind::Email);
  EXPECT_EQ(found[0].length, 18u);
}

TEST(ScanText, MasksValues) {
  using inhouse::privacy::mask;
  EXPECT_EQ(mask(Kind::Email, "zhang.san@example.com"), "z***@e***.com");
  EXPECT_EQ(mask(Kind::Phone, "13812345678"), "138******78");
  EXPECT_EQ(mask(Kind::Phone, "+86 138 1234 5678"), "+86 1** **** **78");
  EXPECT_EQ(mask(Kind::CnResidentId, "11010519491231002X"), "110*************2X");
  EXPECT_EQ(mask(Kind::BankCard, "6222 0212 3456 7890 128"), "6222 **** **** ***0 128");
  EXPECT_EQ(mask(Kind::BankCard, "4111111111111111"), "4111********1111");
  EXPECT_EQ(scan_text("mail zhang.san@example.com")[0].excerpt, "z***@e***.com");
}

TEST(ScanText, SurvivesInvalidUtf8AndOddInput) {
  EXPECT_TRUE(scan_text("").empty());
  EXPECT_TRUE(scan_text(std::string_view("\0\0\0", 3)).empty());
  const std::string bad = std::string("\xff\xfe 13812345678 \xc3\x28 a@example.com \xe4\xb8") + "\xf0\x9f";
  const auto found = scan_text(bad);
  ASSERT_EQ(found.size(), 2u) << describe(found);
  EXPECT_EQ(found[0].kind, Kind::Phone);
  EXPECT_EQ(found[0].offset, 3u);
  EXPECT_EQ(found[1].kind, Kind::Email);
  // Values right next to invalid bytes.
  EXPECT_EQ(scan_text("\xff" "13812345678" "\xff").size(), 1u);
  // Random bytes and long digit runs: no crash, and offsets stay inside the text.
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::string s(size_t(rng() % 400), '\0');
    for (char& c : s) c = char(rng() % 4 == 0 ? '0' + rng() % 10 : rng() % 256);
    for (const Finding& f : scan_text(s)) EXPECT_LE(f.offset + f.length, s.size());
  }
  const std::string digits(100000, '7');
  EXPECT_TRUE(scan_text(digits).empty());
  std::string spaced;
  for (int i = 0; i < 20000; ++i) spaced += "1234 ";
  EXPECT_TRUE(scan_text(spaced).empty());
}

// ---- knowledge bases ---------------------------------------------------------------------------

namespace kb = inhouse::kb;

kb::DocumentInput doc(const std::string& path, const std::string& title, const std::vector<std::string>& chunks) {
  kb::DocumentInput d;
  d.path = path;
  d.title = title;
  d.content_hash = path;
  for (const auto& text : chunks) d.chunks.push_back({{}, text, 10, {}});
  return d;
}

TEST(ScanKb, CountsDistinctValuesPerDocument) {
  const fs::path dir = fs::temp_directory_path() / ("inhouse-privacy-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  {
    kb::KnowledgeStore store = kb::KnowledgeStore::open(dir);
    store.create("hr", "", 0);
    // Overlapping chunks repeat the phone number: counted once.
    store.put_document("hr", doc("/vault/staff.md", "Staff",
                                 {"张三 13812345678 zhang.san@example.com",
                                  "zhang.san@example.com 13812345678 and li.si@example.com",
                                  "ID 11010519491231002X card 4111 1111 1111 1111"}));
    store.put_document("hr", doc("/vault/clean.md", "Holiday plan", {"Nothing personal here: 2024-01-15, v1.2.3."}));
    store.put_document("hr", doc("/vault/boss.md", "Call 415-555-2671", {"See the title."}));

    const auto scan = inhouse::privacy::scan_kb(store, "hr", {.max_examples = 2});
    EXPECT_EQ(scan.documents_scanned, 3);
    ASSERT_EQ(scan.documents.size(), 2u);
    const auto& staff = scan.documents[0].path == "/vault/staff.md" ? scan.documents[0] : scan.documents[1];
    const auto& boss = scan.documents[0].path == "/vault/boss.md" ? scan.documents[0] : scan.documents[1];
    EXPECT_EQ(staff.counts[size_t(Kind::Email)], 2);
    EXPECT_EQ(staff.counts[size_t(Kind::Phone)], 1);
    EXPECT_EQ(staff.counts[size_t(Kind::CnResidentId)], 1);
    EXPECT_EQ(staff.counts[size_t(Kind::BankCard)], 1);
    EXPECT_EQ(staff.total(), 5);
    EXPECT_EQ(staff.examples.size(), 2u);
    EXPECT_EQ(boss.title, "Call 415-555-2671");
    EXPECT_EQ(boss.counts[size_t(Kind::Phone)], 1);

    const auto j = inhouse::privacy::scan_json(scan);
    EXPECT_EQ(j["documents_scanned"], 3);
    EXPECT_EQ(j["documents_with_findings"], 2);
    EXPECT_EQ(j["totals"]["email"], 2);
    EXPECT_EQ(j["totals"]["phone"], 2);
    const std::string dumped = j.dump();
    for (const char* secret : {"13812345678", "zhang.san@example.com", "11010519491231002X", "4111 1111 1111 1111"})
      EXPECT_EQ(dumped.find(secret), std::string::npos) << secret << " leaked into " << dumped;

    EXPECT_THROW(inhouse::privacy::scan_kb(store, "nope"), kb::Error);
  }
  fs::remove_all(dir);
}

}  // namespace

// `inhouse privacy scan|export|erase|retention` end to end through the binary in a temp data
// directory: a scan lists the note holding an email and a phone number, masked; a user's export
// holds their record and the documents they own; erasure needs --yes, then removes the user,
// their documents and every audit detail about them while the audit chain still verifies;
// retention purges documents whose date has passed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/cli_fixture.h"

namespace inhouse {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test_util::CliResult;
using test_util::run_cli;

class PrivacyCliTest : public test_util::DataDirCliTest {
 protected:
  void SetUp() override {
    DataDirCliTest::SetUp();
    write("notes/contact.md", "# Contact\n\nCall Dora at dora.k@example.com or 13812345678.\n");
    write("notes/plain.md", "# Plain\n\nNothing personal here, only weather.\n");
  }
};

TEST_F(PrivacyCliTest, ScanExportEraseRetention) {
  ok({"kb", "create", "notes"});
  ok({"kb", "add", "notes", (root_ / "notes").string()});

  CliResult r = ok({"privacy", "scan", "notes", "--json"});
  const json scan = json::parse(r.out);
  ASSERT_EQ(scan["documents"].size(), 1u) << r.out;
  EXPECT_EQ(scan["documents"][0]["title"], "Contact");
  EXPECT_EQ(r.out.find("dora.k@example.com"), std::string::npos) << "values are masked";
  EXPECT_EQ(r.out.find("13812345678"), std::string::npos);

  ok({"user", "add", "dora", "--email", "dora.k@example.com"});
  ok({"kb", "meta", "notes", "Contact", "--set", "owner=dora"});
  r = ok({"privacy", "export", "dora"});
  const json ex = json::parse(r.out);
  EXPECT_EQ(ex["user"]["email"], "dora.k@example.com");
  ASSERT_EQ(ex["documents"].size(), 1u);
  EXPECT_NE(ex["documents"][0]["text"].get<std::string>().find("Call Dora"), std::string::npos);

  r = cli({"privacy", "erase", "dora"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--yes"), std::string::npos) << r.err;
  r = ok({"privacy", "erase", "dora", "--yes"});
  EXPECT_NE(r.out.find("1 documents"), std::string::npos) << r.out;
  EXPECT_NE(cli({"user", "show", "dora"}).status, 0);
  r = ok({"kb", "search", "notes", "Dora", "--mode", "keyword", "--json"});
  EXPECT_EQ(json::parse(r.out)["hits"].size(), 0u) << r.out;
  r = ok({"audit", "export"});
  EXPECT_EQ(r.out.find("dora"), std::string::npos) << r.out;  // only the fact of the erasure stays
  EXPECT_NE(r.out.find("privacy.erase"), std::string::npos);
  ok({"audit", "verify"});

  ok({"kb", "meta", "notes", "Plain", "--set", "retention=2000-01-01"});
  r = ok({"privacy", "retention", "--dry-run"});
  EXPECT_NE(r.out.find("would purge notes/"), std::string::npos) << r.out;
  r = ok({"privacy", "retention"});
  EXPECT_NE(r.out.find("purged notes/"), std::string::npos) << r.out;
  r = ok({"kb", "show", "notes", "--json"});
  EXPECT_EQ(json::parse(r.out)["documents"], 0) << r.out;
}

}  // namespace
}  // namespace inhouse

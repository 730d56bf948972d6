// /api/v1/kb over HTTP in process: create (vectors from the served bert-tiny model, or keyword
// only), upload Markdown/HTML/PDF-as-base64, list/show, search in every mode, links, ask with and
// without streaming (SSE: sources first, then text, then done), delete, and the uniform errors
// (404 unknown kb, 409 duplicate, 400 bad fields, 422 unparsable document, 401 without a token
// when authentication is on).
#include <gtest/gtest.h>

#include "test_server.h"

namespace inhouse {
namespace {

using nlohmann::json;
using test_util::body_of;
using test_util::expect_error;

class KbRoutesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server::ServerConfig c = test_util::base_config("kb");
    c.ctx = 1024;
    server_ = new test_util::RunningServer(c);
  }
  static void TearDownTestSuite() { delete server_; }
  static httplib::Client client() { return server_->client(); }
  static inline test_util::RunningServer* server_ = nullptr;

  static httplib::Result post(const std::string& path, const json& body) {
    auto c = client();
    return c.Post(path, body.dump(), "application/json");
  }
};

TEST_F(KbRoutesTest, CreateUploadSearchAskDelete) {
  auto r = post("/api/v1/kb", {{"name", "recipes"}, {"description", "kitchen notes"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(body_of(r)["dim"], 64);  // the served embedding model by default

  r = post("/api/v1/kb/recipes/documents",
           {{"path", "bread.md"}, {"content", "# Bread\n\nKnead the dough for ten minutes. See [[Oven]].\n"}});
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_GE(body_of(r)["chunks"].get<int>(), 1);
  r = post("/api/v1/kb/recipes/documents",
           {{"path", "oven.html"}, {"content", "<title>Oven</title><p>Preheat the oven to 230 degrees.</p>"}});
  ASSERT_EQ(r->status, 201) << r->body;

  auto c = client();
  r = c.Get("/api/v1/kb/recipes");
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(body_of(r)["documents"], 2);
  EXPECT_EQ(body_of(r)["files"].size(), 2u);
  r = c.Get("/api/v1/kb");
  EXPECT_EQ(body_of(r)["data"].size(), 1u);

  for (const char* mode : {"hybrid", "vector", "keyword"}) {
    r = post("/api/v1/kb/recipes/search", {{"query", "knead dough"}, {"mode", mode}, {"k", 5}});
    ASSERT_EQ(r->status, 200) << r->body;
    const json b = body_of(r);
    EXPECT_EQ(b["mode"], mode);
    ASSERT_FALSE(b["hits"].empty()) << mode;
  }
  r = post("/api/v1/kb/recipes/search", {{"query", "knead dough"}, {"mode", "keyword"}});
  EXPECT_EQ(body_of(r)["hits"][0]["title"], "Bread");

  r = c.Get("/api/v1/kb/recipes/links?note=Oven");
  ASSERT_EQ(r->status, 200) << r->body;
  ASSERT_EQ(body_of(r)["backlinks"].size(), 1u);

  r = post("/api/v1/kb/recipes/ask", {{"question", "knead dough"}, {"max_tokens", 6}, {"mode", "keyword"}});
  ASSERT_EQ(r->status, 200) << r->body;
  json b = body_of(r);
  ASSERT_GE(b["sources"].size(), 1u);
  EXPECT_EQ(b["sources"][0]["title"], "Bread");
  EXPECT_TRUE(b.contains("answer"));
  EXPECT_TRUE(b["cited"].is_array());  // the numbers of the sources the answer cites
  EXPECT_EQ(b["usage"]["completion_tokens"].get<int>() <= 6, true);

  r = post("/api/v1/kb/recipes/ask", {{"question", "knead dough"}, {"max_tokens", 4}, {"stream", true}, {"mode", "keyword"}});
  ASSERT_EQ(r->status, 200) << r->body;
  const size_t sources_at = r->body.find("data: {\"sources\"");
  const size_t done_at = r->body.find("\"done\":true");
  ASSERT_NE(sources_at, std::string::npos) << r->body;
  ASSERT_NE(done_at, std::string::npos) << r->body;
  EXPECT_LT(sources_at, done_at);

  r = post("/api/v1/kb/recipes/ask", {{"question", "zzzz qqqq"}, {"mode", "keyword"}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(r)["answer"], "The notes do not contain an answer to this question.");
  EXPECT_TRUE(body_of(r)["sources"].empty());

  r = c.Delete("/api/v1/kb/recipes/documents?path=Oven");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_of(c.Get("/api/v1/kb/recipes"))["documents"], 1);
  r = c.Delete("/api/v1/kb/recipes");
  ASSERT_EQ(r->status, 200) << r->body;
  expect_error(c.Get("/api/v1/kb/recipes"), 404, "recipes");
}

TEST_F(KbRoutesTest, UploadsBase64AndRefusesBadDocuments) {
  ASSERT_EQ(post("/api/v1/kb", {{"name", "docs"}})->status, 201);
  // "# Hi\n\nhello there\n" in base64
  auto r = post("/api/v1/kb/docs/documents", {{"path", "hi.md"}, {"content_base64", "IyBIaQoKaGVsbG8gdGhlcmUK"}});
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(body_of(r)["title"], "Hi");
  expect_error(post("/api/v1/kb/docs/documents", {{"path", "x.md"}, {"content_base64", "!!!"}}), 400, "base64");
  expect_error(post("/api/v1/kb/docs/documents", {{"path", "x.pdf"}, {"content_base64", "bm90IGEgcGRm"}}), 422, "parse");
  expect_error(post("/api/v1/kb/docs/documents", {{"path", "x.bin"}, {"content", "x"}}), 400, "format");
  expect_error(post("/api/v1/kb/docs/documents", {{"path", "x.md"}}), 400, "content");
  expect_error(post("/api/v1/kb/docs/documents", {{"path", 5}, {"content", "x"}}), 400, "path");
  expect_error(post("/api/v1/kb", {{"name", "docs"}}), 409, "docs");
  expect_error(post("/api/v1/kb", {{"name", "bad name"}}), 400, "name");
  expect_error(post("/api/v1/kb/nope/search", {{"query", "x"}}), 404, "nope");
  expect_error(post("/api/v1/kb/docs/search", {{"query", "x"}, {"mode", "psychic"}}), 400, "mode");
  expect_error(post("/api/v1/kb/docs/search", {{"k", 3}}), 400, "query");
  expect_error(post("/api/v1/kb", {{"name", "e"}, {"embed_model", "nope"}}), 404, "nope");
  auto c = client();
  expect_error(c.Delete("/api/v1/kb/docs/documents"), 400, "path");
}

TEST(KbRoutesAuth, RequireAToken) {
  server::ServerConfig c = test_util::base_config("kb-auth");
  c.auth = server::AuthMode::Required;
  test_util::RunningServer s(c);
  auto cl = s.client();
  expect_error(cl.Get("/api/v1/kb"), 401, "");
  expect_error(cl.Post("/api/v1/kb", json{{"name", "x"}}.dump(), "application/json"), 401, "");
  expect_error(cl.Post("/api/v1/kb/x/search", json{{"query", "x"}}.dump(), "application/json"), 401, "");
}

}  // namespace
}  // namespace inhouse

// Tests for storage tiers: cold archives chunks and keyword rows out of SQLite and any access
// restores them (same results, index file still valid); warm drops the index after each search;
// the idleness policy; leftovers of a crash mid-archive are cleaned up; `inhouse kb tier`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/run_cli.h"
#include "db/db.h"
#include "kb/kb.h"
#include "kb/kb_test_util.h"

namespace fs = std::filesystem;
using namespace inhouse::kb;

namespace {

using inhouse::kb::test::TempDir;
using inhouse::kb::test::basis;

void fill(KnowledgeStore& store, const std::string& kb, int docs) {
  store.create(kb, "m", 8);
  for (int i = 0; i < docs; ++i) {
    DocumentInput d;
    d.path = "/" + kb + "/" + std::to_string(i) + ".md";
    d.title = "Doc " + std::to_string(i);
    d.content_hash = "h" + std::to_string(i);
    d.chunks.push_back(ChunkInput{{"H"}, "topic" + std::to_string(i) + " shared words here", 5, basis(8, i)});
    store.put_document(kb, d);
  }
  store.flush();
}

int64_t rows(const fs::path& dir, const std::string& sql) {
  auto db = inhouse::db::Database::open(dir / "inhouse.db");
  auto st = db.prepare(sql);
  st.step();
  return st.column_int(0);
}

std::vector<int64_t> hit_ids(KnowledgeStore& store, const std::string& kb, SearchMode mode) {
  SearchQuery q;
  q.text = "topic3 shared";
  q.embedding = basis(8, 3);
  q.mode = mode;
  std::vector<int64_t> out;
  for (const auto& h : store.search(kb, q).hits) out.push_back(h.chunk.id);
  return out;
}

}  // namespace

TEST(KbTier, ColdArchivesAndFirstAccessRestores) {
  TempDir dir;
  auto store = KnowledgeStore::open(dir.path());
  fill(store, "k", 20);
  fill(store, "other", 3);
  const auto before = hit_ids(store, "k", SearchMode::Hybrid);
  ASSERT_FALSE(before.empty());

  store.set_tier("k", Tier::Cold);
  TierInfo t = store.tier_info("k");
  EXPECT_EQ(t.tier, Tier::Cold);
  EXPECT_TRUE(t.archived);
  EXPECT_FALSE(t.index_loaded);
  EXPECT_GT(t.archive_bytes, 0);
  EXPECT_TRUE(fs::exists(dir.path() / "kb" / "1.cold.zst"));
  EXPECT_EQ(rows(dir.path(), "SELECT count(*) FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id WHERE d.kb_id = 1"), 0);
  EXPECT_EQ(rows(dir.path(), "SELECT count(*) FROM kb_fts_1"), 0);
  EXPECT_EQ(rows(dir.path(), "SELECT count(*) FROM kb_chunks"), 3);  // the other kb is untouched
  EXPECT_EQ(store.list()[0].chunks, 20);  // listing kbs does not restore

  // A new process finds it archived; its first search restores it, with the same results and
  // without rebuilding the vector index (ids and generation were kept).
  store = KnowledgeStore::open(dir.path());
  EXPECT_TRUE(store.tier_info("k").archived);
  EXPECT_EQ(hit_ids(store, "k", SearchMode::Hybrid), before);
  EXPECT_FALSE(store.vector_index_info("k").rebuilt);
  t = store.tier_info("k");
  EXPECT_FALSE(t.archived);
  EXPECT_EQ(t.tier, Tier::Warm);
  EXPECT_FALSE(fs::exists(dir.path() / "kb" / "1.cold.zst"));
  EXPECT_EQ(rows(dir.path(), "SELECT count(*) FROM kb_fts_1"), 20);

  // Writes after a restore behave as ever; cold again and a write restores first.
  store.set_tier("k", Tier::Cold);
  DocumentInput d;
  d.path = "/k/new.md";
  d.title = "New";
  d.content_hash = "n";
  d.chunks.push_back(ChunkInput{{}, "fresh words", 2, basis(8, 5)});
  store.put_document("k", d);
  EXPECT_EQ(store.get("k").chunks, 21);
  EXPECT_EQ(store.chunks("k", store.find_document("k", "Doc 3")->id).size(), 1u);
  store.set_tier("k", Tier::Hot);
  EXPECT_EQ(store.tier_info("k").tier, Tier::Hot);

  // Removing a cold kb removes its archive.
  store.set_tier("k", Tier::Cold);
  store.remove("k");
  EXPECT_FALSE(fs::exists(dir.path() / "kb" / "1.cold.zst"));
}

TEST(KbTier, WarmDropsTheIndexAfterUse) {
  TempDir dir;
  auto store = KnowledgeStore::open(dir.path());
  fill(store, "k", 5);
  hit_ids(store, "k", SearchMode::Vector);
  EXPECT_TRUE(store.tier_info("k").index_loaded);  // hot keeps it
  store.set_tier("k", Tier::Warm);
  EXPECT_FALSE(store.tier_info("k").index_loaded);
  const auto ids = hit_ids(store, "k", SearchMode::Vector);
  ASSERT_FALSE(ids.empty());
  EXPECT_FALSE(store.tier_info("k").index_loaded);
  EXPECT_FALSE(store.vector_index_info("k").rebuilt);  // loaded from the saved file
}

TEST(KbTier, PolicyMovesIdleKbs) {
  TempDir dir;
  auto store = KnowledgeStore::open(dir.path());
  fill(store, "a", 3);
  fill(store, "b", 3);
  const int64_t now = std::time(nullptr);
  EXPECT_TRUE(store.apply_tier_policy(3600, 86400, now).empty());  // just used
  auto moved = store.apply_tier_policy(3600, 86400, now + 7200);
  ASSERT_EQ(moved.size(), 2u);
  EXPECT_EQ(moved[0].tier, Tier::Warm);
  EXPECT_TRUE(store.apply_tier_policy(3600, 86400, now + 7200).empty());  // already warm
  moved = store.apply_tier_policy(3600, 86400, now + 2 * 86400);
  ASSERT_EQ(moved.size(), 2u);
  EXPECT_EQ(moved[1].tier, Tier::Cold);
  EXPECT_TRUE(moved[1].archived);
  EXPECT_TRUE(store.apply_tier_policy(0, 0, now + 100 * 86400).empty());  // 0 = never
}

TEST(KbTier, OrphanArchivesFromACrashAreRemoved) {
  TempDir dir;
  {
    auto store = KnowledgeStore::open(dir.path());
    fill(store, "k", 3);
  }
  // As if a crash hit after the archive was renamed into place but before the delete committed.
  const fs::path orphan = dir.path() / "kb" / "1.cold.zst";
  std::ofstream(orphan) << "partial";
  auto store = KnowledgeStore::open(dir.path());
  EXPECT_FALSE(fs::exists(orphan));
  EXPECT_EQ(store.get("k").chunks, 3);
  EXPECT_EQ(hit_ids(store, "k", SearchMode::Keyword).size(), 3u);  // "shared" is in all three
  // An archived kb whose archive is damaged is an error, not a crash or an empty kb.
  store.set_tier("k", Tier::Cold);
  std::ofstream(orphan, std::ios::trunc) << "garbage";
  EXPECT_ANY_THROW(store.search("k", SearchQuery{}));
  EXPECT_TRUE(store.tier_info("k").archived);
}

TEST(KbTierCli, ShowSetApply) {
  using inhouse::test_util::run_cli;
  TempDir dir;
  const std::string data = dir.path().string();
  {
    auto store = KnowledgeStore::open(dir.path());
    fill(store, "k", 3);
  }
  auto r = run_cli({"kb", "tier", "k", "--set", "cold", "--json", "--data-dir", data});
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j[0]["tier"], "cold");
  EXPECT_EQ(j[0]["archived"], true);
  r = run_cli({"kb", "search", "k", "topic1", "--mode", "keyword", "--json", "--data-dir", data});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["hits"].size(), 1u);
  r = run_cli({"kb", "tier", "--data-dir", data});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("warm"), std::string::npos) << r.out;
  r = run_cli({"kb", "tier", "k", "--set", "lukewarm", "--data-dir", data});
  EXPECT_NE(r.status, 0);
  r = run_cli({"kb", "tier", "--apply", "--warm-after", "0", "--cold-after", "0", "--data-dir", data});
  EXPECT_EQ(r.status, 0) << r.err;
}

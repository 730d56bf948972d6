// Tests for the server's TOML configuration and its startup checks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "server/server.h"

namespace fs = std::filesystem;
using namespace inhouse::server;

namespace {

fs::path write_config(const std::string& name, const std::string& text) {
  const fs::path dir = fs::temp_directory_path() / ("inhouse-config-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / name) << text;
  return dir / name;
}

const std::string kModel = std::string(INHOUSE_TEST_DATA) + "/models/qwen2-tiny-q4_0.gguf";

TEST(Config, ReadsEveryKey) {
  const auto p = write_config("full.toml", R"(
host = "0.0.0.0"
port = 9000
parallel = 8
ctx = 2048
threads = 2
queue_limit = 10
max_body_bytes = 65536
token_ttl_seconds = 600
data_dir = "/tmp/x"
auth = "required"
[models]
qwen = ")" + kModel + R"("
[roles.viewer]
requests_per_minute = 60
tokens_per_minute = 10000.5
[tls]
cert = "c.pem"
key = "k.pem"
)");
  const ServerConfig c = load_config(p);
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.port, 9000);
  EXPECT_EQ(c.parallel, 8);
  EXPECT_EQ(c.ctx, 2048);
  EXPECT_EQ(c.queue_limit, 10);
  EXPECT_EQ(c.max_body_bytes, 65536u);
  EXPECT_EQ(c.token_ttl_seconds, 600);
  EXPECT_EQ(c.data_dir, "/tmp/x");
  EXPECT_EQ(c.auth, AuthMode::Required);
  ASSERT_EQ(c.models.size(), 1u);
  EXPECT_EQ(c.models[0].name, "qwen");
  EXPECT_DOUBLE_EQ(c.role_limits.at("viewer").requests_per_minute, 60);
  EXPECT_DOUBLE_EQ(c.role_limits.at("viewer").tokens_per_minute, 10000.5);
  EXPECT_EQ(c.tls_cert, "c.pem");
  EXPECT_TRUE(c.auth_required());
}

std::string config_error(const std::string& text) {
  try {
    load_config(write_config("bad.toml", text)).validate();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, ErrorsNameTheProblem) {
  EXPECT_NE(config_error("port = \"eighty\"").find("'port' must be an integer"), std::string::npos);
  EXPECT_NE(config_error("prot = 1").find("unknown key 'prot'"), std::string::npos);
  EXPECT_NE(config_error("port = [").find("bad.toml:1"), std::string::npos);
  EXPECT_NE(config_error("auth = \"maybe\"").find("auth must be"), std::string::npos);
  EXPECT_NE(config_error("host = \"0.0.0.0\"\nauth = \"off\"").find("loopback"), std::string::npos);
  EXPECT_NE(config_error("[models]\nx = \"/no/such.gguf\"").find("no file"), std::string::npos);
  EXPECT_NE(config_error("[roles]\nviewer = 3").find("roles.viewer"), std::string::npos);
  EXPECT_NE(config_error("parallel = 0").find("parallel"), std::string::npos);
  EXPECT_NE(config_error("[tls]\ncert = \"c.pem\"").find("TLS needs both"), std::string::npos);
  EXPECT_NE(config_error("mla_cache = \"huge\"").find("mla cache 'huge'"), std::string::npos);
  EXPECT_NE(config_error("cache_type = \"q8\"").find("cache type 'q8'"), std::string::npos);
}

TEST(Config, ReadsSharedDatabaseTiersAndHousekeeping) {
  const ServerConfig c = load_config(write_config("org.toml", R"(
database_url = "postgresql://inhouse@127.0.0.1:5432/inhouse"
housekeeping_seconds = 60
[tiers]
warm_after_days = 7
cold_after_days = 30.5
)"));
  EXPECT_EQ(c.database_url, "postgresql://inhouse@127.0.0.1:5432/inhouse");
  EXPECT_EQ(c.housekeeping_seconds, 60);
  EXPECT_EQ(c.warm_after_seconds, 7 * 86400);
  EXPECT_EQ(c.cold_after_seconds, int64_t(30.5 * 86400));
  c.validate();
  EXPECT_NE(config_error("database_url = \"mysql://x\"").find("database_url must start"), std::string::npos);
  EXPECT_NE(config_error("[tiers]\nwarm_after_days = 30\ncold_after_days = 7").find("cold_after_days"), std::string::npos);
  EXPECT_NE(config_error("[tiers]\nwarm_after_days = -1").find("negative"), std::string::npos);
}

TEST(Config, AuthDefaultsToRequiredOffLoopback) {
  ServerConfig c;
  EXPECT_FALSE(c.auth_required());
  c.host = "0.0.0.0";
  EXPECT_TRUE(c.auth_required());
  c.host = "127.0.0.2";
  EXPECT_FALSE(c.auth_required());
  EXPECT_TRUE(is_loopback("::1"));
  EXPECT_FALSE(is_loopback("10.0.0.1"));
}

}  // namespace

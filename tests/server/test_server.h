// A Server on a free loopback port with the repo's tiny models, for in-process end-to-end tests
// (server_test.cpp, kb_routes_test.cpp), and small helpers to check its answers.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "server/server.h"

namespace inhouse::test_util {

inline const std::string kModels = std::string(INHOUSE_TEST_DATA) + "/models/";

inline std::filesystem::path fresh_dir(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path d = fs::temp_directory_path() / ("inhouse-server-test-" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A server running on its own thread for the lifetime of the object.
class RunningServer {
 public:
  explicit RunningServer(server::ServerConfig c) : server_(std::move(c)) {
    thread_ = std::thread([this] { server_.run(); });
    if (!server_.wait_until_listening(10000)) throw std::runtime_error("server did not start");
  }
  ~RunningServer() {
    server_.stop();
    thread_.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server_.bound_port());
    c.set_read_timeout(60, 0);
    return c;
  }

 private:
  server::Server server_;
  std::thread thread_;
};

inline server::ServerConfig base_config(const std::string& dir) {
  server::ServerConfig c;
  c.port = 0;
  c.threads = 1;
  c.parallel = 4;
  c.ctx = 256;
  c.data_dir = fresh_dir(dir);
  c.models = {{"chat", kModels + "qwen2-tiny-chat-q4_0.gguf"},
              {"raw", kModels + "qwen2-tiny-q4_0.gguf"},
              {"bge", kModels + "bert-tiny-q8_0.gguf"}};
  return c;
}

inline nlohmann::json body_of(const httplib::Result& r) { return nlohmann::json::parse(r->body); }

// The server counts a request in /metrics after its answer is sent: fetch /metrics with `get`
// until the body holds `needle` (up to 2 s) and return the last response.
template <class Get>
httplib::Result metrics_showing(Get get, const std::string& needle) {
  httplib::Result r = get();
  for (int i = 0; i < 100 && r && r->body.find(needle) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    r = get();
  }
  return r;
}

inline void expect_error(const httplib::Result& r, int status, const std::string& fragment) {
  ASSERT_TRUE(r) << "no response";
  EXPECT_EQ(r->status, status) << r->body;
  const nlohmann::json b = nlohmann::json::parse(r->body, nullptr, false);
  ASSERT_TRUE(b.contains("error")) << r->body;
  EXPECT_EQ(b["error"]["code"], status) << r->body;
  EXPECT_NE(b["error"]["message"].get<std::string>().find(fragment), std::string::npos) << r->body;
}

}  // namespace inhouse::test_util

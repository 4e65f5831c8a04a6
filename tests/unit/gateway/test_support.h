// Shared fixtures for the gateway tests: temp dirs, SQLite helpers, a
// blocking test agent speaking the real protocol over TCP, and a harness
// running a Gateway on its own libuv loop thread. Timeouts here are failure
// guards only; no test asserts on timing.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "edge/common/event.h"
#include "edge/common/metrics.h"
#include "edge/gateway/config.h"
#include "edge/gateway/gateway.h"
#include "edge/protocol/batch.h"
#include "edge/protocol/control.h"
#include "edge/protocol/frame.h"
#include "edge/sinks/sqlite_sink.h"

namespace edge::gateway::testing {

// Generous: only there so a broken gateway fails the test instead of hanging it.
inline constexpr std::chrono::seconds kGuard{30};

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "edge-gw-test-XXXXXX").string();
    char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A separate connection to the sink's database, as a person with sqlite3 would have.
class Db {
 public:
  explicit Db(const std::string& path) {
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK)
        << path;
    sqlite3_busy_timeout(db_, 30000);
  }
  ~Db() { sqlite3_close_v2(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  int64_t scalar(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
    int64_t value = -1;
    if (sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
    std::string value = "<no row>";
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(stmt, 0);
      value = t != nullptr ? reinterpret_cast<const char*>(t) : "<null>";
    }
    sqlite3_finalize(stmt);
    return value;
  }
  // Takes the write lock until unlock(): the sink's next commit waits.
  void lockForWrite() {
    ASSERT_EQ(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  void unlock() { ASSERT_EQ(sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK); }

 private:
  sqlite3* db_ = nullptr;
};

inline std::vector<Event> makeEvents(size_t n, uint64_t first_seq,
                                     const std::string& tenant = "agent-claims-this") {
  std::vector<Event> events;
  for (size_t i = 0; i < n; ++i) {
    Event e;
    e.seq = first_seq + i;
    e.ts_ns = 1700000000000000000LL + static_cast<int64_t>(first_seq + i) * 1000;
    e.kind = "log";
    e.source = "/var/log/app.log";
    e.host = "web-1";
    e.severity = Severity::kWarning;
    e.tenant = tenant;
    e.raw = "line " + std::to_string(first_seq + i);
    e.fields.push_back(Field{"user", std::string("alice")});
    e.fields.push_back(Field{"bytes", int64_t{1234}});
    e.fields.push_back(Field{"ratio", 0.5});
    e.fields.push_back(Field{"ok", true});
    events.push_back(std::move(e));
  }
  return events;
}

// A minimal agent: blocking socket, real frames.
class TestAgent {
 public:
  explicit TestAgent(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{};
    tv.tv_sec = kGuard.count();
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    EXPECT_TRUE(connected_) << "connect to 127.0.0.1:" << port << ": " << strerror(errno);
  }
  ~TestAgent() {
    if (fd_ >= 0) ::close(fd_);
  }
  TestAgent(const TestAgent&) = delete;
  TestAgent& operator=(const TestAgent&) = delete;

  void sendBytes(std::string_view bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        ADD_FAILURE() << "send failed: " << strerror(errno);
        return;
      }
      off += static_cast<size_t>(n);
    }
  }

  void sendControl(protocol::FrameType type, const google::protobuf::MessageLite& message) {
    sendBytes(protocol::encodeControlFrame(type, message));
  }

  // Next frame; nullopt on EOF, reset or the guard timeout.
  std::optional<protocol::Frame> readFrame() {
    for (;;) {
      auto next = decoder_.next();
      if (!next) {
        ADD_FAILURE() << "gateway sent a bad frame: " << next.error().message;
        return std::nullopt;
      }
      if (next->has_value()) return std::move(**next);
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return std::nullopt;
      EXPECT_TRUE(decoder_.feed(buf, static_cast<size_t>(n)).ok());
    }
  }

  // True when the gateway closed the connection (after any frames it sent).
  bool closedByPeer() {
    for (;;) {
      auto frame = readFrame();
      if (!frame) return true;
      // Frames before the close (e.g. a GOAWAY) are fine here.
    }
  }

  wire::Welcome hello(const std::string& agent_id, uint32_t version = protocol::kProtocolVersion) {
    wire::Hello hello;
    hello.set_protocol_version(version);
    hello.set_agent_id(agent_id);
    hello.set_agent_version("test-1.0");
    hello.set_hostname("test-host");
    hello.add_capabilities("zstd");
    hello.set_tenant_hint("agent-claims-this");
    sendControl(protocol::FrameType::kHello, hello);
    wire::Welcome welcome;
    auto frame = readFrame();
    EXPECT_TRUE(frame.has_value()) << "no WELCOME";
    if (!frame) return welcome;
    EXPECT_EQ(frame->type, protocol::FrameType::kWelcome);
    EXPECT_TRUE(protocol::parseControl(*frame, welcome).ok());
    return welcome;
  }

  // Sends one batch frame; returns its payload size (what it costs in credit).
  size_t sendBatch(uint64_t batch_id, const std::string& agent_id, const std::vector<Event>& events,
                   int zstd_level = 3) {
    auto payload = protocol::encodeBatchPayload(batch_id, agent_id, events, zstd_level);
    EXPECT_TRUE(payload.ok());
    if (!payload) return 0;
    sendBytes(protocol::encodeFrame(protocol::FrameType::kBatch, payload->flags, payload->bytes));
    return payload->bytes.size();
  }

  // Reads until an ERROR frame; returns it (code UNSPECIFIED if none came).
  wire::Error expectError() {
    wire::Error error;
    for (;;) {
      auto frame = readFrame();
      if (!frame) {
        ADD_FAILURE() << "connection closed without an ERROR frame";
        return error;
      }
      if (frame->type == protocol::FrameType::kError) {
        EXPECT_TRUE(protocol::parseControl(*frame, error).ok());
        return error;
      }
    }
  }

  bool connected() const { return connected_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  protocol::FrameDecoder decoder_{64u << 20};
};

// Collects ACKs and CREDITs until the wanted batches are acked.
struct AckTally {
  std::map<uint64_t, wire::AckStatus> acks;
  uint64_t credit_batches = 0;
  uint64_t credit_bytes = 0;
  std::vector<protocol::FrameType> order;

  // Reads frames until every id in `batch_ids` was acked and, if asked,
  // at least `want_credit_batches` batches of credit arrived.
  bool readUntil(TestAgent& agent, const std::vector<uint64_t>& batch_ids,
                 uint64_t want_credit_batches) {
    auto done = [&] {
      for (uint64_t id : batch_ids) {
        if (!acks.count(id)) return false;
      }
      return credit_batches >= want_credit_batches;
    };
    while (!done()) {
      auto frame = agent.readFrame();
      if (!frame) return false;
      order.push_back(frame->type);
      if (frame->type == protocol::FrameType::kAck) {
        wire::Ack ack;
        EXPECT_TRUE(protocol::parseControl(*frame, ack).ok());
        for (const auto& entry : ack.entries()) acks[entry.batch_id()] = entry.status();
      } else if (frame->type == protocol::FrameType::kCredit) {
        wire::Credit credit;
        EXPECT_TRUE(protocol::parseControl(*frame, credit).ok());
        credit_batches += credit.batches();
        credit_bytes += credit.bytes();
      }
    }
    return true;
  }
};

inline std::string testConfigYaml(const std::string& data_dir,
                                  const std::string& gateway_extra = "",
                                  const std::string& sqlite_extra = "") {
  return "gateway:\n"
         "  id: gw-test\n"
         "  listen: 127.0.0.1:0\n"
         "  data_dir: " +
         data_dir +
         "\n"
         "  tenant: acme\n" +
         (gateway_extra.find("  tls:") == std::string::npos
              ? std::string("  tls: {enabled: false, allow_plaintext: true}\n")
              : std::string()) +
         gateway_extra +
         "admin:\n"
         "  listen: 127.0.0.1:0\n"
         "log: {level: warn, format: text}\n"
         "sinks:\n"
         "  sqlite:\n"
         "    synchronous: normal\n" +
         sqlite_extra;
}

// A Gateway with a real SqliteSink on a loop thread of its own.
class GatewayHarness {
 public:
  explicit GatewayHarness(const std::string& yaml) {
    auto parsed = parseGatewayConfig(yaml, "test.yaml");
    if (!parsed) {
      ADD_FAILURE() << parsed.error().message;
      return;
    }
    config_ = std::move(*parsed);
    resolveDefaults(config_);
    // Tests hold the database's write lock on purpose; commits must wait, not fail.
    config_.sqlite.busy_timeout = std::chrono::milliseconds(60000);
  }

  ~GatewayHarness() {
    if (running_) stop();
  }

  // Starts the gateway; false (with a test failure) if it did not.
  bool start() {
    uv_loop_init(&loop_);
    sink_ = std::make_shared<sinks::SqliteSink>(config_.sqlite, metrics_);
    gateway_ = std::make_unique<Gateway>(&loop_, config_, sink_, metrics_);
    auto started = gateway_->start();
    if (!started) {
      ADD_FAILURE() << "gateway did not start: " << started.error().message;
      uv_run(&loop_, UV_RUN_DEFAULT);
      uv_loop_close(&loop_);
      return false;
    }
    uv_async_init(&loop_, &stop_async_, [](uv_async_t* async) {
      auto* self = static_cast<GatewayHarness*>(async->data);
      self->gateway_->shutdown(
          [self] { uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_async_), nullptr); });
    });
    stop_async_.data = this;
    running_ = true;
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
    return true;
  }

  // Asks the loop to shut the gateway down; returns at once.
  void requestStop() {
    if (!stop_requested_.exchange(true)) uv_async_send(&stop_async_);
  }

  // Graceful shutdown; waits for the loop to finish. Fails the test if
  // handles were left open.
  void stop() {
    requestStop();
    thread_.join();
    running_ = false;
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "the gateway left libuv handles open";
    gateway_.reset();
    sink_.reset();
  }

  uint16_t port() const { return gateway_->listenPort(); }
  uint16_t adminPort() const { return gateway_->adminPort(); }
  const GatewayConfig& config() const { return config_; }
  GatewayConfig& mutableConfig() { return config_; }
  const std::string& dbPath() const { return config_.sqlite.path; }
  MetricsRegistry& metrics() { return metrics_; }

  uint64_t counter(const std::string& name, const MetricLabels& labels = {}) {
    return metrics_.counter(name, "", labels).value();
  }
  uint64_t protocolErrors(const std::string& reason) {
    return counter("edge_gateway_protocol_errors_total", {{"reason", reason}});
  }

  // Polls a counter (atomics, safe across threads) until it reaches `want`.
  bool waitForCounter(const std::string& name, uint64_t want, const MetricLabels& labels = {}) {
    const auto deadline = std::chrono::steady_clock::now() + kGuard;
    while (std::chrono::steady_clock::now() < deadline) {
      if (counter(name, labels) >= want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

 private:
  GatewayConfig config_;
  MetricsRegistry metrics_;
  uv_loop_t loop_{};
  uv_async_t stop_async_{};
  std::shared_ptr<sinks::SqliteSink> sink_;
  std::unique_ptr<Gateway> gateway_;
  std::thread thread_;
  bool running_ = false;
  std::atomic<bool> stop_requested_{false};
};

// One HTTP/1.1 GET over a real socket; returns the raw response.
inline std::string httpGet(uint16_t port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{};
  tv.tv_sec = kGuard.count();
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return response;
}

}  // namespace edge::gateway::testing

// gateway_loadgen: drives a running edge-gateway with pre-encoded batches
// over plaintext connections, the way many agents with full spools would,
// but without the agents' cost, so the gateway alone is measured.
//
//   gateway_loadgen --port 7400 --connections 8 --seconds 10 [--lines FILE]
//       one thread per connection; each sends batches as long as the
//       gateway's credit allows and counts the ACKs; prints one JSON line:
//       {"events_acked":..., "seconds":..., "events_per_second":...}
//   gateway_loadgen --port 7400 --idle 10000 --hold-seconds 5
//       opens N connections, completes HELLO/WELCOME on each, holds them
//       (for the gateway's memory per idle connection), prints JSON.
//
// Events look like the agent's file input produces: kind "log", a source
// path, a host, and the line as raw (lines of --lines FILE, e.g. the
// standard workload of ../shared/bench/gen_events.py; else a synthetic
// 236-byte JSON line).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "edge/common/event.h"
#include "edge/protocol/batch.h"
#include "edge/protocol/control.h"
#include "edge/protocol/frame.h"

namespace {

namespace protocol = edge::protocol;
namespace wire = edge::wire;

struct Options {
  uint16_t port = 7400;
  int connections = 8;
  double seconds = 10;
  int idle = 0;
  double hold_seconds = 5;
  size_t batch_events = 1000;
  int zstd_level = 1;
  std::string lines_file;
};

int connectTo(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool sendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// One agent connection: HELLO sent, frames read through its decoder.
class Connection {
 public:
  explicit Connection(int fd) : fd_(fd) {}
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool hello(const std::string& agent_id, wire::Welcome& welcome) {
    wire::Hello hello;
    hello.set_protocol_version(protocol::kProtocolVersion);
    hello.set_agent_id(agent_id);
    hello.set_agent_version("loadgen");
    hello.set_hostname("loadgen");
    hello.add_capabilities("zstd");
    if (!sendAll(fd_, protocol::encodeControlFrame(protocol::FrameType::kHello, hello))) {
      return false;
    }
    auto frame = next();
    return frame && frame->type == protocol::FrameType::kWelcome &&
           protocol::parseControl(*frame, welcome).ok();
  }

  std::optional<protocol::Frame> next() {
    for (;;) {
      auto decoded = decoder_.next();
      if (!decoded) return std::nullopt;
      if (decoded->has_value()) return std::move(**decoded);
      const ssize_t n = ::recv(fd_, buffer_, sizeof(buffer_), 0);
      if (n <= 0) return std::nullopt;
      if (!decoder_.feed(buffer_, static_cast<size_t>(n))) return std::nullopt;
    }
  }

  int fd() const { return fd_; }

 private:
  int fd_;
  protocol::FrameDecoder decoder_{64u << 20};
  char buffer_[1 << 16];
};

std::vector<std::string> loadLines(const std::string& file) {
  std::vector<std::string> lines;
  if (!file.empty()) {
    std::ifstream in(file);
    std::string line;
    while (lines.size() < 100'000 && std::getline(in, line)) lines.push_back(line);
  }
  if (lines.empty()) {
    for (int i = 0; i < 1000; ++i) {
      char line[300];
      std::snprintf(line, sizeof(line),
                    "{\"ts\":\"2026-11-23T10:00:%02d.%03dZ\",\"level\":\"info\",\"service\":"
                    "\"checkout\",\"msg\":\"order placed\",\"user_id\":%d,\"order_id\":\"o-%08d\","
                    "\"amount\":%d.%02d,\"latency_ms\":%d,\"path\":\"/api/v1/orders\"}",
                    i % 60, i % 1000, 1000 + i, i * 7, i % 500, i % 100, i % 250);
      lines.emplace_back(line);
    }
  }
  return lines;
}

// Frames of `count` batches for one connection, each with its own batch id
// and consecutive seqs.
std::vector<std::string> encodeBatches(const std::vector<std::string>& lines, const Options& o,
                                       const std::string& agent_id, size_t count,
                                       size_t& events_per_batch) {
  std::vector<std::string> frames;
  uint64_t seq = 1;
  size_t line = 0;
  for (size_t b = 0; b < count; ++b) {
    std::vector<edge::Event> events(o.batch_events);
    for (edge::Event& event : events) {
      event.seq = seq++;
      event.ts_ns = edge::nowNs();
      event.kind = "log";
      event.source = "/var/log/app/checkout.log";
      event.host = "web-17";
      event.raw = lines[line++ % lines.size()];
    }
    auto payload = protocol::encodeBatchPayload(b + 1, agent_id, events, o.zstd_level);
    if (!payload) {
      std::fprintf(stderr, "encode failed: %s\n", payload.error().message.c_str());
      std::exit(1);
    }
    frames.push_back(protocol::encodeFrame(protocol::FrameType::kBatch, payload->flags,
                                           payload->bytes));
  }
  events_per_batch = o.batch_events;
  return frames;
}

int runThroughput(const Options& o) {
  const std::vector<std::string> lines = loadLines(o.lines_file);
  std::atomic<uint64_t> acked{0};
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int c = 0; c < o.connections; ++c) {
    threads.emplace_back([&, c] {
      const std::string agent_id = "loadgen-" + std::to_string(c);
      size_t per_batch = 0;
      const std::vector<std::string> frames = encodeBatches(lines, o, agent_id, 64, per_batch);
      const int fd = connectTo(o.port);
      if (fd < 0) {
        ++failed;
        return;
      }
      Connection connection(fd);
      wire::Welcome welcome;
      if (!connection.hello(agent_id, welcome)) {
        ++failed;
        return;
      }
      int64_t credit_batches = welcome.credit_batches();
      int64_t credit_bytes = static_cast<int64_t>(welcome.credit_bytes());
      size_t next = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        // Send what the credit allows, then wait for the gateway.
        while (credit_batches > 0 &&
               credit_bytes >= static_cast<int64_t>(frames[next].size() - protocol::kFrameHeaderSize)) {
          if (!sendAll(fd, frames[next])) {
            ++failed;
            return;
          }
          --credit_batches;
          credit_bytes -= static_cast<int64_t>(frames[next].size() - protocol::kFrameHeaderSize);
          next = (next + 1) % frames.size();
        }
        auto frame = connection.next();
        if (!frame) {
          ++failed;
          return;
        }
        if (frame->type == protocol::FrameType::kAck) {
          wire::Ack ack;
          if (protocol::parseControl(*frame, ack)) {
            for (const auto& entry : ack.entries()) {
              if (entry.status() == wire::ACK_STATUS_OK) acked += per_batch;
            }
          }
        } else if (frame->type == protocol::FrameType::kCredit) {
          wire::Credit credit;
          if (protocol::parseControl(*frame, credit)) {
            credit_batches += credit.batches();
            credit_bytes += static_cast<int64_t>(credit.bytes());
          }
        }
      }
      ::shutdown(fd, SHUT_RDWR);
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  const uint64_t total = acked.load();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stop = true;
  for (auto& thread : threads) thread.detach();  // blocked in recv; the process exits
  std::printf(
      "{\"mode\":\"throughput\",\"connections\":%d,\"batch_events\":%zu,\"events_acked\":%llu,"
      "\"seconds\":%.3f,\"events_per_second\":%.0f,\"failed_connections\":%d}\n",
      o.connections, o.batch_events, static_cast<unsigned long long>(total), elapsed,
      static_cast<double>(total) / elapsed, failed.load());
  std::fflush(stdout);
  std::_Exit(failed.load() == 0 ? 0 : 1);
}

int runIdle(const Options& o) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  std::vector<std::unique_ptr<Connection>> connections;
  int failed = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < o.idle; ++i) {
    const int fd = connectTo(o.port);
    if (fd < 0) {
      ++failed;
      continue;
    }
    auto connection = std::make_unique<Connection>(fd);
    wire::Welcome welcome;
    if (!connection->hello("idle-" + std::to_string(i), welcome)) {
      ++failed;
      continue;
    }
    connections.push_back(std::move(connection));
  }
  const double connect_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("{\"mode\":\"idle\",\"connected\":%zu,\"failed\":%d,\"connect_seconds\":%.3f}\n",
              connections.size(), failed, connect_seconds);
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(o.hold_seconds));
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"gateway_loadgen: pre-encoded batches or idle connections against edge-gateway"};
  app.add_option("--port", o.port, "The gateway's agent port (plaintext, loopback)")->required();
  app.add_option("--connections", o.connections, "Connections sending batches")
      ->check(CLI::Range(1, 1024));
  app.add_option("--seconds", o.seconds, "How long to send");
  app.add_option("--batch-events", o.batch_events, "Events per batch")
      ->check(CLI::Range(1, 100'000));
  app.add_option("--zstd-level", o.zstd_level, "Compression level of the batches");
  app.add_option("--lines", o.lines_file, "Raw lines to use (e.g. the standard workload)");
  app.add_option("--idle", o.idle, "Open this many idle connections instead")
      ->check(CLI::Range(0, 1'000'000));
  app.add_option("--hold-seconds", o.hold_seconds, "How long to hold the idle connections");
  CLI11_PARSE(app, argc, argv);
  return o.idle > 0 ? runIdle(o) : runThroughput(o);
}

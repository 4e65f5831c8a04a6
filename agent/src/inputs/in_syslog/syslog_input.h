// The syslog input ("type: syslog"): receives syslog messages on UDP, TCP, a
// unix datagram socket (like /dev/log) and a unix stream socket, in any
// combination, and turns each message into one event parsed by
// parsers/syslog_parser.h (RFC 5424 or RFC 3164, per message).
//
// Backpressure differs by transport. Stream senders (TCP, unix stream) are
// pushed back: while the agent pauses the input nothing is read, the kernel
// buffers fill and TCP flow control stops the sender. Datagram senders
// cannot wait, so while paused datagrams are still read (to keep the kernel
// from dropping them where nobody counts) and discarded, counted in
// edge_agent_input_dropped_total{input,reason="paused"}.
//
// Network inputs have no replay: there is no position, and the delivery
// guarantee starts once an event is in the spool.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "edge/agent/input.h"
#include "edge/agent/input_registry.h"
#include "edge/agent/pending_delivery.h"
#include "edge/common/log.h"
#include "edge/common/metrics.h"
#include "inputs/in_syslog/syslog_framer.h"

namespace edge::agent {

struct SyslogInputConfig {
  std::string listen_udp;          // host:port, empty = off
  std::string listen_tcp;          // host:port, empty = off
  std::string listen_unix;         // path of a datagram socket, empty = off
  std::string listen_unix_stream;  // path of a stream socket, empty = off
  uint32_t socket_mode = 0666;     // permissions of the unix socket files
  uint64_t max_message_bytes = 64 * 1024;
  uint32_t max_connections = 256;     // TCP and unix stream together
  bool utc = false;                   // RFC 3164 timestamps are UTC, not local time
  uint64_t receive_buffer_bytes = 0;  // SO_RCVBUF of datagram sockets; 0 = system default
};

// Reads the syslog keys of an `inputs:` element (registered as type syslog).
std::unique_ptr<InputSpec> parseSyslogInputSpec(const ConfigNode& node, InputCommonConfig common);
// The registry entry (agent/src/input_registry.cc).
const InputTypeInfo& syslogInputType();

class SyslogInput final : public Input {
 public:
  // Datagrams read per wakeup before the loop gets a turn.
  static constexpr int kDatagramsPerWakeup = 256;
  static constexpr size_t kReadChunk = 64 * 1024;

  SyslogInput(const InputContext& context, InputCommonConfig common, SyslogInputConfig config);
  ~SyslogInput() override;
  SyslogInput(const SyslogInput&) = delete;
  SyslogInput& operator=(const SyslogInput&) = delete;

  const std::string& name() const override { return common_.name; }
  std::string_view type() const override { return "syslog"; }
  // Binds every configured listener; an address in use or a path that is
  // not a socket fails here, naming the listener.
  Result<void> start(std::vector<InputPosition> saved) override;
  void pause() override;
  void resume() override;
  void close() override;
  InputStats stats() const override { return stats_; }

  // The bound ports once started (configs and tests may ask for port 0).
  uint16_t udpPort() const { return udp_port_; }
  uint16_t tcpPort() const { return tcp_port_; }
  size_t connectionCount() const { return connections_.size(); }

 private:
  struct DatagramListener {
    SyslogInput* owner = nullptr;
    uv_poll_t poll{};
    int fd = -1;
    bool polling = false;
    std::string source;  // "udp:0.0.0.0:5514", "unix:/dev/log"
    std::string path;    // unix socket file to remove on close
  };
  struct StreamListener {
    SyslogInput* owner = nullptr;
    union {
      uv_tcp_t tcp;
      uv_pipe_t pipe;
    } handle{};
    bool initialized = false;
    std::string source;
    std::string path;
    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&handle); }
  };
  struct Connection {
    Connection(SyslogInput* o, size_t max_message) : owner(o), framer(max_message) {}
    SyslogInput* owner;
    union {
      uv_tcp_t tcp;
      uv_pipe_t pipe;
    } handle{};
    std::string source;
    std::string sender;  // peer address, empty when unknown
    SyslogStreamFramer framer;
    std::string pending;  // read while the input was being paused; processed first on resume
    bool reading = false;
    bool closing = false;
    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&handle); }
  };

  Result<void> openUdp();
  Result<void> openUnixDatagram();
  Result<void> openTcp();
  Result<void> openUnixStream();
  Result<void> startPolling(DatagramListener& listener);
  Result<void> prepareSocketPath(const std::string& path, const char* key);

  static void onDatagramReadable(uv_poll_t* handle, int status, int events);
  void readDatagrams(DatagramListener& listener);
  static void onConnection(uv_stream_t* server, int status);
  void acceptConnection(StreamListener& listener);
  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  void onConnectionData(Connection& conn, std::string_view data);
  void startReading(Connection& conn);
  void closeConnection(Connection& conn);
  static void onResumeTimer(uv_timer_t* timer);
  void processPending();

  bool emit(std::string_view message, bool truncated, const std::string& source,
            const std::string& sender);
  void countError();

  uv_loop_t* loop_;
  InputCommonConfig common_;
  SyslogInputConfig config_;
  std::string hostname_;
  std::string kind_;
  PendingDelivery pending_;
  Counter& events_read_;
  Counter& dropped_paused_;
  Counter& truncated_;
  Counter& fields_dropped_;
  Counter& rejected_connections_;
  Gauge& connections_gauge_;

  std::unique_ptr<DatagramListener> udp_;
  std::unique_ptr<DatagramListener> unix_dgram_;
  std::unique_ptr<StreamListener> tcp_;
  std::unique_ptr<StreamListener> unix_stream_;
  std::unordered_set<Connection*> connections_;
  uv_timer_t resume_timer_{};
  bool resume_timer_initialized_ = false;
  uint16_t udp_port_ = 0;
  uint16_t tcp_port_ = 0;
  bool started_ = false;
  bool paused_ = false;
  bool closed_ = false;

  std::vector<char> datagram_buffer_;
  std::vector<char> read_buffer_;

  InputStats stats_;
  LogRateLimiter log_limiter_{5, std::chrono::seconds(60)};
};

}  // namespace edge::agent

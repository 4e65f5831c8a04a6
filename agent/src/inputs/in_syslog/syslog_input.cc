// The syslog input: its configuration keys, the listeners (datagram sockets
// polled with uv_poll so a datagram's real size is known and truncation is
// counted; stream sockets through libuv streams), per-connection framing,
// and pause/resume.
#include "inputs/in_syslog/syslog_input.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "edge/common/config.h"
#include "parsers/syslog_parser.h"

namespace edge::agent {
namespace {

constexpr uint64_t kMinMessageBytes = 256;
constexpr uint64_t kMaxMessageBytes = 4ull << 20;

std::string formatAddress(const sockaddr* addr) {
  char host[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET) {
    // Copied, not cast: a sockaddr need not be aligned for sockaddr_in
    // (-Wcast-align on 32-bit ARM).
    sockaddr_in in{};
    std::memcpy(&in, addr, sizeof(in));
    ::inet_ntop(AF_INET, &in.sin_addr, host, sizeof(host));
    return std::string(host) + ":" + std::to_string(ntohs(in.sin_port));
  }
  if (addr->sa_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, addr, sizeof(in6));
    ::inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof(host));
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6.sin6_port));
  }
  if (addr->sa_family == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(addr);
    if (un->sun_path[0] != '\0') {
      return std::string(un->sun_path, strnlen(un->sun_path, sizeof(un->sun_path)));
    }
  }
  return {};
}

// "host:port" / "[v6]:port" to a socket address; port 0 asks the kernel for
// a free one. Numeric addresses need no lookup; names are resolved once, here.
Result<std::pair<sockaddr_storage, socklen_t>> resolveListen(const std::string& text,
                                                             int socktype) {
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return makeError(ErrorCode::kConfig, "expected [ipv6]:port, got \"" + text + "\"");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
      return makeError(ErrorCode::kConfig, "expected host:port, got \"" + text + "\"");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    return makeError(ErrorCode::kConfig, "cannot resolve \"" + text + "\": " + gai_strerror(rc) +
                                             "; use a local address such as 0.0.0.0:5514");
  }
  std::pair<sockaddr_storage, socklen_t> out{};
  std::memcpy(&out.first, found->ai_addr, found->ai_addrlen);
  out.second = found->ai_addrlen;
  ::freeaddrinfo(found);
  return out;
}

uint16_t boundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return 0;
}

std::string_view trimFraming(std::string_view message) {
  while (!message.empty() &&
         (message.back() == '\n' || message.back() == '\r' || message.back() == '\0')) {
    message.remove_suffix(1);
  }
  return message;
}

}  // namespace

std::unique_ptr<InputSpec> parseSyslogInputSpec(const ConfigNode& node, InputCommonConfig common) {
  rejectUnknownInputKeys(
      node, {"listen_udp", "listen_tcp", "listen_unix", "listen_unix_stream", "mode",
             "max_message_bytes", "max_connections", "timezone", "receive_buffer_bytes"});
  SyslogInputConfig config;
  config.listen_udp = node.getHostPort("listen_udp", "");
  config.listen_tcp = node.getHostPort("listen_tcp", "");
  config.listen_unix = node.getString("listen_unix", "");
  config.listen_unix_stream = node.getString("listen_unix_stream", "");
  if (config.listen_udp.empty() && config.listen_tcp.empty() && config.listen_unix.empty() &&
      config.listen_unix_stream.empty()) {
    node.addError(
        "expected at least one of listen_udp, listen_tcp (host:port), listen_unix or "
        "listen_unix_stream (a socket path)");
  }
  if (!config.listen_unix.empty() && config.listen_unix == config.listen_unix_stream) {
    node.addError("listen_unix_stream", "expected a path other than listen_unix's");
  }
  for (const char* key : {"listen_unix", "listen_unix_stream"}) {
    std::string path = node.getString(key, "");
    if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
      node.addError(key, "expected a socket path shorter than " +
                             std::to_string(sizeof(sockaddr_un{}.sun_path)) + " bytes");
    }
  }
  std::string mode = node.getString("mode", "0666");
  bool mode_ok = !mode.empty() && mode.size() <= 4 &&
                 std::all_of(mode.begin(), mode.end(), [](char c) { return c >= '0' && c <= '7'; });
  if (mode_ok) {
    config.socket_mode = static_cast<uint32_t>(std::stoul(mode, nullptr, 8));
    mode_ok = config.socket_mode <= 0777;
  }
  if (!mode_ok) {
    node.addError("mode", "expected an octal file mode such as \"0660\", got \"" + mode + "\"");
  }
  config.max_message_bytes = node.getBytes("max_message_bytes", 64 * 1024);
  if (config.max_message_bytes < kMinMessageBytes || config.max_message_bytes > kMaxMessageBytes) {
    node.addError("max_message_bytes", "expected a size between 256 and 4MiB");
  }
  config.max_connections = static_cast<uint32_t>(node.getInt("max_connections", 256, 1, 65536));
  config.utc = node.getEnum("timezone", "local", {"local", "utc"}) == "utc";
  config.receive_buffer_bytes = node.getBytes("receive_buffer_bytes", 0);
  if (config.receive_buffer_bytes > (256ull << 20)) {
    node.addError("receive_buffer_bytes", "expected a size up to 256MiB (0 keeps the default)");
  }
  return std::make_unique<BasicInputSpec<SyslogInput, SyslogInputConfig>>(std::move(common),
                                                                          std::move(config));
}

const InputTypeInfo& syslogInputType() {
  // block, not drop_newest: pausing pushes stream senders back (their own
  // queues hold the data) while datagrams, which cannot wait, are read and
  // counted as dropped at the socket (edge_agent_input_dropped_total).
  static const InputTypeInfo kInfo{"syslog", "syslog", &parseSyslogInputSpec, WhenFull::kBlock};
  return kInfo;
}

SyslogInput::SyslogInput(const InputContext& context, InputCommonConfig common,
                         SyslogInputConfig config)
    : loop_(context.loop),
      common_(std::move(common)),
      config_(std::move(config)),
      hostname_(context.hostname),
      kind_(common_.kind.empty() ? "syslog" : common_.kind),
      pending_(*context.sink, common_.name, context.limits),
      events_read_(context.metrics->counter("edge_agent_events_read_total", "Events read by inputs",
                                            {{"input", common_.name}})),
      dropped_paused_(context.metrics->counter(
          "edge_agent_input_dropped_total",
          "Records an input read and discarded (reason=paused: datagrams while the spool is full)",
          {{"input", common_.name}, {"reason", "paused"}})),
      truncated_(context.metrics->counter(
          "edge_agent_lines_truncated_total",
          "Records longer than the input's limit, emitted truncated", {{"input", common_.name}})),
      fields_dropped_(
          context.metrics->counter("edge_agent_parser_fields_dropped_total",
                                   "Fields the input's parser dropped beyond its per-record limit",
                                   {{"input", common_.name}})),
      rejected_connections_(context.metrics->counter(
          "edge_agent_syslog_connections_rejected_total",
          "Stream connections closed at once because max_connections were open",
          {{"input", common_.name}})),
      connections_gauge_(context.metrics->gauge("edge_agent_syslog_connections",
                                                "Open syslog stream connections",
                                                {{"input", common_.name}})) {}

SyslogInput::~SyslogInput() {
  // close() ran and the loop finished the closes (the Input contract); a
  // connection still listed had its handle closed by someone else's walk.
  for (Connection* conn : connections_) delete conn;
  for (DatagramListener* listener : {udp_.get(), unix_dgram_.get()}) {
    if (listener != nullptr && listener->fd >= 0) ::close(listener->fd);
  }
}

void SyslogInput::countError() { ++stats_.errors; }

Result<void> SyslogInput::start(std::vector<InputPosition> /*saved*/) {
  if (started_) return makeError(ErrorCode::kInternal, "input " + name() + " started twice");
  started_ = true;
  datagram_buffer_.resize(config_.max_message_bytes);
  read_buffer_.resize(kReadChunk);
  int rc = uv_timer_init(loop_, &resume_timer_);
  if (rc != 0) {
    return makeError(ErrorCode::kInternal,
                     "input " + name() + ": cannot create a timer: " + uv_strerror(rc));
  }
  resume_timer_.data = this;
  resume_timer_initialized_ = true;
  if (!config_.listen_udp.empty()) EDGE_TRY(openUdp());
  if (!config_.listen_tcp.empty()) EDGE_TRY(openTcp());
  if (!config_.listen_unix.empty()) EDGE_TRY(openUnixDatagram());
  if (!config_.listen_unix_stream.empty()) EDGE_TRY(openUnixStream());
  std::string where;
  for (const std::string* s : {udp_ ? &udp_->source : nullptr, tcp_ ? &tcp_->source : nullptr,
                               unix_dgram_ ? &unix_dgram_->source : nullptr,
                               unix_stream_ ? &unix_stream_->source : nullptr}) {
    if (s == nullptr) continue;
    if (!where.empty()) where += ", ";
    where += *s;
  }
  spdlog::info("input {}: receiving syslog on {}", name(), where);
  return okResult();
}

Result<void> SyslogInput::openUdp() {
  auto addr = resolveListen(config_.listen_udp, SOCK_DGRAM);
  if (!addr)
    return makeError(ErrorCode::kConfig,
                     "input " + name() + ": listen_udp: " + addr.error().message);
  auto listener = std::make_unique<DatagramListener>();
  listener->owner = this;
  int fd = ::socket(addr->first.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return makeError(ErrorCode::kIo,
                     "input " + name() + ": cannot create a UDP socket: " + std::strerror(errno));
  }
  listener->fd = fd;
  udp_ = std::move(listener);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (config_.receive_buffer_bytes > 0) {
    int size = static_cast<int>(config_.receive_buffer_bytes);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr->first), addr->second) != 0) {
    return makeError(ErrorCode::kIo, "input " + name() + ": cannot listen on UDP " +
                                         config_.listen_udp + ": " + std::strerror(errno) +
                                         "; pick a free port (ports below 1024 need root or "
                                         "CAP_NET_BIND_SERVICE)");
  }
  udp_port_ = boundPort(fd);
  udp_->source = "udp:" + formatAddress(reinterpret_cast<const sockaddr*>(&addr->first));
  if (udp_port_ != 0) {
    // The configured port may have been 0.
    size_t colon = udp_->source.rfind(':');
    udp_->source = udp_->source.substr(0, colon + 1) + std::to_string(udp_port_);
  }
  return startPolling(*udp_);
}

Result<void> SyslogInput::prepareSocketPath(const std::string& path, const char* key) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return makeError(ErrorCode::kConfig, "input " + name() + ": " + key + ": " + path +
                                               " exists and is not a socket; remove it or choose "
                                               "another path");
    }
    // A socket file left by a previous run (or by another syslog daemon,
    // which then no longer receives: run one listener per path).
    ::unlink(path.c_str());
  }
  return okResult();
}

Result<void> SyslogInput::openUnixDatagram() {
  const std::string& path = config_.listen_unix;
  EDGE_TRY(prepareSocketPath(path, "listen_unix"));
  auto listener = std::make_unique<DatagramListener>();
  listener->owner = this;
  listener->source = "unix:" + path;
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return makeError(ErrorCode::kIo,
                     "input " + name() + ": cannot create a unix socket: " + std::strerror(errno));
  }
  listener->fd = fd;
  unix_dgram_ = std::move(listener);
  if (config_.receive_buffer_bytes > 0) {
    int size = static_cast<int>(config_.receive_buffer_bytes);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), std::min(path.size(), sizeof(addr.sun_path) - 1));
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return makeError(ErrorCode::kIo, "input " + name() + ": cannot bind the unix socket " + path +
                                         ": " + std::strerror(errno) +
                                         "; check that its directory exists and is writable");
  }
  unix_dgram_->path = path;
  if (::chmod(path.c_str(), config_.socket_mode) != 0) {
    spdlog::warn("input {}: cannot set mode {:o} on {}: {}", name(), config_.socket_mode, path,
                 std::strerror(errno));
  }
  return startPolling(*unix_dgram_);
}

Result<void> SyslogInput::startPolling(DatagramListener& listener) {
  int rc = uv_poll_init(loop_, &listener.poll, listener.fd);
  if (rc == 0) {
    listener.poll.data = &listener;
    rc = uv_poll_start(&listener.poll, UV_READABLE, &SyslogInput::onDatagramReadable);
    listener.polling = true;
  }
  if (rc != 0) {
    return makeError(ErrorCode::kInternal, "input " + name() + ": cannot poll " + listener.source +
                                               ": " + uv_strerror(rc));
  }
  return okResult();
}

Result<void> SyslogInput::openTcp() {
  auto addr = resolveListen(config_.listen_tcp, SOCK_STREAM);
  if (!addr)
    return makeError(ErrorCode::kConfig,
                     "input " + name() + ": listen_tcp: " + addr.error().message);
  tcp_ = std::make_unique<StreamListener>();
  tcp_->owner = this;
  uv_tcp_init(loop_, &tcp_->handle.tcp);
  tcp_->initialized = true;
  tcp_->handle.tcp.data = tcp_.get();
  int rc = uv_tcp_bind(&tcp_->handle.tcp, reinterpret_cast<const sockaddr*>(&addr->first), 0);
  if (rc == 0) rc = uv_listen(tcp_->stream(), 128, &SyslogInput::onConnection);
  if (rc != 0) {
    return makeError(ErrorCode::kIo, "input " + name() + ": cannot listen on TCP " +
                                         config_.listen_tcp + ": " + uv_strerror(rc) +
                                         "; pick a free port (ports below 1024 need root or "
                                         "CAP_NET_BIND_SERVICE)");
  }
  sockaddr_storage bound{};
  int len = sizeof(bound);
  uv_tcp_getsockname(&tcp_->handle.tcp, reinterpret_cast<sockaddr*>(&bound), &len);
  tcp_->source = "tcp:" + formatAddress(reinterpret_cast<const sockaddr*>(&bound));
  tcp_port_ = bound.ss_family == AF_INET
                  ? ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port)
                  : ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  return okResult();
}

Result<void> SyslogInput::openUnixStream() {
  const std::string& path = config_.listen_unix_stream;
  EDGE_TRY(prepareSocketPath(path, "listen_unix_stream"));
  unix_stream_ = std::make_unique<StreamListener>();
  unix_stream_->owner = this;
  unix_stream_->source = "unix:" + path;
  uv_pipe_init(loop_, &unix_stream_->handle.pipe, 0);
  unix_stream_->initialized = true;
  unix_stream_->handle.pipe.data = unix_stream_.get();
  int rc = uv_pipe_bind(&unix_stream_->handle.pipe, path.c_str());
  if (rc == 0) {
    unix_stream_->path = path;
    if (::chmod(path.c_str(), config_.socket_mode) != 0) {
      spdlog::warn("input {}: cannot set mode {:o} on {}: {}", name(), config_.socket_mode, path,
                   std::strerror(errno));
    }
    rc = uv_listen(unix_stream_->stream(), 128, &SyslogInput::onConnection);
  }
  if (rc != 0) {
    return makeError(ErrorCode::kIo, "input " + name() + ": cannot listen on the unix socket " +
                                         path + ": " + uv_strerror(rc) +
                                         "; check that its directory exists and is writable");
  }
  return okResult();
}

void SyslogInput::onDatagramReadable(uv_poll_t* handle, int status, int /*events*/) {
  auto* listener = static_cast<DatagramListener*>(handle->data);
  SyslogInput& self = *listener->owner;
  if (status < 0) {
    self.countError();
    if (self.log_limiter_.allow() != 0) {
      spdlog::warn("input {}: polling {} failed: {}", self.name(), listener->source,
                   uv_strerror(status));
    }
    return;
  }
  self.readDatagrams(*listener);
}

void SyslogInput::readDatagrams(DatagramListener& listener) {
  const size_t cap = datagram_buffer_.size();
  for (int k = 0; k < kDatagramsPerWakeup && !closed_; ++k) {
    sockaddr_storage from{};
    socklen_t from_len = sizeof(from);
    // MSG_TRUNC makes recvfrom return the datagram's real length, so a
    // datagram longer than the buffer is known to be truncated.
    ssize_t n = ::recvfrom(listener.fd, datagram_buffer_.data(), cap, MSG_TRUNC,
                           reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        countError();
        if (log_limiter_.allow() != 0) {
          spdlog::warn("input {}: receiving on {} failed: {}", name(), listener.source,
                       std::strerror(errno));
        }
      }
      break;
    }
    if (paused_) {
      // The spool is full and a datagram sender cannot be told to wait.
      ++stats_.events_dropped;
      dropped_paused_.inc();
      if (uint64_t logged = log_limiter_.allow(); logged != 0) {
        spdlog::warn(
            "input {}: the spool is full; dropping syslog datagrams on {} until it drains ({} "
            "dropped so far; see edge_agent_input_dropped_total)",
            name(), listener.source, stats_.events_dropped);
      }
      continue;
    }
    size_t len = static_cast<size_t>(n);
    bool truncated = len > cap;
    std::string_view message(datagram_buffer_.data(), std::min(len, cap));
    if (truncated) message = truncateUtf8(message, cap);
    message = trimFraming(message);
    if (message.empty()) continue;
    std::string sender =
        from_len > 0 ? formatAddress(reinterpret_cast<const sockaddr*>(&from)) : std::string();
    emit(message, truncated, listener.source, sender);
  }
  pending_.flush();
}

void SyslogInput::onConnection(uv_stream_t* server, int status) {
  auto* listener = static_cast<StreamListener*>(server->data);
  SyslogInput& self = *listener->owner;
  if (status < 0) {
    self.countError();
    if (self.log_limiter_.allow() != 0) {
      spdlog::warn("input {}: accepting on {} failed: {}", self.name(), listener->source,
                   uv_strerror(status));
    }
    return;
  }
  self.acceptConnection(*listener);
}

void SyslogInput::acceptConnection(StreamListener& listener) {
  auto* conn = new Connection(this, config_.max_message_bytes);
  const bool is_tcp = &listener == tcp_.get();
  if (is_tcp) {
    uv_tcp_init(loop_, &conn->handle.tcp);
  } else {
    uv_pipe_init(loop_, &conn->handle.pipe, 0);
  }
  conn->stream()->data = conn;
  conn->source = listener.source;
  connections_.insert(conn);
  connections_gauge_.set(static_cast<int64_t>(connections_.size()));
  int rc = uv_accept(listener.stream(), conn->stream());
  if (rc != 0) {
    countError();
    closeConnection(*conn);
    return;
  }
  if (connections_.size() > config_.max_connections) {
    rejected_connections_.inc();
    if (uint64_t logged = log_limiter_.allow(); logged != 0) {
      spdlog::warn(
          "input {}: {} stream connections are open (max_connections); closing a new one on {}; "
          "raise max_connections if senders need more",
          name(), config_.max_connections, listener.source);
    }
    closeConnection(*conn);
    return;
  }
  if (is_tcp) {
    sockaddr_storage peer{};
    int len = sizeof(peer);
    if (uv_tcp_getpeername(&conn->handle.tcp, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
      conn->sender = formatAddress(reinterpret_cast<const sockaddr*>(&peer));
    }
  }
  spdlog::debug("input {}: connection from {} on {}", name(),
                conn->sender.empty() ? "a local process" : conn->sender, conn->source);
  if (!paused_) startReading(*conn);
}

void SyslogInput::startReading(Connection& conn) {
  if (conn.reading || conn.closing) return;
  int rc = uv_read_start(conn.stream(), &SyslogInput::onAlloc, &SyslogInput::onRead);
  if (rc != 0) {
    countError();
    closeConnection(conn);
    return;
  }
  conn.reading = true;
}

void SyslogInput::onAlloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  // Reads are processed synchronously in onRead, so one buffer serves all.
  SyslogInput& self = *static_cast<Connection*>(handle->data)->owner;
  *buf = uv_buf_init(self.read_buffer_.data(), static_cast<unsigned>(self.read_buffer_.size()));
}

void SyslogInput::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* conn = static_cast<Connection*>(stream->data);
  SyslogInput& self = *conn->owner;
  if (nread > 0) {
    self.onConnectionData(*conn, std::string_view(buf->base, static_cast<size_t>(nread)));
    self.pending_.flush();
    return;
  }
  if (nread == 0) return;  // EAGAIN
  if (nread != UV_EOF) {
    spdlog::debug("input {}: connection {} on {} failed: {}", self.name(), conn->sender,
                  conn->source, uv_strerror(static_cast<int>(nread)));
  }
  // A sender that closes after its last message without a final LF still
  // sent that message.
  conn->framer.finish([&](std::string_view message, bool truncated) {
    return self.emit(message, truncated, conn->source, conn->sender);
  });
  self.pending_.flush();
  self.closeConnection(*conn);
}

void SyslogInput::onConnectionData(Connection& conn, std::string_view data) {
  size_t used = conn.framer.feed(data, [&](std::string_view message, bool truncated) {
    return emit(message, truncated, conn.source, conn.sender);
  });
  if (used < data.size()) {
    // Paused by the delivery of these messages: keep the rest (at most one
    // read) and read nothing more until resumed.
    conn.pending.append(data.substr(used));
    if (conn.reading) {
      uv_read_stop(conn.stream());
      conn.reading = false;
    }
  }
}

void SyslogInput::closeConnection(Connection& conn) {
  if (conn.closing) return;
  conn.closing = true;
  conn.reading = false;
  uv_close(reinterpret_cast<uv_handle_t*>(conn.stream()), [](uv_handle_t* handle) {
    auto* closed = static_cast<Connection*>(handle->data);
    SyslogInput& self = *closed->owner;
    self.connections_.erase(closed);
    self.connections_gauge_.set(static_cast<int64_t>(self.connections_.size()));
    delete closed;
  });
}

bool SyslogInput::emit(std::string_view message, bool truncated, const std::string& source,
                       const std::string& sender) {
  if (closed_) return false;
  if (message.empty()) return !paused_;
  Event event;
  event.ts_ns = nowNs();
  event.kind = kind_;
  event.source = source;
  event.host = hostname_;
  event.raw.assign(message);
  SyslogParseOptions options;
  options.local_hostname = hostname_;
  options.now_ns = event.ts_ns;
  options.utc = config_.utc;
  options.assume_syslog = true;
  uint64_t dropped = 0;
  parseSyslogRecord(event.raw, event, options, &dropped);
  if (dropped > 0) {
    stats_.fields_dropped += dropped;
    fields_dropped_.inc(dropped);
    if (log_limiter_.allow() != 0) {
      spdlog::warn(
          "input {}: a message on {} from {} has more than {} structured-data parameters; {} were "
          "dropped (see edge_agent_parser_fields_dropped_total)",
          name(), source, sender.empty() ? "a local process" : sender, kMaxSyslogSdFields, dropped);
    }
  }
  if (!sender.empty()) event.setField("sender", sender);
  if (truncated) {
    event.setField("truncated", true);
    ++stats_.lines_truncated;
    truncated_.inc();
    if (log_limiter_.allow() != 0) {
      spdlog::warn(
          "input {}: a message on {} from {} is longer than max_message_bytes ({}) and was "
          "truncated; raise max_message_bytes to keep such messages whole",
          name(), source, sender.empty() ? "a local process" : sender, config_.max_message_bytes);
    }
  }
  pending_.add(std::move(event));
  ++stats_.events_read;
  events_read_.inc();
  return !paused_ && !closed_;
}

void SyslogInput::pause() {
  if (paused_ || closed_) return;
  paused_ = true;
  if (resume_timer_initialized_) uv_timer_stop(&resume_timer_);
  for (Connection* conn : connections_) {
    if (conn->reading) {
      uv_read_stop(conn->stream());
      conn->reading = false;
    }
  }
}

void SyslogInput::resume() {
  if (!paused_ || closed_) return;
  paused_ = false;
  // Not here: resume may be called from inside a delivery, in the middle
  // of framing a connection's bytes.
  if (resume_timer_initialized_) uv_timer_start(&resume_timer_, &SyslogInput::onResumeTimer, 0, 0);
}

void SyslogInput::onResumeTimer(uv_timer_t* timer) {
  static_cast<SyslogInput*>(timer->data)->processPending();
}

void SyslogInput::processPending() {
  if (paused_ || closed_) return;
  std::vector<Connection*> conns(connections_.begin(), connections_.end());
  for (Connection* conn : conns) {
    if (paused_ || closed_) break;
    if (conn->closing) continue;
    if (!conn->pending.empty()) {
      std::string data = std::move(conn->pending);
      conn->pending.clear();
      onConnectionData(*conn, data);
      if (!conn->pending.empty()) break;  // paused again
    }
    startReading(*conn);
  }
  pending_.flush();
}

void SyslogInput::close() {
  if (closed_) return;
  pending_.flush();
  closed_ = true;
  for (DatagramListener* listener : {udp_.get(), unix_dgram_.get()}) {
    if (listener == nullptr) continue;
    if (listener->polling) {
      uv_close(reinterpret_cast<uv_handle_t*>(&listener->poll), nullptr);
      listener->polling = false;
    }
    // uv_close stopped the poll synchronously; the fd is no longer watched.
    if (listener->fd >= 0) ::close(listener->fd);
    listener->fd = -1;
    if (!listener->path.empty()) ::unlink(listener->path.c_str());
  }
  for (StreamListener* listener : {tcp_.get(), unix_stream_.get()}) {
    if (listener == nullptr || !listener->initialized) continue;
    uv_close(reinterpret_cast<uv_handle_t*>(listener->stream()), nullptr);
    listener->initialized = false;
    if (!listener->path.empty()) ::unlink(listener->path.c_str());
  }
  std::vector<Connection*> conns(connections_.begin(), connections_.end());
  for (Connection* conn : conns) closeConnection(*conn);
  if (resume_timer_initialized_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&resume_timer_), nullptr);
    resume_timer_initialized_ = false;
  }
}

}  // namespace edge::agent

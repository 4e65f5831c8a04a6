// Listener: resolve, bind, listen, hand accepted connections to the worker.
#include "listener.h"

#include <netdb.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "edge/common/log.h"

namespace edge::gateway {
namespace {

constexpr int kBacklog = 1024;

std::string formatAddress(const sockaddr_storage& addr) {
  char ip[INET6_ADDRSTRLEN] = {};
  int port = 0;
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    uv_ip4_name(in, ip, sizeof(ip));
    port = ntohs(in->sin_port);
    return std::string(ip) + ":" + std::to_string(port);
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    uv_ip6_name(in6, ip, sizeof(ip));
    port = ntohs(in6->sin6_port);
    return "[" + std::string(ip) + "]:" + std::to_string(port);
  }
  return "unknown";
}

uint16_t portOf(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  return 0;
}

}  // namespace

std::string peerAddress(const uv_tcp_t* tcp) {
  sockaddr_storage addr{};
  int len = sizeof(addr);
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "unknown";
  return formatAddress(addr);
}

Listener::Listener(uv_loop_t* loop) : loop_(loop) {}

Listener::~Listener() { close(); }

namespace {

// SO_REUSEPORT would let us share a port with ANOTHER gateway of the same
// user, silently splitting its agents with us. A plain bind (SO_REUSEADDR
// only, as libuv binds, so TIME_WAIT leftovers do not count) fails on a port
// someone listens on; then it is closed again and the group binds.
int probeExclusiveBind(const sockaddr_storage& addr) {
  const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return uv_translate_sys_error(errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const socklen_t length = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), length) == 0
                     ? 0
                     : uv_translate_sys_error(errno);
  ::close(fd);
  return rc;
}

}  // namespace

Result<void> Listener::listen(const ListenAddress& address, const std::string& setting,
                              PortSharing sharing, AcceptFn on_connection) {
  const std::string where = address.toString() + " (" + setting + ")";
  if (handle_ != nullptr)
    return makeError(ErrorCode::kInvalidArgument, "already listening on " + where);

  // Synchronous resolution (no callback): runs once at start-up.
  uv_getaddrinfo_t req;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  const std::string port = std::to_string(address.port);
  if (int rc = uv_getaddrinfo(loop_, &req, nullptr, address.host.c_str(), port.c_str(), &hints);
      rc != 0) {
    return makeError(ErrorCode::kConfig, "cannot resolve " + where + ": " + uv_strerror(rc) +
                                             "; use an IP address or a resolvable host name");
  }
  sockaddr_storage addr{};
  memcpy(&addr, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
  uv_freeaddrinfo(req.addrinfo);

  handle_ = new uv_tcp_t;
  if (int rc = uv_tcp_init_ex(loop_, handle_, addr.ss_family); rc != 0) {
    delete handle_;
    handle_ = nullptr;
    return makeError(ErrorCode::kIo,
                     "cannot create a socket for " + where + ": " + uv_strerror(rc));
  }
  handle_->data = this;
  on_connection_ = std::move(on_connection);

  auto fail = [&](const char* what, int rc) -> Result<void> {
    close();
    std::string hint = rc == UV_EADDRINUSE      ? "; stop the other process or choose another port"
                       : rc == UV_EACCES        ? "; ports below 1024 need privileges"
                       : rc == UV_EADDRNOTAVAIL ? "; the address is not on this machine"
                                                : "";
    return makeError(ErrorCode::kIo,
                     std::string("cannot ") + what + " " + where + ": " + uv_strerror(rc) + hint);
  };
  if (sharing == PortSharing::kFirstOfGroup && address.port != 0) {
    if (int rc = probeExclusiveBind(addr); rc != 0) return fail("bind", rc);
  }
  if (sharing != PortSharing::kExclusive) {
    uv_os_fd_t fd;
    int one = 1;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(handle_), &fd) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
      return fail("set SO_REUSEPORT on", UV_EINVAL);
    }
  }
  if (int rc = uv_tcp_bind(handle_, reinterpret_cast<const sockaddr*>(&addr), 0); rc != 0) {
    return fail("bind", rc);
  }
  if (int rc =
          uv_listen(reinterpret_cast<uv_stream_t*>(handle_), kBacklog, &Listener::onConnection);
      rc != 0) {
    return fail("listen on", rc);
  }
  sockaddr_storage bound{};
  int len = sizeof(bound);
  uv_tcp_getsockname(handle_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = portOf(bound);
  return okResult();
}

void Listener::close() {
  if (handle_ == nullptr) return;
  handle_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_),
           [](uv_handle_t* handle) { delete reinterpret_cast<uv_tcp_t*>(handle); });
  handle_ = nullptr;
}

void Listener::onConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<Listener*>(server->data);
  if (self == nullptr) return;
  if (status < 0) {
    // EMFILE and friends: the connection stays in the backlog; log, do not spin.
    static LogRateLimiter limiter(5, std::chrono::seconds(10));
    if (uint64_t n = limiter.allow(); n > 0) {
      spdlog::warn(
          "accept failed: {} ({} similar messages suppressed); raise the open file limit "
          "(ulimit -n) or lower gateway.max_connections",
          uv_strerror(status), n - 1);
    }
    return;
  }
  self->on_connection_(server);
}

}  // namespace edge::gateway

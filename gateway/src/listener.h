// Listener: one listening TCP socket on a worker's loop. With reuse_port,
// several workers (one loop each) can listen on the same address and the
// kernel spreads connections across them (SO_REUSEPORT).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "edge/common/result.h"
#include "edge/gateway/config.h"

struct uv_loop_s;
typedef struct uv_loop_s uv_loop_t;
struct uv_stream_s;
typedef struct uv_stream_s uv_stream_t;
struct uv_tcp_s;
typedef struct uv_tcp_s uv_tcp_t;

namespace edge::gateway {

// How a listener shares its port with the other workers of this gateway.
enum class PortSharing {
  kExclusive,     // one worker: the port is ours alone
  kFirstOfGroup,  // SO_REUSEPORT, but a port another process listens on is refused
  kJoinGroup,     // SO_REUSEPORT, joining the port the first worker opened
};

class Listener {
 public:
  // Called on the loop for each pending connection; the callee uv_accept()s it.
  using AcceptFn = std::function<void(uv_stream_t* server)>;

  explicit Listener(uv_loop_t* loop);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // `setting` names the config key in error messages (e.g. "gateway.listen").
  Result<void> listen(const ListenAddress& address, const std::string& setting,
                      PortSharing sharing, AcceptFn on_connection);
  uint16_t port() const { return port_; }
  // Stops accepting; the loop finishes the close. Idempotent.
  void close();

 private:
  static void onConnection(uv_stream_t* server, int status);

  uv_loop_t* loop_;
  uv_tcp_t* handle_ = nullptr;  // owned by libuv from init until its close callback
  uint16_t port_ = 0;
  AcceptFn on_connection_;
};

// "ip:port" of a socket's peer, or "unknown".
std::string peerAddress(const uv_tcp_t* tcp);

}  // namespace edge::gateway

// Small HTTP/1.1 server for admin endpoints on a caller's libuv loop:
// http-parser for requests, bounded sizes, a connection cap, idle timeouts and
// a graceful close (shutdown, then drain) so a refused client still reads its
// error response instead of a reset.
#include "edge/common/admin_http.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <uv.h>

#include <climits>
#include <cstring>
#include <set>

namespace edge {
namespace {

constexpr size_t kMaxBodyBytes = 1 << 20;
constexpr size_t kMaxHeaderBytes = 16 << 10;
constexpr size_t kMaxConnections = 64;
constexpr uint64_t kIdleTimeoutMs = 10 * 1000;
// After the last response: how long to wait for the client to close its side
// before closing regardless.
constexpr uint64_t kLingerTimeoutMs = 2 * 1000;
constexpr size_t kReadBufferBytes = 16 << 10;
// A client that pipelines requests without reading responses stops being read
// above the high mark, and is read again below the low mark.
constexpr size_t kWriteHighWater = 1 << 20;
constexpr size_t kWriteLowWater = kWriteHighWater / 2;

const char* reasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      break;
  }
  return status < 300 ? "OK" : (status < 500 ? "Client Error" : "Server Error");
}

uv_handle_t* asHandle(void* handle) { return static_cast<uv_handle_t*>(handle); }
uv_stream_t* asStream(uv_tcp_t* tcp) { return reinterpret_cast<uv_stream_t*>(tcp); }

class Connection;

// What connections need from the server. It outlives none of them: close()
// detaches every connection before the server goes away.
struct ServerCore {
  uv_loop_t* loop = nullptr;
  uv_tcp_t* listener = nullptr;
  uint16_t port = 0;
  std::map<std::string, HttpHandler> routes;
  std::set<Connection*> connections;

  void close();
};

struct WriteRequest {
  uv_write_t req;
  std::string data;
  Connection* connection;
};

class Connection {
 public:
  static void accept(ServerCore* server, uv_stream_t* listener);

 private:
  explicit Connection(ServerCore* server) : server_(server) {
    std::memset(&parser_, 0, sizeof(parser_));
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
    tcp_.data = this;
    timer_.data = this;
    shutdown_req_.data = this;
  }
  friend struct ServerCore;

  static const http_parser_settings& settings();
  static Connection* of(http_parser* parser) { return static_cast<Connection*>(parser->data); }

  void startReading();
  void restartTimer(uint64_t ms);
  void feed(const char* data, size_t len);
  void handleRequest();
  void respond(const HttpResponse& response, bool head, const char* extra_headers = "");
  void respondError(int status, const std::string& message);
  void queueWrite(std::string data);
  void finish();
  void resumeParsing();
  void closeNow();

  bool addHeaderBytes(size_t n) {
    header_bytes_ += n;
    if (header_bytes_ > kMaxHeaderBytes) {
      error_status_ = 431;
      error_message_ = "request headers exceed 16 KiB";
      return false;
    }
    return true;
  }

  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void onWrite(uv_write_t* req, int status);
  static void onShutdown(uv_shutdown_t* req, int status);
  static void onTimer(uv_timer_t* timer);
  static void onClosed(uv_handle_t* handle);

  ServerCore* server_;
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  uv_shutdown_t shutdown_req_{};
  http_parser parser_{};
  int open_handles_ = 0;

  // The request being parsed.
  std::string url_;
  std::string body_;
  size_t header_bytes_ = 0;
  bool keep_alive_ = false;
  int error_status_ = 0;
  std::string error_message_;

  // Bytes received but not yet parsed while paused for write backpressure.
  std::string pending_;
  bool parse_paused_ = false;
  bool reading_ = false;
  bool draining_ = false;  // the last response is queued; input is discarded
  bool shutdown_requested_ = false;
  bool shutdown_done_ = false;
  bool peer_eof_ = false;
  bool closing_ = false;

  char read_buffer_[kReadBufferBytes];
};

const http_parser_settings& Connection::settings() {
  static const http_parser_settings kSettings = [] {
    http_parser_settings s;
    http_parser_settings_init(&s);
    s.on_message_begin = [](http_parser* p) {
      Connection* c = of(p);
      c->url_.clear();
      c->body_.clear();
      c->header_bytes_ = 0;
      c->keep_alive_ = false;
      return 0;
    };
    s.on_url = [](http_parser* p, const char* at, size_t len) {
      Connection* c = of(p);
      if (!c->addHeaderBytes(len)) return -1;
      c->url_.append(at, len);
      return 0;
    };
    s.on_header_field = [](http_parser* p, const char*, size_t len) {
      return of(p)->addHeaderBytes(len) ? 0 : -1;
    };
    s.on_header_value = [](http_parser* p, const char*, size_t len) {
      return of(p)->addHeaderBytes(len) ? 0 : -1;
    };
    s.on_headers_complete = [](http_parser* p) {
      Connection* c = of(p);
      // Only an explicit "Connection: keep-alive" keeps the connection; an
      // idle admin client should not hold one of the few slots.
      c->keep_alive_ = (p->flags & F_CONNECTION_KEEP_ALIVE) != 0 &&
                       (p->flags & F_CONNECTION_CLOSE) == 0 && p->upgrade == 0;
      if (p->content_length != ULLONG_MAX && p->content_length > kMaxBodyBytes) {
        c->error_status_ = 413;
        c->error_message_ = "request body exceeds 1 MiB";
        return -1;
      }
      return 0;
    };
    s.on_body = [](http_parser* p, const char* at, size_t len) {
      Connection* c = of(p);
      if (c->body_.size() + len > kMaxBodyBytes) {
        c->error_status_ = 413;
        c->error_message_ = "request body exceeds 1 MiB";
        return -1;
      }
      c->body_.append(at, len);
      return 0;
    };
    s.on_message_complete = [](http_parser* p) {
      Connection* c = of(p);
      c->handleRequest();
      if (c->closing_) {
        http_parser_pause(p, 1);
      } else if (!c->keep_alive_) {
        http_parser_pause(p, 1);
        c->finish();
      } else if (uv_stream_get_write_queue_size(asStream(&c->tcp_)) > kWriteHighWater) {
        http_parser_pause(p, 1);
        c->parse_paused_ = true;
      }
      return 0;
    };
    return s;
  }();
  return kSettings;
}

void Connection::accept(ServerCore* server, uv_stream_t* listener) {
  auto* c = new Connection(server);
  uv_tcp_init(server->loop, &c->tcp_);
  uv_timer_init(server->loop, &c->timer_);
  c->open_handles_ = 2;
  if (uv_accept(listener, asStream(&c->tcp_)) != 0 ||
      server->connections.size() >= kMaxConnections) {
    // Over the cap: close at once rather than queue; the client retries.
    c->server_ = nullptr;
    c->closeNow();
    return;
  }
  server->connections.insert(c);
  uv_tcp_nodelay(&c->tcp_, 1);
  c->restartTimer(kIdleTimeoutMs);
  c->startReading();
}

void Connection::startReading() {
  if (reading_ || closing_ || peer_eof_) return;
  if (uv_read_start(asStream(&tcp_), onAlloc, onRead) != 0) {
    closeNow();
    return;
  }
  reading_ = true;
}

void Connection::restartTimer(uint64_t ms) {
  if (closing_) return;
  uv_timer_start(&timer_, onTimer, ms, 0);
}

void Connection::onAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(handle->data);
  *buf = uv_buf_init(c->read_buffer_, sizeof(c->read_buffer_));
}

void Connection::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(stream->data);
  if (c->closing_) return;
  if (nread > 0) {
    if (c->draining_) return;  // waiting for the client to close; its bytes are irrelevant
    c->restartTimer(kIdleTimeoutMs);
    c->feed(buf->base, static_cast<size_t>(nread));
    return;
  }
  if (nread == UV_EOF) {
    c->peer_eof_ = true;
    uv_read_stop(stream);
    c->reading_ = false;
    if (c->shutdown_done_) {
      c->closeNow();
    } else {
      // Flushes queued responses before closing (a half-closed client still
      // reads them).
      c->finish();
    }
    return;
  }
  if (nread < 0) c->closeNow();
}

void Connection::feed(const char* data, size_t len) {
  size_t parsed = http_parser_execute(&parser_, &settings(), data, len);
  if (closing_ || draining_) return;
  enum http_errno err = HTTP_PARSER_ERRNO(&parser_);
  if (err == HPE_PAUSED) {
    // Backpressure: keep the unparsed rest (at most one read buffer) and
    // stop reading until the responses drain.
    pending_.assign(data + parsed, len - parsed);
    uv_read_stop(asStream(&tcp_));
    reading_ = false;
    return;
  }
  if (err != HPE_OK) {
    if (error_status_ != 0) {
      respondError(error_status_, error_message_);
    } else {
      respondError(400, std::string("malformed request: ") + http_errno_description(err));
    }
    return;
  }
  if (parser_.upgrade) {
    // The parser stops at an upgrade; the response to it already asked to close.
    finish();
  }
}

void Connection::resumeParsing() {
  parse_paused_ = false;
  http_parser_pause(&parser_, 0);
  std::string rest = std::move(pending_);
  pending_.clear();
  if (!rest.empty()) feed(rest.data(), rest.size());
  if (!closing_ && !draining_ && !parse_paused_) startReading();
}

void Connection::handleRequest() {
  const auto method = static_cast<enum http_method>(parser_.method);
  HttpRequest request;
  request.method = http_method_str(method);
  if (method != HTTP_GET && method != HTTP_HEAD && method != HTTP_POST) {
    HttpResponse response;
    response.status = 405;
    response.body = "method " + request.method + " not allowed; use GET, HEAD or POST\n";
    respond(response, false, "Allow: GET, HEAD, POST\r\n");
    return;
  }
  const bool head = method == HTTP_HEAD;
  struct http_parser_url url;
  http_parser_url_init(&url);
  if (http_parser_parse_url(url_.data(), url_.size(), 0, &url) != 0 ||
      (url.field_set & (1 << UF_PATH)) == 0) {
    keep_alive_ = false;
    respond(HttpResponse{400, "text/plain; charset=utf-8", "malformed request target\n"}, head);
    return;
  }
  request.path = url_.substr(url.field_data[UF_PATH].off, url.field_data[UF_PATH].len);
  if (url.field_set & (1 << UF_QUERY)) {
    request.query = url_.substr(url.field_data[UF_QUERY].off, url.field_data[UF_QUERY].len);
  }
  request.body = std::move(body_);
  body_.clear();

  HttpResponse response;
  const HttpHandler* handler = nullptr;
  if (server_ != nullptr) {
    auto route = server_->routes.find(request.path);
    if (route != server_->routes.end()) handler = &route->second;
  }
  if (handler == nullptr) {
    response.status = 404;
    response.body = "no such endpoint: " + request.path + "\n";
  } else {
    // Handlers are caller code; an exception must not unwind through libuv.
    // The copy keeps the handler alive even if it closes or destroys the server.
    HttpHandler call = *handler;
    try {
      response = call(request);
    } catch (const std::exception& e) {
      response = HttpResponse{500, "text/plain; charset=utf-8",
                              std::string("handler failed: ") + e.what() + "\n"};
    } catch (...) {
      response = HttpResponse{500, "text/plain; charset=utf-8", "handler failed\n"};
    }
  }
  respond(response, head);
}

void Connection::respond(const HttpResponse& response, bool head, const char* extra_headers) {
  std::string out;
  out.reserve(128 + (head ? 0 : response.body.size()));
  out += "HTTP/1.1 ";
  out += std::to_string(response.status);
  out += ' ';
  out += reasonPhrase(response.status);
  out += "\r\nContent-Type: ";
  out += response.content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(response.body.size());
  out += keep_alive_ ? "\r\nConnection: keep-alive\r\n" : "\r\nConnection: close\r\n";
  out += extra_headers;
  out += "\r\n";
  if (!head) out += response.body;
  queueWrite(std::move(out));
}

void Connection::respondError(int status, const std::string& message) {
  keep_alive_ = false;
  respond(HttpResponse{status, "text/plain; charset=utf-8", message + "\n"}, false);
  finish();
}

void Connection::queueWrite(std::string data) {
  if (closing_) return;
  auto* w = new WriteRequest{};
  w->data = std::move(data);
  w->connection = this;
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned int>(w->data.size()));
  if (uv_write(&w->req, asStream(&tcp_), &buf, 1, onWrite) != 0) {
    delete w;
    closeNow();
  }
}

void Connection::onWrite(uv_write_t* req, int status) {
  auto* w = static_cast<WriteRequest*>(req->data);
  Connection* c = w->connection;
  delete w;
  if (c->closing_) return;
  if (status < 0) {
    c->closeNow();
    return;
  }
  if (c->parse_paused_ && !c->draining_ &&
      uv_stream_get_write_queue_size(asStream(&c->tcp_)) <= kWriteLowWater) {
    c->resumeParsing();
  }
}

void Connection::finish() {
  if (closing_ || shutdown_requested_) return;
  draining_ = true;
  shutdown_requested_ = true;
  pending_.clear();
  // uv_shutdown runs after the queued writes, so every response goes out.
  if (uv_shutdown(&shutdown_req_, asStream(&tcp_), onShutdown) != 0) {
    closeNow();
    return;
  }
  restartTimer(kLingerTimeoutMs);
  startReading();  // to see the client's EOF, possibly after a backpressure pause
}

void Connection::onShutdown(uv_shutdown_t* req, int status) {
  auto* c = static_cast<Connection*>(req->data);
  c->shutdown_done_ = true;
  if (c->closing_) return;
  if (status < 0 || c->peer_eof_) c->closeNow();
}

void Connection::onTimer(uv_timer_t* timer) { static_cast<Connection*>(timer->data)->closeNow(); }

void Connection::closeNow() {
  if (closing_) return;
  closing_ = true;
  if (server_ != nullptr) {
    server_->connections.erase(this);
    server_ = nullptr;
  }
  uv_timer_stop(&timer_);
  uv_close(asHandle(&tcp_), onClosed);
  uv_close(asHandle(&timer_), onClosed);
}

void Connection::onClosed(uv_handle_t* handle) {
  // Both handles live inside the connection; free it after the last one.
  auto* c = static_cast<Connection*>(handle->data);
  if (--c->open_handles_ == 0) delete c;
}

void ServerCore::close() {
  if (listener != nullptr) {
    listener->data = nullptr;
    uv_close(asHandle(listener), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    listener = nullptr;
  }
  std::set<Connection*> open;
  open.swap(connections);
  for (Connection* c : open) {
    c->server_ = nullptr;
    c->closeNow();
  }
}

std::string formatHostPort(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

}  // namespace

struct AdminHttpServer::Impl {
  ServerCore core;
};

AdminHttpServer::AdminHttpServer(uv_loop_t* loop) : impl_(std::make_unique<Impl>()) {
  impl_->core.loop = loop;
}

AdminHttpServer::~AdminHttpServer() { close(); }

void AdminHttpServer::route(const std::string& path, HttpHandler handler) {
  impl_->core.routes[path] = std::move(handler);
}

Result<void> AdminHttpServer::listen(const std::string& host, uint16_t port) {
  ServerCore& core = impl_->core;
  const std::string where = formatHostPort(host, port);
  if (core.listener != nullptr) {
    return makeError(ErrorCode::kInvalidArgument, "admin HTTP server already listens on port " +
                                                      std::to_string(core.port) +
                                                      "; cannot also listen on " + where);
  }
  struct sockaddr_storage addr {};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<struct sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<struct sockaddr_in6*>(&addr)) != 0) {
    return makeError(ErrorCode::kInvalidArgument,
                     "admin HTTP listen address " + where +
                         " is not a numeric IPv4 or IPv6 address; use e.g. 127.0.0.1");
  }
  auto* tcp = new uv_tcp_t{};
  int rc = uv_tcp_init(core.loop, tcp);
  if (rc != 0) {
    delete tcp;
    return makeError(ErrorCode::kIo,
                     "admin HTTP server cannot listen on " + where + ": " + uv_strerror(rc));
  }
  tcp->data = &core;
  rc = uv_tcp_bind(tcp, reinterpret_cast<const struct sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = uv_listen(asStream(tcp), 128, [](uv_stream_t* listener, int status) {
      auto* server = static_cast<ServerCore*>(listener->data);
      if (server == nullptr || status < 0) return;
      Connection::accept(server, listener);
    });
  }
  if (rc != 0) {
    tcp->data = nullptr;
    uv_close(asHandle(tcp), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    std::string hint;
    if (rc == UV_EADDRINUSE) hint = "; another process uses this port, pick another one";
    if (rc == UV_EACCES) hint = "; ports below 1024 need privileges, pick a higher one";
    if (rc == UV_EADDRNOTAVAIL) hint = "; the address is not configured on this host";
    return makeError(ErrorCode::kIo, "admin HTTP server cannot listen on " + where + ": " +
                                         uv_strerror(rc) + " (" + uv_err_name(rc) + ")" + hint);
  }
  struct sockaddr_storage bound {};
  int len = sizeof(bound);
  if (uv_tcp_getsockname(tcp, reinterpret_cast<struct sockaddr*>(&bound), &len) == 0) {
    if (bound.ss_family == AF_INET6) {
      core.port = ntohs(reinterpret_cast<struct sockaddr_in6*>(&bound)->sin6_port);
    } else {
      core.port = ntohs(reinterpret_cast<struct sockaddr_in*>(&bound)->sin_port);
    }
  }
  core.listener = tcp;
  return okResult();
}

uint16_t AdminHttpServer::port() const { return impl_->core.port; }

void AdminHttpServer::close() { impl_->core.close(); }

}  // namespace edge

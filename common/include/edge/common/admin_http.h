// A minimal HTTP/1.1 server for admin endpoints (/metrics, /healthz, later
// the API), running on a caller's libuv loop. Requests are parsed with
// http-parser; only GET/HEAD/POST with small bodies are accepted (bounded
// header and body sizes, connection cap). Each response closes the
// connection unless the client asked for keep-alive.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "edge/common/result.h"

struct uv_loop_s;
typedef struct uv_loop_s uv_loop_t;

namespace edge {

struct HttpRequest {
  std::string method;  // "GET", ...
  std::string path;    // without the query string
  std::string query;   // after '?', may be empty
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class AdminHttpServer {
 public:
  explicit AdminHttpServer(uv_loop_t* loop);
  ~AdminHttpServer();
  AdminHttpServer(const AdminHttpServer&) = delete;
  AdminHttpServer& operator=(const AdminHttpServer&) = delete;

  // Exact-path routes; unknown paths get 404, other methods 405.
  void route(const std::string& path, HttpHandler handler);

  // Binds and listens on host:port ("127.0.0.1", 0 picks a free port).
  Result<void> listen(const std::string& host, uint16_t port);
  uint16_t port() const;  // the bound port, after listen()

  // Stops accepting and closes all connections; the loop finishes the closes.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edge

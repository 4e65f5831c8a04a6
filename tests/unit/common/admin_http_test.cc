// Tests for the admin HTTP server: a real libuv loop on its own thread and
// real TCP client sockets.
#include "edge/common/admin_http.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace edge {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Failure guard only: a correct server answers in milliseconds.
constexpr int kRecvTimeoutSeconds = 30;

class Socket {
 public:
  explicit Socket(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_GE(fd_, 0);
    timeval tv{kRecvTimeoutSeconds, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    EXPECT_TRUE(connected_) << std::strerror(errno);
  }
  ~Socket() { closeNow(); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  void closeNow() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  void shutdownWrite() { ::shutdown(fd_, SHUT_WR); }

  // Everything until the server closes (or an error / the guard timeout).
  std::string readAll() {
    std::string out;
    char buf[8192];
    while (true) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  // One response framed by Content-Length, for keep-alive connections.
  std::string readResponse() {
    while (true) {
      size_t end = buffer_.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t length = 0;
        size_t cl = buffer_.find("Content-Length: ");
        if (cl != std::string::npos && cl < end) length = std::stoul(buffer_.substr(cl + 16));
        if (buffer_.size() >= end + 4 + length) {
          std::string response = buffer_.substr(0, end + 4 + length);
          buffer_.erase(0, end + 4 + length);
          return response;
        }
      }
      char buf[8192];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        std::string rest = std::move(buffer_);
        buffer_.clear();
        return rest;
      }
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

  // True when the server closed the connection without sending anything.
  bool closedByPeer() {
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  bool connected() const { return connected_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

std::string bodyOf(const std::string& response) {
  size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : response.substr(end + 4);
}

class AdminHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    server_ = std::make_unique<AdminHttpServer>(&loop_);
    server_->route("/healthz", [](const HttpRequest&) {
      return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
    });
    server_->route("/echo", [this](const HttpRequest& request) {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
      return HttpResponse{200, "application/json",
                          "method=" + request.method + " path=" + request.path +
                              " query=" + request.query + " body=" + request.body};
    });
    server_->route("/throws",
                   [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); });
    server_->route("/big", [](const HttpRequest&) {
      return HttpResponse{200, "text/plain", std::string(300000, 'b')};
    });
    auto st = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(st.ok()) << st.error().message;
    port_ = server_->port();
    ASSERT_NE(port_, 0);
    ASSERT_EQ(uv_async_init(&loop_, &stop_,
                            [](uv_async_t* async) {
                              auto* self = static_cast<AdminHttpTest*>(async->data);
                              self->server_->close();
                              uv_close(reinterpret_cast<uv_handle_t*>(async), nullptr);
                            }),
              0);
    stop_.data = this;
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }

  void TearDown() override {
    if (thread_.joinable()) {
      uv_async_send(&stop_);
      thread_.join();
      // Every handle the server created must be closed and freed by now.
      EXPECT_EQ(uv_loop_close(&loop_), 0);
    }
    server_.reset();
  }

  std::string get(const std::string& request) {
    Socket s(port_);
    EXPECT_TRUE(s.send(request));
    return s.readAll();
  }

  uv_loop_t loop_{};
  uv_async_t stop_{};
  std::unique_ptr<AdminHttpServer> server_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<HttpRequest> requests_;
};

TEST_F(AdminHttpTest, HealthzReturns200AndCloses) {
  std::string response = get("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\nContent-Type: text/plain; charset=utf-8\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\nContent-Length: 3\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\nConnection: close\r\n"));
  EXPECT_EQ(bodyOf(response), "ok\n");
}

TEST_F(AdminHttpTest, UnknownPathIs404) {
  std::string response = get("GET /nope HTTP/1.1\r\n\r\n");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_EQ(bodyOf(response), "no such endpoint: /nope\n");
  // Routes are exact: a prefix or a trailing slash is a different path.
  EXPECT_THAT(get("GET /healthz/ HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 404 "));
}

TEST_F(AdminHttpTest, OtherMethodsAre405) {
  std::string response = get("PUT /healthz HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\nAllow: GET, HEAD, POST\r\n"));
  EXPECT_THAT(get("DELETE /nope HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 405 "));
}

TEST_F(AdminHttpTest, HeadHasLengthButNoBody) {
  std::string response = get("HEAD /healthz HTTP/1.1\r\n\r\n");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\nContent-Length: 3\r\n"));
  EXPECT_EQ(bodyOf(response), "");
}

TEST_F(AdminHttpTest, PostBodyPathAndQueryReachTheHandler) {
  std::string response = get("POST /echo?x=1&y=2 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\nContent-Type: application/json\r\n"));
  EXPECT_EQ(bodyOf(response), "method=POST path=/echo query=x=1&y=2 body=hello");
}

TEST_F(AdminHttpTest, ChunkedPostBody) {
  std::string response = get(
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  EXPECT_EQ(bodyOf(response), "method=POST path=/echo query= body=abcde");
}

TEST_F(AdminHttpTest, HandlerExceptionIs500) {
  std::string response = get("GET /throws HTTP/1.1\r\n\r\n");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 500 Internal Server Error\r\n"));
  EXPECT_THAT(bodyOf(response), HasSubstr("boom"));
}

TEST_F(AdminHttpTest, OversizedContentLengthIs413) {
  Socket s(port_);
  // Only the headers: the server must refuse before reading the body.
  ASSERT_TRUE(s.send("POST /echo HTTP/1.1\r\nContent-Length: 2097152\r\n\r\n"));
  std::string response = s.readAll();
  EXPECT_THAT(response, StartsWith("HTTP/1.1 413 Payload Too Large\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\nConnection: close\r\n"));
  EXPECT_EQ(bodyOf(response), "request body exceeds 1 MiB\n");
  std::lock_guard lock(mutex_);
  EXPECT_TRUE(requests_.empty());
}

TEST_F(AdminHttpTest, OversizedChunkedBodyIs413) {
  Socket s(port_);
  ASSERT_TRUE(s.send("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk = "10000\r\n" + std::string(0x10000, 'a') + "\r\n";
  // 17 chunks of 64 KiB: just over 1 MiB. The server drains what it refused,
  // so these sends complete.
  for (int i = 0; i < 17; ++i) {
    if (!s.send(chunk)) break;
  }
  std::string response = s.readAll();
  EXPECT_THAT(response, StartsWith("HTTP/1.1 413 "));
  std::lock_guard lock(mutex_);
  EXPECT_TRUE(requests_.empty());
}

TEST_F(AdminHttpTest, BodyOfExactlyOneMiBIsAccepted) {
  Socket s(port_);
  std::string body(1 << 20, 'z');
  ASSERT_TRUE(s.send("POST /echo HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n" + body));
  std::string response = s.readAll();
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  std::lock_guard lock(mutex_);
  ASSERT_EQ(requests_.size(), 1u);
  EXPECT_EQ(requests_[0].body.size(), body.size());
}

TEST_F(AdminHttpTest, OversizedHeadersAre431) {
  std::string request = "GET /healthz HTTP/1.1\r\n";
  for (int i = 0; i < 20; ++i)
    request += "X-Filler-" + std::to_string(i) + ": " + std::string(1000, 'f') + "\r\n";
  request += "\r\n";
  std::string response = get(request);
  EXPECT_THAT(response, StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
}

TEST_F(AdminHttpTest, MalformedRequestIs400) {
  std::string response = get("GARBAGE\r\n\r\n");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 400 Bad Request\r\n"));
}

TEST_F(AdminHttpTest, RequestSplitAcrossManySends) {
  Socket s(port_);
  const std::string request =
      "POST /echo?q=split HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\nhello world";
  // A few bytes per send(); the short pauses make it likely the server sees
  // separate reads, but correctness does not depend on them.
  for (size_t i = 0; i < request.size(); i += 3) {
    ASSERT_TRUE(s.send(request.substr(i, 3)));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::string response = s.readAll();
  EXPECT_EQ(bodyOf(response), "method=POST path=/echo query=q=split body=hello world");
}

TEST_F(AdminHttpTest, PipelinedKeepAliveRequestsAreAnsweredInOrder) {
  Socket s(port_);
  ASSERT_TRUE(
      s.send("GET /healthz HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"
             "GET /missing HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"
             "POST /echo HTTP/1.1\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc"
             "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"
             "GET /echo HTTP/1.1\r\n\r\n"));  // after Connection: close: never answered
  std::string r1 = s.readResponse();
  std::string r2 = s.readResponse();
  std::string r3 = s.readResponse();
  std::string r4 = s.readResponse();
  std::string rest = s.readAll();
  EXPECT_THAT(r1, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r1, HasSubstr("\r\nConnection: keep-alive\r\n"));
  EXPECT_THAT(r2, StartsWith("HTTP/1.1 404 "));
  EXPECT_EQ(bodyOf(r3), "method=POST path=/echo query= body=abc");
  EXPECT_THAT(r4, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r4, HasSubstr("\r\nConnection: close\r\n"));
  EXPECT_EQ(rest, "");
  std::lock_guard lock(mutex_);
  EXPECT_EQ(requests_.size(), 1u);
}

TEST_F(AdminHttpTest, KeepAliveConnectionServesSequentialRequests) {
  Socket s(port_);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(s.send("GET /healthz HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"));
    std::string response = s.readResponse();
    EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n")) << i;
    EXPECT_EQ(bodyOf(response), "ok\n");
  }
}

TEST_F(AdminHttpTest, ManyPipelinedLargeResponsesWithoutReading) {
  // The client writes many requests for a large body before reading anything;
  // the server must pause reading and still answer every one in order.
  Socket s(port_);
  constexpr int kRequests = 40;  // 40 x 300 KB responses, well past the write high-water mark
  std::string requests;
  for (int i = 0; i < kRequests; ++i)
    requests += "GET /big HTTP/1.1\r\nConnection: keep-alive\r\n\r\n";
  requests += "GET /healthz HTTP/1.1\r\n\r\n";
  ASSERT_TRUE(s.send(requests));
  for (int i = 0; i < kRequests; ++i) {
    std::string response = s.readResponse();
    ASSERT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n")) << i;
    ASSERT_EQ(bodyOf(response).size(), 300000u) << i;
  }
  EXPECT_EQ(bodyOf(s.readResponse()), "ok\n");
}

TEST_F(AdminHttpTest, HalfClosedClientStillGetsItsResponse) {
  Socket s(port_);
  ASSERT_TRUE(s.send("GET /healthz HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"));
  s.shutdownWrite();
  std::string response = s.readAll();
  EXPECT_EQ(bodyOf(response), "ok\n");
}

TEST_F(AdminHttpTest, ManySequentialConnections) {
  for (int i = 0; i < 200; ++i) {
    std::string response = get("GET /healthz HTTP/1.1\r\n\r\n");
    ASSERT_EQ(bodyOf(response), "ok\n") << i;
  }
}

TEST_F(AdminHttpTest, ConnectionCapClosesExtraConnectionsAtOnce) {
  std::vector<std::unique_ptr<Socket>> sockets;
  for (int i = 0; i < 64; ++i) {
    sockets.push_back(std::make_unique<Socket>(port_));
    ASSERT_TRUE(sockets.back()->connected());
    // A completed request proves the server accepted and counts it.
    ASSERT_TRUE(sockets.back()->send("GET /healthz HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"));
    ASSERT_EQ(bodyOf(sockets.back()->readResponse()), "ok\n") << i;
  }
  {
    Socket extra(port_);
    EXPECT_TRUE(extra.closedByPeer());
  }
  // Freeing a slot lets a new client in once the server has seen the close.
  sockets.front()->closeNow();
  sockets.erase(sockets.begin());
  bool served = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kRecvTimeoutSeconds);
  while (!served && std::chrono::steady_clock::now() < deadline) {
    Socket retry(port_);
    retry.send("GET /healthz HTTP/1.1\r\n\r\n");
    served = bodyOf(retry.readAll()) == "ok\n";
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(served);
  // The surviving connections still work.
  for (auto& s : sockets) {
    ASSERT_TRUE(s->send("GET /healthz HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"));
    EXPECT_EQ(bodyOf(s->readResponse()), "ok\n");
  }
  // TearDown closes the server with these connections still open.
}

TEST_F(AdminHttpTest, IdleConnectionIsClosedAfterTimeout) {
  Socket s(port_);
  auto start = std::chrono::steady_clock::now();
  // Nothing sent: the server closes after its 10 s idle timeout.
  EXPECT_TRUE(s.closedByPeer());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(9));
}

TEST_F(AdminHttpTest, BindErrorNamesAddressAndReason) {
  uv_loop_t other;
  ASSERT_EQ(uv_loop_init(&other), 0);
  {
    AdminHttpServer second(&other);
    auto st = second.listen("127.0.0.1", port_);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, ErrorCode::kIo);
    EXPECT_THAT(st.error().message, HasSubstr("127.0.0.1:" + std::to_string(port_)));
    EXPECT_THAT(st.error().message, HasSubstr("address already in use"));

    auto bad = second.listen("localhost", 0);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(bad.error().message, HasSubstr("localhost:0"));
  }
  uv_run(&other, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&other), 0);
}

TEST(AdminHttpStandaloneTest, ListensOnIpv6Loopback) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  {
    AdminHttpServer server(&loop);
    auto st = server.listen("::1", 0);
    if (!st.ok()) {
      server.close();
      uv_run(&loop, UV_RUN_DEFAULT);
      uv_loop_close(&loop);
      GTEST_SKIP() << "no IPv6 loopback here: " << st.error().message;
    }
    EXPECT_NE(server.port(), 0);
    server.close();
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace edge

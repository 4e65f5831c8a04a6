// edge_tls_echo: a tiny TLS echo server and client on blocking sockets,
// built on edge::protocol::TlsSession, so that tests/integration/
// tls_openssl_test.py can check our TLS stack against `openssl s_client` and
// `openssl s_server` as independent peers.
//
//   edge_tls_echo server --listen 127.0.0.1:0 --port-file F --ca ca.crt --cert gw.crt --key gw.key
//                        [--crl revoked.crl] [--client-auth required|optional|none]
//     One connection at a time; prints one line per connection:
//       ACCEPT cn=<CN> o=<O> ou=<OU> serial=<hex> version=<v> cipher=<suite>
//       REFUSE failure=<tlsFailureName> reason=<message>
//     then echoes plaintext until the peer sends a line "bye" or closes.
//   edge_tls_echo client --connect 127.0.0.1:PORT --server-name NAME --ca ca.crt
//                        [--cert agent.crt --key agent.key] --send TEXT
//     Prints "OK version=.. cipher=.." and "RECEIVED <reply>", or REFUSE ...;
//     exits 0 only on success.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "edge/protocol/pki.h"
#include "edge/protocol/tls.h"

namespace {

using edge::protocol::TlsContext;
using edge::protocol::TlsSession;

volatile sig_atomic_t g_stop = 0;
void onSignal(int) { g_stop = 1; }

constexpr int kTimeoutMs = 15000;

void line(const std::string& text) {
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

std::string oneLine(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

bool sendAll(int fd, const std::string& bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + pos, bytes.size() - pos, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    pos += static_cast<size_t>(n);
  }
  return true;
}

bool flush(int fd, TlsSession& session) { return sendAll(fd, session.takeCiphertext()); }

// Reads what the socket has within the timeout: >0 bytes, 0 on EOF, -1 on
// error or timeout.
ssize_t receive(int fd, std::string& out, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  const int ready = ::poll(&p, 1, timeout_ms);
  if (ready <= 0) return -1;
  char buf[16384];
  ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  if (n > 0) out.assign(buf, static_cast<size_t>(n));
  return n;
}

std::string refusal(const TlsSession& session) {
  return "REFUSE failure=" + std::string(edge::protocol::tlsFailureName(session.failure())) +
         " reason=" + oneLine(session.error().message);
}

// Drives the handshake; returns false (after printing why) if it failed.
bool handshake(int fd, TlsSession& session) {
  if (!flush(fd, session)) {
    line("REFUSE failure=io reason=send failed");
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  while (!session.handshakeDone() && !session.failed()) {
    std::string bytes;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    const ssize_t n = receive(fd, bytes, static_cast<int>(std::max<int64_t>(left.count(), 1)));
    if (n <= 0) {
      line(n == 0 ? "REFUSE failure=eof reason=the peer closed the connection during the handshake"
                  : "REFUSE failure=timeout reason=no handshake progress within 15s");
      return false;
    }
    (void)session.feedCiphertext(bytes);
    flush(fd, session);  // also carries the alert after a failure
  }
  if (session.failed()) {
    line(refusal(session));
    return false;
  }
  return true;
}

edge::Result<std::shared_ptr<TlsContext>> makeContext(
    edge::protocol::TlsRole role, const std::string& ca, const std::string& cert,
    const std::string& key, const std::string& crl, const std::string& client_auth) {
  using edge::protocol::readTextFile;
  edge::protocol::TlsContextOptions options;
  options.role = role;
  auto load = [](const std::string& path, std::string& into) -> edge::Result<void> {
    if (path.empty()) return edge::okResult();
    auto text = readTextFile(path);
    if (!text) return text.error();
    into = std::move(*text);
    return edge::okResult();
  };
  EDGE_TRY(load(ca, options.ca_cert_pem));
  EDGE_TRY(load(cert, options.cert_pem));
  EDGE_TRY(load(key, options.key_pem));
  EDGE_TRY(load(crl, options.crl_pem));
  if (client_auth == "optional") options.client_auth = edge::protocol::ClientAuth::kOptional;
  if (client_auth == "none") options.client_auth = edge::protocol::ClientAuth::kNone;
  return TlsContext::create(options);
}

bool parseAddress(const std::string& text, sockaddr_in& addr) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  addr = sockaddr_in{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(text.substr(colon + 1))));
  return inet_pton(AF_INET, text.substr(0, colon).c_str(), &addr.sin_addr) == 1;
}

void serveConnection(int fd, const std::shared_ptr<const TlsContext>& ctx) {
  auto created = TlsSession::create(ctx);
  if (!created) {
    line("REFUSE failure=internal reason=" + oneLine(created.error().message));
    return;
  }
  TlsSession& session = **created;
  if (!handshake(fd, session)) return;
  const auto& peer = session.peerIdentity();
  line("ACCEPT cn=" + (peer ? peer->common_name : "-") + " o=" + (peer ? peer->organization : "-") +
       " ou=" + (peer ? peer->organizational_unit : "-") +
       " serial=" + (peer ? peer->serial_hex : "-") + " version=" + session.protocolVersion() +
       " cipher=" + session.cipherSuite());
  std::string seen;
  for (;;) {
    std::string plain;
    if (!session.readPlaintext(plain)) break;
    if (!plain.empty()) {
      seen += plain;
      if (!session.writePlaintext(plain) || !flush(fd, session)) break;
    }
    if (seen.find("bye\n") != std::string::npos || session.peerClosed()) {
      (void)session.close();
      flush(fd, session);
      break;
    }
    std::string bytes;
    if (receive(fd, bytes, kTimeoutMs) <= 0) break;
    if (!session.feedCiphertext(bytes)) {
      flush(fd, session);
      line("ERROR " + oneLine(session.error().message));
      break;
    }
    flush(fd, session);
  }
}

int runServer(const std::string& listen, const std::string& port_file,
              const std::shared_ptr<TlsContext>& ctx) {
  sockaddr_in addr{};
  if (!parseAddress(listen, addr)) {
    std::fprintf(stderr, "edge_tls_echo: --listen %s: expected IPv4:port\n", listen.c_str());
    return 2;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 16) != 0) {
    std::fprintf(stderr, "edge_tls_echo: cannot listen on %s: %s\n", listen.c_str(),
                 std::strerror(errno));
    return 1;
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  if (!port_file.empty()) {
    // Written to a temporary name and renamed, so a reader never sees it half-written.
    const std::string temp = port_file + ".tmp";
    FILE* f = std::fopen(temp.c_str(), "w");
    if (f == nullptr) return 1;
    std::fprintf(f, "%s\n", port.c_str());
    std::fclose(f);
    std::rename(temp.c_str(), port_file.c_str());
  }
  line("LISTEN " + port);
  while (g_stop == 0) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int conn = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    serveConnection(conn, ctx);
    ::close(conn);
  }
  ::close(fd);
  return 0;
}

int runClient(const std::string& connect_to, const std::string& server_name,
              const std::string& message, const std::shared_ptr<TlsContext>& ctx) {
  sockaddr_in addr{};
  if (!parseAddress(connect_to, addr)) {
    std::fprintf(stderr, "edge_tls_echo: --connect %s: expected IPv4:port\n", connect_to.c_str());
    return 2;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::fprintf(stderr, "edge_tls_echo: cannot connect to %s: %s\n", connect_to.c_str(),
                 std::strerror(errno));
    return 1;
  }
  edge::protocol::TlsSessionOptions options;
  options.server_name = server_name;
  auto created = TlsSession::create(ctx, options);
  if (!created) {
    line("REFUSE failure=internal reason=" + oneLine(created.error().message));
    return 1;
  }
  TlsSession& session = **created;
  if (!handshake(fd, session)) {
    ::close(fd);
    return 1;
  }
  line("OK version=" + session.protocolVersion() + " cipher=" + session.cipherSuite() +
       " server_cn=" + (session.peerIdentity() ? session.peerIdentity()->common_name : "-"));
  std::string reply;
  if (!session.writePlaintext(message + "\n") || !flush(fd, session)) return 1;
  while (reply.size() < message.size() && !session.peerClosed()) {
    if (!session.readPlaintext(reply)) break;
    if (reply.size() >= message.size()) break;
    std::string bytes;
    if (receive(fd, bytes, kTimeoutMs) <= 0) break;
    if (!session.feedCiphertext(bytes)) break;
  }
  line("RECEIVED " + oneLine(reply));
  (void)session.close();
  flush(fd, session);
  ::close(fd);
  return reply.size() >= message.size() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"edge_tls_echo: TLS echo peer for interoperability tests"};
  app.require_subcommand(1);
  std::string ca, cert, key, crl, client_auth = "required", listen = "127.0.0.1:0", port_file,
                                  connect_to, server_name, message = "hello";
  auto* server = app.add_subcommand("server", "Accept TLS connections and echo");
  server->add_option("--listen", listen, "IPv4 address:port");
  server->add_option("--port-file", port_file, "Write the bound port here");
  server->add_option("--ca", ca, "CA certificate (PEM)")->required();
  server->add_option("--cert", cert, "Server certificate (PEM)")->required();
  server->add_option("--key", key, "Server key (PEM)")->required();
  server->add_option("--crl", crl, "CRL from the CA (PEM)");
  server->add_option("--client-auth", client_auth, "required, optional or none");
  auto* client = app.add_subcommand("client", "Connect, send a line, print the reply");
  client->add_option("--connect", connect_to, "IPv4 address:port")->required();
  client->add_option("--server-name", server_name, "Expected SAN of the server")->required();
  client->add_option("--ca", ca, "CA certificate (PEM)")->required();
  client->add_option("--cert", cert, "Client certificate (PEM)");
  client->add_option("--key", key, "Client key (PEM)");
  client->add_option("--send", message, "Text to send");
  CLI11_PARSE(app, argc, argv);

  std::signal(SIGTERM, onSignal);
  std::signal(SIGINT, onSignal);
  const bool is_server = server->parsed();
  auto ctx =
      makeContext(is_server ? edge::protocol::TlsRole::kServer : edge::protocol::TlsRole::kClient,
                  ca, cert, key, crl, client_auth);
  if (!ctx) {
    std::fprintf(stderr, "edge_tls_echo: %s\n", ctx.error().message.c_str());
    return 2;
  }
  return is_server ? runServer(listen, port_file, *ctx)
                   : runClient(connect_to, server_name, message, *ctx);
}

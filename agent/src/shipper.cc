// The shipper's connection state machine on libuv: gateway choice
// (rendezvous order, failover), resolve, connect, HELLO / WELCOME, the
// credit-limited send window, acks, draining (GOAWAY, connection_ttl), ERROR,
// heartbeats, the ack watchdog, and reconnecting with backoff; with TLS the
// handshake, enrollment and certificate renewal. Everything runs on the
// agent's loop thread.
#include "edge/agent/shipper.h"
#include "edge/common/time_format.h"

#include <spdlog/spdlog.h>
#include <uv.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "edge/agent/credentials.h"
#include "edge/common/config.h"
#include "edge/common/log.h"
#include "edge/protocol/control.h"
#include "edge/protocol/frame.h"
#include "edge/protocol/tls.h"

namespace edge::agent {
namespace {

// The gateway sends only small control frames to an agent.
constexpr uint32_t kMaxControlFrameSize = 1u << 20;

struct WriteReq {
  uv_write_t req{};
  std::string data;
};

// FNV-1a then a splitmix64 finalizer: a fixed function (not std::hash), so
// the order is the same on every build, platform and restart.
uint64_t stableHash(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h += 0x9e3779b97f4a7c15ull;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

int64_t unixNow() { return static_cast<int64_t>(std::time(nullptr)); }

// Alerts with which a gateway refuses the agent's certificate in the
// handshake (RFC 5246 7.2.2). mbedTLS sends access_denied when a
// certificate fails verification on a listener with optional client auth.
bool refusesOurCertificate(int alert) {
  switch (alert) {
    case 42:  // bad_certificate
    case 44:  // certificate_revoked
    case 45:  // certificate_expired
    case 46:  // certificate_unknown
    case 48:  // unknown_ca
    case 49:  // access_denied
      return true;
    default:
      return false;
  }
}

const char* ackStatusName(wire::AckStatus status) {
  switch (status) {
    case wire::ACK_STATUS_OK:
      return "OK";
    case wire::ACK_STATUS_RETRY:
      return "RETRY";
    case wire::ACK_STATUS_REJECTED:
      return "REJECTED";
    default:
      return "UNSPECIFIED";
  }
}

}  // namespace

std::vector<std::string> rendezvousOrder(const std::string& agent_id,
                                         const std::vector<std::string>& gateways) {
  std::vector<std::pair<uint64_t, std::string>> weighted;
  weighted.reserve(gateways.size());
  for (const std::string& gateway : gateways) {
    std::string key = agent_id;
    key.push_back('\0');
    key += gateway;
    weighted.emplace_back(stableHash(key), gateway);
  }
  std::sort(weighted.begin(), weighted.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::string> order;
  order.reserve(weighted.size());
  for (auto& [weight, gateway] : weighted) order.push_back(std::move(gateway));
  return order;
}

struct Shipper::Impl {
  // One name lookup; owns itself until its callback, so a lookup that
  // outlives its attempt (slow DNS) cannot be mistaken for the next one's.
  struct Resolve {
    uv_getaddrinfo_t req{};
    Impl* owner = nullptr;  // cleared when the attempt is abandoned
  };

  // One TCP connection; owns itself from uv_tcp_init until its close callback.
  struct Connection {
    uv_tcp_t tcp{};
    uv_connect_t connect_req{};
    Impl* owner = nullptr;  // cleared when the shipper is done with it
  };

  enum class State {
    kIdle,
    kResolving,
    kConnecting,
    kTlsHandshaking,  // TCP connected, TLS handshake running
    kHandshaking,     // HELLO sent, waiting for WELCOME
    kReady,
    kWaiting,  // between connections
    kClosed,
  };

  struct InFlight {
    uint64_t batch_id;
    uint64_t bytes;
  };

  // What a connection is for.
  enum class Mode {
    kPlain,    // no TLS (loopback only)
    kSession,  // mutual TLS, batches
    kEnroll,   // TLS without a client certificate: token + CSR for a certificate
    kRenew,    // mutual TLS: CSR for a fresh certificate of the same identity
  };

  Impl(uv_loop_t* loop_in, Spool& spool_in, ShipperOptions options_in, MetricsRegistry& metrics)
      : loop(loop_in),
        spool(spool_in),
        options(std::move(options_in)),
        sent(metrics.counter("edge_agent_batches_sent_total",
                             "Batch frames sent to a gateway (resends included)")),
        acked(metrics.counter("edge_agent_batches_acked_total",
                              "Batches acked OK by a gateway and deleted")),
        rejected(metrics.counter("edge_agent_batches_rejected_total",
                                 "Batches a gateway permanently rejected; deleted from the spool")),
        connect_failures(metrics.counter("edge_agent_connect_failures_total",
                                         "Connection attempts that did not reach WELCOME")),
        connected_gauge(
            metrics.gauge("edge_agent_connected", "1 while a gateway session is established")),
        failovers(metrics.counter(
            "edge_agent_gateway_failovers_total",
            "Times the agent moved on to the next gateway after an error, GOAWAY or timeout")),
        ack_timeouts(metrics.counter(
            "edge_agent_ack_timeouts_total",
            "Times no ack arrived for output.ack_timeout_warning while batches were in flight")),
        enrollments_ok(metrics.counter("edge_agent_enrollments_total",
                                       "Enrollment attempts answered by a gateway, by result",
                                       {{"result", "ok"}})),
        enrollments_refused(metrics.counter("edge_agent_enrollments_total",
                                            "Enrollment attempts answered by a gateway, by result",
                                            {{"result", "refused"}})),
        renewals_ok(metrics.counter("edge_agent_certificate_renewals_total",
                                    "Certificate renewals answered by a gateway, by result",
                                    {{"result", "ok"}})),
        renewals_refused(metrics.counter("edge_agent_certificate_renewals_total",
                                         "Certificate renewals answered by a gateway, by result",
                                         {{"result", "refused"}})),
        tls_failures(metrics.counter("edge_agent_tls_handshake_failures_total",
                                     "TLS handshakes with a gateway that failed")),
        cert_not_after(
            metrics.gauge("edge_agent_certificate_expiry_seconds",
                          "Unix time at which the agent's client certificate expires (0: none)")),
        backoff(options.reconnect_min),
        enroll_backoff(options.enrollment_retry_min),
        retry_backoff(options.reconnect_min),
        rng(std::random_device{}()) {
    if (options.max_in_flight_batches == 0) options.max_in_flight_batches = 1;
    if (options.reconnect_max < options.reconnect_min)
      options.reconnect_max = options.reconnect_min;
    if (options.enrollment_retry_max < options.enrollment_retry_min)
      options.enrollment_retry_max = options.enrollment_retry_min;
    updateCertificateGauge();
  }

  ~Impl() {
    // Normally close() ran and the loop finished; otherwise make late
    // callbacks of a still-open connection harmless.
    if (conn != nullptr) conn->owner = nullptr;
    if (resolve != nullptr) resolve->owner = nullptr;
  }

  // --- lifecycle -----------------------------------------------------------

  Result<void> start() {
    if (options.gateways.empty()) {
      return makeError(ErrorCode::kConfig,
                       "output.gateways is empty; name at least one gateway host:port");
    }
    order = rendezvousOrder(spool.agentId(), options.gateways);
    for (const std::string& gw : order) {
      auto hp = parseHostPort(gw);
      if (!hp) return makeError(ErrorCode::kConfig, "output.gateways: " + hp.error().message);
      targets.push_back(*hp);
    }
    for (uv_timer_t* timer : allTimers()) {
      int rc = uv_timer_init(loop, timer);
      if (rc != 0)
        return makeError(ErrorCode::kInternal, std::string("shipper timer: ") + uv_strerror(rc));
      timer->data = this;
    }
    timers_initialized = true;
    if (order.size() > 1) {
      std::string list;
      for (const std::string& gw : order) list += (list.empty() ? "" : ", ") + gw;
      spdlog::info("gateway order for agent {} (rendezvous hashing): {}", spool.agentId(), list);
    }
    if (credentials == nullptr) {
      spdlog::warn(
          "TLS is off (output.tls.enabled: false, allow_plaintext on loopback): events and the "
          "agent's identity go to the gateway unencrypted and unauthenticated");
    } else if (const auto& cert = credentials->certificate(); cert && credentials->usable(0)) {
      spdlog::info("TLS client certificate {} (serial {}), valid until {}, renewal after {}",
                   cert->subject, cert->serial_hex, formatUtcTime(cert->not_after),
                   formatUtcTime(credentials->renewAt()));
    }
    connect();
    return okResult();
  }

  std::array<uv_timer_t*, 8> allTimers() {
    return {&reconnect_timer, &handshake_timer, &heartbeat_timer, &retry_timer,
            &drain_timer,     &ttl_timer,       &ack_timer,       &renew_timer};
  }

  void close() {
    if (state == State::kClosed) return;
    teardown();
    state = State::kClosed;
    if (timers_initialized) {
      for (uv_timer_t* timer : allTimers())
        uv_close(reinterpret_cast<uv_handle_t*>(timer), nullptr);
    }
  }

  // --- connecting ------------------------------------------------------------

  void connect() {
    if (state == State::kClosed) return;
    gateway = order[index];
    target = targets[index];
    if (!chooseMode()) return;  // nothing to connect with yet; a timer tries again
    state = State::kResolving;
    uv_timer_start(&handshake_timer, &Impl::onHandshakeTimeout,
                   static_cast<uint64_t>(options.handshake_timeout.count()), 0);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    std::string port = std::to_string(target.port);
    auto* r = new Resolve();
    r->owner = this;
    r->req.data = r;
    int rc =
        uv_getaddrinfo(loop, &r->req, &Impl::onResolved, target.host.c_str(), port.c_str(), &hints);
    if (rc != 0) {
      delete r;
      disconnect("cannot resolve " + target.host + ": " + uv_strerror(rc));
      return;
    }
    resolve = r;
  }

  static void onResolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
    auto* r = static_cast<Resolve*>(req->data);
    Impl* self = r->owner;
    delete r;
    if (self == nullptr) {  // abandoned: closed or timed out meanwhile
      uv_freeaddrinfo(res);
      return;
    }
    self->resolve = nullptr;
    if (status != 0 || res == nullptr) {
      uv_freeaddrinfo(res);
      self->disconnect("cannot resolve " + self->target.host + ": " + uv_strerror(status));
      return;
    }
    auto* c = new Connection();
    c->owner = self;
    int rc = uv_tcp_init(self->loop, &c->tcp);
    if (rc != 0) {
      delete c;
      uv_freeaddrinfo(res);
      self->disconnect(std::string("cannot create a socket: ") + uv_strerror(rc));
      return;
    }
    c->tcp.data = c;
    c->connect_req.data = c;
    self->conn = c;
    uv_tcp_nodelay(&c->tcp, 1);
    rc = uv_tcp_connect(&c->connect_req, &c->tcp, res->ai_addr, &Impl::onConnected);
    uv_freeaddrinfo(res);
    if (rc != 0) {
      self->disconnect(std::string("connect: ") + uv_strerror(rc));
      return;
    }
    self->state = State::kConnecting;
  }

  static void onConnected(uv_connect_t* req, int status) {
    auto* c = static_cast<Connection*>(req->data);
    Impl* self = c->owner;
    if (self == nullptr || self->conn != c) return;  // abandoned connection
    if (status != 0) {
      self->disconnect(std::string("connect: ") + uv_strerror(status));
      return;
    }
    self->decoder.emplace(kMaxControlFrameSize);
    int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), &Impl::onAlloc, &Impl::onRead);
    if (rc != 0) {
      self->disconnect(std::string("read: ") + uv_strerror(rc));
      return;
    }
    if (self->mode == Mode::kPlain) {
      self->sendHello();
      return;
    }
    self->startTls();
  }

  void sendHello() {
    wire::Hello hello;
    hello.set_protocol_version(protocol::kProtocolVersion);
    hello.set_agent_id(spool.agentId());
    hello.set_agent_version(options.agent_version);
    hello.set_hostname(options.hostname);
    hello.add_capabilities("zstd");
    if (mode == Mode::kEnroll) {
      hello.set_enrollment_token(attempt_token);
      hello.set_csr_pem(attempt_csr);
      hello.set_tenant_hint(credentials->options().tenant_hint);
    } else if (mode == Mode::kRenew) {
      hello.set_csr_pem(attempt_csr);
    }
    state = State::kHandshaking;
    write(protocol::encodeControlFrame(protocol::FrameType::kHello, hello));
  }

  static void onHandshakeTimeout(uv_timer_t* timer) {
    auto* self = static_cast<Impl*>(timer->data);
    if (self->state == State::kTlsHandshaking) {
      self->tls_failures.inc();
      self->disconnect("the TLS handshake did not finish within " +
                       std::to_string(self->options.tls_handshake_timeout.count()) +
                       "ms (output.tls.handshake_timeout)");
    } else if (self->state == State::kResolving || self->state == State::kConnecting ||
               self->state == State::kHandshaking) {
      self->disconnect("no WELCOME within " +
                       std::to_string(self->options.handshake_timeout.count()) + "ms");
    }
  }

  static void onReconnect(uv_timer_t* timer) {
    auto* self = static_cast<Impl*>(timer->data);
    if (self->state == State::kClosed) return;
    self->teardown();
    self->connect();
  }

  // Drops the connection state; everything in flight is unsent again (it is
  // still in the spool) and goes out first on the next connection.
  void teardown() {
    if (conn != nullptr) {
      conn->owner = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp),
               [](uv_handle_t* handle) { delete static_cast<Connection*>(handle->data); });
      conn = nullptr;
    }
    if (resolve != nullptr) {
      resolve->owner = nullptr;
      uv_cancel(reinterpret_cast<uv_req_t*>(&resolve->req));  // may be too late; the callback copes
      resolve = nullptr;
    }
    if (timers_initialized) {
      for (uv_timer_t* timer : {&handshake_timer, &heartbeat_timer, &retry_timer, &drain_timer,
                                &ttl_timer, &ack_timer, &renew_timer}) {
        uv_timer_stop(timer);
      }
    }
    tls.reset();
    in_flight.clear();
    resend.clear();
    retry_ready = false;
    last_sent = 0;
    credit_batches = 0;
    credit_bytes = 0;
    draining = false;
    decoder.reset();
    connected_gauge.set(0);
    if (state != State::kClosed) state = State::kWaiting;
  }

  // Ends the current attempt or session and schedules the next one, on the
  // next gateway in rendezvous order.
  void disconnect(const std::string& reason) {
    if (state == State::kClosed) return;
    if (draining) {
      // The gateway closed a draining connection: that is how a drain ends.
      finishDrain("the gateway closed the connection (" + reason + ")");
      return;
    }
    bool had_session = state == State::kReady;
    size_t unacked = in_flight.size();
    std::string from = gateway;
    teardown();
    std::chrono::milliseconds delay;
    if (had_session) {
      // A working gateway went away: try the next one at once (jittered so
      // its agents do not all arrive together); a full round of failures
      // backs off below.
      moveToNextGateway();
      delay = jitter(options.reconnect_min);
      spdlog::warn(
          "lost the connection to gateway {}: {}; {} unacked batches will be resent; connecting to "
          "{} in {}ms",
          from, reason, unacked, order[index], delay.count());
    } else {
      connect_failures.inc();
      moveToNextGateway();
      delay = ++failed_in_round >= order.size() ? nextBackoff() : jitter(options.reconnect_min);
      if (failed_in_round >= order.size()) failed_in_round = 0;
      if (uint64_t n = connect_log.allow(); n != 0) {
        spdlog::warn(
            "cannot connect to gateway {}: {}; trying {} in {}ms ({} batches wait in the spool{})",
            from, reason, order[index], delay.count(), spool.batchCount(),
            n > 1 ? ", " + std::to_string(n - 1) + " similar messages suppressed" : std::string());
      }
    }
    uv_timer_start(&reconnect_timer, &Impl::onReconnect, static_cast<uint64_t>(delay.count()), 0);
  }

  void moveToNextGateway() {
    if (order.size() > 1) failovers.inc();
    index = (index + 1) % order.size();
  }

  // Full jitter: uniform in [0, cap]; at least 1ms so a timer is used.
  std::chrono::milliseconds jitter(std::chrono::milliseconds cap) {
    std::uniform_int_distribution<int64_t> pick(1, std::max<int64_t>(cap.count(), 1));
    return std::chrono::milliseconds{pick(rng)};
  }

  // Exponential backoff with full jitter, after every gateway failed once:
  // uniform in [0, base], base doubling from reconnect_min to
  // reconnect_max, reset by a WELCOME.
  std::chrono::milliseconds nextBackoff() {
    std::chrono::milliseconds delay = jitter(backoff);
    backoff = std::min(backoff * 2, options.reconnect_max);
    return delay;
  }

  // --- draining (GOAWAY, connection_ttl) --------------------------------------

  // Stops sending on this connection, waits for the outstanding acks (at
  // most drain_timeout), then closes it and connects to order[next] no
  // sooner than `reconnect_after` from now.
  void startDrain(const std::string& why, size_t next, std::chrono::milliseconds reconnect_after) {
    if (draining || state != State::kReady) return;
    draining = true;
    drain_next = next;
    drain_reconnect_at = uv_now(loop) + static_cast<uint64_t>(reconnect_after.count());
    uv_timer_stop(&ttl_timer);
    spdlog::info("draining the connection to gateway {} ({}): no new batches; {} in flight",
                 gateway, why, in_flight.size());
    if (in_flight.empty()) {
      finishDrain("nothing was in flight");
      return;
    }
    uv_timer_start(&drain_timer, &Impl::onDrainTimeout,
                   static_cast<uint64_t>(std::max<int64_t>(options.drain_timeout.count(), 1)), 0);
  }

  static void onDrainTimeout(uv_timer_t* timer) {
    auto* self = static_cast<Impl*>(timer->data);
    if (!self->draining) return;
    self->finishDrain(std::to_string(self->in_flight.size()) +
                      " batches still unacked after output.drain_timeout; they are resent");
  }

  void finishDrain(const std::string& how) {
    uint64_t now = uv_now(loop);
    std::chrono::milliseconds delay{drain_reconnect_at > now ? drain_reconnect_at - now : 0};
    delay = std::max(delay, std::chrono::milliseconds(1));
    std::string from = gateway;
    size_t next = drain_next;
    teardown();  // resets draining; unacked batches go out again on the next connection
    if (next != index && order.size() > 1) failovers.inc();
    index = next;
    failed_in_round = 0;
    spdlog::info("drained the connection to gateway {}: {}; connecting to {} in {}ms", from, how,
                 order[index], delay.count());
    uv_timer_start(&reconnect_timer, &Impl::onReconnect, static_cast<uint64_t>(delay.count()), 0);
  }

  static void onTtl(uv_timer_t* timer) {
    auto* self = static_cast<Impl*>(timer->data);
    // Back to the preferred gateway: behind a load balancer a new
    // connection is balanced again; with a list, a recovered preferred
    // gateway gets its agents back.
    self->startDrain("output.connection_ttl reached", 0, std::chrono::milliseconds(0));
  }

  // --- TLS, enrollment and renewal ---------------------------------------------

  // Picks what the next connection is for. False when there is nothing to
  // connect with (no usable certificate and no token it may use): then a
  // timer looks again later, and a new token in token_file is tried at once.
  bool chooseMode() {
    attempt_token.clear();
    attempt_csr.clear();
    if (credentials == nullptr) {
      mode = Mode::kPlain;
      return true;
    }
    const int64_t now = unixNow();
    if (credentials->usable(now)) {
      mode = Mode::kSession;
      if (now >= std::max(credentials->renewAt(), next_renew_attempt)) {
        auto csr = credentials->createCsr(spool.agentId());
        if (csr) {
          mode = Mode::kRenew;
          attempt_csr = std::move(*csr);
        } else {
          next_renew_attempt = now + renewRetrySeconds(now);
          spdlog::error("cannot renew the agent certificate: {}; trying again after {}",
                        csr.error().message, formatUtcTime(next_renew_attempt));
        }
      }
      return true;
    }

    const auto& cert = credentials->certificate();
    std::string why = !cert                    ? "the agent has no certificate yet"
                      : credentials->refused() ? "a gateway refused the agent's certificate"
                      : now > cert->not_after
                          ? "the agent's certificate expired at " + formatUtcTime(cert->not_after)
                          : "the agent's certificate is not valid yet";
    auto token = credentials->readToken();
    std::string problem;
    std::string token_fp;
    if (!token) {
      problem = token.error().message;
    } else if (token->empty()) {
      problem =
          "no enrollment token is configured; set output.enrollment.token or token_file to a "
          "token from `edgectl token create`";
    } else {
      token_fp = tokenFingerprint(*token);
      if (credentials->enrolledWith(*token)) {
        problem =
            "the configured enrollment token is the one the current certificate came from, and "
            "an agent never enrolls twice with one token; put a new token from `edgectl token "
            "create` in output.enrollment";
      } else {
        auto csr = credentials->createCsr(spool.agentId());
        if (csr) {
          mode = Mode::kEnroll;
          attempt_token = std::move(*token);
          attempt_csr = std::move(*csr);
          return true;
        }
        problem = csr.error().message;
      }
    }
    if (cert && credentials->refused() && now <= cert->not_after && now >= cert->not_before) {
      // Without a new token, keep offering the certificate: the refusal may
      // come from a misconfigured gateway that gets fixed.
      mode = Mode::kSession;
      return true;
    }
    state = State::kWaiting;
    auto delay = nextEnrollDelay();
    spdlog::error("cannot connect to a gateway: {}, and {}; looking again in {}s", why, problem,
                  (delay.count() + 999) / 1000);
    startEnrollWait(delay, token_fp);
    return false;
  }

  // Uniform in [d/2, d] with d doubling from enrollment_retry_min to _max:
  // never a tight loop, and a fleet refused together does not retry together.
  std::chrono::milliseconds nextEnrollDelay() {
    std::chrono::milliseconds d = enroll_backoff;
    enroll_backoff = std::min(enroll_backoff * 2, options.enrollment_retry_max);
    std::uniform_int_distribution<int64_t> pick(std::max<int64_t>(d.count() / 2, 1),
                                                std::max<int64_t>(d.count(), 1));
    return std::chrono::milliseconds{pick(rng)};
  }

  // Waits `delay` before the next attempt, but checks token_file every
  // couple of seconds: a token other than `token_fp` is tried at once.
  void startEnrollWait(std::chrono::milliseconds delay, std::string token_fp) {
    enroll_wait_until = uv_now(loop) + static_cast<uint64_t>(delay.count());
    enroll_wait_token = std::move(token_fp);
    armEnrollWait();
  }

  void armEnrollWait() {
    uint64_t now = uv_now(loop);
    uint64_t left = enroll_wait_until > now ? enroll_wait_until - now : 0;
    if (!credentials->options().token_file.empty()) left = std::min<uint64_t>(left, 2000);
    uv_timer_start(&reconnect_timer, &Impl::onEnrollWait, left, 0);
  }

  static void onEnrollWait(uv_timer_t* timer) {
    auto* self = static_cast<Impl*>(timer->data);
    if (self->state == State::kClosed) return;
    bool go = uv_now(self->loop) >= self->enroll_wait_until;
    if (!go) {
      auto token = self->credentials->readToken();
      go = token && !token->empty() && tokenFingerprint(*token) != self->enroll_wait_token;
      if (go)
        spdlog::info("the enrollment token in {} changed; trying it now",
                     self->credentials->options().token_file);
    }
    if (!go) {
      self->armEnrollWait();
      return;
    }
    self->teardown();
    self->connect();
  }

  void startTls() {
    std::shared_ptr<const protocol::TlsContext> context =
        mode == Mode::kEnroll ? credentials->enrollmentContext() : credentials->sessionContext();
    protocol::TlsSessionOptions tls_options;
    tls_options.server_name =
        options.tls_server_name.empty() ? target.host : options.tls_server_name;
    resuming = false;
    if (mode == Mode::kSession) {
      auto saved = saved_sessions.find(gateway);
      if (saved != saved_sessions.end()) {
        tls_options.resume = saved->second;
        resuming = true;
      }
    }
    auto session = protocol::TlsSession::create(std::move(context), tls_options);
    if (!session) {
      disconnect("TLS: " + session.error().message);
      return;
    }
    tls = std::move(*session);
    tls_resumed = false;
    state = State::kTlsHandshaking;
    uv_timer_start(&handshake_timer, &Impl::onHandshakeTimeout,
                   static_cast<uint64_t>(options.tls_handshake_timeout.count()), 0);
    flushTls();  // the ClientHello
  }

  // Feeds what the socket read to TLS and leaves the decrypted bytes in
  // `plaintext`. False when the connection was given up.
  bool onCiphertext(std::string_view bytes) {
    plaintext.clear();
    if (auto fed = tls->feedCiphertext(bytes); !fed) {
      onTlsFailure(fed.error());
      return false;
    }
    if (state == State::kTlsHandshaking) {
      if (!tls->handshakeDone()) return flushTls();
      if (!onTlsEstablished()) return false;
    }
    for (;;) {
      auto n = tls->readPlaintext(plaintext, 1u << 20);
      if (!n) {
        flushTls();
        disconnect("TLS: " + n.error().message);
        return false;
      }
      if (*n == 0) break;
    }
    return flushTls();
  }

  bool onTlsEstablished() {
    tls_resumed = tls->resumed();
    spdlog::debug("TLS with gateway {}: {} {}{}{}", gateway, tls->protocolVersion(),
                  tls->cipherSuite(), tls_resumed ? ", resumed session" : "",
                  mode == Mode::kEnroll  ? ", enrolling"
                  : mode == Mode::kRenew ? ", renewing the certificate"
                                         : "");
    if (mode == Mode::kSession) {
      // The ticket is bound to this gateway process and this certificate.
      if (auto saved = tls->saveSession(); saved) saved_sessions[gateway] = std::move(*saved);
    }
    uv_timer_start(&handshake_timer, &Impl::onHandshakeTimeout,
                   static_cast<uint64_t>(options.handshake_timeout.count()), 0);
    sendHello();
    return conn != nullptr;
  }

  void onTlsFailure(const Error& error) {
    flushTls();  // the alert tells the gateway why
    tls_failures.inc();
    if (resuming) saved_sessions.erase(gateway);
    const bool our_cert_refused = state == State::kTlsHandshaking &&
                                  (mode == Mode::kSession || mode == Mode::kRenew) &&
                                  tls->failure() == protocol::TlsFailure::kPeerAlert &&
                                  refusesOurCertificate(tls->peerAlert());
    if (our_cert_refused) {
      credentials->markRefused();
      saved_sessions.clear();
      auto token = credentials->readToken();
      const bool fresh = token && !token->empty() && !credentials->enrolledWith(*token);
      if (uint64_t n = cert_log.allow(); n != 0) {
        spdlog::error(
            "gateway {} refused the agent's certificate {} (serial {}): {}; {}", gateway,
            credentials->certificate() ? credentials->certificate()->subject : std::string("?"),
            credentials->certificate() ? credentials->certificate()->serial_hex : std::string("?"),
            error.message,
            fresh ? "enrolling again with the configured enrollment token"
                  : "if it was revoked or has expired the agent needs a new identity: put a new "
                    "token from `edgectl token create` in output.enrollment (or install a new "
                    "certificate); until then it keeps trying with this one");
      }
    }
    disconnect("TLS: " + error.message);
  }

  // WELCOME with a certificate: the answer to an enrollment or renewal HELLO.
  void onCertificate(const wire::Welcome& welcome) {
    const bool renewal = mode == Mode::kRenew;
    if (welcome.client_cert_pem().empty()) {
      std::string reason =
          "the gateway answered with a WELCOME without a certificate (does it support " +
          std::string(renewal ? "certificate renewal" : "enrollment") + "?)";
      return renewal ? onRenewRefused(reason) : onEnrollRefused(reason);
    }
    auto installed = credentials->install(welcome.client_cert_pem(), welcome.ca_cert_pem(),
                                          spool.agentId(), renewal ? "" : attempt_token);
    if (!installed) {
      std::string reason = "cannot use the certificate: " + installed.error().message;
      return renewal ? onRenewRefused(reason) : onEnrollRefused(reason);
    }
    (renewal ? renewals_ok : enrollments_ok).inc();
    updateCertificateGauge();
    saved_sessions.clear();  // tickets carry the old certificate
    enroll_backoff = options.enrollment_retry_min;
    next_renew_attempt = 0;
    if (const int64_t now = unixNow(); credentials->renewAt() <= now) {
      // Renewing again at once would loop: the gateway's certificates live
      // shorter than output.tls.renew_before.
      next_renew_attempt = now + renewRetrySeconds(now);
      spdlog::warn(
          "the new certificate is already due for renewal: output.tls.renew_before is longer than "
          "the lifetime of the certificates the gateway issues (gateway.enrollment.cert_days); "
          "next renewal attempt after {}",
          formatUtcTime(next_renew_attempt));
    }
    spdlog::info(
        "{} at gateway {}: certificate {} (serial {}), valid until {}, renewal after {}; "
        "reconnecting with it",
        renewal ? "renewed the agent certificate" : "enrolled", gateway, installed->subject,
        installed->serial_hex, formatUtcTime(installed->not_after),
        formatUtcTime(credentials->renewAt()));
    teardown();
    uv_timer_start(&reconnect_timer, &Impl::onReconnect, 0, 0);
  }

  void onEnrollRefused(const wire::Error& error) {
    onEnrollRefused(std::string(wire::ErrorCode_Name(error.code())) + ": " +
                    (error.reason().empty() ? "no reason given" : error.reason()));
  }

  void onEnrollRefused(const std::string& reason) {
    enrollments_refused.inc();
    const bool token_refused = reason.find("enrollment token") != std::string::npos;
    const std::string from = gateway;
    const std::string token_fp = tokenFingerprint(attempt_token);
    teardown();
    // Another gateway may judge differently (one with another token key).
    index = (index + 1) % order.size();
    auto delay = nextEnrollDelay();
    spdlog::error(
        "enrollment refused by gateway {}: {}; {}; next attempt in {}s", from, reason,
        token_refused
            ? "a token refused as expired, used up, tampered with or for another tenant never "
              "becomes valid: put a new one in output.enrollment.token or token_file (the file "
              "is read again before every attempt; a new token there is tried at once)"
            : "check the gateway's enrollment settings (gateway.enrollment)",
        (delay.count() + 999) / 1000);
    startEnrollWait(delay, token_fp);
  }

  void onRenewRefused(const wire::Error& error) {
    onRenewRefused(std::string(wire::ErrorCode_Name(error.code())) + ": " +
                   (error.reason().empty() ? "no reason given" : error.reason()));
  }

  void onRenewRefused(const std::string& reason) {
    renewals_refused.inc();
    const int64_t now = unixNow();
    next_renew_attempt = now + renewRetrySeconds(now);
    spdlog::warn(
        "certificate renewal refused by gateway {}: {}; the current certificate stays valid until "
        "{}; next renewal attempt after {}",
        gateway, reason,
        credentials->certificate() ? formatUtcTime(credentials->certificate()->not_after)
                                   : std::string("?"),
        formatUtcTime(next_renew_attempt));
    teardown();
    uv_timer_start(&reconnect_timer, &Impl::onReconnect, 0, 0);
  }

  // An eighth of the time left, between a minute and an hour: several tries
  // before expiry, without hammering a gateway that cannot renew.
  int64_t renewRetrySeconds(int64_t now) const {
    const auto& cert = credentials->certificate();
    int64_t left = cert ? cert->not_after - now : 0;
    return std::clamp<int64_t>(left / 8, 60, 3600);
  }

  void armRenewTimer() {
    if (credentials == nullptr || !credentials->certificate()) return;
    const int64_t at = std::max(credentials->renewAt(), next_renew_attempt);
    const int64_t now = unixNow();
    // Capped so that a changed wall clock is noticed within hours.
    const int64_t seconds = std::clamp<int64_t>(at - now, 0, 6 * 3600);
    uv_timer_start(&renew_timer, &Impl::onRenewTimer, static_cast<uint64_t>(seconds) * 1000, 0);
  }

  static void onRenewTimer(uv_timer_t* timer) {
    auto* self = static_cast<Impl*>(timer->data);
    if (self->state != State::kReady || self->draining) return;
    const int64_t at = std::max(self->credentials->renewAt(), self->next_renew_attempt);
    if (unixNow() < at) {
      self->armRenewTimer();
      return;
    }
    // Finish what is in flight, then the next connection renews.
    self->startDrain("the certificate is due for renewal (valid until " +
                         formatUtcTime(self->credentials->certificate()->not_after) + ")",
                     self->index, std::chrono::milliseconds(0));
  }

  void updateCertificateGauge() {
    const auto* cert =
        credentials && credentials->certificate() ? &*credentials->certificate() : nullptr;
    cert_not_after.set(cert != nullptr ? cert->not_after : 0);
  }

  // --- ack watchdog -------------------------------------------------------------

  void armAckWatch() {
    if (options.ack_timeout_warning.count() <= 0 || in_flight.empty()) {
      uv_timer_stop(&ack_timer);
      return;
    }
    uint64_t ms = static_cast<uint64_t>(options.ack_timeout_warning.count());
    uv_timer_start(&ack_timer, &Impl::onAckTimeout, ms, ms);
  }

  static void onAckTimeout(uv_timer_t* timer) {
    auto* self = static_cast<Impl*>(timer->data);
    if (self->state != State::kReady || self->in_flight.empty()) return;
    self->ack_timeouts.inc();
    if (uint64_t n = self->ack_log.allow(); n != 0) {
      spdlog::warn(
          "no ack from gateway {} for {}ms while {} batches are in flight (oldest: batch {}); the "
          "gateway or its sinks may be stalled; the batches stay in the spool{}",
          self->gateway, self->options.ack_timeout_warning.count(), self->in_flight.size(),
          self->in_flight.front().batch_id,
          n > 1 ? "; " + std::to_string(n - 1) + " similar messages suppressed" : std::string());
    }
  }

  // --- I/O -------------------------------------------------------------------

  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) {
    (void)suggested;
    auto* c = static_cast<Connection*>(handle->data);
    if (c->owner == nullptr) {
      *buf = uv_buf_init(nullptr, 0);
      return;
    }
    *buf = uv_buf_init(c->owner->read_buffer.data(),
                       static_cast<unsigned>(c->owner->read_buffer.size()));
  }

  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* c = static_cast<Connection*>(stream->data);
    Impl* self = c->owner;
    if (self == nullptr || self->conn != c) return;
    if (nread < 0) {
      self->disconnect(nread == UV_EOF
                           ? std::string("the gateway closed the connection")
                           : std::string("read: ") + uv_strerror(static_cast<int>(nread)));
      return;
    }
    if (nread == 0) return;
    const char* data = buf->base;
    size_t size = static_cast<size_t>(nread);
    if (self->tls) {
      if (!self->onCiphertext(std::string_view(buf->base, size))) return;
      data = self->plaintext.data();
      size = self->plaintext.size();
      if (size == 0) {
        if (self->tls && self->tls->peerClosed())
          self->disconnect("the gateway closed the TLS session");
        return;
      }
    }
    if (auto fed = self->decoder->feed(data, size); !fed) {
      self->disconnect("protocol error: " + fed.error().message);
      return;
    }
    while (self->conn == c) {
      auto next = self->decoder->next();
      if (!next) {
        self->disconnect("protocol error: " + next.error().message);
        return;
      }
      if (!next->has_value()) break;
      self->handleFrame(**next);  // may disconnect, which ends this loop
    }
    if (self->conn == c && self->tls && self->tls->peerClosed())
      self->disconnect("the gateway closed the TLS session");
  }

  // Sends one encoded frame (through TLS when the connection has it).
  bool write(std::string data) {
    if (conn == nullptr) return false;
    if (tls) {
      if (auto written = tls->writePlaintext(data); !written) {
        disconnect("TLS: " + written.error().message);
        return false;
      }
      return flushTls();
    }
    return writeRaw(std::move(data));
  }

  bool flushTls() {
    if (!tls) return true;
    std::string ciphertext = tls->takeCiphertext();
    if (ciphertext.empty()) return true;
    return writeRaw(std::move(ciphertext));
  }

  bool writeRaw(std::string data) {
    if (conn == nullptr) return false;
    auto* req = new WriteReq();
    req->data = std::move(data);
    req->req.data = req;
    uv_buf_t buf = uv_buf_init(req->data.data(), static_cast<unsigned>(req->data.size()));
    int rc =
        uv_write(&req->req, reinterpret_cast<uv_stream_t*>(&conn->tcp), &buf, 1, &Impl::onWritten);
    if (rc != 0) {
      delete req;
      disconnect(std::string("write: ") + uv_strerror(rc));
      return false;
    }
    return true;
  }

  static void onWritten(uv_write_t* req, int status) {
    auto* w = static_cast<WriteReq*>(req->data);
    auto* c = static_cast<Connection*>(req->handle->data);
    delete w;
    if (status == 0 || status == UV_ECANCELED) return;
    Impl* self = c->owner;
    if (self != nullptr && self->conn == c)
      self->disconnect(std::string("write: ") + uv_strerror(status));
  }

  // --- frames ----------------------------------------------------------------

  void handleFrame(const protocol::Frame& frame) {
    using protocol::FrameType;
    switch (frame.type) {
      case FrameType::kWelcome: {
        if (state != State::kHandshaking) return protocolError("unexpected WELCOME");
        wire::Welcome welcome;
        if (!parse(frame, welcome)) return;
        if (mode == Mode::kEnroll || mode == Mode::kRenew) return onCertificate(welcome);
        state = State::kReady;
        credit_batches = welcome.credit_batches();
        credit_bytes = welcome.credit_bytes();
        backoff = options.reconnect_min;
        retry_backoff = options.reconnect_min;
        failed_in_round = 0;
        uv_timer_stop(&handshake_timer);
        connected_gauge.set(1);
        if (options.connection_ttl.count() > 0) {
          // +-10% so agents connected at the same moment do not all
          // reconnect at the same moment.
          std::uniform_int_distribution<int64_t> spread(options.connection_ttl.count() * 9 / 10,
                                                        options.connection_ttl.count() * 11 / 10);
          uv_timer_start(&ttl_timer, &Impl::onTtl, static_cast<uint64_t>(spread(rng)), 0);
        }
        auto every = options.heartbeat_interval;
        if (welcome.heartbeat_interval_ms() != 0) {
          every = std::min(every, std::chrono::milliseconds(welcome.heartbeat_interval_ms()));
        }
        uint64_t every_ms = static_cast<uint64_t>(std::max<int64_t>(every.count(), 100));
        uv_timer_start(&heartbeat_timer, &Impl::onHeartbeat, every_ms, every_ms);
        armRenewTimer();
        spdlog::info(
            "connected to gateway {} ({}; gateway id {}, session {}); credit {} batches / {} "
            "bytes; {} batches to send",
            gateway,
            order.size() == 1 ? std::string("the only one")
            : index == 0      ? std::string("preferred")
                              : "fallback #" + std::to_string(index),
            welcome.gateway_id(), welcome.session_id(), credit_batches, credit_bytes,
            spool.batchCount());
        pump();
        return;
      }
      case FrameType::kAck: {
        if (state != State::kReady) return protocolError("ACK before WELCOME");
        wire::Ack ack;
        if (!parse(frame, ack)) return;
        // Deleted together: one spool transaction per ACK frame, not per batch.
        std::vector<uint64_t> done;
        for (const wire::AckEntry& entry : ack.entries()) {
          if (handleAck(entry)) done.push_back(entry.batch_id());
        }
        armAckWatch();
        if (removeFromSpool(done) && on_shrunk) on_shrunk();
        if (draining && in_flight.empty()) {
          finishDrain("every batch in flight was acked");
          return;
        }
        pump();
        return;
      }
      case FrameType::kCredit: {
        if (state != State::kReady) return protocolError("CREDIT before WELCOME");
        wire::Credit credit;
        if (!parse(frame, credit)) return;
        credit_batches += credit.batches();
        credit_bytes += credit.bytes();
        pump();
        return;
      }
      case FrameType::kGoaway: {
        if (state != State::kReady) return protocolError("GOAWAY before WELCOME");
        wire::Goaway goaway;
        if (!parse(frame, goaway)) return;
        spdlog::info("gateway {} sent GOAWAY ({}); reconnect allowed after {}ms", gateway,
                     goaway.reason().empty() ? "no reason given" : goaway.reason(),
                     goaway.reconnect_after_ms());
        // That gateway is going away: the next one in order takes over.
        startDrain("GOAWAY", (index + 1) % order.size(),
                   std::chrono::milliseconds(goaway.reconnect_after_ms()));
        return;
      }
      case FrameType::kError: {
        wire::Error error;
        if (!parse(frame, error)) return;
        if (state == State::kHandshaking && mode == Mode::kEnroll) return onEnrollRefused(error);
        if (state == State::kHandshaking && mode == Mode::kRenew) return onRenewRefused(error);
        disconnect("the gateway reported error " + std::string(wire::ErrorCode_Name(error.code())) +
                   ": " + (error.reason().empty() ? "no reason given" : error.reason()));
        return;
      }
      case FrameType::kHeartbeat:
        return;  // a gateway may answer heartbeats; nothing to do
      default:
        return protocolError(std::string("unexpected ") + protocol::frameTypeName(frame.type) +
                             " frame from a gateway");
    }
  }

  template <typename Message>
  bool parse(const protocol::Frame& frame, Message& message) {
    if (auto parsed = protocol::parseControl(frame, message); !parsed) {
      protocolError(parsed.error().message);
      return false;
    }
    return true;
  }

  void protocolError(const std::string& what) { disconnect("protocol error: " + what); }

  // Returns true when the batch is done with (acked or rejected) and is to
  // be deleted from the spool.
  bool handleAck(const wire::AckEntry& entry) {
    uint64_t id = entry.batch_id();
    auto it = std::find_if(in_flight.begin(), in_flight.end(),
                           [id](const InFlight& f) { return f.batch_id == id; });
    if (it == in_flight.end()) {
      spdlog::debug("gateway {} acked batch {} ({}) which is not in flight; ignored", gateway, id,
                    ackStatusName(entry.status()));
      return false;
    }
    in_flight.erase(it);
    switch (entry.status()) {
      case wire::ACK_STATUS_OK: {
        retry_backoff = options.reconnect_min;
        acked.inc();
        return true;
      }
      case wire::ACK_STATUS_REJECTED: {
        rejected.inc();
        spdlog::warn(
            "gateway {} rejected batch {}: {}; it is deleted from the spool and not resent",
            gateway, id, entry.reason().empty() ? "no reason given" : entry.reason());
        return true;
      }
      case wire::ACK_STATUS_RETRY:
      default: {
        if (entry.status() != wire::ACK_STATUS_RETRY) {
          spdlog::warn("gateway {} answered batch {} with an unknown ack status {}; resending it",
                       gateway, id, static_cast<int>(entry.status()));
        }
        spdlog::debug("gateway {} asked to retry batch {}: {}", gateway, id, entry.reason());
        resend.insert(id);
        if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&retry_timer))) {
          uv_timer_start(&retry_timer, &Impl::onRetryTimer,
                         static_cast<uint64_t>(retry_backoff.count()), 0);
          retry_backoff = std::min(retry_backoff * 2, options.reconnect_max);
        }
        return false;
      }
    }
  }

  // Returns true when at least one batch left the spool.
  bool removeFromSpool(const std::vector<uint64_t>& ids) {
    if (ids.empty()) return false;
    auto removed = spool.removeAll(ids);
    if (!removed) {
      // They stay spooled and go out again on the next connection; the
      // gateway's sinks de-duplicate on (agent_id, seq).
      if (uint64_t n = spool_log.allow(); n != 0) {
        spdlog::error("cannot delete {} acked batches (first {}): {}", ids.size(), ids.front(),
                      removed.error().message);
      }
      return false;
    }
    return *removed > 0;
  }

  static void onRetryTimer(uv_timer_t* timer) {
    auto* self = static_cast<Impl*>(timer->data);
    self->retry_ready = true;
    self->pump();
  }

  static void onHeartbeat(uv_timer_t* timer) {
    auto* self = static_cast<Impl*>(timer->data);
    if (self->state != State::kReady || self->conn == nullptr) return;
    // A gateway that stopped reading knows we are alive; queueing heartbeats
    // behind unread data would only grow memory.
    if (uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&self->conn->tcp)) > 0)
      return;
    wire::Heartbeat heartbeat;
    heartbeat.set_agent_version(self->options.agent_version);
    heartbeat.set_hostname(self->options.hostname);
    heartbeat.set_spool_batches(self->spool.batchCount());
    heartbeat.set_spool_bytes(self->spool.payloadBytes());
    heartbeat.set_sent_at_ns(nowNs());
    if (self->telemetry) {
      AgentTelemetry t = self->telemetry();
      heartbeat.set_uptime_s(t.uptime_s);
      heartbeat.set_events_dropped(t.events_dropped);
      for (const InputTelemetry& in : t.inputs) {
        wire::InputStats* stats = heartbeat.add_inputs();
        stats->set_name(in.name);
        stats->set_type(in.type);
        stats->set_events_read(in.events_read);
        stats->set_events_dropped(in.events_dropped);
        stats->set_errors(in.errors);
      }
    }
    self->write(protocol::encodeControlFrame(protocol::FrameType::kHeartbeat, heartbeat));
  }

  // Sends spooled batches while the window allows: gateway credit (batches
  // and bytes) and max_in_flight_batches, which also bounds the write queue.
  void pump() {
    while (state == State::kReady && !draining && conn != nullptr) {
      if (in_flight.size() >= options.max_in_flight_batches || credit_batches == 0) break;
      std::optional<SpooledBatch> batch;
      bool is_resend = false;
      if (retry_ready && !resend.empty()) {
        uint64_t id = *resend.begin();
        auto got = spool.get(id);
        if (!got) {
          logSpoolError(got.error());
          break;
        }
        if (!got->has_value()) {
          resend.erase(id);
          continue;
        }
        batch = std::move(**got);
        is_resend = true;
      } else {
        auto next = spool.pending(last_sent, 1);
        if (!next) {
          logSpoolError(next.error());
          break;
        }
        if (next->empty()) break;
        batch = std::move(next->front());
      }
      uint64_t bytes = batch->payload.size();
      // A batch larger than the byte credit may go alone, or it could never go.
      if (bytes > credit_bytes && !in_flight.empty()) break;
      std::string frame;
      protocol::appendFrame(frame, protocol::FrameType::kBatch, batch->flags, batch->payload);
      if (!write(std::move(frame))) break;
      credit_batches -= 1;
      credit_bytes -= std::min(credit_bytes, bytes);
      if (in_flight.empty()) ack_watch_pending = true;
      in_flight.push_back(InFlight{batch->batch_id, bytes});
      if (is_resend) {
        resend.erase(batch->batch_id);
      } else {
        last_sent = batch->batch_id;
      }
      sent.inc();
    }
    if (resend.empty()) retry_ready = false;
    if (ack_watch_pending) {
      ack_watch_pending = false;
      armAckWatch();
    }
  }

  void logSpoolError(const Error& error) {
    if (uint64_t n = spool_log.allow(); n != 0)
      spdlog::error("cannot read the spool: {}", error.message);
  }

  uv_loop_t* loop;
  Spool& spool;
  ShipperOptions options;
  Counter& sent;
  Counter& acked;
  Counter& rejected;
  Counter& connect_failures;
  Gauge& connected_gauge;
  Counter& failovers;
  Counter& ack_timeouts;
  Counter& enrollments_ok;
  Counter& enrollments_refused;
  Counter& renewals_ok;
  Counter& renewals_refused;
  Counter& tls_failures;
  Gauge& cert_not_after;
  std::function<AgentTelemetry()> telemetry;
  std::function<void()> on_shrunk;

  State state = State::kIdle;
  std::vector<std::string> order;  // output.gateways in rendezvous order
  std::vector<HostPort> targets;   // parsed, same order
  size_t index = 0;                // the gateway of the current attempt
  size_t failed_in_round = 0;      // failed attempts since the last WELCOME, mod order.size()
  std::string gateway;
  HostPort target;
  uv_timer_t reconnect_timer{};
  uv_timer_t handshake_timer{};
  uv_timer_t heartbeat_timer{};
  uv_timer_t retry_timer{};
  uv_timer_t drain_timer{};
  uv_timer_t ttl_timer{};
  uv_timer_t ack_timer{};
  uv_timer_t renew_timer{};
  bool timers_initialized = false;
  Resolve* resolve = nullptr;  // the current attempt's lookup
  Connection* conn = nullptr;
  std::optional<protocol::FrameDecoder> decoder;
  std::array<char, 64 * 1024> read_buffer{};

  // TLS (credentials null: plaintext). The connection's session, its
  // decrypted bytes, and per gateway the session to resume.
  std::shared_ptr<AgentCredentials> credentials = options.credentials;
  Mode mode = Mode::kPlain;
  std::unique_ptr<protocol::TlsSession> tls;
  std::string plaintext;
  bool resuming = false;     // this attempt offered a saved session
  bool tls_resumed = false;  // ... and the gateway accepted it
  std::map<std::string, std::shared_ptr<const protocol::TlsSavedSession>> saved_sessions;
  std::string attempt_token;       // kEnroll: the token of this attempt
  std::string attempt_csr;         // kEnroll, kRenew
  int64_t next_renew_attempt = 0;  // unix seconds; after a refused renewal
  uint64_t enroll_wait_until = 0;  // uv_now() of the next enrollment attempt
  std::string enroll_wait_token;   // fingerprint of the token that was refused (or "")

  uint64_t credit_batches = 0;
  uint64_t credit_bytes = 0;
  std::vector<InFlight> in_flight;  // at most max_in_flight_batches, in send order
  uint64_t last_sent = 0;           // highest batch id sent on this connection
  std::set<uint64_t> resend;        // answered RETRY, waiting for retry_timer
  bool retry_ready = false;
  bool draining = false;            // GOAWAY or ttl: send nothing new, wait for acks
  size_t drain_next = 0;            // the gateway to connect to once drained
  uint64_t drain_reconnect_at = 0;  // uv_now() before which not to reconnect
  bool ack_watch_pending = false;

  std::chrono::milliseconds backoff;
  std::chrono::milliseconds enroll_backoff;
  std::chrono::milliseconds retry_backoff;
  std::mt19937_64 rng;
  LogRateLimiter connect_log{3, std::chrono::seconds(60)};
  LogRateLimiter spool_log{3, std::chrono::seconds(60)};
  LogRateLimiter ack_log{3, std::chrono::minutes(10)};
  LogRateLimiter cert_log{3, std::chrono::minutes(1)};
};

Shipper::Shipper(uv_loop_t* loop, Spool& spool, ShipperOptions options, MetricsRegistry& metrics)
    : impl_(std::make_unique<Impl>(loop, spool, std::move(options), metrics)) {}

Shipper::~Shipper() = default;

void Shipper::setTelemetryProvider(std::function<AgentTelemetry()> provider) {
  impl_->telemetry = std::move(provider);
}

void Shipper::setOnSpoolShrunk(std::function<void()> callback) {
  impl_->on_shrunk = std::move(callback);
}

Result<void> Shipper::start() { return impl_->start(); }

void Shipper::wake() { impl_->pump(); }

void Shipper::close() { impl_->close(); }

bool Shipper::connected() const { return impl_->state == Impl::State::kReady; }

size_t Shipper::inFlight() const { return impl_->in_flight.size(); }

bool Shipper::isInFlight(uint64_t batch_id) const {
  return std::any_of(impl_->in_flight.begin(), impl_->in_flight.end(),
                     [batch_id](const Impl::InFlight& f) { return f.batch_id == batch_id; });
}

const std::string& Shipper::gateway() const { return impl_->gateway; }

bool Shipper::tlsResumed() const { return impl_->tls_resumed; }

}  // namespace edge::agent

// The shipper: one TCP connection to a gateway on the agent's loop. It sends
// HELLO, waits for WELCOME, then streams spooled batches in batch_id order,
// keeping several unacked in flight within the gateway's credit and
// max_in_flight_batches. A batch leaves the spool only on an OK (or
// REJECTED) ack; on disconnect everything unacked is resent on the next
// connection, which is retried with exponential backoff and jitter.
//
// With credentials the connection is TLS (mbedTLS, edge/protocol/tls.h) with
// the agent's certificate; an agent without one enrolls first (HELLO with
// token and CSR, WELCOME with the certificate, reconnect), and renews its
// certificate before it expires (docs/security.md, "The agent side").
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "edge/agent/spool.h"
#include "edge/common/metrics.h"

struct uv_loop_s;
typedef struct uv_loop_s uv_loop_t;

namespace edge::agent {

class AgentCredentials;

struct ShipperOptions {
  // host:port. The agent prefers them in rendezvous order of its id
  // (rendezvousOrder) and fails over along that order.
  std::vector<std::string> gateways{"127.0.0.1:7400"};
  std::string agent_version;
  std::string hostname;
  uint32_t max_in_flight_batches = 8;
  std::chrono::milliseconds reconnect_min{200};
  std::chrono::milliseconds reconnect_max{30000};
  std::chrono::milliseconds heartbeat_interval{10000};
  // From the start of a connection attempt to WELCOME.
  std::chrono::milliseconds handshake_timeout{10000};
  // Reconnect gracefully after a session has lasted this long; 0 = never.
  std::chrono::milliseconds connection_ttl{0};
  // Warn when batches are in flight and no ack arrived for this long; 0 = off.
  std::chrono::milliseconds ack_timeout_warning{60000};
  // How long a draining session (GOAWAY, ttl) waits for outstanding acks.
  std::chrono::milliseconds drain_timeout{5000};

  // TLS. Null credentials = plaintext (the configuration allows that only
  // for loopback gateways).
  std::shared_ptr<AgentCredentials> credentials;
  // The name the gateway certificate must carry as a SAN; "" = the host of
  // each gateway address as dialed.
  std::string tls_server_name;
  // From TCP connect to the end of the TLS handshake (then handshake_timeout
  // applies again, for WELCOME).
  std::chrono::milliseconds tls_handshake_timeout{10000};
  // After an enrollment refusal: the first wait before trying again,
  // doubling up to the max.
  std::chrono::milliseconds enrollment_retry_min{30000};
  std::chrono::milliseconds enrollment_retry_max{3600000};
};

// The gateways in the order agent `agent_id` prefers them: highest random
// weight (rendezvous) hashing, so every agent has a stable preferred gateway,
// agents spread evenly, and removing a gateway only moves its own agents.
std::vector<std::string> rendezvousOrder(const std::string& agent_id,
                                         const std::vector<std::string>& gateways);

// What the agent reports in heartbeats besides the spool.
struct InputTelemetry {
  std::string name;
  std::string type;
  uint64_t events_read = 0;
  uint64_t events_dropped = 0;
  uint64_t errors = 0;
};
struct AgentTelemetry {
  uint64_t uptime_s = 0;
  uint64_t events_dropped = 0;
  std::vector<InputTelemetry> inputs;
};

class Shipper {
 public:
  Shipper(uv_loop_t* loop, Spool& spool, ShipperOptions options, MetricsRegistry& metrics);
  ~Shipper();
  Shipper(const Shipper&) = delete;
  Shipper& operator=(const Shipper&) = delete;

  void setTelemetryProvider(std::function<AgentTelemetry()> provider);
  // Called after acks removed batches from the spool.
  void setOnSpoolShrunk(std::function<void()> callback);

  // Starts connecting. Fails only if its timers cannot be created.
  Result<void> start();
  // A batch was appended: send it now if the window allows.
  void wake();
  // Closes the connection and all handles; the loop completes the closes and
  // the Shipper must outlive that.
  void close();

  // True between WELCOME and the connection's end.
  bool connected() const;
  size_t inFlight() const;
  bool isInFlight(uint64_t batch_id) const;
  // The gateway of the current (or last) session attempt.
  const std::string& gateway() const;
  // The last connection resumed a TLS session (no full handshake).
  bool tlsResumed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edge::agent

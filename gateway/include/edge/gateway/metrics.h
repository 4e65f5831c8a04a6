// The gateway's metrics (names are part of the operator contract; see
// docs/gateway.md). Registered once per process; workers share them (updates
// are atomic). Sink metrics (queue depth, commit time, duplicates) are
// registered by the sinks themselves.
#pragma once

#include <array>
#include <cstddef>

#include "edge/common/metrics.h"

namespace edge::gateway {

// Why a connection was closed for breaking the protocol; the label value of
// edge_gateway_protocol_errors_total{reason=...}. A fixed set, so the
// label's cardinality stays bounded whatever peers send.
enum class ProtocolErrorReason {
  kFrame,               // frame header wrong (magic, reserved bits, unknown type or flags)
  kUnsupportedVersion,  // frame or HELLO version this gateway does not speak
  kTooLarge,            // frame above max_frame_bytes or batch above max_decompressed_bytes
  kBadMessage,          // control payload is not a valid protobuf message
  kBadHello,            // HELLO without a usable agent id
  kDuplicateHello,      // second HELLO on one connection
  kHelloTimeout,        // no HELLO within hello_timeout
  kBatchBeforeHello,
  kBadBatch,         // batch payload failed decompression or verification
  kAgentMismatch,    // batch agent_id differs from the HELLO agent_id
  kCreditExceeded,   // batch sent without credit
  kUnexpectedFrame,  // a frame type agents never send, or one before HELLO
  kUnauthenticated,  // no usable identity: no certificate, HELLO agent_id differs from it, ...
};
inline constexpr size_t kProtocolErrorReasonCount = 13;

// Label values of edge_gateway_tls_handshake_failures_total{reason}: the
// names of protocol::TlsFailure (tlsFailureName) plus "handshake_timeout".
inline constexpr size_t kTlsFailureReasonCount = 14;  // TlsFailure values + timeout
inline constexpr size_t kTlsHandshakeTimeoutIndex = 13;
const char* protocolErrorReasonName(ProtocolErrorReason reason);

struct GatewayMetrics {
  explicit GatewayMetrics(MetricsRegistry& registry);

  Counter& protocolErrors(ProtocolErrorReason reason) {
    return *protocol_errors[static_cast<size_t>(reason)];
  }

  Counter& events_received;
  Counter& events_committed;
  Counter& batches_received;
  Counter& batches_committed;
  Counter& batches_retried;  // acked RETRY because a sink failed
  Counter& acks_dropped;     // commits whose connection had closed (the agent resends)
  Gauge& connections;
  Gauge& in_flight_bytes;  // estimated memory of decoded batches inside sinks
  Counter& connections_total;
  Counter& connections_refused;
  Counter& idle_closed;
  Counter& credit_withheld;  // batch credits held back while a sink was above its high watermark
  // Batch credits held back while a throttle rate limit's key is in debt.
  Counter& credit_throttled;
  Counter& pipeline_reloads;          // SIGHUP reloads of the pipeline that took effect
  Counter& pipeline_reload_failures;  // reloads refused (the running pipeline stays)
  Counter& backpressure;  // times a worker started withholding credit (sink at its high watermark)
  Counter& budget_exceeded;  // times in-flight memory went above gateway.max_in_flight_bytes
  Counter& read_paused;      // times a connection stopped being read (buffered bytes above the cap)
  std::array<Counter*, kProtocolErrorReasonCount> protocol_errors{};
  // Indexed by protocol::TlsFailure, kTlsHandshakeTimeoutIndex for timeouts.
  std::array<Counter*, kTlsFailureReasonCount> tls_handshake_failures{};
  Counter& tls_handshakes;       // TLS handshakes completed
  Counter& enrollments_ok;       // certificates signed for enrollment tokens
  Counter& enrollments_refused;  // enrollment requests refused (reason logged)
  Counter& crl_reloads;          // CRL file (re)loaded
  Counter& crl_reload_failures;  // CRL file changed but did not load; the old list stays
  Counter& revoked_disconnects;  // live connections closed because their certificate was revoked
};

}  // namespace edge::gateway

// Registers the gateway's metrics under their documented names.
#include "edge/gateway/metrics.h"
#include "edge/protocol/tls.h"

namespace edge::gateway {

const char* protocolErrorReasonName(ProtocolErrorReason reason) {
  switch (reason) {
    case ProtocolErrorReason::kFrame:
      return "frame";
    case ProtocolErrorReason::kUnsupportedVersion:
      return "unsupported_version";
    case ProtocolErrorReason::kTooLarge:
      return "too_large";
    case ProtocolErrorReason::kBadMessage:
      return "bad_message";
    case ProtocolErrorReason::kBadHello:
      return "bad_hello";
    case ProtocolErrorReason::kDuplicateHello:
      return "duplicate_hello";
    case ProtocolErrorReason::kHelloTimeout:
      return "hello_timeout";
    case ProtocolErrorReason::kBatchBeforeHello:
      return "batch_before_hello";
    case ProtocolErrorReason::kBadBatch:
      return "bad_batch";
    case ProtocolErrorReason::kAgentMismatch:
      return "agent_mismatch";
    case ProtocolErrorReason::kCreditExceeded:
      return "credit_exceeded";
    case ProtocolErrorReason::kUnexpectedFrame:
      return "unexpected_frame";
    case ProtocolErrorReason::kUnauthenticated:
      return "unauthenticated";
  }
  return "unknown";
}

GatewayMetrics::GatewayMetrics(MetricsRegistry& r)
    : events_received(
          r.counter("edge_gateway_events_received_total", "Events received in verified batches")),
      events_committed(r.counter("edge_gateway_events_committed_total",
                                 "Events in batches every sink committed (duplicates included)")),
      batches_received(
          r.counter("edge_gateway_batches_received_total", "Batches received and verified")),
      batches_committed(
          r.counter("edge_gateway_batches_committed_total", "Batches committed by every sink")),
      batches_retried(r.counter("edge_gateway_batches_retried_total",
                                "Batches acked RETRY because a sink did not commit them")),
      acks_dropped(r.counter(
          "edge_gateway_acks_dropped_total",
          "Committed batches whose connection closed before the ack (the agent resends)")),
      connections(r.gauge("edge_gateway_connections", "Open agent connections")),
      in_flight_bytes(r.gauge("edge_gateway_in_flight_bytes",
                              "Estimated memory of decoded batches inside sinks (the budget "
                              "gateway.max_in_flight_bytes bounds)")),
      connections_total(r.counter("edge_gateway_connections_total", "Agent connections accepted")),
      connections_refused(
          r.counter("edge_gateway_connections_refused_total",
                    "Connections refused because gateway.max_connections was reached")),
      idle_closed(r.counter("edge_gateway_connections_idle_closed_total",
                            "Connections closed after gateway.idle_timeout without a frame")),
      credit_withheld(
          r.counter("edge_gateway_credit_withheld_total",
                    "Batch credits withheld while a sink queue was above its high watermark")),
      credit_throttled(
          r.counter("edge_gateway_credit_throttled_total",
                    "Batch credits withheld because a throttle rate limit put the agent's key in "
                    "debt (released when it conforms again)")),
      pipeline_reloads(r.counter("edge_gateway_pipeline_reloads_total",
                                 "Pipeline reloads, by result", {{"result", "ok"}})),
      pipeline_reload_failures(r.counter("edge_gateway_pipeline_reloads_total",
                                         "Pipeline reloads, by result", {{"result", "failed"}})),
      backpressure(r.counter(
          "edge_gateway_backpressure_total",
          "Times a worker started withholding credit because a sink queue reached its high "
          "watermark")),
      budget_exceeded(r.counter("edge_gateway_in_flight_budget_exceeded_total",
                                "Times the in-flight memory went above "
                                "gateway.max_in_flight_bytes (credit withheld until it fell to "
                                "half)")),
      read_paused(
          r.counter("edge_gateway_read_paused_total",
                    "Times a connection stopped being read because its buffered bytes exceeded "
                    "gateway.max_buffered_bytes_per_connection")),
      tls_handshakes(r.counter("edge_gateway_tls_handshakes_total",
                               "TLS handshakes completed on the agent listener")),
      enrollments_ok(r.counter("edge_gateway_enrollments_total", "Enrollment requests, by result",
                               {{"result", "ok"}})),
      enrollments_refused(r.counter("edge_gateway_enrollments_total",
                                    "Enrollment requests, by result", {{"result", "refused"}})),
      crl_reloads(r.counter("edge_gateway_crl_reloads_total",
                            "Times the CRL file (gateway.tls.crl) was loaded")),
      crl_reload_failures(
          r.counter("edge_gateway_crl_reload_failures_total",
                    "Times a changed CRL file did not load (the previous list stays in force)")),
      revoked_disconnects(
          r.counter("edge_gateway_revoked_disconnects_total",
                    "Live agent connections closed because a reloaded CRL revoked their "
                    "certificate")) {
  for (size_t i = 0; i < kProtocolErrorReasonCount; ++i) {
    const auto reason = static_cast<ProtocolErrorReason>(i);
    protocol_errors[i] = &r.counter("edge_gateway_protocol_errors_total",
                                    "Connections closed for breaking the protocol, by reason",
                                    {{"reason", protocolErrorReasonName(reason)}});
  }
  for (size_t i = 0; i < kTlsFailureReasonCount; ++i) {
    const char* name = i == kTlsHandshakeTimeoutIndex
                           ? "handshake_timeout"
                           : protocol::tlsFailureName(static_cast<protocol::TlsFailure>(i));
    tls_handshake_failures[i] = &r.counter(
        "edge_gateway_tls_handshake_failures_total",
        "TLS handshakes refused or failed on the agent listener, by reason", {{"reason", name}});
  }
}

}  // namespace edge::gateway

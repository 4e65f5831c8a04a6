// The configuration compiled into edge-agent, used when no --config is
// given and printed by --print-default-config. It spells out every key with
// its default so it doubles as a starting point for a config file.
#include "edge/agent/agent_config.h"

namespace edge::agent {

std::string_view defaultAgentConfigYaml() {
  static constexpr std::string_view kText =
      R"yaml(# edge-agent configuration (the defaults compiled into the binary).
# Every key is optional; docs/agent.md describes each one.
agent:
  id: ""                     # empty: generated once and kept in the spool
  hostname: ""               # empty: the machine's hostname
  data_dir: /var/lib/edge-agent
log:
  level: info                # trace, debug, info, warn, error, critical, off
  format: text               # text or json
admin:
  listen: ""                 # e.g. 127.0.0.1:7402 serves /metrics and /healthz; empty = off
spool:
  path: ""                   # empty: <data_dir>/spool.db
  synchronous: normal        # normal survives a crash; full also survives power loss
  max_bytes: 1GiB            # at this size each input's when_full policy applies
  batch_max_events: 500
  batch_max_bytes: 1MiB
  flush_interval: 200ms
inputs:
  - type: file
    name: host-logs
    paths: [/var/log/*.log, /var/log/syslog, /var/log/messages, /var/log/auth.log]
    start_at: beginning      # for files without a saved position: beginning or end
    kind: log
    when_full: block         # spool full: block (pause), drop_newest or drop_oldest
    max_line_bytes: 64KiB    # longer lines are truncated (and counted)
    poll_interval: 250ms
    partial_line_timeout: 5s # an unterminated last line is emitted after this idle time
    rotate_wait: 5s          # a renamed (rotated) file is still read this long
    # multiline: {start_pattern: '^\S', max_lines: 500, max_bytes: 256KiB, timeout: 1s}
    # parser: {type: json}   # json, logfmt, regex, syslog
output:
  gateways: ["127.0.0.1:7400"]
  compression_level: 1       # zstd level 1-19 (1: fastest), 0 = uncompressed
  max_in_flight_batches: 8
  reconnect_min: 200ms
  reconnect_max: 30s
  heartbeat_interval: 10s
  connection_ttl: 0          # e.g. 10m: reconnect periodically (load balancers rebalance); 0 = off
  ack_timeout_warning: 60s   # warn when batches are in flight and no ack came for this long
  drain_timeout: 5s          # after GOAWAY or the ttl: wait this long for outstanding acks
  # The demo runs agent and gateway on loopback without certificates, so the
  # built-in default is plaintext, explicitly allowed (loopback gateways only).
  # A config file without this section gets TLS (docs/security.md).
  tls:
    enabled: false           # true: mutual TLS (needs ca, and a certificate or enrollment)
    allow_plaintext: true    # only honoured when every gateway is on a loopback address
    ca: ""                   # edge CA certificate (ca.crt); empty: <state_dir>/ca.crt
    cert: ""                 # agent certificate; empty: <state_dir>/agent.crt
    key: ""                  # its private key; empty: <state_dir>/agent.key (made here, 0600)
    state_dir: ""            # empty: <data_dir>/tls
    server_name: ""          # name the gateway certificate must carry; empty: each gateway's host
    handshake_timeout: 10s
    renew_before: 33%        # renew when this share of the lifetime is left, or e.g. 30d
  enrollment:
    token: ""                # edgectl token create ...; used when there is no certificate
    token_file: ""           # or a file with the token, read again before every attempt
    tenant_hint: ""          # informational; the token decides the tenant
    retry_min: 30s           # after a refusal: first wait, doubling up to retry_max
    retry_max: 1h
)yaml";
  return kText;
}

}  // namespace edge::agent

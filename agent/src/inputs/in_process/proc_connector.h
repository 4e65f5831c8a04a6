// The kernel's process events connector (netlink NETLINK_CONNECTOR,
// CN_IDX_PROC): the kernel reports every fork, exec and exit as it happens.
// Subscribing needs CAP_NET_ADMIN in the initial user and pid namespaces;
// open() says why when it is refused so the process input can fall back to
// polling /proc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "edge/common/result.h"

namespace edge::agent {

struct ProcConnectorEvent {
  enum class Type { kFork, kExec, kExit };
  Type type = Type::kFork;
  int pid = 0;               // the process (thread group id)
  int ppid = -1;             // fork: the parent's tgid; exit: the parent when the kernel says
  uint32_t exit_status = 0;  // exit: wait(2) status (WIFEXITED/WTERMSIG apply)
};

class ProcConnector {
 public:
  // How long open() waits for the kernel to acknowledge the subscription.
  static constexpr int kAckTimeoutMs = 500;

  ProcConnector() = default;
  ~ProcConnector();
  ProcConnector(const ProcConnector&) = delete;
  ProcConnector& operator=(const ProcConnector&) = delete;

  // Opens the socket and subscribes; an error (kUnsupportedVersion when
  // the kernel has no connector, kIo otherwise) says why, e.g. a missing
  // CAP_NET_ADMIN. The socket is non-blocking.
  Result<void> open();
  int fd() const { return fd_; }

  enum class ReadStatus {
    kOk,       // events appended (possibly none)
    kAgain,    // nothing more to read now
    kOverrun,  // the kernel dropped events (socket buffer full): resync needed
    kError,
  };
  // Reads one datagram, appending process-level events (threads are
  // skipped) to `out`.
  ReadStatus readOnce(std::vector<ProcConnectorEvent>& out);

  // Events read while open() waited for the acknowledgement; the caller
  // takes them once, right after open().
  std::vector<ProcConnectorEvent> takeEarlyEvents() { return std::move(early_); }

  void close();

 private:
  // Decodes one datagram (several netlink messages); anything that is not a
  // proc connector event is skipped.
  void decode(const char* data, size_t len, std::vector<ProcConnectorEvent>& out);

  int fd_ = -1;
  std::vector<ProcConnectorEvent> early_;
  int ack_error_ = -1;  // -1: no acknowledgement seen yet
};

}  // namespace edge::agent

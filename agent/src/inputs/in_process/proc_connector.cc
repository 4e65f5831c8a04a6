// Netlink proc connector: subscribe (PROC_CN_MCAST_LISTEN), wait for the
// kernel's acknowledgement, decode fork/exec/exit events.
#include "inputs/in_process/proc_connector.h"

#include <errno.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>

namespace edge::agent {
namespace {

constexpr size_t kHeaderBytes = NLMSG_HDRLEN;

size_t alignNl(size_t n) {
  return (n + NLMSG_ALIGNTO - 1) & ~static_cast<size_t>(NLMSG_ALIGNTO - 1);
}

}  // namespace

ProcConnector::~ProcConnector() { close(); }

void ProcConnector::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<void> ProcConnector::open() {
  close();
  fd_ = ::socket(PF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR);
  if (fd_ < 0) {
    int err = errno;
    return makeError(err == EPROTONOSUPPORT ? ErrorCode::kUnsupportedVersion : ErrorCode::kIo,
                     std::string("cannot open a NETLINK_CONNECTOR socket: ") + std::strerror(err) +
                         " (a kernel without CONFIG_PROC_EVENTS?)");
  }
  // A larger buffer rides out bursts (a build forking thousands of
  // processes) while the loop is busy; the kernel caps it at rmem_max.
  int rcvbuf = 4 << 20;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));

  struct sockaddr_nl addr {};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = CN_IDX_PROC;
  addr.nl_pid = 0;  // the kernel picks a port id
  if (::bind(fd_, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close();
    return makeError(ErrorCode::kIo,
                     std::string("cannot join the proc connector group: ") + std::strerror(err) +
                         (err == EPERM ? " (needs CAP_NET_ADMIN in the initial namespaces)" : ""));
  }

  alignas(struct nlmsghdr) char request[kHeaderBytes + sizeof(struct cn_msg) + sizeof(uint32_t)]{};
  // Built in local structs and copied in: casting `request + kHeaderBytes`
  // to cn_msg* trips -Wcast-align on 32-bit ARM.
  struct nlmsghdr nl {};
  nl.nlmsg_len = static_cast<uint32_t>(sizeof(request));
  nl.nlmsg_type = NLMSG_DONE;
  std::memcpy(request, &nl, sizeof(nl));
  struct cn_msg cn {};
  cn.id.idx = CN_IDX_PROC;
  cn.id.val = CN_VAL_PROC;
  cn.len = sizeof(uint32_t);
  std::memcpy(request + kHeaderBytes, &cn, sizeof(cn));
  uint32_t op = PROC_CN_MCAST_LISTEN;
  std::memcpy(request + kHeaderBytes + sizeof(struct cn_msg), &op, sizeof(op));
  if (::send(fd_, request, sizeof(request), 0) < 0) {
    int err = errno;
    close();
    return makeError(ErrorCode::kIo,
                     std::string("cannot subscribe to process events: ") + std::strerror(err));
  }

  // The kernel answers a permitted request with an acknowledgement; a
  // refused one gets an error in it, or (from another namespace) nothing.
  ack_error_ = -1;
  early_.clear();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kAckTimeoutMs);
  while (ack_error_ < 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) break;
    struct pollfd pfd {
      fd_, POLLIN, 0
    };
    int n = ::poll(&pfd, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    while (ack_error_ < 0) {
      ReadStatus status = readOnce(early_);
      if (status != ReadStatus::kOk) break;
    }
  }
  if (ack_error_ != 0) {
    std::string why = ack_error_ < 0
                          ? std::string(
                                "the kernel did not acknowledge the subscription (the agent "
                                "runs in a user or pid namespace other than the host's?)")
                          : std::string("the kernel refused the subscription: ") +
                                std::strerror(ack_error_) +
                                (ack_error_ == EPERM ? " (needs CAP_NET_ADMIN)" : "");
    close();
    early_.clear();
    return makeError(ErrorCode::kIo, why);
  }
  return okResult();
}

ProcConnector::ReadStatus ProcConnector::readOnce(std::vector<ProcConnectorEvent>& out) {
  if (fd_ < 0) return ReadStatus::kError;
  alignas(struct nlmsghdr) char buf[16384];
  ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return ReadStatus::kAgain;
    if (errno == ENOBUFS) return ReadStatus::kOverrun;
    return ReadStatus::kError;
  }
  decode(buf, static_cast<size_t>(n), out);
  return ReadStatus::kOk;
}

void ProcConnector::decode(const char* data, size_t len, std::vector<ProcConnectorEvent>& out) {
  size_t offset = 0;
  while (offset + kHeaderBytes <= len) {
    struct nlmsghdr nl {};
    std::memcpy(&nl, data + offset, sizeof(nl));
    if (nl.nlmsg_len < kHeaderBytes || offset + nl.nlmsg_len > len) break;
    const char* payload = data + offset + kHeaderBytes;
    size_t payload_len = nl.nlmsg_len - kHeaderBytes;
    offset += alignNl(nl.nlmsg_len);
    if (nl.nlmsg_type == NLMSG_NOOP || nl.nlmsg_type == NLMSG_ERROR) continue;
    if (payload_len < sizeof(struct cn_msg)) continue;
    struct cn_msg cn {};
    std::memcpy(&cn, payload, sizeof(cn));
    if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC) continue;
    // Copy out: the event is not aligned inside the datagram. Kernels may
    // send a longer struct than these headers know; never read past it.
    struct proc_event ev {};
    size_t have = std::min<size_t>(payload_len - sizeof(struct cn_msg), cn.len);
    std::memcpy(&ev, payload + sizeof(struct cn_msg), std::min(have, sizeof(ev)));
    if (have < offsetof(struct proc_event, event_data)) continue;
    switch (ev.what) {
      case proc_event::PROC_EVENT_NONE:
        ack_error_ = static_cast<int>(ev.event_data.ack.err);
        break;
      case proc_event::PROC_EVENT_FORK:
        // A new thread is a "fork" whose pid differs from its tgid.
        if (ev.event_data.fork.child_pid != ev.event_data.fork.child_tgid) break;
        out.push_back(ProcConnectorEvent{ProcConnectorEvent::Type::kFork,
                                         ev.event_data.fork.child_tgid,
                                         ev.event_data.fork.parent_tgid, 0});
        break;
      case proc_event::PROC_EVENT_EXEC:
        out.push_back(ProcConnectorEvent{ProcConnectorEvent::Type::kExec,
                                         ev.event_data.exec.process_tgid, -1, 0});
        break;
      case proc_event::PROC_EVENT_EXIT:
        if (ev.event_data.exit.process_pid != ev.event_data.exit.process_tgid) break;
        out.push_back(
            ProcConnectorEvent{ProcConnectorEvent::Type::kExit, ev.event_data.exit.process_tgid,
                               ev.event_data.exit.parent_tgid, ev.event_data.exit.exit_code});
        break;
      default:
        break;
    }
  }
}

}  // namespace edge::agent

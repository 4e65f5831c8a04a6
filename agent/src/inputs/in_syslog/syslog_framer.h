// Splits a syslog byte stream (TCP, unix stream socket) into messages. RFC
// 6587 allows two framings and senders do not announce theirs, so it is
// detected per message: a frame that starts with a digit 1-9, more digits and
// a space is octet-counted ("57 <34>1 ..."), anything else ends at LF (a
// trailing CR is dropped). Like rsyslog, a newline-framed message that
// itself starts with "<digits> " is therefore read as octet-counted; real
// senders start messages with "<PRI>".
//
// Memory is bounded: at most max_message_bytes of one message are kept; the
// rest of a longer message is skipped and the message is reported truncated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace edge::agent {

// Cuts `text` to at most `max` bytes without splitting a UTF-8 sequence.
std::string_view truncateUtf8(std::string_view text, size_t max);

class SyslogStreamFramer {
 public:
  // Called per message; return false to stop feeding (the input was paused).
  using OnMessage = std::function<bool(std::string_view message, bool truncated)>;

  explicit SyslogStreamFramer(size_t max_message_bytes) : max_(max_message_bytes) {}

  // Consumes bytes until they run out or on_message returns false; returns
  // how many were consumed (the caller keeps the rest for later).
  size_t feed(std::string_view data, const OnMessage& on_message);
  // The stream ended: a message without its final LF (or a short
  // octet-counted frame, then reported truncated) is still a message.
  void finish(const OnMessage& on_message);

  // Bytes held for the message in progress (at most max_message_bytes + 4).
  size_t buffered() const { return message_.size(); }

 private:
  enum class State { kStart, kCount, kFrame, kLine };
  // Appends what fits under the limit; the rest marks the message truncated.
  void append(std::string_view part);
  bool emit(const OnMessage& on_message);

  size_t max_;
  State state_ = State::kStart;
  uint64_t frame_left_ = 0;
  int count_digits_ = 0;
  std::string message_;
  bool truncated_ = false;
};

}  // namespace edge::agent

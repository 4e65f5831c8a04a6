// Octet-counting / newline framing of syslog streams, detected per message.
#include "inputs/in_syslog/syslog_framer.h"

#include <algorithm>
#include <cstring>

namespace edge::agent {
namespace {

// Nine digits: a frame may claim up to ~1 GB, which is skipped, never held.
constexpr int kMaxCountDigits = 9;
constexpr size_t kUtf8Slack = 4;

}  // namespace

std::string_view truncateUtf8(std::string_view text, size_t max) {
  if (text.size() <= max) return text;
  size_t cut = max;
  // Back off over continuation bytes (10xxxxxx), at most a sequence's length.
  for (int i = 0; i < 3 && cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80; ++i)
    --cut;
  return text.substr(0, cut);
}

void SyslogStreamFramer::append(std::string_view part) {
  // A few bytes beyond the limit are kept so the cut can back off to the
  // start of a UTF-8 sequence.
  const size_t keep = max_ + kUtf8Slack;
  size_t room = keep > message_.size() ? keep - message_.size() : 0;
  if (part.size() > room) {
    truncated_ = true;
    part = part.substr(0, room);
  }
  message_.append(part);
}

bool SyslogStreamFramer::emit(const OnMessage& on_message) {
  std::string_view message = message_;
  if (message.size() > max_) truncated_ = true;
  if (truncated_) message = truncateUtf8(message, max_);
  bool go_on = on_message(message, truncated_);
  message_.clear();
  truncated_ = false;
  state_ = State::kStart;
  return go_on;
}

size_t SyslogStreamFramer::feed(std::string_view data, const OnMessage& on_message) {
  size_t i = 0;
  const size_t n = data.size();
  while (i < n) {
    switch (state_) {
      case State::kStart: {
        char c = data[i];
        // Stray separators between frames (a sender that adds LF after
        // octet-counted frames, CRLF, NUL-terminated messages).
        if (c == '\n' || c == '\r' || c == '\0') {
          ++i;
          break;
        }
        if (c >= '1' && c <= '9') {
          state_ = State::kCount;
          frame_left_ = 0;
          count_digits_ = 0;
        } else {
          state_ = State::kLine;
        }
        break;
      }
      case State::kCount: {
        char c = data[i];
        if (c >= '0' && c <= '9' && count_digits_ < kMaxCountDigits) {
          frame_left_ = frame_left_ * 10 + static_cast<uint64_t>(c - '0');
          ++count_digits_;
          append(data.substr(i, 1));  // in case this turns out to be a line
          ++i;
        } else if (c == ' ') {
          ++i;
          message_.clear();
          truncated_ = false;
          state_ = State::kFrame;
        } else {
          state_ = State::kLine;  // the digits already buffered start the line
        }
        break;
      }
      case State::kFrame: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(frame_left_, n - i));
        append(data.substr(i, take));
        i += take;
        frame_left_ -= take;
        if (frame_left_ == 0 && !emit(on_message)) return i;
        break;
      }
      case State::kLine: {
        const void* found = std::memchr(data.data() + i, '\n', n - i);
        size_t end = found != nullptr
                         ? static_cast<size_t>(static_cast<const char*>(found) - data.data())
                         : n;
        append(data.substr(i, end - i));
        if (found == nullptr) {
          i = n;
          break;
        }
        i = end + 1;
        if (!truncated_ && message_.size() <= max_ + 1 && !message_.empty() &&
            message_.back() == '\r') {
          message_.pop_back();
        }
        if (!emit(on_message)) return i;
        break;
      }
    }
  }
  return i;
}

void SyslogStreamFramer::finish(const OnMessage& on_message) {
  if (state_ == State::kFrame) {
    // The sender promised more bytes than it sent.
    truncated_ = true;
  } else if (state_ == State::kLine || state_ == State::kCount) {
    if (!truncated_ && message_.size() <= max_ + 1 && !message_.empty() && message_.back() == '\r')
      message_.pop_back();
  }
  if (state_ != State::kStart && (!message_.empty() || truncated_)) emit(on_message);
  message_.clear();
  truncated_ = false;
  state_ = State::kStart;
}

}  // namespace edge::agent

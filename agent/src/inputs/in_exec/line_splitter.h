// Splits a byte stream (a pipe, standard input) into lines with a bounded
// buffer: a line longer than max_line_bytes is cut (on a UTF-8 boundary) and
// the rest of it skipped, reported as truncated. A trailing CR is dropped.
// Shared by the exec and stdin inputs.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

namespace edge::agent {

class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line_bytes) : max_(max_line_bytes) {}

  // Calls on_line(std::string_view line, bool truncated) per complete line.
  template <typename OnLine>
  void feed(std::string_view data, OnLine&& on_line) {
    // +1 leaves room for a CR before the LF.
    const size_t cap = max_ + 1;
    size_t pos = 0;
    while (pos < data.size()) {
      const void* found = std::memchr(data.data() + pos, '\n', data.size() - pos);
      size_t end = found != nullptr
                       ? static_cast<size_t>(static_cast<const char*>(found) - data.data())
                       : data.size();
      size_t room = cap > partial_.size() ? cap - partial_.size() : 0;
      size_t take = end - pos < room ? end - pos : room;
      partial_.append(data.data() + pos, take);
      if (take < end - pos) discarding_ = true;
      if (found == nullptr) return;
      emit(on_line);
      pos = end + 1;
    }
  }

  // End of the stream: an unterminated last line is a line too.
  template <typename OnLine>
  void finish(OnLine&& on_line) {
    if (!partial_.empty() || discarding_) emit(on_line);
  }

  size_t buffered() const { return partial_.size(); }

 private:
  template <typename OnLine>
  void emit(OnLine&& on_line) {
    std::string_view line = partial_;
    bool truncated = discarding_;
    if (!truncated && !line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > max_) truncated = true;
    if (truncated) line = cutUtf8(line, max_);
    on_line(line, truncated);
    partial_.clear();
    discarding_ = false;
  }

  static std::string_view cutUtf8(std::string_view text, size_t max) {
    if (text.size() <= max) return text;
    size_t cut = max;
    for (int i = 0; i < 3 && cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80; ++i)
      --cut;
    return text.substr(0, cut);
  }

  size_t max_;
  std::string partial_;
  bool discarding_ = false;
};

}  // namespace edge::agent

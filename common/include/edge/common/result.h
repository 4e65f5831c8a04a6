// Result<T>: a value or an Error{code, message}. Used instead of exceptions in
// event-loop callbacks, codecs and anything that crosses a component boundary.
// Error messages are for people: name the thing and, where possible, the fix.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace edge {

enum class ErrorCode {
  kInvalidArgument,
  kNotFound,
  kIo,
  kProtocol,       // malformed or unexpected bytes from a peer
  kTooLarge,       // a size limit was hit (frame, decompressed size, line)
  kCorrupt,        // data failed verification (checksum, FlatBuffers verifier)
  kUnsupportedVersion,
  kTimeout,
  kClosed,
  kBusy,           // try again later (backpressure)
  kConfig,
  kInternal,
};

const char* errorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

inline Error makeError(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(state_); }
  const T& value() const& { assert(ok()); return std::get<0>(state_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

inline Result<void> okResult() { return Result<void>(); }

}  // namespace edge

// Propagates an error from an expression returning Result<...>.
#define EDGE_TRY(expr)                                   \
  do {                                                   \
    auto edge_try_result_ = (expr);                      \
    if (!edge_try_result_.ok()) return edge_try_result_.error(); \
  } while (0)

// Status and Result<T>: how Sextant's own APIs report failure.
//
// Sextant does not throw across its own APIs (DESIGN.md, convention 2). A function that can
// fail returns a Status, or a Result<T> holding either a value or a non-OK Status.
// Third-party exceptions (JSON, YAML, protobuf) are caught at the call site and turned into a
// Status there.
//
// The codes are the domain's, not HTTP's or gRPC's: the API layer maps them to a Kubernetes
// Status reason and the KEDA layer to a gRPC code.
//
// Thread safety: values; immutable after construction, safe to share between threads.
#ifndef SEXTANT_COMMON_RESULT_H_
#define SEXTANT_COMMON_RESULT_H_

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sextant {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // the caller's input is wrong (bad selector, bad config)
  kNotFound,           // no such metric
  kUnavailable,        // a backend cannot be reached, timed out or failed (5xx)
  kDeadlineExceeded,   // the request's own deadline passed
  kInternal,           // a bug or an unexpected answer; details only in the log
  kUnauthenticated,    // who is asking cannot be established
  kPermissionDenied,   // the asker may not do this
  kUnimplemented,      // a valid request for something Sextant does not do
  kBackendRejected,    // the backend refused the query itself (Prometheus bad_data)
};

std::string_view StatusCodeName(StatusCode code);

class Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "NotFound: message", for logs and test failures.
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status InvalidArgumentError(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFoundError(std::string m) {
  return {StatusCode::kNotFound, std::move(m)};
}
inline Status UnavailableError(std::string m) {
  return {StatusCode::kUnavailable, std::move(m)};
}
inline Status DeadlineExceededError(std::string m) {
  return {StatusCode::kDeadlineExceeded, std::move(m)};
}
inline Status InternalError(std::string m) {
  return {StatusCode::kInternal, std::move(m)};
}
inline Status UnauthenticatedError(std::string m) {
  return {StatusCode::kUnauthenticated, std::move(m)};
}
inline Status PermissionDeniedError(std::string m) {
  return {StatusCode::kPermissionDenied, std::move(m)};
}
inline Status UnimplementedError(std::string m) {
  return {StatusCode::kUnimplemented, std::move(m)};
}
inline Status BackendRejectedError(std::string m) {
  return {StatusCode::kBackendRejected, std::move(m)};
}

// Either a T or a non-OK Status.
// REQUIRES: a Result is never built from an OK Status (that would hold no value); doing so
// yields an Internal error instead.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    if (std::get<Status>(v_).ok()) {
      v_ = InternalError("Result constructed from OK status without a value");
    }
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // OK when a value is held.
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

  // REQUIRES: ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sextant

// Returns early from the enclosing function with the status of `expr` when it is not OK.
#define SEXTANT_RETURN_IF_ERROR(expr)              \
  do {                                             \
    ::sextant::Status sextant_status_ = (expr);    \
    if (!sextant_status_.ok()) return sextant_status_; \
  } while (0)

#endif  // SEXTANT_COMMON_RESULT_H_

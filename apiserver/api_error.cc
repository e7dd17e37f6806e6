#include "apiserver/api_error.h"

namespace sextant::apiserver {

ApiError BadRequest(std::string message) {
  return {400, "BadRequest", std::move(message)};
}
ApiError Unauthorized() { return {401, "Unauthorized", "Unauthorized"}; }
ApiError Forbidden(std::string message) {
  return {403, "Forbidden", std::move(message)};
}
ApiError NotFound(std::string message) {
  return {404, "NotFound", std::move(message)};
}
ApiError MethodNotAllowed(const std::string& method) {
  return {405, "MethodNotAllowed",
          "the server does not allow this method on the requested resource: " +
              method};
}
ApiError NotAcceptable(std::string message) {
  return {406, "NotAcceptable", std::move(message)};
}
ApiError ServiceUnavailable(std::string message) {
  return {503, "ServiceUnavailable", std::move(message)};
}
ApiError InternalError() {
  return {500, "InternalError",
          "Internal error occurred: the server could not compute the answer; "
          "see the server log"};
}

ApiError ApiErrorFromStatus(const Status& status,
                            const std::string& metric_name) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return BadRequest(status.message());
    case StatusCode::kNotFound:
      return NotFound(status.message());
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
      return ServiceUnavailable("the metrics backend is unavailable for metric \"" +
                                metric_name + "\"; try again later");
    case StatusCode::kPermissionDenied:
      return Forbidden(status.message());
    case StatusCode::kUnauthenticated:
      return Unauthorized();
    case StatusCode::kBackendRejected:
      return {500, "InternalError",
              "Internal error occurred: the metrics backend rejected the query for "
              "metric \"" + metric_name + "\"; see the server log"};
    case StatusCode::kUnimplemented:
      return BadRequest(status.message());
    case StatusCode::kOk:
    case StatusCode::kInternal:
      break;
  }
  return InternalError();
}

}  // namespace sextant::apiserver

// ApiError: a metav1.Status failure as the API layer sends it, and the one mapping from a
// domain Status to it.
//
// The mapping decides what a client may learn: Internal and unexpected codes become a
// generic message; the provider's message is passed through only for codes whose messages
// the provider contract (provider.h) requires to be client-safe.
// Thread safety: plain values and pure functions.
#ifndef SEXTANT_APISERVER_API_ERROR_H_
#define SEXTANT_APISERVER_API_ERROR_H_

#include <string>

#include "common/result.h"

namespace sextant::apiserver {

struct ApiError {
  int code = 500;
  std::string reason;  // metav1.StatusReason, e.g. "BadRequest", "NotFound"
  std::string message;
};

ApiError BadRequest(std::string message);
ApiError Unauthorized();
ApiError Forbidden(std::string message);
ApiError NotFound(std::string message);
ApiError MethodNotAllowed(const std::string& method);
ApiError NotAcceptable(std::string message);
ApiError ServiceUnavailable(std::string message);
ApiError InternalError();

// Maps a provider failure for `metric_name` to what the client sees.
ApiError ApiErrorFromStatus(const Status& status, const std::string& metric_name);

}  // namespace sextant::apiserver

#endif  // SEXTANT_APISERVER_API_ERROR_H_

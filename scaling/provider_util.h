// Small helpers shared by scaling/'s metric providers (the external-rule provider, the signal
// provider, the static table and the composite): ASCII lower-casing of metric names, joining
// strings, turning Prometheus millisecond timestamps into time points, and mapping backend
// errors to messages that are safe to show API clients.
// Thread safety: pure functions.
// Errors: none of these fail; ClientSafe turns a failed Status into another failed Status.
#ifndef SEXTANT_SCALING_PROVIDER_UTIL_H_
#define SEXTANT_SCALING_PROVIDER_UTIL_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace sextant::scaling {

// `s` with ASCII letters lower-cased (metric names are matched case-insensitively).
std::string Lower(std::string s);

// `values` joined with `sep` between them; "" for none.
std::string Join(const std::vector<std::string>& values, const char* sep);

// A Prometheus sample timestamp (milliseconds since the epoch) as a time point.
std::chrono::system_clock::time_point FromMillis(int64_t ms);

// Keeps the code, replaces the message: provider errors must be safe for API clients, and
// the backend's words are logged by the caller instead.
// REQUIRES: !status.ok().
Status ClientSafe(const Status& status, const std::string& metric);

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_PROVIDER_UTIL_H_

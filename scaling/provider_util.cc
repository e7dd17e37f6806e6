#include "scaling/provider_util.h"

#include <algorithm>
#include <cctype>

namespace sextant::scaling {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string Join(const std::vector<std::string>& values, const char* sep) {
  std::string out;
  for (const std::string& v : values) {
    if (!out.empty()) out += sep;
    out += v;
  }
  return out;
}

std::chrono::system_clock::time_point FromMillis(int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

Status ClientSafe(const Status& status, const std::string& metric) {
  switch (status.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
      return {status.code(), "the metrics backend is unavailable"};
    case StatusCode::kBackendRejected:
      return BackendRejectedError("the backend rejected the query of metric \"" + metric + "\"");
    default:
      return InternalError("metric \"" + metric + "\" could not be computed");
  }
}

}  // namespace sextant::scaling

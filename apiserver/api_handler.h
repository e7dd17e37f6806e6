// ApiHandler: the external.metrics.k8s.io API, independent of any HTTP library.
//
// Routes (all GET; anything else 405):
//   /apis                                          APIGroupList
//   /apis/external.metrics.k8s.io                  APIGroup
//   /apis/external.metrics.k8s.io/v1beta1          APIResourceList from the provider
//   /apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/{metric}?labelSelector=...
//                                                  ExternalMetricValueList
// Order of checks for a metric request, as k8s.io/apiserver does it: authentication (done by
// the caller: `user` empty → 401), authorization, then the selector is parsed (a bad selector
// is 400 even for an unknown metric), then the provider is asked. Every failure is a
// metav1.Status in the negotiated media type.
// Ownership: borrows the provider and the authorizer; both must outlive the handler.
// Thread safety: Handle() may be called concurrently.
#ifndef SEXTANT_APISERVER_API_HANDLER_H_
#define SEXTANT_APISERVER_API_HANDLER_H_

#include <chrono>
#include <optional>
#include <string>

#include "apiserver/api_error.h"
#include "apiserver/authenticator.h"
#include "apiserver/authorizer.h"
#include "apiserver/codec.h"
#include "apiserver/provider.h"

namespace sextant::apiserver {

struct ApiRequest {
  std::string method;
  std::string path;  // decoded, without the query
  std::optional<std::string> label_selector;  // the labelSelector query parameter
  std::string accept;
  std::optional<UserInfo> user;  // nullopt: not authenticated
};

struct ApiResponse {
  int code = 200;
  std::string content_type;
  std::string body;
  // The route's template for self-metrics ("/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}").
  std::string route;
};

struct ApiHandlerOptions {
  // Default: 30s. How long the provider may take for one metric request.
  std::chrono::milliseconds request_timeout{30000};
};

class ApiHandler {
 public:
  ApiHandler(ExternalMetricsProvider& provider, Authorizer& authorizer,
             ApiHandlerOptions options);

  // True for paths this handler serves (everything under /apis).
  static bool Serves(const std::string& path);

  ApiResponse Handle(const ApiRequest& request) const;

 private:
  ApiResponse HandleMetric(const ApiRequest& request, MediaType media,
                           const std::string& namespace_name,
                           const std::string& metric) const;
  ApiResponse Discovery(const std::string& path) const;

  ExternalMetricsProvider& provider_;
  Authorizer& authorizer_;
  ApiHandlerOptions options_;
};

}  // namespace sextant::apiserver

#endif  // SEXTANT_APISERVER_API_HANDLER_H_

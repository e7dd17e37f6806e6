#include "apiserver/api_handler.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "apiserver/label_validation.h"
#include "common/log.h"

namespace sextant::apiserver {
namespace {

constexpr std::string_view kGroup = "external.metrics.k8s.io";
constexpr std::string_view kVersion = "v1beta1";
constexpr std::string_view kGroupPath = "/apis/external.metrics.k8s.io";
constexpr std::string_view kVersionPath = "/apis/external.metrics.k8s.io/v1beta1";
constexpr std::string_view kMetricRoute =
    "/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}";

using Json = nlohmann::ordered_json;

Json GroupVersionJson() {
  return Json{{"groupVersion", std::string(kGroupVersion)},
              {"version", std::string(kVersion)}};
}

Json ApiGroupJson() {
  return Json{{"name", std::string(kGroup)},
              {"versions", Json::array({GroupVersionJson()})},
              {"preferredVersion", GroupVersionJson()}};
}

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

std::string StripTrailingSlash(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

ApiResponse JsonResponse(const Json& doc, std::string route) {
  return {200, std::string(kJsonContentType), doc.dump(), std::move(route)};
}

ApiResponse ErrorResponse(const ApiError& error, MediaType media, std::string route) {
  return {error.code, std::string(ContentTypeOf(media)), EncodeStatus(error, media),
          std::move(route)};
}

}  // namespace

ApiHandler::ApiHandler(ExternalMetricsProvider& provider, Authorizer& authorizer,
                       ApiHandlerOptions options)
    : provider_(provider), authorizer_(authorizer), options_(options) {}

bool ApiHandler::Serves(const std::string& path) {
  return path == "/apis" || path.rfind("/apis/", 0) == 0;
}

ApiResponse ApiHandler::Handle(const ApiRequest& request) const {
  const std::string path = StripTrailingSlash(request.path);
  const std::vector<std::string> parts = SplitPath(path);
  const bool is_metric = parts.size() == 6 && path.rfind(kVersionPath, 0) == 0 &&
                         parts[3] == "namespaces";
  const std::string route =
      is_metric ? std::string(kMetricRoute)
                : (path == "/apis" || path == kGroupPath || path == kVersionPath
                       ? path
                       : "other");

  Result<MediaType> media = NegotiateMediaType(request.accept, is_metric);
  // Errors before negotiation succeeds are still written, in JSON.
  MediaType error_media = media.ok() ? *media : MediaType::kJson;

  if (!request.user) return ErrorResponse(Unauthorized(), error_media, route);
  if (request.method != "GET") {
    return ErrorResponse(MethodNotAllowed(request.method), error_media, route);
  }
  if (!media.ok()) {
    return ErrorResponse(NotAcceptable(media.status().message()), MediaType::kJson,
                         route);
  }

  AuthorizationAttributes attributes;
  attributes.user = &*request.user;
  attributes.verb = "get";
  attributes.resource_request = is_metric;
  if (is_metric) {
    attributes.namespace_name = parts[4];
    attributes.resource = parts[5];
  } else {
    attributes.path = path;
  }
  AuthorizationDecision decision = authorizer_.Authorize(attributes);
  if (!decision.allowed) {
    SEXTANT_VLOG(1) << "forbidden: user=" << request.user->name << " path=" << route
                    << " reason=" << decision.reason;
    return ErrorResponse(Forbidden(decision.reason.empty() ? "forbidden"
                                                           : decision.reason),
                         *media, route);
  }

  if (is_metric) return HandleMetric(request, *media, parts[4], parts[5]);
  return Discovery(path);
}

ApiResponse ApiHandler::Discovery(const std::string& path) const {
  if (path == "/apis") {
    return JsonResponse(Json{{"kind", "APIGroupList"},
                             {"apiVersion", "v1"},
                             {"groups", Json::array({ApiGroupJson()})}},
                        path);
  }
  if (path == kGroupPath) {
    Json doc = ApiGroupJson();
    doc["kind"] = "APIGroup";
    doc["apiVersion"] = "v1";
    return JsonResponse(doc, path);
  }
  if (path == kVersionPath) {
    Json resources = Json::array();
    for (const ExternalMetricInfo& info : provider_.ListExternalMetrics()) {
      resources.push_back(Json{{"name", info.name},
                               {"singularName", ""},
                               {"namespaced", info.namespaced},
                               {"kind", "ExternalMetricValueList"},
                               {"verbs", Json::array({"get"})}});
    }
    return JsonResponse(Json{{"kind", "APIResourceList"},
                             {"apiVersion", "v1"},
                             {"groupVersion", std::string(kGroupVersion)},
                             {"resources", std::move(resources)}},
                        path);
  }
  return ErrorResponse(NotFound("the server could not find the requested resource"),
                       MediaType::kJson, "other");
}

ApiResponse ApiHandler::HandleMetric(const ApiRequest& request, MediaType media,
                                     const std::string& namespace_name,
                                     const std::string& metric) const {
  const std::string route(kMetricRoute);
  Result<LabelSelector> selector =
      LabelSelector::Parse(request.label_selector.value_or(""));
  if (!selector.ok()) {
    return ErrorResponse(BadRequest("invalid labelSelector: " + selector.status().message()),
                         media, route);
  }
  if (!IsValidNamespaceName(namespace_name)) {
    return ErrorResponse(BadRequest("invalid namespace \"" + namespace_name +
                                    "\": must be a lowercase RFC 1123 label"),
                         media, route);
  }
  if (metric.empty()) {
    return ErrorResponse(NotFound("no metric name given"), media, route);
  }
  ExternalMetricRequest provider_request{
      namespace_name, metric, std::move(*selector),
      std::chrono::steady_clock::now() + options_.request_timeout};
  Result<std::vector<ExternalMetricValue>> values =
      provider_.GetExternalMetric(provider_request);
  if (!values.ok()) {
    ApiError error = ApiErrorFromStatus(values.status(), metric);
    if (error.code >= 500) {
      SEXTANT_LOG(WARNING) << "metric \"" << metric << "\" in namespace " << namespace_name
                           << " failed: " << values.status().ToString();
    } else {
      SEXTANT_VLOG(2) << "metric \"" << metric << "\": " << values.status().ToString();
    }
    return ErrorResponse(error, media, route);
  }
  return {200, std::string(ContentTypeOf(media)), EncodeMetricValueList(*values, media),
          route};
}

}  // namespace sextant::apiserver

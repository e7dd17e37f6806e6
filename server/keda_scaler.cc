#include "server/keda_scaler.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>

#include "apiserver/label_validation.h"
#include "common/log.h"

namespace sextant::server {
namespace {

constexpr std::chrono::seconds kDefaultDeadline{10};

grpc::Status ToGrpc(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kNotFound: return {grpc::StatusCode::NOT_FOUND, status.message()};
    case StatusCode::kInvalidArgument:
      return {grpc::StatusCode::INVALID_ARGUMENT, status.message()};
    case StatusCode::kUnavailable:
    case StatusCode::kBackendRejected:
      return {grpc::StatusCode::UNAVAILABLE, status.message()};
    case StatusCode::kDeadlineExceeded:
      return {grpc::StatusCode::DEADLINE_EXCEEDED, status.message()};
    case StatusCode::kUnauthenticated:
      return {grpc::StatusCode::UNAUTHENTICATED, status.message()};
    case StatusCode::kPermissionDenied:
      return {grpc::StatusCode::PERMISSION_DENIED, status.message()};
    case StatusCode::kUnimplemented: return {grpc::StatusCode::UNIMPLEMENTED, status.message()};
    default: return {grpc::StatusCode::INTERNAL, status.message()};
  }
}

std::string Meta(const externalscaler::ScaledObjectRef& ref, const std::string& key) {
  auto it = ref.scalermetadata().find(key);
  return it == ref.scalermetadata().end() ? std::string() : it->second;
}

// A finite number, or InvalidArgument naming the key.
Result<double> ParseNumber(const std::string& key, const std::string& text) {
  if (text.empty()) return InvalidArgumentError("scalerMetadata." + key + " is required");
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v)) {
    return InvalidArgumentError("scalerMetadata." + key + ": not a number: \"" + text + "\"");
  }
  return v;
}

std::chrono::steady_clock::time_point Deadline(const grpc::ServerContext* context) {
  auto now_sys = std::chrono::system_clock::now();
  auto now = std::chrono::steady_clock::now();
  auto cap = now + kDefaultDeadline;
  auto d = context->deadline();
  if (d >= now_sys + kDefaultDeadline) return cap;
  return now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(d - now_sys);
}

struct Query {
  std::string metric;
  apiserver::LabelSelector selector;
};

Result<Query> ParseQuery(const externalscaler::ScaledObjectRef& ref) {
  Query q;
  q.metric = Meta(ref, "metric");
  if (q.metric.empty()) return InvalidArgumentError("scalerMetadata.metric is required");
  if (!apiserver::IsValidNamespaceName(ref.namespace_())) {
    return InvalidArgumentError("the ScaledObject's namespace must be a Kubernetes namespace "
                                "name, not \"" + ref.namespace_().substr(0, 63) + "\"");
  }
  auto selector = apiserver::LabelSelector::Parse(Meta(ref, "selector"));
  if (!selector.ok()) {
    return InvalidArgumentError("scalerMetadata.selector: " + selector.status().message());
  }
  q.selector = std::move(*selector);
  return q;
}

// The metric's value: its items summed; no items → 0.
Result<double> Value(apiserver::ExternalMetricsProvider& provider,
                     const externalscaler::ScaledObjectRef& ref, const Query& q,
                     std::chrono::steady_clock::time_point deadline) {
  apiserver::ExternalMetricRequest request{ref.namespace_(), q.metric, q.selector, deadline};
  auto items = provider.GetExternalMetric(request);
  if (!items.ok()) return items.status();
  double sum = 0;
  for (const auto& item : *items) sum += item.value.AsApproximateDouble();
  return sum;
}

Result<double> ActivationTarget(const externalscaler::ScaledObjectRef& ref) {
  std::string text = Meta(ref, "activationTarget");
  if (text.empty()) return 0.0;
  return ParseNumber("activationTarget", text);
}

Result<bool> Active(apiserver::ExternalMetricsProvider& provider,
                    const externalscaler::ScaledObjectRef& ref,
                    std::chrono::steady_clock::time_point deadline) {
  auto q = ParseQuery(ref);
  if (!q.ok()) return q.status();
  auto activation = ActivationTarget(ref);
  if (!activation.ok()) return activation.status();
  auto value = Value(provider, ref, *q, deadline);
  if (!value.ok()) return value.status();
  return *value > *activation;
}

}  // namespace

grpc::Status KedaScaler::IsActive(grpc::ServerContext* context,
                                  const externalscaler::ScaledObjectRef* ref,
                                  externalscaler::IsActiveResponse* response) {
  auto active = Active(provider_, *ref, Deadline(context));
  if (!active.ok()) return ToGrpc(active.status());
  response->set_result(*active);
  return grpc::Status::OK;
}

grpc::Status KedaScaler::StreamIsActive(
    grpc::ServerContext* context, const externalscaler::ScaledObjectRef* ref,
    grpc::ServerWriter<externalscaler::IsActiveResponse>* writer) {
  // Bad metadata fails the call at once; backend failures are retried while streaming.
  auto q = ParseQuery(*ref);
  if (!q.ok()) return ToGrpc(q.status());
  auto activation = ActivationTarget(*ref);
  if (!activation.ok()) return ToGrpc(activation.status());
  std::optional<bool> last;
  while (!context->IsCancelled()) {
    auto value = Value(provider_, *ref, *q,
                       std::chrono::steady_clock::now() + kDefaultDeadline);
    if (!value.ok()) {
      if (value.status().code() == StatusCode::kNotFound ||
          value.status().code() == StatusCode::kInvalidArgument) {
        return ToGrpc(value.status());
      }
      SEXTANT_LOG(WARNING) << "keda StreamIsActive " << ref->namespace_() << "/" << ref->name()
                           << ": " << value.status().message();
    } else {
      bool active = *value > *activation;
      if (!last || *last != active) {
        externalscaler::IsActiveResponse response;
        response.set_result(active);
        if (!writer->Write(response)) return grpc::Status::OK;  // client went away
        last = active;
      }
    }
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, poll_interval_, [this] { return shutting_down_; })) {
      return {grpc::StatusCode::UNAVAILABLE, "server shutting down"};
    }
  }
  return grpc::Status::CANCELLED;
}

grpc::Status KedaScaler::GetMetricSpec(grpc::ServerContext* context,
                                       const externalscaler::ScaledObjectRef* ref,
                                       externalscaler::GetMetricSpecResponse* response) {
  auto q = ParseQuery(*ref);
  if (!q.ok()) return ToGrpc(q.status());
  auto target = ParseNumber("target", Meta(*ref, "target"));
  if (!target.ok()) return ToGrpc(target.status());
  if (*target <= 0) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "scalerMetadata.target must be > 0"};
  }
  auto activation = ActivationTarget(*ref);
  if (!activation.ok()) return ToGrpc(activation.status());
  // The metric must exist: discovery answers without a backend round trip.
  bool found = false;
  std::string canonical = q->metric;
  for (const auto& info : provider_.ListExternalMetrics()) {
    if (info.name.size() == q->metric.size() &&
        std::equal(info.name.begin(), info.name.end(), q->metric.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      found = true;
      canonical = info.name;
      break;
    }
  }
  if (!found) {
    // Not (yet) discovered: the provider may still serve it on demand; ask it once.
    auto value = Value(provider_, *ref, *q, Deadline(context));
    if (!value.ok()) return ToGrpc(value.status());
  }
  auto* spec = response->add_metricspecs();
  spec->set_metricname(canonical);
  spec->set_targetsizefloat(*target);
  spec->set_targetsize(static_cast<int64_t>(std::llround(*target)));
  return grpc::Status::OK;
}

grpc::Status KedaScaler::GetMetrics(grpc::ServerContext* context,
                                    const externalscaler::GetMetricsRequest* request,
                                    externalscaler::GetMetricsResponse* response) {
  const auto& ref = request->scaledobjectref();
  auto q = ParseQuery(ref);
  if (!q.ok()) return ToGrpc(q.status());
  auto value = Value(provider_, ref, *q, Deadline(context));
  if (!value.ok()) return ToGrpc(value.status());
  auto* out = response->add_metricvalues();
  out->set_metricname(request->metricname().empty() ? q->metric : request->metricname());
  out->set_metricvaluefloat(*value);
  double rounded = std::round(*value);
  int64_t as_int = rounded >= 9.2e18 ? INT64_MAX
                   : rounded <= -9.2e18 ? INT64_MIN
                                        : static_cast<int64_t>(rounded);
  out->set_metricvalue(as_int);
  return grpc::Status::OK;
}

grpc::Status KedaScaler::StreamMetricSpec(
    grpc::ServerContext*, const externalscaler::ScaledObjectRef*,
    grpc::ServerWriter<externalscaler::GetMetricSpecResponse>*) {
  return {grpc::StatusCode::UNIMPLEMENTED, "StreamMetricSpec is not implemented; use GetMetricSpec"};
}

void KedaScaler::Shutdown() {
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
  }
  cv_.notify_all();
}

}  // namespace sextant::server

// ExternalMetricsProvider: the seam between the Kubernetes API layer and whatever computes
// metric values (like custom-metrics-apiserver's ExternalMetricsProvider).
//
// apiserver/ defines it and calls it; scaling/ implements it. The API layer has already parsed
// the label selector and authenticated the caller before it asks.
//
// Contract for implementations:
// - ListExternalMetrics() never blocks on a backend: discovery must answer within a second
//   even while Prometheus is down. Return what is known now.
// - GetExternalMetric() matches the metric name case-insensitively (client-go lowercases the
//   resource in the URL; DCGM series names are upper case) and returns the provider's
//   canonical name in each item. Errors: NotFound for a name it does not serve;
//   InvalidArgument for a selector it cannot express; Unavailable when the backend is
//   unreachable, timing out or failing; BackendRejected when the backend refuses the query;
//   Internal for anything else. Messages must be safe to show to API clients: no backend
//   error text, no query internals (those go to the log).
// - It returns by `request.deadline` (steady clock) or fails with DeadlineExceeded/Unavailable.
// Thread safety: implementations are called concurrently from many request threads.
#ifndef SEXTANT_APISERVER_PROVIDER_H_
#define SEXTANT_APISERVER_PROVIDER_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "apiserver/label_selector.h"
#include "apiserver/quantity.h"
#include "common/result.h"

namespace sextant::apiserver {

// One entry of discovery.
struct ExternalMetricInfo {
  std::string name;
  // Default: true. External metrics are always requested under a namespace; a metric that
  // is not namespaced ignores it, and discovery says so.
  bool namespaced = true;
};

// One item of an ExternalMetricValueList.
struct ExternalMetricValue {
  std::string metric_name;
  std::map<std::string, std::string> metric_labels;
  // When the sample was taken (not when it was served).
  std::chrono::system_clock::time_point timestamp;
  // Set for values computed over a window ([timestamp - window, timestamp]).
  std::optional<int64_t> window_seconds;
  Quantity value;
};

struct ExternalMetricRequest {
  std::string namespace_name;
  std::string metric_name;  // as the client sent it; match case-insensitively
  LabelSelector selector;
  std::chrono::steady_clock::time_point deadline;
};

class ExternalMetricsProvider {
 public:
  virtual ~ExternalMetricsProvider() = default;

  virtual std::vector<ExternalMetricInfo> ListExternalMetrics() = 0;
  virtual Result<std::vector<ExternalMetricValue>> GetExternalMetric(
      const ExternalMetricRequest& request) = 0;
  // False until the provider can answer (e.g. its first discovery finished); /readyz reports it.
  virtual bool Ready() const = 0;
};

}  // namespace sextant::apiserver

#endif  // SEXTANT_APISERVER_PROVIDER_H_

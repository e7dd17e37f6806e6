// StaticProvider: an ExternalMetricsProvider that serves a fixed table of values from a YAML
// file (`--static-metrics FILE`). It needs no backend, so it serves the API server's tests,
// the load benchmark and fire drills (a metric can be marked unavailable or slow).
//
// File shape (every key optional unless noted):
//   metrics:
//     - name: queue-depth            # required; matched case-insensitively
//       namespaced: true             # Default: true. Items whose labels carry `namespace`
//                                    # are served only to requests in that namespace.
//       unavailable: false           # Default: false. true → answers as a down backend (503).
//       delaySeconds: 0              # Default: 0. Holds each answer this long (drills).
//       windowSeconds: 60            # Default: unset. Reported as the items' window.
//       series:                      # Default: empty.
//         - labels: {model_name: llama, namespace: default}
//           value: 12.5               # required; a number (.nan/.inf are rejected at load)
// The request's label selector filters the series by their labels.
// Thread safety: immutable after Load(); GetExternalMetric() is safe concurrently.
// Errors: Load() returns InvalidArgument with file, line and column for a bad file.
#ifndef SEXTANT_SCALING_STATIC_PROVIDER_H_
#define SEXTANT_SCALING_STATIC_PROVIDER_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "apiserver/provider.h"
#include "common/result.h"

namespace sextant::scaling {

class StaticProvider : public apiserver::ExternalMetricsProvider {
 public:
  struct Series {
    std::map<std::string, std::string> labels;
    apiserver::Quantity value;
  };
  struct Metric {
    std::string name;
    bool namespaced = true;
    bool unavailable = false;
    std::chrono::milliseconds delay{0};
    std::optional<int64_t> window_seconds;
    std::vector<Series> series;
  };

  static Result<std::unique_ptr<StaticProvider>> Load(const std::string& path);
  // Parses YAML text; `source_name` names it in errors.
  static Result<std::unique_ptr<StaticProvider>> Parse(const std::string& yaml,
                                                       const std::string& source_name);
  explicit StaticProvider(std::vector<Metric> metrics);

  std::vector<apiserver::ExternalMetricInfo> ListExternalMetrics() override;
  Result<std::vector<apiserver::ExternalMetricValue>> GetExternalMetric(
      const apiserver::ExternalMetricRequest& request) override;
  bool Ready() const override { return true; }

 private:
  const Metric* Find(const std::string& name) const;
  std::vector<Metric> metrics_;
};

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_STATIC_PROVIDER_H_

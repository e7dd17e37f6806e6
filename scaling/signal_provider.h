// SignalProvider: serves the config's `signals:` (scaling/signal_config.h) as external
// metrics, computed in-process from raw samples held by the WindowStore
// (scaling/window_store.h) with the SIMD window kernels (scaling/kernels/window_kernels.h).
//
// A request (namespace, selector) reads the series `SignalSelector()` renders: the signal's
// selector plus, as in the query path (scaling/selector_matchers.h), the namespace matcher
// (namespaceLabel="ns", when namespaced) and the request selector's matchers. Values equal
// what Prometheus returns for `EquivalentPromql()` evaluated at the item's timestamp t:
// - series: per series, the overTime function over the samples in the window (the store's
//   selection, [t - window, t] for Prometheus 2.x); series without samples (rate, increase,
//   delta: with fewer than 2) are absent, as in PromQL; then the `across` aggregation per
//   group of equal `by` label values. Items carry the `by` labels that are not empty.
// - histogram: per `<base>_bucket` series, rate over the window; summed by (le, by...); then
//   histogram_quantile's bucket interpolation (HistogramQuantile below) per `by` group.
// Rate, increase and delta follow the store's Prometheus version (kV2: 2.x extrapolation).
// NaN and ±Inf results are left out of the answer and counted, as the rule provider does; an
// empty result is an empty list. Each item's timestamp is t and window_seconds the window.
// At verbosity 2 every computed value is logged with full precision.
//
// Errors (client-safe messages; details go to the log): NotFound for a name no signal has,
// InvalidArgument for a selector that cannot be expressed, Unavailable / DeadlineExceeded /
// BackendRejected / Internal from the backend as in apiserver/provider.h.
// Ownership: owns its specs; borrows the store, which must outlive it.
// Thread safety: all methods are safe concurrently.
#ifndef SEXTANT_SCALING_SIGNAL_PROVIDER_H_
#define SEXTANT_SCALING_SIGNAL_PROVIDER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "apiserver/provider.h"
#include "scaling/signal_config.h"
#include "scaling/window_store.h"

namespace sextant::scaling {

// The series selector a request reads: the signal's selector (for a histogram,
// `<base>_bucket`) with the namespace and request matchers added.
// InvalidArgument for selectors that cannot be expressed.
Result<std::string> SignalSelector(const SignalSpec& spec, const std::string& namespace_name,
                                   const apiserver::LabelSelector& selector);

// The PromQL whose value at t equals the signal's value at t, e.g.
// `sum by (model_name) (quantile_over_time(0.9, x{namespace="default"}[2m]))`.
Result<std::string> EquivalentPromql(const SignalSpec& spec, const std::string& namespace_name,
                                     const apiserver::LabelSelector& selector);

// One computed value and its labels (the `by` labels that are not empty).
struct SignalValue {
  std::map<std::string, std::string> labels;
  double value = 0;
};

// The signal's values over `view`, in label order, NaN and ±Inf included. Pure.
std::vector<SignalValue> EvaluateSignal(const SignalSpec& spec, const WindowView& view,
                                        kernels::PrometheusVersion version);

// One bucket of a classic histogram: upper bound and cumulative count.
struct HistogramBucket {
  double upper_bound = 0;
  double count = 0;
};
// PromQL's histogram_quantile over one group of buckets, with Prometheus 2.x's rules: NaN q
// -> NaN, q < 0 -> -Inf, q > 1 -> +Inf; buckets sorted by bound, those with equal bounds
// merged; no +Inf bucket, fewer than 2 buckets or 0 observations -> NaN; counts made
// monotonic; a rank in the +Inf bucket returns the second-highest bound; the lowest bucket
// interpolates from 0 unless its bound is <= 0 (then that bound). `buckets` is reordered.
double HistogramQuantile(double q, std::vector<HistogramBucket>& buckets);

class SignalProvider : public apiserver::ExternalMetricsProvider {
 public:
  SignalProvider(std::vector<SignalSpec> signals, WindowStore& store);

  std::vector<apiserver::ExternalMetricInfo> ListExternalMetrics() override;
  Result<std::vector<apiserver::ExternalMetricValue>> GetExternalMetric(
      const apiserver::ExternalMetricRequest& request) override;
  // Always true: signals need no discovery.
  bool Ready() const override { return true; }

  // Whether a signal is named `name` (case-insensitively).
  bool Serves(const std::string& name) const;
  const std::vector<SignalSpec>& signals() const { return signals_; }
  // Values left out because they were NaN or ±Inf, since start.
  uint64_t non_finite_values_dropped() const { return non_finite_dropped_.load(); }

 private:
  const std::vector<SignalSpec> signals_;
  std::map<std::string, size_t> by_name_;  // lowercased name -> index
  WindowStore& store_;
  std::atomic<uint64_t> non_finite_dropped_{0};
};

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_SIGNAL_PROVIDER_H_

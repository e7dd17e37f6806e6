// SelfMetrics: Sextant's own Prometheus metrics (prometheus-cpp), served on /metrics.
//
//   sextant_http_requests_total{verb, route, code}        counter
//   sextant_http_request_duration_seconds{verb, route}    histogram
//   sextant_http_requests_in_flight                       gauge
// plus what other components contribute through AddSource() (cache, Prometheus client).
// `route` is a path template (bounded cardinality), never a raw path.
// Other components register their own families on registry().
// Thread safety: all methods are safe concurrently.
#ifndef SEXTANT_SERVER_SELF_METRICS_H_
#define SEXTANT_SERVER_SELF_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <vector>
#include <string>

namespace sextant::server {

class SelfMetrics {
 public:
  SelfMetrics();

  void ObserveRequest(const std::string& verb, const std::string& route, int code,
                      double seconds);
  prometheus::Gauge& in_flight() { return *in_flight_; }
  // Text exposition format 0.0.4.
  std::string Render() const;
  prometheus::Registry& registry() { return *registry_; }

  // Families computed at scrape time from another component's counters (cache statistics,
  // backend client counters). REQUIRES: called before serving starts.
  using FamilySource = std::function<std::vector<prometheus::MetricFamily>()>;
  void AddSource(FamilySource source) { sources_.push_back(std::move(source)); }

  // Helpers for sources: one unlabelled sample.
  static prometheus::MetricFamily Counter(const std::string& name, const std::string& help,
                                          double value);
  static prometheus::MetricFamily Gauge(const std::string& name, const std::string& help,
                                        double value);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* durations_;
  prometheus::Gauge* in_flight_;
  std::vector<FamilySource> sources_;
};

}  // namespace sextant::server

#endif  // SEXTANT_SERVER_SELF_METRICS_H_

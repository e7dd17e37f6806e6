#include "server/self_metrics.h"

#include <prometheus/text_serializer.h>

namespace sextant::server {

SelfMetrics::SelfMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("sextant_http_requests_total")
                   .Help("HTTPS requests served, by verb, route template and status code.")
                   .Register(*registry_);
  durations_ = &prometheus::BuildHistogram()
                    .Name("sextant_http_request_duration_seconds")
                    .Help("Time to answer an HTTPS request, by verb and route template.")
                    .Register(*registry_);
  in_flight_ = &prometheus::BuildGauge()
                    .Name("sextant_http_requests_in_flight")
                    .Help("HTTPS requests being served now.")
                    .Register(*registry_)
                    .Add({});
}

void SelfMetrics::ObserveRequest(const std::string& verb, const std::string& route,
                                 int code, double seconds) {
  requests_->Add({{"verb", verb}, {"route", route}, {"code", std::to_string(code)}})
      .Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  durations_->Add({{"verb", verb}, {"route", route}}, kBuckets).Observe(seconds);
}

std::string SelfMetrics::Render() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (const FamilySource& source : sources_) {
    for (prometheus::MetricFamily& family : source()) families.push_back(std::move(family));
  }
  return prometheus::TextSerializer().Serialize(families);
}

namespace {
prometheus::MetricFamily OneSample(const std::string& name, const std::string& help,
                                   prometheus::MetricType type, double value) {
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return prometheus::MetricFamily{name, help, type, {metric}};
}
}  // namespace

prometheus::MetricFamily SelfMetrics::Counter(const std::string& name, const std::string& help,
                                              double value) {
  return OneSample(name, help, prometheus::MetricType::Counter, value);
}

prometheus::MetricFamily SelfMetrics::Gauge(const std::string& name, const std::string& help,
                                            double value) {
  return OneSample(name, help, prometheus::MetricType::Gauge, value);
}

}  // namespace sextant::server

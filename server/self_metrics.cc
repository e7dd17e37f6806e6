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
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace sextant::server

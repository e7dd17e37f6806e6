#include "scaling/composite_provider.h"

#include "common/log.h"
#include "scaling/provider_util.h"

namespace sextant::scaling {

CompositeProvider::CompositeProvider(std::unique_ptr<SignalProvider> signals,
                                     std::unique_ptr<apiserver::ExternalMetricsProvider> rules)
    : signals_(std::move(signals)), rules_(std::move(rules)) {
  if (signals_ && !signals_->signals().empty()) {
    std::string names;
    for (const SignalSpec& s : signals_->signals()) {
      names += (names.empty() ? "" : ", ") + s.name;
    }
    SEXTANT_LOG(INFO) << "serving " << signals_->signals().size() << " signals (" << names << ")"
                      << (rules_ ? "; a rule metric with the name of a signal is "
                                   "shadowed by the signal"
                                 : "");
  }
}

std::vector<apiserver::ExternalMetricInfo> CompositeProvider::ListExternalMetrics() {
  std::vector<apiserver::ExternalMetricInfo> out;
  if (signals_) out = signals_->ListExternalMetrics();
  if (!rules_) return out;
  for (apiserver::ExternalMetricInfo& info : rules_->ListExternalMetrics()) {
    if (signals_ && signals_->Serves(info.name)) {
      std::lock_guard<std::mutex> lock(mu_);
      if (reported_clashes_.insert(Lower(info.name)).second) {
        SEXTANT_LOG(WARNING) << "metric \"" << info.name
                             << "\" is both a signal and a rule's metric: the signal is served";
      }
      continue;
    }
    out.push_back(std::move(info));
  }
  return out;
}

Result<std::vector<apiserver::ExternalMetricValue>> CompositeProvider::GetExternalMetric(
    const apiserver::ExternalMetricRequest& request) {
  if (signals_ && signals_->Serves(request.metric_name)) {
    return signals_->GetExternalMetric(request);
  }
  if (rules_) return rules_->GetExternalMetric(request);
  return NotFoundError("the server could not find the metric \"" + request.metric_name + "\"");
}

bool CompositeProvider::Ready() const {
  return (!signals_ || signals_->Ready()) && (!rules_ || rules_->Ready());
}

}  // namespace sextant::scaling

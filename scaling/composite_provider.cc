#include "scaling/composite_provider.h"

#include "common/log.h"
#include "scaling/provider_util.h"

namespace sextant::scaling {

CompositeProvider::CompositeProvider(std::unique_ptr<SignalProvider> signals,
                                     std::unique_ptr<apiserver::ExternalMetricsProvider> rules,
                                     std::unique_ptr<CatalogProvider> catalog)
    : signals_(std::move(signals)), rules_(std::move(rules)), catalog_(std::move(catalog)) {
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
  if (catalog_) {
    SEXTANT_LOG(INFO) << "serving " << catalog_->entries().size()
                      << " entries of the built-in catalog; a signal or rule metric of the same "
                         "name replaces an entry";
  }
}

void CompositeProvider::ReportClash(const std::string& name, const char* message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (reported_clashes_.insert(Lower(name)).second) {
    SEXTANT_LOG(WARNING) << "metric \"" << name << "\" " << message;
  }
}

bool CompositeProvider::RulesList(const std::string& name) {
  if (!rules_) return false;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  if (rule_names_read_ == std::chrono::steady_clock::time_point{} ||
      now - rule_names_read_ >= std::chrono::seconds(1)) {
    rule_names_.clear();
    for (const apiserver::ExternalMetricInfo& info : rules_->ListExternalMetrics()) {
      rule_names_.insert(Lower(info.name));
    }
    rule_names_read_ = now;
  }
  return rule_names_.count(Lower(name)) > 0;
}

std::vector<apiserver::ExternalMetricInfo> CompositeProvider::ListExternalMetrics() {
  std::vector<apiserver::ExternalMetricInfo> out;
  std::set<std::string> taken;
  if (signals_) out = signals_->ListExternalMetrics();
  for (const apiserver::ExternalMetricInfo& info : out) taken.insert(Lower(info.name));
  if (rules_) {
    for (apiserver::ExternalMetricInfo& info : rules_->ListExternalMetrics()) {
      if (signals_ && signals_->Serves(info.name)) {
        ReportClash(info.name, "is both a signal and a rule's metric: the signal is served");
        continue;
      }
      taken.insert(Lower(info.name));
      out.push_back(std::move(info));
    }
  }
  if (catalog_) {
    for (apiserver::ExternalMetricInfo& info : catalog_->ListExternalMetrics()) {
      if (taken.count(Lower(info.name))) {
        ReportClash(info.name,
                    "is defined in the config and in the built-in catalog: the config's "
                    "definition is served");
        continue;
      }
      out.push_back(std::move(info));
    }
  }
  return out;
}

Result<std::vector<apiserver::ExternalMetricValue>> CompositeProvider::GetExternalMetric(
    const apiserver::ExternalMetricRequest& request) {
  if (signals_ && signals_->Serves(request.metric_name)) {
    return signals_->GetExternalMetric(request);
  }
  if (catalog_ && catalog_->Serves(request.metric_name) && !RulesList(request.metric_name)) {
    return catalog_->GetExternalMetric(request);
  }
  if (rules_) return rules_->GetExternalMetric(request);
  return NotFoundError("the server could not find the metric \"" + request.metric_name + "\"");
}

bool CompositeProvider::Ready() const {
  return (!signals_ || signals_->Ready()) && (!rules_ || rules_->Ready()) &&
         (!catalog_ || catalog_->Ready());
}

}  // namespace sextant::scaling

// CompositeProvider: serves signals (scaling/signal_provider.h), prometheus-adapter rules
// (scaling/external_rule_provider.h, or any other provider) and the built-in catalog
// (scaling/catalog_provider.h) as one metric set, in that order of precedence.
//
// - A name a signal has is answered by the signal provider, whatever the rules discover:
//   signals win a name clash. The signals are logged at construction with that rule; each
//   discovered rule metric that a signal shadows is logged once, when discovery first lists
//   it, and left out of discovery.
// - A catalog name is answered by the catalog unless a signal has it or the rules list it (as
//   of at most a second ago; a user's definition wins over the built-in one; logged once).
// - Any other name goes to the rules (which may discover it on demand).
// - Discovery lists the signals, then the rules' metrics that no signal shadows, then the
//   catalog's listed entries that neither shadows.
// - Ready() when every part is.
// Any part may be null (then it serves nothing and is always ready).
// Ownership: owns its parts.
// Thread safety: all methods are safe concurrently (the parts are; the set of names already
// reported is guarded by a mutex).
// Errors: those of the part that answers; NotFound when none serves the name.
#ifndef SEXTANT_SCALING_COMPOSITE_PROVIDER_H_
#define SEXTANT_SCALING_COMPOSITE_PROVIDER_H_

#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "apiserver/provider.h"
#include "scaling/catalog_provider.h"
#include "scaling/signal_provider.h"

namespace sextant::scaling {

class CompositeProvider : public apiserver::ExternalMetricsProvider {
 public:
  CompositeProvider(std::unique_ptr<SignalProvider> signals,
                    std::unique_ptr<apiserver::ExternalMetricsProvider> rules,
                    std::unique_ptr<CatalogProvider> catalog = nullptr);

  std::vector<apiserver::ExternalMetricInfo> ListExternalMetrics() override;
  Result<std::vector<apiserver::ExternalMetricValue>> GetExternalMetric(
      const apiserver::ExternalMetricRequest& request) override;
  bool Ready() const override;

  SignalProvider* signals() const { return signals_.get(); }
  apiserver::ExternalMetricsProvider* rules() const { return rules_.get(); }
  CatalogProvider* catalog() const { return catalog_.get(); }

 private:
  // Logs, once per name, that `what` shadows the catalog's or a rule's metric `name`.
  void ReportClash(const std::string& name, const char* message);
  bool RulesList(const std::string& name);

  const std::unique_ptr<SignalProvider> signals_;
  const std::unique_ptr<apiserver::ExternalMetricsProvider> rules_;
  const std::unique_ptr<CatalogProvider> catalog_;
  std::mutex mu_;
  std::set<std::string> reported_clashes_;  // GUARDED_BY(mu_) lowercased names
  // The rules' listed names (lowercased), re-read at most once a second: catalog requests
  // (a KEDA stream polls twice a second) do not copy the rules' list each time.
  std::set<std::string> rule_names_;                          // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point rule_names_read_{};  // GUARDED_BY(mu_)
};

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_COMPOSITE_PROVIDER_H_

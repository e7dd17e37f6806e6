// CompositeProvider: serves signals (scaling/signal_provider.h) and prometheus-adapter rules
// (scaling/external_rule_provider.h, or any other provider) as one metric set.
//
// - A name a signal has is answered by the signal provider, whatever the rules discover:
//   signals win a name clash. The signals are logged at construction with that rule; each
//   discovered rule metric that a signal shadows is logged once, when discovery first lists
//   it, and left out of discovery.
// - Discovery lists the signals, then the rules' metrics that no signal shadows.
// - Ready() when both are ready.
// Either part may be null (then it serves nothing and is always ready).
// Ownership: owns both providers.
// Thread safety: all methods are safe concurrently (the parts are; the set of names already
// reported is guarded by a mutex).
// Errors: those of the part that answers; NotFound when neither serves the name.
#ifndef SEXTANT_SCALING_COMPOSITE_PROVIDER_H_
#define SEXTANT_SCALING_COMPOSITE_PROVIDER_H_

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "apiserver/provider.h"
#include "scaling/signal_provider.h"

namespace sextant::scaling {

class CompositeProvider : public apiserver::ExternalMetricsProvider {
 public:
  CompositeProvider(std::unique_ptr<SignalProvider> signals,
                    std::unique_ptr<apiserver::ExternalMetricsProvider> rules);

  std::vector<apiserver::ExternalMetricInfo> ListExternalMetrics() override;
  Result<std::vector<apiserver::ExternalMetricValue>> GetExternalMetric(
      const apiserver::ExternalMetricRequest& request) override;
  bool Ready() const override;

  SignalProvider* signals() const { return signals_.get(); }
  apiserver::ExternalMetricsProvider* rules() const { return rules_.get(); }

 private:
  const std::unique_ptr<SignalProvider> signals_;
  const std::unique_ptr<apiserver::ExternalMetricsProvider> rules_;
  std::mutex mu_;
  std::set<std::string> reported_clashes_;  // GUARDED_BY(mu_) lowercased names
};

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_COMPOSITE_PROVIDER_H_

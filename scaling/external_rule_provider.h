// ExternalRuleProvider: serves prometheus-adapter `externalRules` from Prometheus.
//
// Discovery: every distinct seriesQuery is listed with /api/v1/series (start = now -
// metrics_max_age) in the background every relist_interval; each series name that passes
// the rule's seriesFilters becomes a metric named by the rule's `name` mapping. A metric
// stays known for forget_after after its series were last seen, so a Prometheus restart or
// a scrape gap does not turn served metrics into 404s (prometheus-adapter drops them at the
// next relist). A name that
// is not known yet is resolved on demand (one relist, at most every on_demand_min_interval,
// shared by concurrent askers) before the request is answered 404.
// Answers: the request's selector becomes label matchers (scaling/selector_matchers.h), plus
// the namespace matcher when the rule is namespaced (the namespace label comes from the
// rule's resources; without a mapping, `namespace`), the rule's metricsQuery is rendered with
// them and evaluated as an instant query. One item per result series; NaN and ±Inf samples
// are left out (and counted); an empty result is an empty list unless the rule says
// `emptyResult: zero`.
// Ready() becomes true once the first discovery has finished, whether or not Prometheus
// answered it: a down backend gives 503s per request, not an unready pod.
// Ownership: borrows the client, which must outlive the provider; owns its relist thread,
// stopped by the destructor.
// Thread safety: all public methods are safe concurrently.
#ifndef SEXTANT_SCALING_EXTERNAL_RULE_PROVIDER_H_
#define SEXTANT_SCALING_EXTERNAL_RULE_PROVIDER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "apiserver/provider.h"
#include "query/prometheus_client.h"
#include "scaling/adapter_config.h"

namespace sextant::scaling {

struct ExternalRuleProviderOptions {
  // Default: 1m. How often series discovery runs.
  std::chrono::milliseconds relist_interval{60000};
  // Default: 0 (= relist_interval, as prometheus-adapter). How far back discovery looks.
  std::chrono::milliseconds metrics_max_age{0};
  // Default: 5s. An unknown name triggers at most one discovery per this interval.
  std::chrono::milliseconds on_demand_min_interval{5000};
  // Default: 10m. A metric whose series discovery no longer finds is still served this long.
  std::chrono::milliseconds forget_after{600000};
  // Default: 30s. Budget of one discovery round.
  std::chrono::milliseconds discovery_timeout{30000};
};

// What discovery found: one entry per metric name.
struct DiscoveredMetric {
  std::string name;         // as the rule names it (case kept)
  size_t rule_index = 0;    // into AdapterConfig::external_rules
  std::string series_name;  // the Prometheus series it renders the template with
  bool namespaced = true;
  // When discovery last saw its series (steady clock).
  std::chrono::steady_clock::time_point last_seen{};
};

// The PromQL that `metric` (found through `rule`) runs for a request in `namespace_name`
// with `selector`. InvalidArgument for selectors that cannot be expressed; Internal (logged)
// when the rule's template fails to render.
Result<std::string> RenderRuleQuery(const ExternalRule& rule, const DiscoveredMetric& metric,
                                    const std::string& namespace_name,
                                    const apiserver::LabelSelector& selector);

class ExternalRuleProvider : public apiserver::ExternalMetricsProvider {
 public:
  ExternalRuleProvider(std::vector<ExternalRule> rules, query::PrometheusClient& client,
                       ExternalRuleProviderOptions options);
  ~ExternalRuleProvider() override;

  // Starts the background discovery (the first round runs at once).
  void Start();

  std::vector<apiserver::ExternalMetricInfo> ListExternalMetrics() override;
  Result<std::vector<apiserver::ExternalMetricValue>> GetExternalMetric(
      const apiserver::ExternalMetricRequest& request) override;
  bool Ready() const override { return ready_.load(); }

  // Runs one discovery round now and returns what it found.
  Result<std::vector<DiscoveredMetric>> DiscoverNow();
  // Whether every series query of the last discovery round succeeded.
  bool last_discovery_ok() const { return last_discovery_ok_.load(); }
  // Samples left out because they were NaN or ±Inf, since start.
  uint64_t non_finite_samples_dropped() const { return non_finite_dropped_.load(); }

 private:
  using Registry = std::map<std::string, DiscoveredMetric>;  // key: lowercased name

  std::shared_ptr<const Registry> Snapshot() const;
  std::optional<DiscoveredMetric> Lookup(const std::string& name) const;
  // Discovery on behalf of a request for an unknown name, rate limited and shared.
  void DiscoverOnDemand(std::chrono::steady_clock::time_point deadline);
  void RelistLoop();

  const std::vector<ExternalRule> rules_;
  query::PrometheusClient& client_;
  const ExternalRuleProviderOptions options_;

  mutable std::mutex mu_;
  std::shared_ptr<const Registry> registry_;  // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point last_discovery_{};  // GUARDED_BY(mu_)
  bool discovery_running_ = false;                           // GUARDED_BY(mu_)
  bool stopping_ = false;                                    // GUARDED_BY(mu_)
  std::condition_variable cv_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> last_discovery_ok_{false};
  std::atomic<uint64_t> non_finite_dropped_{0};
  std::thread relist_thread_;
};

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_EXTERNAL_RULE_PROVIDER_H_

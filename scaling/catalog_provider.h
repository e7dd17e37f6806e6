// CatalogProvider: serves the built-in catalog (scaling/catalog.h) as external metrics,
// computed in-process from the window store (scaling/window_store.h), like signals.
//
// Serving: every entry the config (scaling/catalog_config.h) leaves on is answered, listed or
// not: one item without labels, timestamped with the evaluation time t, window_seconds the
// entry's window; an empty list when the entry has no value (nothing selected) or its value is
// NaN or ±Inf (counted). The request is read and kept as scaling/catalog_request.h says and
// evaluated as scaling/catalog_eval.h says (with pod-label requirements, the pods are read
// first, through their own subscription). Cluster-wide families (Neuron, kube-state-metrics)
// ignore the request's namespace. At verbosity 2 every value is logged with full precision:
// `catalog "<name>" t=<seconds> value=<%.17g>`.
// Discovery: every relist_interval (the first round at Start) one instant query,
// `count by (__name__) ({__name__=~"<every series name the entries read>|kube_pod_labels"})`,
// says which series exist; an entry is listed when its series do (a primary or its fallback;
// both sides of a ratio; for the headroom entries kube_pod_status_phase and
// kube_pod_container_resource_requests). It also says whether kube_pod_labels exists (until
// the first answer, it is presumed to). A failed round keeps the previous answer.
// Errors (client-safe; details logged): NotFound for a name the catalog does not serve,
// InvalidArgument for a selector that cannot be expressed, the backend's code otherwise (as
// scaling/signal_provider.h).
// Ownership: borrows the client and the store, which must outlive it; owns its discovery
// thread, stopped by the destructor.
// Thread safety: all public methods are safe concurrently.
#ifndef SEXTANT_SCALING_CATALOG_PROVIDER_H_
#define SEXTANT_SCALING_CATALOG_PROVIDER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "apiserver/provider.h"
#include "query/prometheus_client.h"
#include "scaling/catalog.h"
#include "scaling/catalog_config.h"
#include "scaling/window_store.h"

namespace sextant::scaling {

class CatalogProvider : public apiserver::ExternalMetricsProvider {
 public:
  CatalogProvider(CatalogConfig config, query::PrometheusClient& client, WindowStore& store,
                  std::chrono::milliseconds relist_interval);
  ~CatalogProvider() override;

  // Starts the background discovery (the first round runs at once).
  void Start();
  // Runs one discovery round now; the backend's error when it fails.
  Status DiscoverNow();

  std::vector<apiserver::ExternalMetricInfo> ListExternalMetrics() override;
  Result<std::vector<apiserver::ExternalMetricValue>> GetExternalMetric(
      const apiserver::ExternalMetricRequest& request) override;
  // Always true: entries are answered before discovery.
  bool Ready() const override { return true; }

  // Whether `name` is an entry the config leaves on (case-insensitively).
  bool Serves(const std::string& name) const;
  // The entries the config leaves on, in catalog order.
  const std::vector<const CatalogEntry*>& entries() const { return entries_; }
  // Whether the last discovery found kube_pod_labels (true until the first answer).
  bool pod_labels_available() const { return pod_labels_available_.load(); }
  // How many entries the last discovery found series for (0 before the first).
  size_t listed_entries() const;
  // Values left out because they were NaN or ±Inf, since start.
  uint64_t non_finite_values_dropped() const { return non_finite_dropped_.load(); }

 private:
  void DiscoveryLoop();
  bool Present(const CatalogEntry& entry, const std::set<std::string>& names) const;

  const CatalogConfig config_;
  std::vector<const CatalogEntry*> entries_;
  query::PrometheusClient& client_;
  WindowStore& store_;
  const std::chrono::milliseconds relist_interval_;

  mutable std::mutex mu_;
  std::shared_ptr<const std::set<std::string>> present_;  // GUARDED_BY(mu_) null: not known
  bool stopping_ = false;                                 // GUARDED_BY(mu_)
  std::condition_variable cv_;
  std::atomic<bool> pod_labels_available_{true};
  std::atomic<uint64_t> non_finite_dropped_{0};
  std::thread discovery_thread_;
};

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_CATALOG_PROVIDER_H_

// CatalogRequest: what one request for a catalog entry (scaling/catalog.h) reads and which of
// the read series it keeps.
//
// Reading. Every series the entry needs comes from one window-store subscription
// (scaling/window_store.h), so all of them are evaluated at the same time t. Its selector
// lists, one per line:
// - kDcgm: `{__name__=~"M1|M2",namespace="ns",exported_namespace=""}` and
//   `{__name__=~"M1|M2",exported_namespace="ns"}` (the names regex-quoted; a single metric
//   is written `M1{...}`);
// - kServer: `M{namespace="ns"}`; kNeuron: `M` (and its fixed matchers, e.g. percentile="p99");
// - kKubeState: kube_pod_status_phase{phase=~"Pending|Running"},
//   kube_pod_container_resource_requests{resource="R"},
//   kube_node_status_allocatable{resource="R"} and kube_node_spec_unschedulable, cluster-wide;
// - when the selector has pod-label keys (below): kube_pod_labels{namespace="ns",label_k...}
//   (cluster-wide for kKubeState), the requirements rendered by scaling/selector_matchers.h.
// The request's other requirements are not sent to Prometheus: they are checked here, so all
// selectors of a namespace share one subscription.
//
// Keeping. A requirement whose key is a series key (SeriesKey) is matched, with Kubernetes
// semantics (apiserver::Requirement::Matches; an empty label is a missing one), against the
// series' workload labels: for kDcgm, namespace/pod/container are the exported_ ones when
// exported_namespace is set, and Hostname and hostname both stand for whichever of the two the
// series has. Any other key is a pod label: the series' (namespace, pod) must be a pod of a
// kube_pod_labels series in the window. Without kube_pod_labels in Prometheus
// (pod_labels_available false), every key is a series key. kNeuron has no pod mapping: every
// key is a series key.
//
// Errors: InvalidArgument for a selector that cannot be expressed (Gt/Lt, see
// selector_matchers.h). Thread safety: immutable after Make; Keep is const.
#ifndef SEXTANT_SCALING_CATALOG_REQUEST_H_
#define SEXTANT_SCALING_CATALOG_REQUEST_H_

#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "apiserver/label_selector.h"
#include "common/result.h"
#include "scaling/catalog.h"
#include "scaling/catalog_config.h"
#include "scaling/window_store.h"

namespace sextant::scaling {

// Whether `key` of a request selector names a series label of `entry` (not a pod label).
bool SeriesKey(const CatalogEntry& entry, std::string_view key);

// The labels a series is matched with: its own, with kDcgm's workload mapping applied.
apiserver::Labels WorkloadLabels(const CatalogEntry& entry, const SeriesWindow& series);

class CatalogRequest {
 public:
  static Result<CatalogRequest> Make(const CatalogEntry& entry, const CatalogConfig& config,
                                     const std::string& namespace_name,
                                     const apiserver::LabelSelector& selector,
                                     bool pod_labels_available);

  const CatalogEntry& entry() const { return *entry_; }
  const CatalogConfig& config() const { return *config_; }
  // The subscription's selector (newline-separated parts) and window.
  const std::string& selector() const { return selector_; }
  std::chrono::milliseconds window() const { return entry_->window; }
  bool has_pod_requirements() const { return !pod_requirements_.empty(); }

  // The (namespace, pod) pairs of the view's kube_pod_labels series (all of them match: the
  // pod requirements are in their selector).
  std::set<std::pair<std::string, std::string>> PodsOf(const WindowView& view) const;
  // Whether `series` passes the series requirements and, with pod requirements, belongs to
  // one of `pods`.
  bool Keep(const SeriesWindow& series,
            const std::set<std::pair<std::string, std::string>>& pods) const;

 private:
  const CatalogEntry* entry_ = nullptr;
  const CatalogConfig* config_ = nullptr;
  std::string selector_;
  std::vector<apiserver::Requirement> series_requirements_;
  std::vector<apiserver::Requirement> pod_requirements_;
};

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_CATALOG_REQUEST_H_

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
//   kube_node_status_allocatable{resource="R"} and kube_node_spec_unschedulable, cluster-wide.
// The request's series requirements are not sent to Prometheus: they are checked here, so all
// selectors of a namespace share that subscription. Pod-label requirements (below) are read
// through a second, small subscription, pod_labels_selector():
// kube_pod_labels{namespace="ns",label_k...} (cluster-wide for kKubeState), the requirements
// rendered by scaling/selector_matchers.h.
//
// Keeping. A requirement whose key is a series key (SeriesKey) is matched against the series'
// workload labels as a Prometheus matcher would (an empty label is a missing one: `k=`
// matches series without k; otherwise Kubernetes semantics: `k!=v` and `notin` match series
// without k): for kDcgm, namespace/pod/container are the exported_ ones when
// exported_namespace is set, and Hostname and hostname both stand for whichever of the two
// the series has. Any other key is a pod label: the series' (namespace, pod) must be a pod of
// a kube_pod_labels series in the window. Without kube_pod_labels in Prometheus
// (pod_labels_available false), every key of kDcgm and kServer entries is a series key;
// kKubeState keeps reading pod labels (none match). kNeuron has no pod mapping: every key is a
// series key.
//
// Errors: InvalidArgument for a selector that cannot be expressed (Gt/Lt, see
// selector_matchers.h). Thread safety: immutable after Make; Keep is const.
#ifndef SEXTANT_SCALING_CATALOG_REQUEST_H_
#define SEXTANT_SCALING_CATALOG_REQUEST_H_

#include <cstdint>
#include <map>
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

// Whether `labels` pass `r` as a Prometheus matcher would: a missing label is an empty one.
bool LabelRequirementMatches(const apiserver::Requirement& r, const apiserver::Labels& labels);

// The labels a series is matched with: its own, with kDcgm's workload mapping applied.
apiserver::Labels WorkloadLabels(const CatalogEntry& entry, const SeriesWindow& series);

// kube-state-metrics series that are current, as an instant selector at t sees them through
// Prometheus' staleness markers: a series is current when its last sample came from its
// target's (job, instance) latest scrape (every series of one scrape carries its timestamp;
// a deleted pod's series, or the node="" requests of a Pending pod bound since, end), and
// that target is alive: its latest scrape is less than 1.5 of its scrape intervals (the gap
// between its last two scrapes; with a single scrape in the window, always) older than the
// newest scrape of any target in the view (a kube-state-metrics pod that was replaced leaves
// its old instance behind).
class CurrentSeries {
 public:
  explicit CurrentSeries(const WindowView& view);
  bool operator()(const SeriesWindow& s) const;

 private:
  struct Target {
    int64_t latest = 0;    // newest last-sample timestamp of its series
    int64_t interval = 0;  // smallest gap between a series' last two samples; 0: unknown
  };
  static std::string TargetKey(const SeriesWindow& s);
  std::map<std::string, Target> targets_;
  int64_t newest_ = 0;
};

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
  // The kube_pod_labels selector of the pod-label requirements; "" without any.
  const std::string& pod_labels_selector() const { return pod_labels_selector_; }
  std::chrono::milliseconds window() const { return entry_->window; }
  bool has_pod_requirements() const { return !pod_requirements_.empty(); }

  // The (namespace, pod) pairs of the view's current (CurrentSeries) kube_pod_labels series
  // (all of them match: the pod requirements are in their selector).
  std::set<std::pair<std::string, std::string>> PodsOf(const WindowView& view) const;
  // Whether `series` passes the series requirements and, with pod requirements, belongs to
  // one of `pods`.
  bool Keep(const SeriesWindow& series,
            const std::set<std::pair<std::string, std::string>>& pods) const;

 private:
  const CatalogEntry* entry_ = nullptr;
  const CatalogConfig* config_ = nullptr;
  std::string selector_;
  std::string pod_labels_selector_;
  std::vector<apiserver::Requirement> series_requirements_;
  std::vector<apiserver::Requirement> pod_requirements_;
};

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_CATALOG_REQUEST_H_

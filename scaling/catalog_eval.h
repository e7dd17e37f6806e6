// EvaluateCatalog: the value of one catalog entry (scaling/catalog.h) for one request
// (scaling/catalog_request.h) over the window view its subscription returned. Pure: the
// provider (scaling/catalog_provider.h) reads, this computes, so tests feed it exact samples.
//
// Per plan, at the view's evaluation time t (over-time functions and rate/increase as for
// signals, scaling/signal_provider.h; the kept series only):
// - kGauge: across(overTime(series of metrics[0])); when that has no value (none of
//   metrics[0] is kept, or none has the samples the function needs) and a fallback is named,
//   the same over metrics[1] (PromQL's `across(...) or across(...)`).
// - kHistogramQuantile: histogram_quantile(q, sum by (le) (rate(<base>_bucket[w]))), with the
//   same fallback.
// - kUsedRatio: per GPU (the labels but __name__), u = avg_over_time(metrics[0]),
//   f = avg_over_time(metrics[1]); the mean over GPUs having both of u / (u + f).
// - kIncreaseRatio: sum(increase(metrics[0])) / sum(increase(metrics[1])).
// - kPendingDemand: the sum of the last requests (kube_pod_container_resource_requests of the
//   configured resource, node "") of kept pods whose last kube_pod_status_phase{phase=
//   "Pending"} is 1; 0 when there are none; no value without any kube_pod_status_phase series.
// - kHeadroomDeficit: max(0, pending demand + buffer - free), free = the sum over nodes with
//   allocatable of the resource and not kube_node_spec_unschedulable 1 of max(0, last
//   allocatable - the last requests on that node of pods whose phase Pending or Running is 1).
//   The request's selector narrows the pending pods only.
// "Last" is the last sample in the window. The kube-state-metrics plans read only current
// series, whose last sample is from their target's (job, instance) latest scrape: as an
// instant selector, which Prometheus' staleness markers rid of a deleted pod's series or of
// the node="" requests of a pod bound to a node since.
// Returns no value when the entry has none (no series kept); NaN and ±Inf are returned as
// they are (the provider leaves them out).
// Thread safety: a pure function.
#ifndef SEXTANT_SCALING_CATALOG_EVAL_H_
#define SEXTANT_SCALING_CATALOG_EVAL_H_

#include <optional>

#include "scaling/catalog_request.h"
#include "scaling/kernels/window_kernels.h"
#include "scaling/window_store.h"

namespace sextant::scaling {

// With `pods`, the (namespace, pod) pairs of the request's pod-label requirements (read
// through request.pod_labels_selector(); ignored without such requirements).
std::optional<double> EvaluateCatalog(const CatalogRequest& request, const WindowView& view,
                                      const std::set<std::pair<std::string, std::string>>& pods,
                                      kernels::PrometheusVersion version);
// The same, the pods read from the kube_pod_labels series of `view` itself.
std::optional<double> EvaluateCatalog(const CatalogRequest& request, const WindowView& view,
                                      kernels::PrometheusVersion version);

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_CATALOG_EVAL_H_

// The built-in catalog: accelerator and inference-server metrics every Sextant serves without
// configuration (scaling/catalog_provider.h computes them; scaling/catalog_config.h turns
// entries off). This file is the table: each entry's fixed name, the exporter family it reads,
// how it is computed (a Plan with its series, window and aggregation), its unit, the HPA target
// type it suits with a typical target, and the selector keys that match series labels.
//
// Families and how a request selects their series (`ns` = the request's namespace):
// - kDcgm (NVIDIA dcgm-exporter): the GPUs of workloads in ns. A GPU series belongs to
//   (exported_namespace, exported_pod, exported_container) when exported_namespace is set
//   (a ServiceMonitor without honorLabels), else to (namespace, pod, container); its host is
//   `Hostname`, or `hostname` in exporters that spell it so.
// - kServer (vLLM, Triton, TGI, SGLang): the pods' own series, `namespace` = ns.
// - kNeuron (AWS neuron-monitor): cluster-wide; the request namespace is ignored.
// - kKubeState (kube-state-metrics, Karpenter headroom): cluster-wide.
// The README's catalog section documents each entry's PromQL (`sextant catalog` prints it).
// Thread safety: immutable static data.
#ifndef SEXTANT_SCALING_CATALOG_H_
#define SEXTANT_SCALING_CATALOG_H_

#include <chrono>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "scaling/signal_config.h"

namespace sextant::scaling {

enum class CatalogFamily { kDcgm, kNeuron, kServer, kKubeState };

// How an entry's value is computed, per series then across the selected series.
enum class CatalogPlan {
  // across(overTime(metrics[0][window])); when nothing of metrics[0] is selected and a
  // fallback is named (metrics[1]), the same over metrics[1].
  kGauge,
  // avg over GPUs of avg(metrics[0]) / (avg(metrics[0]) + avg(metrics[1])), per GPU matched
  // on every label but the name.
  kUsedRatio,
  // sum(increase(metrics[0][window])) / sum(increase(metrics[1][window])).
  kIncreaseRatio,
  // histogram_quantile(quantile, sum by (le) (rate(metrics[0]_bucket[window]))), with the
  // fallback as for kGauge.
  kHistogramQuantile,
  // GPUs requested by Pending pods that no node holds yet.
  kPendingDemand,
  // max(0, pending demand + buffer - free allocatable GPUs).
  kHeadroomDeficit,
};

struct CatalogEntry {
  std::string_view name;         // the external metric name
  std::string_view family_name;  // "DCGM exporter", "vLLM", ... for docs
  CatalogFamily family;
  CatalogPlan plan;
  // The series read: [primary, fallback] or [numerator, denominator]; kHistogramQuantile
  // names the histogram's base name (its `_bucket` series are read). Empty for the
  // kube-state-metrics plans, which read fixed series.
  std::vector<std::string_view> metrics = {};
  // Extra matchers on the series, rendered PromQL-style (e.g. `percentile="p99"`); "" for none.
  std::string_view matchers = {};
  OverTime over_time = OverTime::kAvg;  // kGauge
  Across across = Across::kSum;         // kGauge
  std::chrono::milliseconds window{60000};
  double quantile = 0;  // kHistogramQuantile
  std::string_view unit;
  std::string_view target_type;     // "Value" or "AverageValue"
  std::string_view typical_target;  // a Kubernetes quantity: a starting point to tune
  std::string_view description;
  // Selector keys matched against series labels, besides the keys every family has (see
  // SeriesKey in scaling/catalog_request.h). Empty for kNeuron: every key is a series key.
  std::vector<std::string_view> series_keys = {};
};

// Every entry, in documentation order. Names are unique.
std::span<const CatalogEntry> Catalog();

// The entry named `name` (case-insensitively), or null.
const CatalogEntry* FindCatalogEntry(std::string_view name);

// The series names an entry reads, for discovery: it is listed when any of them exists.
std::vector<std::string> CatalogSeriesNames(const CatalogEntry& entry);

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_CATALOG_H_

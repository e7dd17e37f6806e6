#include "scaling/catalog_eval.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "scaling/signal_provider.h"

namespace sextant::scaling {
namespace {

using PodSet = std::set<std::pair<std::string, std::string>>;

// The kept series named `name`, in view order.
std::vector<SeriesWindow> Kept(const CatalogRequest& request, const WindowView& view,
                               std::string_view name, const PodSet& pods) {
  std::vector<SeriesWindow> out;
  for (const SeriesWindow& s : view.series) {
    if (s.size > 0 && s.Label("__name__") == name && request.Keep(s, pods)) out.push_back(s);
  }
  return out;
}

WindowView Subview(const WindowView& view, const std::vector<SeriesWindow>& series) {
  WindowView out = view;
  out.series = series;
  return out;
}

std::optional<double> SignalOver(const SignalSpec& spec, const WindowView& view,
                                 kernels::PrometheusVersion version) {
  std::vector<SignalValue> values = EvaluateSignal(spec, view, version);
  if (values.empty()) return std::nullopt;
  return values.front().value;
}

SignalSpec SeriesSpec(OverTime over_time, Across across) {
  SignalSpec spec;
  spec.kind = SignalSpec::Kind::kSeries;
  spec.over_time = over_time;
  spec.across = across;
  return spec;
}

// kGauge and kHistogramQuantile: the primary metric, else the fallback.
std::optional<double> PrimaryOrFallback(const CatalogRequest& request, const WindowView& view,
                                        const PodSet& pods, kernels::PrometheusVersion version) {
  const CatalogEntry& entry = request.entry();
  SignalSpec spec = SeriesSpec(entry.over_time, entry.across);
  if (entry.plan == CatalogPlan::kHistogramQuantile) {
    spec.kind = SignalSpec::Kind::kHistogram;
    spec.quantile = entry.quantile;
  }
  const std::vector<std::string> names = CatalogSeriesNames(entry);
  for (const std::string& name : names) {
    const std::vector<SeriesWindow> kept = Kept(request, view, name, pods);
    if (kept.empty()) continue;
    // As PromQL's `primary or fallback`: a primary with no value (e.g. histogram buckets with
    // one sample each) gives way to the fallback.
    if (std::optional<double> v = SignalOver(spec, Subview(view, kept), version)) return v;
  }
  return std::nullopt;
}

// `key` (EncodeLabels form: name 0xFF value 0xFF ...) without its __name__ label.
std::string WithoutName(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  size_t pos = 0;
  while (pos < key.size()) {
    const size_t name_end = key.find('\xff', pos);
    if (name_end == std::string_view::npos) break;
    const size_t value_end = key.find('\xff', name_end + 1);
    if (value_end == std::string_view::npos) break;
    if (key.substr(pos, name_end - pos) != "__name__") {
      out.append(key.substr(pos, value_end + 1 - pos));
    }
    pos = value_end + 1;
  }
  return out;
}

std::optional<double> UsedRatio(const CatalogRequest& request, const WindowView& view,
                                const PodSet& pods) {
  const CatalogEntry& entry = request.entry();
  // GPU (labels without the name) -> {mean used, mean free}.
  std::map<std::string, std::pair<std::optional<double>, std::optional<double>>> gpus;
  for (int side = 0; side < 2; ++side) {
    for (const SeriesWindow& s : Kept(request, view, entry.metrics[side], pods)) {
      auto& slot = gpus[WithoutName(s.labels_key)];
      (side == 0 ? slot.first : slot.second) = kernels::Mean(s.values, s.size);
    }
  }
  std::vector<double> ratios;
  for (const auto& [gpu, pair] : gpus) {
    if (!pair.first || !pair.second) continue;  // PromQL's one-to-one match needs both
    ratios.push_back(*pair.first / (*pair.first + *pair.second));
  }
  if (ratios.empty()) return std::nullopt;
  return kernels::MeanAcross(ratios.data(), ratios.size());
}

std::optional<double> IncreaseRatio(const CatalogRequest& request, const WindowView& view,
                                    const PodSet& pods, kernels::PrometheusVersion version) {
  const CatalogEntry& entry = request.entry();
  const SignalSpec spec = SeriesSpec(OverTime::kIncrease, Across::kSum);
  const std::vector<SeriesWindow> num = Kept(request, view, entry.metrics[0], pods);
  const std::vector<SeriesWindow> den = Kept(request, view, entry.metrics[1], pods);
  const std::optional<double> n = SignalOver(spec, Subview(view, num), version);
  const std::optional<double> d = SignalOver(spec, Subview(view, den), version);
  if (!n || !d) return std::nullopt;
  return *n / *d;
}

double Last(const SeriesWindow& s) { return s.values[s.size - 1]; }

struct KubeState {
  bool has_phase = false;
  PodSet pending;         // last kube_pod_status_phase{phase="Pending"} == 1
  PodSet pending_or_run;  // ... Pending or Running
};

KubeState ReadPhases(const WindowView& view, const CurrentSeries& current) {
  KubeState state;
  for (const SeriesWindow& s : view.series) {
    if (!current(s) || s.Label("__name__") != "kube_pod_status_phase") continue;
    state.has_phase = true;
    if (Last(s) != 1) continue;
    std::pair<std::string, std::string> pod{std::string(s.Label("namespace")),
                                            std::string(s.Label("pod"))};
    if (s.Label("phase") == "Pending") state.pending.insert(pod);
    state.pending_or_run.insert(std::move(pod));
  }
  return state;
}

double PendingDemand(const CatalogRequest& request, const WindowView& view, const PodSet& pods,
                     const KubeState& state, const CurrentSeries& current) {
  double sum = 0;
  for (const SeriesWindow& s :
       Kept(request, view, "kube_pod_container_resource_requests", pods)) {
    if (!current(s)) continue;
    if (!s.Label("node").empty()) continue;  // scheduled: its node holds the GPUs
    if (state.pending.count({std::string(s.Label("namespace")), std::string(s.Label("pod"))})) {
      sum += Last(s);
    }
  }
  return sum;
}

double FreeAllocatable(const WindowView& view, const KubeState& state,
                       const CurrentSeries& current) {
  std::map<std::string, double> allocatable;  // node -> last allocatable
  std::map<std::string, double> requested;    // node -> requests of live pods on it
  std::set<std::string> cordoned;
  for (const SeriesWindow& s : view.series) {
    if (!current(s)) continue;
    const std::string_view name = s.Label("__name__");
    const std::string node(s.Label("node"));
    if (name == "kube_node_status_allocatable") {
      allocatable[node] = Last(s);
    } else if (name == "kube_node_spec_unschedulable") {
      if (Last(s) == 1) cordoned.insert(node);
    } else if (name == "kube_pod_container_resource_requests" && !node.empty() &&
               state.pending_or_run.count(
                   {std::string(s.Label("namespace")), std::string(s.Label("pod"))})) {
      requested[node] += Last(s);
    }
  }
  double free = 0;
  for (const auto& [node, capacity] : allocatable) {
    if (cordoned.count(node)) continue;
    auto used = requested.find(node);
    free += std::max(0.0, capacity - (used == requested.end() ? 0.0 : used->second));
  }
  return free;
}

}  // namespace

std::optional<double> EvaluateCatalog(const CatalogRequest& request, const WindowView& view,
                                      kernels::PrometheusVersion version) {
  return EvaluateCatalog(request, view,
                         request.has_pod_requirements() ? request.PodsOf(view) : PodSet{},
                         version);
}

std::optional<double> EvaluateCatalog(const CatalogRequest& request, const WindowView& view,
                                      const PodSet& pods, kernels::PrometheusVersion version) {
  switch (request.entry().plan) {
    case CatalogPlan::kGauge:
    case CatalogPlan::kHistogramQuantile:
      return PrimaryOrFallback(request, view, pods, version);
    case CatalogPlan::kUsedRatio:
      return UsedRatio(request, view, pods);
    case CatalogPlan::kIncreaseRatio:
      return IncreaseRatio(request, view, pods, version);
    case CatalogPlan::kPendingDemand:
    case CatalogPlan::kHeadroomDeficit: {
      const CurrentSeries current(view);
      const KubeState state = ReadPhases(view, current);
      if (!state.has_phase) return std::nullopt;
      const double pending = PendingDemand(request, view, pods, state, current);
      if (request.entry().plan == CatalogPlan::kPendingDemand) return pending;
      const double want = pending + static_cast<double>(request.config().gpu_buffer);
      return std::max(0.0, want - FreeAllocatable(view, state, current));
    }
  }
  return std::nullopt;
}

}  // namespace sextant::scaling

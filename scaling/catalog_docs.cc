#include "scaling/catalog_docs.h"

#include "query/promql.h"
#include "scaling/provider_util.h"
#include "scaling/signal_config.h"

namespace sextant::scaling {
namespace {

using query::LabelMatcher;

std::string Range(const CatalogEntry& e) { return "[" + FormatPromqlDuration(e.window) + "]"; }

// `f(selector[w])` for the over-time function f.
std::string OverTimeCall(OverTime f, const std::string& range_selector) {
  switch (f) {
    case OverTime::kRate:
    case OverTime::kIncrease:
    case OverTime::kDelta:
      return OverTimeName(f, 0) + "(" + range_selector + ")";
    default:
      return OverTimeName(f, 0) + "_over_time(" + range_selector + ")";
  }
}

std::vector<LabelMatcher> FixedMatchers(const CatalogEntry& e) {
  if (e.matchers.empty()) return {};
  auto parsed = query::ParseVectorSelector("{" + std::string(e.matchers) + "}");
  return parsed.ok() ? parsed->matchers : std::vector<LabelMatcher>{};
}

// The per-series expression `call(metric{...}[w])` over the entry's namespace selection: for
// DCGM the union of the plain and the exported pod mapping.
std::string PerSeries(const CatalogEntry& e, const std::string& metric, const std::string& ns,
                      OverTime f) {
  std::vector<LabelMatcher> m = FixedMatchers(e);
  switch (e.family) {
    case CatalogFamily::kDcgm: {
      std::vector<LabelMatcher> plain = m, exported = m;
      plain.push_back({"namespace", LabelMatcher::Op::kEqual, ns});
      plain.push_back({"exported_namespace", LabelMatcher::Op::kEqual, ""});
      exported.push_back({"exported_namespace", LabelMatcher::Op::kEqual, ns});
      return "(" + OverTimeCall(f, query::RenderSelector(metric, plain) + Range(e)) + " or " +
             OverTimeCall(f, query::RenderSelector(metric, exported) + Range(e)) + ")";
    }
    case CatalogFamily::kServer:
      m.push_back({"namespace", LabelMatcher::Op::kEqual, ns});
      break;
    default:
      break;
  }
  std::string selector = query::RenderSelector(metric, m);
  if (selector.ends_with("{}")) selector.resize(selector.size() - 2);
  return OverTimeCall(f, selector + Range(e));
}

// kube-state-metrics' current value: an instant selector (scaling/catalog_eval.h).
std::string Last(const std::string& selector) { return selector; }

std::string PendingPromql(const CatalogConfig& config) {
  const std::string r = config.KubeStateResource();
  return "sum(" +
         Last(query::RenderSelector("kube_pod_container_resource_requests",
                                    {{"resource", LabelMatcher::Op::kEqual, r},
                                     {"node", LabelMatcher::Op::kEqual, ""}})) +
         " * on (namespace, pod) group_left () max by (namespace, pod) (" +
         Last("kube_pod_status_phase{phase=\"Pending\"}") + " == 1)) or vector(0)";
}

std::string FreePromql(const CatalogConfig& config) {
  const std::string r = config.KubeStateResource();
  const std::string alloc =
      "(" +
      Last(query::RenderSelector("kube_node_status_allocatable",
                                 {{"resource", LabelMatcher::Op::kEqual, r}})) +
      " unless on (node) (" + Last("kube_node_spec_unschedulable") + " == 1))";
  const std::string used =
      "sum by (node) (" +
      Last(query::RenderSelector("kube_pod_container_resource_requests",
                                 {{"resource", LabelMatcher::Op::kEqual, r},
                                  {"node", LabelMatcher::Op::kNotEqual, ""}})) +
      " * on (namespace, pod) group_left () max by (namespace, pod) (" +
      Last("kube_pod_status_phase{phase=~\"Pending|Running\"}") + " == 1))";
  return "sum(clamp_min(" + alloc + " - on (node) (" + used + " or on (node) 0 * " + alloc +
         "), 0)) or vector(0)";
}

}  // namespace

std::string CatalogPromql(const CatalogEntry& e, const CatalogConfig& config,
                          const std::string& ns) {
  switch (e.plan) {
    case CatalogPlan::kGauge: {
      std::string out;
      for (std::string_view metric : e.metrics) {
        if (!out.empty()) out += " or ";
        out += AcrossName(e.across) + "(" + PerSeries(e, std::string(metric), ns, e.over_time) +
               ")";
      }
      return out;
    }
    case CatalogPlan::kHistogramQuantile: {
      std::string out;
      for (std::string_view metric : e.metrics) {
        if (!out.empty()) out += " or ";
        out += "histogram_quantile(" + FormatPromqlNumber(e.quantile) + ", sum by (le) (" +
               PerSeries(e, std::string(metric) + "_bucket", ns, OverTime::kRate) + "))";
      }
      return out;
    }
    case CatalogPlan::kUsedRatio: {
      const std::string used = PerSeries(e, std::string(e.metrics[0]), ns, OverTime::kAvg);
      const std::string free = PerSeries(e, std::string(e.metrics[1]), ns, OverTime::kAvg);
      return "avg(" + used + " / (" + used + " + " + free + "))";
    }
    case CatalogPlan::kIncreaseRatio:
      return "sum(" + PerSeries(e, std::string(e.metrics[0]), ns, OverTime::kIncrease) +
             ") / sum(" + PerSeries(e, std::string(e.metrics[1]), ns, OverTime::kIncrease) + ")";
    case CatalogPlan::kPendingDemand:
      return PendingPromql(config);
    case CatalogPlan::kHeadroomDeficit:
      return "clamp_min((" + PendingPromql(config) + ") + " + std::to_string(config.gpu_buffer) +
             " - (" + FreePromql(config) + "), 0)";
  }
  return "";
}

std::string CatalogSeriesKeys(const CatalogEntry& e) {
  if (e.family == CatalogFamily::kNeuron) return "every key";
  std::vector<std::string> keys = {"job", "instance", "pod", "container"};
  keys.insert(keys.end(), e.series_keys.begin(), e.series_keys.end());
  return Join(keys, ", ");
}

std::string CatalogMarkdown() {
  const CatalogConfig defaults;
  std::string out;
  std::string_view family;
  for (const CatalogEntry& e : Catalog()) {
    if (e.family_name != family) {
      family = e.family_name;
      out += (out.empty() ? "" : "\n") + std::string("#### ") + std::string(family) + "\n\n";
      out += "| name | unit | HPA target | series keys | value (namespace NS, no selector) |\n";
      out += "|---|---|---|---|---|\n";
    }
    std::string target(e.target_type);
    if (!e.typical_target.empty()) target += ", e.g. " + std::string(e.typical_target);
    std::string promql = CatalogPromql(e, defaults, "NS");
    std::string escaped;
    for (char c : promql) {
      if (c == '|') escaped += '\\';
      escaped += c;
    }
    out += "| `" + std::string(e.name) + "` | " + std::string(e.unit) + " | " + target + " | " +
           CatalogSeriesKeys(e) + " | `" + escaped + "` |\n";
  }
  return out;
}

}  // namespace sextant::scaling

#include "scaling/catalog_request.h"

#include <algorithm>

#include "query/promql.h"
#include "scaling/selector_matchers.h"

namespace sextant::scaling {
namespace {

using query::LabelMatcher;

// Label names every family's series may carry: Prometheus' target labels and the pod mapping.
constexpr std::string_view kCommonKeys[] = {"job", "instance", "pod", "container"};

// `{__name__=~"a|b",matchers}` for several names, `a{matchers}` for one.
std::string PartSelector(const std::vector<std::string>& names,
                         std::vector<LabelMatcher> matchers) {
  if (names.size() == 1) {
    std::string out = query::RenderSelector(names[0], matchers);
    if (out.ends_with("{}")) out.resize(out.size() - 2);  // `name`, not `name{}`
    return out;
  }
  matchers.insert(matchers.begin(), {"__name__", LabelMatcher::Op::kRegexMatch,
                                     query::JoinRegexAlternatives(names)});
  return query::RenderSelector("", matchers);
}

// The requirement with its key as the label name the selector path would use.
apiserver::Requirement AsLabelRequirement(apiserver::Requirement r) {
  if (!query::IsValidLabelName(r.key)) r.key = query::SanitizeLabelName(r.key);
  return r;
}

}  // namespace

bool SeriesKey(const CatalogEntry& entry, std::string_view key) {
  if (entry.family == CatalogFamily::kNeuron) return true;
  for (std::string_view k : kCommonKeys) {
    if (k == key) return true;
  }
  for (std::string_view k : entry.series_keys) {
    if (k == key) return true;
  }
  return false;
}

apiserver::Labels WorkloadLabels(const CatalogEntry& entry, const SeriesWindow& series) {
  apiserver::Labels labels;
  for (auto& [name, value] : DecodeLabels(series.labels_key)) {
    if (!value.empty()) labels.emplace(name, value);
  }
  if (entry.family != CatalogFamily::kDcgm) return labels;
  if (auto exported = labels.find("exported_namespace"); exported != labels.end()) {
    for (const char* name : {"namespace", "pod", "container"}) {
      auto from = labels.find(std::string("exported_") + name);
      if (from == labels.end()) {
        labels.erase(name);
      } else {
        labels[name] = from->second;
      }
    }
  }
  std::string host;
  if (auto h = labels.find("Hostname"); h != labels.end()) {
    host = h->second;
  } else if (auto h2 = labels.find("hostname"); h2 != labels.end()) {
    host = h2->second;
  }
  if (!host.empty()) {
    labels["Hostname"] = host;
    labels["hostname"] = host;
  }
  return labels;
}

Result<CatalogRequest> CatalogRequest::Make(const CatalogEntry& entry, const CatalogConfig& config,
                                            const std::string& namespace_name,
                                            const apiserver::LabelSelector& selector,
                                            bool pod_labels_available) {
  // Refuses what no selector path can express (gt, lt) with the query path's message.
  Result<SelectorMatchers> all = SelectorToMatchers(selector);
  if (!all.ok()) return all.status();

  CatalogRequest out;
  out.entry_ = &entry;
  out.config_ = &config;
  // The headroom entries never fall back: without kube_pod_labels a pod-label key selects
  // no pending pod (rather than, for `notin`, every pod, placeholders included).
  const bool pod_mapped =
      entry.family == CatalogFamily::kKubeState ||
      (entry.family != CatalogFamily::kNeuron && pod_labels_available);
  for (const apiserver::Requirement& r : selector.requirements()) {
    if (!pod_mapped || SeriesKey(entry, r.key)) {
      out.series_requirements_.push_back(AsLabelRequirement(r));
    } else {
      apiserver::Requirement pod = r;
      pod.key = "label_" + r.key;  // kube-state-metrics' spelling, sanitized below
      out.pod_requirements_.push_back(std::move(pod));
    }
  }

  std::vector<std::string> parts;
  const bool cluster_wide =
      entry.family == CatalogFamily::kNeuron || entry.family == CatalogFamily::kKubeState;
  switch (entry.family) {
    case CatalogFamily::kKubeState: {
      const std::string resource = config.KubeStateResource();
      parts.push_back(query::RenderSelector(
          "kube_pod_status_phase",
          {{"phase", LabelMatcher::Op::kRegexMatch, "Pending|Running"}}));
      parts.push_back(query::RenderSelector("kube_pod_container_resource_requests",
                                            {{"resource", LabelMatcher::Op::kEqual, resource}}));
      parts.push_back(query::RenderSelector("kube_node_status_allocatable",
                                            {{"resource", LabelMatcher::Op::kEqual, resource}}));
      parts.push_back("kube_node_spec_unschedulable");
      break;
    }
    default: {
      std::vector<std::string> names = CatalogSeriesNames(entry);
      std::vector<LabelMatcher> fixed;
      if (!entry.matchers.empty()) {
        Result<query::ParsedSelector> parsed =
            query::ParseVectorSelector("{" + std::string(entry.matchers) + "}");
        if (!parsed.ok()) return parsed.status();  // a catalog bug; tests parse every entry
        fixed = parsed->matchers;
      }
      if (entry.family == CatalogFamily::kDcgm) {
        std::vector<LabelMatcher> plain = fixed;
        plain.push_back({"namespace", LabelMatcher::Op::kEqual, namespace_name});
        plain.push_back({"exported_namespace", LabelMatcher::Op::kEqual, ""});
        std::vector<LabelMatcher> exported = fixed;
        exported.push_back({"exported_namespace", LabelMatcher::Op::kEqual, namespace_name});
        parts.push_back(PartSelector(names, plain));
        parts.push_back(PartSelector(names, exported));
      } else if (entry.family == CatalogFamily::kServer) {
        fixed.push_back({"namespace", LabelMatcher::Op::kEqual, namespace_name});
        parts.push_back(PartSelector(names, fixed));
      } else {
        parts.push_back(PartSelector(names, fixed));
      }
    }
  }
  if (!out.pod_requirements_.empty()) {
    Result<SelectorMatchers> pod_matchers =
        SelectorToMatchers(apiserver::LabelSelector::FromRequirements(out.pod_requirements_));
    if (!pod_matchers.ok()) return pod_matchers.status();
    std::vector<LabelMatcher> matchers;
    if (!cluster_wide) matchers.push_back({"namespace", LabelMatcher::Op::kEqual, namespace_name});
    matchers.insert(matchers.end(), pod_matchers->matchers.begin(), pod_matchers->matchers.end());
    out.pod_labels_selector_ = query::RenderSelector("kube_pod_labels", matchers);
  }
  for (const std::string& part : parts) {
    if (!out.selector_.empty()) out.selector_ += '\n';
    out.selector_ += part;
  }
  return out;
}

CurrentSeries::CurrentSeries(const WindowView& view) {
  for (const SeriesWindow& s : view.series) {
    if (s.size == 0) continue;
    Target& target = targets_[TargetKey(s)];
    const int64_t last = s.timestamp_ms(s.size - 1);
    target.latest = std::max(target.latest, last);
    newest_ = std::max(newest_, last);
    if (s.size >= 2) {
      const int64_t gap = last - s.timestamp_ms(s.size - 2);
      if (gap > 0 && (target.interval == 0 || gap < target.interval)) target.interval = gap;
    }
  }
}

bool CurrentSeries::operator()(const SeriesWindow& s) const {
  if (s.size == 0) return false;
  auto it = targets_.find(TargetKey(s));
  if (it == targets_.end()) return false;
  const Target& target = it->second;
  if (s.timestamp_ms(s.size - 1) != target.latest) return false;  // ended before the last scrape
  if (target.latest == newest_) return true;
  // Another target scraped later: this one is alive while within 1.5 of its intervals (or,
  // with one scrape in the window, its interval unknown, while in the window at all).
  return target.interval == 0 || (newest_ - target.latest) * 2 < target.interval * 3;
}

std::string CurrentSeries::TargetKey(const SeriesWindow& s) {
  return std::string(s.Label("job")) + '\xff' + std::string(s.Label("instance"));
}

std::set<std::pair<std::string, std::string>> CatalogRequest::PodsOf(
    const WindowView& view) const {
  std::set<std::pair<std::string, std::string>> pods;
  const CurrentSeries current(view);
  for (const SeriesWindow& s : view.series) {
    if (!current(s) || s.Label("__name__") != "kube_pod_labels") continue;
    pods.emplace(std::string(s.Label("namespace")), std::string(s.Label("pod")));
  }
  return pods;
}

bool LabelRequirementMatches(const apiserver::Requirement& r, const apiserver::Labels& labels) {
  auto found = labels.find(r.key);
  const std::string empty;
  const std::string& value = found == labels.end() ? empty : found->second;
  auto listed = [&] { return std::find(r.values.begin(), r.values.end(), value) != r.values.end(); };
  switch (r.op) {
    case apiserver::SelectorOperator::kEquals:
    case apiserver::SelectorOperator::kDoubleEquals:
    case apiserver::SelectorOperator::kIn:
      return listed();
    case apiserver::SelectorOperator::kNotEquals:
    case apiserver::SelectorOperator::kNotIn:
      return !listed();
    case apiserver::SelectorOperator::kExists:
      return !value.empty();
    case apiserver::SelectorOperator::kDoesNotExist:
      return value.empty();
    case apiserver::SelectorOperator::kGreaterThan:
    case apiserver::SelectorOperator::kLessThan:
      return false;  // refused by Make
  }
  return false;
}

bool CatalogRequest::Keep(const SeriesWindow& series,
                          const std::set<std::pair<std::string, std::string>>& pods) const {
  if (series_requirements_.empty() && pod_requirements_.empty()) return true;
  const apiserver::Labels labels = WorkloadLabels(*entry_, series);
  for (const apiserver::Requirement& r : series_requirements_) {
    if (!LabelRequirementMatches(r, labels)) return false;
  }
  if (pod_requirements_.empty()) return true;
  auto ns = labels.find("namespace");
  auto pod = labels.find("pod");
  if (ns == labels.end() || pod == labels.end()) return false;
  return pods.count({ns->second, pod->second}) > 0;
}

}  // namespace sextant::scaling

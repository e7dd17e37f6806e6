#include "scaling/external_rule_provider.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

#include "common/log.h"
#include "scaling/provider_util.h"
#include "scaling/selector_matchers.h"

namespace sextant::scaling {

ExternalRuleProvider::ExternalRuleProvider(std::vector<ExternalRule> rules,
                                           query::PrometheusClient& client,
                                           ExternalRuleProviderOptions options)
    : rules_(std::move(rules)),
      client_(client),
      options_(options),
      registry_(std::make_shared<const Registry>()) {}

ExternalRuleProvider::~ExternalRuleProvider() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (relist_thread_.joinable()) relist_thread_.join();
}

void ExternalRuleProvider::Start() {
  relist_thread_ = std::thread([this] { RelistLoop(); });
}

void ExternalRuleProvider::RelistLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    DiscoverNow();
    ready_.store(true);
    lock.lock();
    cv_.wait_for(lock, options_.relist_interval, [this] { return stopping_; });
  }
}

std::shared_ptr<const ExternalRuleProvider::Registry> ExternalRuleProvider::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return registry_;
}

std::optional<DiscoveredMetric> ExternalRuleProvider::Lookup(const std::string& name) const {
  auto registry = Snapshot();
  auto it = registry->find(Lower(name));
  if (it == registry->end()) return std::nullopt;
  return it->second;
}

Result<std::vector<DiscoveredMetric>> ExternalRuleProvider::DiscoverNow() {
  const auto deadline = std::chrono::steady_clock::now() + options_.discovery_timeout;
  const auto end = std::chrono::system_clock::now();
  const auto max_age = options_.metrics_max_age.count() > 0 ? options_.metrics_max_age
                                                            : options_.relist_interval;
  const auto start = end - max_age;

  std::map<std::string, Result<std::vector<query::LabelSet>>> by_query;
  for (const ExternalRule& rule : rules_) {
    if (by_query.count(rule.series_query)) continue;
    by_query.emplace(rule.series_query,
                     client_.Series({rule.series_query}, start, end, deadline));
  }
  auto previous = Snapshot();
  auto next = std::make_shared<Registry>();
  const auto now = std::chrono::steady_clock::now();
  bool all_ok = true;
  for (size_t i = 0; i < rules_.size(); ++i) {
    const ExternalRule& rule = rules_[i];
    const auto& series = by_query.at(rule.series_query);
    if (!series.ok()) {
      all_ok = false;
      SEXTANT_LOG(WARNING) << "series discovery for rule at " << rule.where
                           << " failed: " << series.status().ToString()
                           << "; keeping its previously known metrics";
      continue;
    }
    std::set<std::string> names;
    for (const query::LabelSet& labels : *series) {
      auto name = labels.find("__name__");
      if (name != labels.end()) names.insert(name->second);
    }
    for (const std::string& series_name : names) {
      if (!rule.SelectsSeries(series_name)) continue;
      std::optional<std::string> metric_name = rule.name.MetricNameFor(series_name);
      if (!metric_name || metric_name->empty()) continue;
      const std::string key = Lower(*metric_name);
      if (next->count(key)) {
        SEXTANT_VLOG(2) << "metric \"" << *metric_name << "\" from series " << series_name
                        << " is already served by series " << next->at(key).series_name;
        continue;
      }
      next->emplace(key, DiscoveredMetric{*metric_name, i, series_name,
                                          rule.resources.Namespaced(), now});
    }
  }
  // Metrics not seen this round stay for forget_after (a failed rule keeps all of its own).
  for (const auto& [key, metric] : *previous) {
    if (next->count(key)) continue;
    if (now - metric.last_seen < options_.forget_after) next->emplace(key, metric);
  }
  last_discovery_ok_.store(all_ok);
  std::vector<DiscoveredMetric> found;
  for (const auto& [key, metric] : *next) found.push_back(metric);
  {
    std::lock_guard<std::mutex> lock(mu_);
    registry_ = std::move(next);
    last_discovery_ = std::chrono::steady_clock::now();
  }
  SEXTANT_VLOG(1) << "series discovery found " << found.size() << " external metrics"
                  << (all_ok ? "" : " (some rules failed)");
  return found;
}

void ExternalRuleProvider::DiscoverOnDemand(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  if (discovery_running_) {
    // Someone else is discovering: wait for their answer instead of asking again.
    cv_.wait_until(lock, deadline, [this] { return !discovery_running_ || stopping_; });
    return;
  }
  if (std::chrono::steady_clock::now() - last_discovery_ < options_.on_demand_min_interval) {
    return;
  }
  discovery_running_ = true;
  lock.unlock();
  DiscoverNow();
  lock.lock();
  discovery_running_ = false;
  cv_.notify_all();
}

std::vector<apiserver::ExternalMetricInfo> ExternalRuleProvider::ListExternalMetrics() {
  std::vector<apiserver::ExternalMetricInfo> out;
  for (const auto& [key, metric] : *Snapshot()) out.push_back({metric.name, metric.namespaced});
  return out;
}

Result<std::string> RenderRuleQuery(const ExternalRule& rule, const DiscoveredMetric& metric,
                                    const std::string& namespace_name,
                                    const apiserver::LabelSelector& selector) {
  Result<SelectorMatchers> matchers = SelectorToMatchers(selector);
  if (!matchers.ok()) return matchers.status();
  if (metric.namespaced) {
    const std::string label = rule.resources.NamespaceLabel();
    matchers->matchers.insert(matchers->matchers.begin(),
                              {label, query::LabelMatcher::Op::kEqual, namespace_name});
    matchers->values_by_name[label] = {namespace_name};
  }
  TemplateValues values;
  values.series = metric.series_name;
  values.label_matchers = query::RenderMatchers(matchers->matchers);
  for (const auto& [label, list] : matchers->values_by_name) {
    values.label_values_by_name[label] = Join(list, "|");
  }
  Result<std::string> expr = rule.metrics_query.Render(values);
  if (!expr.ok()) {
    SEXTANT_LOG(WARNING) << "metricsQuery of rule at " << rule.where
                         << " failed to render: " << expr.status().message();
    return InternalError("metric \"" + metric.name + "\" could not be computed");
  }
  return expr;
}

Result<std::vector<apiserver::ExternalMetricValue>> ExternalRuleProvider::GetExternalMetric(
    const apiserver::ExternalMetricRequest& request) {
  std::optional<DiscoveredMetric> metric = Lookup(request.metric_name);
  if (!metric) {
    DiscoverOnDemand(request.deadline);
    metric = Lookup(request.metric_name);
  }
  if (!metric) {
    return NotFoundError("the server could not find the metric \"" + request.metric_name +
                         "\"");
  }
  Result<std::string> expr = RenderRuleQuery(rules_.at(metric->rule_index), *metric,
                                             request.namespace_name, request.selector);
  if (!expr.ok()) return expr.status();

  Result<query::QueryResult> result = client_.Query(*expr, std::nullopt, request.deadline);
  if (!result.ok()) {
    SEXTANT_LOG(WARNING) << "query for metric \"" << metric->name << "\" failed: "
                         << result.status().ToString() << "; query: " << *expr;
    return ClientSafe(result.status(), metric->name);
  }
  for (const std::string& warning : result->warnings) {
    SEXTANT_LOG(WARNING) << "backend warning for metric \"" << metric->name
                         << "\": " << warning;
  }
  std::vector<apiserver::ExternalMetricValue> items;
  auto add = [&](const query::LabelSet& labels, const query::Sample& sample) {
    Result<apiserver::Quantity> value = apiserver::Quantity::FromDouble(sample.value);
    if (!value.ok()) {  // NaN or ±Inf never become a value
      non_finite_dropped_.fetch_add(1);
      return;
    }
    items.push_back({metric->name, labels, FromMillis(sample.timestamp_ms), std::nullopt,
                     std::move(*value)});
  };
  switch (result->type) {
    case query::QueryResult::Type::kVector:
      for (const query::InstantSeries& s : result->vector) add(s.labels, s.sample);
      break;
    case query::QueryResult::Type::kScalar:
      add({}, result->scalar);
      break;
    default:
      SEXTANT_LOG(WARNING) << "metricsQuery of metric \"" << metric->name
                           << "\" returned neither a vector nor a scalar; query: " << *expr;
      return InternalError("metric \"" + metric->name + "\" could not be computed");
  }
  if (items.empty() && rules_.at(metric->rule_index).empty_result_zero) {
    items.push_back({metric->name, {}, std::chrono::system_clock::now(), std::nullopt,
                     apiserver::Quantity::FromInt(0, apiserver::Quantity::Format::kDecimalSI)});
  }
  return items;
}

}  // namespace sextant::scaling

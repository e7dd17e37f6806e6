#include "server/validate_command.h"

#include <set>

#include "apiserver/label_selector.h"
#include "query/promql.h"
#include "scaling/catalog.h"
#include "scaling/catalog_docs.h"
#include "scaling/catalog_request.h"
#include "scaling/external_rule_provider.h"
#include "scaling/signal_provider.h"
#include "server/options.h"
#include "server/provider_factory.h"

namespace sextant::server {
namespace {

struct ValidateArgs {
  std::string namespace_name = "default";
  std::string selector;
  std::vector<std::string> server_args;  // --config and --prometheus-* go to the flag parser
};

// The series name a seriesQuery names, if it names one: `name{...}` or {__name__="name"}.
std::optional<std::string> SeriesNameOf(const std::string& series_query) {
  auto parsed = query::ParseVectorSelector(series_query);
  if (!parsed.ok()) return std::nullopt;
  if (!parsed->metric_name.empty()) return parsed->metric_name;
  for (const auto& m : parsed->matchers) {
    if (m.name == "__name__" && m.op == query::LabelMatcher::Op::kEqual) return m.value;
  }
  return std::nullopt;
}

void PrintMetric(const scaling::ExternalRule& rule, const scaling::DiscoveredMetric& metric,
                 const ValidateArgs& args, const apiserver::LabelSelector& selector,
                 std::ostream& out) {
  out << "  metric " << metric.name << " (series " << metric.series_name << ", "
      << (metric.namespaced ? "namespaced by label " + rule.resources.NamespaceLabel()
                            : std::string("not namespaced"))
      << ")\n";
  auto expr = scaling::RenderRuleQuery(rule, metric, args.namespace_name, selector);
  if (expr.ok()) {
    out << "    promql: " << *expr << "\n";
  } else {
    out << "    promql: cannot render: " << expr.status().message() << "\n";
  }
}

// A signal's definition and the PromQL whose value it equals (scaling/signal_provider.h).
void PrintSignal(const scaling::SignalSpec& spec, const ValidateArgs& args,
                 const apiserver::LabelSelector& selector, std::ostream& out) {
  const bool histogram = spec.kind == scaling::SignalSpec::Kind::kHistogram;
  out << "signal " << spec.name << " at " << spec.where << "\n  "
      << (histogram ? "histogram: " : "series: ") << spec.source_text << "\n  window "
      << scaling::FormatPromqlDuration(spec.window);
  if (histogram) {
    out << ", quantile " << scaling::FormatPromqlNumber(spec.quantile);
  } else {
    out << ", overTime " << scaling::OverTimeName(spec.over_time, spec.over_time_quantile)
        << ", across " << scaling::AcrossName(spec.across);
  }
  if (!spec.by.empty()) {
    out << ", by (";
    for (size_t i = 0; i < spec.by.size(); ++i) out << (i ? ", " : "") << spec.by[i];
    out << ")";
  }
  out << ", "
      << (spec.namespaced ? "namespaced by label " + spec.namespace_label
                          : std::string("not namespaced"))
      << "\n";
  auto expr = scaling::EquivalentPromql(spec, args.namespace_name, selector);
  if (expr.ok()) {
    out << "  promql: " << *expr << "\n";
  } else {
    out << "  promql: cannot render: " << expr.status().message() << "\n";
  }
}

// The catalog entries the config leaves on, each with the series it reads for the example
// request; with a live Prometheus, which of them discovery lists.
// Returns false when discovery against a live Prometheus failed (the reason on `err`).
bool PrintCatalog(const scaling::CatalogConfig& catalog, scaling::CatalogProvider* live,
                  const ValidateArgs& args, const apiserver::LabelSelector& selector,
                  std::ostream& out, std::ostream& err) {
  std::set<std::string> listed;
  bool discovered = true;
  if (live != nullptr) {
    const Status status = live->DiscoverNow();
    if (status.ok()) {
      for (const auto& info : live->ListExternalMetrics()) listed.insert(info.name);
    } else {
      err << "catalog discovery against Prometheus failed: " << status.ToString() << "\n";
      discovered = false;
    }
  }
  const bool pod_labels = live == nullptr || live->pod_labels_available();
  size_t on = 0;
  for (const scaling::CatalogEntry& e : scaling::Catalog()) on += catalog.Serves(std::string(e.name));
  out << "catalog: " << on << " of " << scaling::Catalog().size() << " entries on";
  if (!catalog.enabled) out << " (catalog.enabled: false)";
  out << "; GPU headroom: resource " << catalog.gpu_resource << ", buffer " << catalog.gpu_buffer
      << "\n";
  for (const scaling::CatalogEntry& e : scaling::Catalog()) {
    if (!catalog.Serves(std::string(e.name))) continue;
    out << "catalog " << e.name;
    if (live != nullptr) out << (listed.count(std::string(e.name)) ? " (listed)" : " (no series)");
    out << "\n  equivalent PromQL: "
        << scaling::CatalogPromql(e, catalog, args.namespace_name) << "\n";
    auto request =
        scaling::CatalogRequest::Make(e, catalog, args.namespace_name, selector, pod_labels);
    if (!request.ok()) {
      out << "  example request: " << request.status().message() << "\n";
      continue;
    }
    std::string parts = request->selector();
    for (size_t i = 0; (i = parts.find('\n', i)) != std::string::npos;) parts.replace(i, 1, "; ");
    out << "  reads: " << parts << "\n";
    if (request->has_pod_requirements()) {
      out << "  pods from: " << request->pod_labels_selector() << "\n";
    }
  }
  return discovered;
}

}  // namespace

int RunValidate(const std::vector<std::string>& raw_args, std::ostream& out, std::ostream& err) {
  ValidateArgs args;
  for (size_t i = 0; i < raw_args.size(); ++i) {
    const std::string& a = raw_args[i];
    auto value = [&](const std::string& flag) -> std::optional<std::string> {
      if (a == flag && i + 1 < raw_args.size()) return raw_args[++i];
      if (a.rfind(flag + "=", 0) == 0) return a.substr(flag.size() + 1);
      return std::nullopt;
    };
    if (auto v = value("--namespace")) {
      args.namespace_name = *v;
    } else if (auto s = value("--selector")) {
      args.selector = *s;
    } else {
      args.server_args.push_back(a);
    }
  }
  auto options = ParseServerOptions(args.server_args);
  if (!options.ok()) {
    err << "sextant validate: " << options.status().message() << "\n";
    return 2;
  }
  if (options->config_file.empty()) {
    err << "sextant validate: --config FILE is required\n";
    return 2;
  }
  auto selector = apiserver::LabelSelector::Parse(args.selector);
  if (!selector.ok()) {
    err << "sextant validate: --selector: " << selector.status().message() << "\n";
    return 2;
  }
  auto config = scaling::LoadAdapterConfig(options->config_file);
  if (!config.ok()) {
    err << config.status().message() << "\n";
    return 1;
  }
  out << options->config_file << ": valid; " << config->external_rules.size()
      << " external rules, " << config->signals.size() << " signals";
  if (config->ignored_rules || config->ignored_resource_rules) {
    out << " (" << scaling::IgnoredRulesNotice(*config) << ")";
  }
  out << "\nexample request: namespace " << args.namespace_name << ", labelSelector \""
      << selector->String() << "\"\n";

  std::vector<scaling::DiscoveredMetric> discovered;
  bool live = options->prometheus.url.has_value() || !config->prometheus.url.empty();
  ProviderBundle bundle;
  bool discovery_failed = false;
  if (live) {
    auto built = BuildProvider(*options);
    if (!built.ok()) {
      err << built.status().message() << "\n";
      return 1;
    }
    if (built->rules) {
      auto found = built->rules->DiscoverNow();
      if (found.ok()) discovered = *found;
      if (!found.ok() || !built->rules->last_discovery_ok()) {
        err << "series discovery against Prometheus failed (see the log above)\n";
        discovery_failed = true;
      }
    }
    bundle = std::move(*built);
  }
  for (size_t i = 0; i < config->external_rules.size(); ++i) {
    const scaling::ExternalRule& rule = config->external_rules[i];
    out << "rule " << i + 1 << " at " << rule.where << "\n  seriesQuery: " << rule.series_query
        << "\n  metricsQuery: " << rule.metrics_query_text << "\n";
    bool shown = false;
    for (const auto& metric : discovered) {
      if (metric.rule_index != i) continue;
      PrintMetric(rule, metric, args, *selector, out);
      shown = true;
    }
    if (shown) continue;
    if (live) {  // discovery ran: a series it did not find is not served
      out << "  (metric names come from series discovery: none found)\n";
      continue;
    }
    auto series = SeriesNameOf(rule.series_query);
    std::optional<std::string> name;
    if (series && rule.SelectsSeries(*series)) name = rule.name.MetricNameFor(*series);
    if (!name) {
      out << "  (metric names come from series discovery" << (live ? ": none found" : "")
          << ")\n";
      continue;
    }
    PrintMetric(rule, {*name, i, *series, rule.resources.Namespaced(), {}}, args, *selector, out);
  }
  for (const scaling::SignalSpec& spec : config->signals) {
    PrintSignal(spec, args, *selector, out);
  }
  if (!PrintCatalog(config->catalog, bundle.catalog, args, *selector, out, err)) {
    discovery_failed = true;
  }
  return discovery_failed ? 1 : 0;
}

}  // namespace sextant::server

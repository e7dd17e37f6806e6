#include "scaling/static_provider.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "scaling/provider_util.h"

namespace sextant::scaling {
namespace {

std::string Where(const std::string& source, const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  std::ostringstream out;
  out << source;
  if (mark.line >= 0) out << ":" << mark.line + 1 << ":" << mark.column + 1;
  return out.str();
}

Status CheckKeys(const std::string& source, const YAML::Node& node,
                 const std::set<std::string>& allowed, const std::string& what) {
  if (!node.IsMap()) return InvalidArgumentError(Where(source, node) + ": " + what + " must be a mapping");
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    if (!allowed.count(key)) {
      return InvalidArgumentError(Where(source, entry.first) + ": unknown key \"" + key +
                                  "\" in " + what);
    }
  }
  return OkStatus();
}

Result<StaticProvider::Series> ParseSeries(const std::string& source,
                                           const YAML::Node& node) {
  SEXTANT_RETURN_IF_ERROR(CheckKeys(source, node, {"labels", "value"}, "series"));
  StaticProvider::Series series;
  if (node["labels"]) {
    if (!node["labels"].IsMap()) {
      return InvalidArgumentError(Where(source, node["labels"]) + ": labels must be a mapping");
    }
    for (const auto& label : node["labels"]) {
      series.labels[label.first.as<std::string>()] = label.second.as<std::string>();
    }
  }
  if (!node["value"]) {
    return InvalidArgumentError(Where(source, node) + ": series needs a value");
  }
  double value = node["value"].as<double>();
  Result<apiserver::Quantity> quantity = apiserver::Quantity::FromDouble(value);
  if (!quantity.ok()) {
    return InvalidArgumentError(Where(source, node["value"]) +
                                ": value must be a finite number");
  }
  series.value = *quantity;
  return series;
}

Result<StaticProvider::Metric> ParseMetric(const std::string& source,
                                           const YAML::Node& node) {
  SEXTANT_RETURN_IF_ERROR(CheckKeys(
      source, node,
      {"name", "namespaced", "unavailable", "delaySeconds", "windowSeconds", "series"},
      "metric"));
  StaticProvider::Metric metric;
  if (!node["name"] || node["name"].as<std::string>().empty()) {
    return InvalidArgumentError(Where(source, node) + ": metric needs a name");
  }
  metric.name = node["name"].as<std::string>();
  if (node["namespaced"]) metric.namespaced = node["namespaced"].as<bool>();
  if (node["unavailable"]) metric.unavailable = node["unavailable"].as<bool>();
  if (node["delaySeconds"]) {
    double seconds = node["delaySeconds"].as<double>();
    if (!(seconds >= 0 && seconds <= 3600)) {
      return InvalidArgumentError(Where(source, node["delaySeconds"]) +
                                  ": delaySeconds must be between 0 and 3600");
    }
    metric.delay = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  }
  if (node["windowSeconds"]) metric.window_seconds = node["windowSeconds"].as<int64_t>();
  if (node["series"]) {
    if (!node["series"].IsSequence()) {
      return InvalidArgumentError(Where(source, node["series"]) + ": series must be a list");
    }
    for (const auto& item : node["series"]) {
      Result<StaticProvider::Series> series = ParseSeries(source, item);
      if (!series.ok()) return series.status();
      metric.series.push_back(std::move(*series));
    }
  }
  return metric;
}

}  // namespace

Result<std::unique_ptr<StaticProvider>> StaticProvider::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return InvalidArgumentError(path + ": cannot read the file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return Parse(buffer.str(), path);
}

Result<std::unique_ptr<StaticProvider>> StaticProvider::Parse(
    const std::string& yaml, const std::string& source_name) {
  std::vector<Metric> metrics;
  try {
    YAML::Node root = YAML::Load(yaml);
    SEXTANT_RETURN_IF_ERROR(CheckKeys(source_name, root, {"metrics"}, "the file"));
    if (root["metrics"]) {
      if (!root["metrics"].IsSequence()) {
        return InvalidArgumentError(Where(source_name, root["metrics"]) +
                                    ": metrics must be a list");
      }
      std::set<std::string> seen;
      for (const auto& node : root["metrics"]) {
        Result<Metric> metric = ParseMetric(source_name, node);
        if (!metric.ok()) return metric.status();
        if (!seen.insert(Lower(metric->name)).second) {
          return InvalidArgumentError(Where(source_name, node) + ": metric \"" +
                                      metric->name + "\" is defined twice");
        }
        metrics.push_back(std::move(*metric));
      }
    }
  } catch (const YAML::Exception& e) {
    std::ostringstream out;
    out << source_name << ":" << e.mark.line + 1 << ":" << e.mark.column + 1 << ": "
        << e.msg;
    return InvalidArgumentError(out.str());
  }
  return std::make_unique<StaticProvider>(std::move(metrics));
}

StaticProvider::StaticProvider(std::vector<Metric> metrics)
    : metrics_(std::move(metrics)) {}

const StaticProvider::Metric* StaticProvider::Find(const std::string& name) const {
  const std::string wanted = Lower(name);
  for (const Metric& metric : metrics_) {
    if (Lower(metric.name) == wanted) return &metric;
  }
  return nullptr;
}

std::vector<apiserver::ExternalMetricInfo> StaticProvider::ListExternalMetrics() {
  std::vector<apiserver::ExternalMetricInfo> out;
  for (const Metric& metric : metrics_) out.push_back({metric.name, metric.namespaced});
  return out;
}

Result<std::vector<apiserver::ExternalMetricValue>> StaticProvider::GetExternalMetric(
    const apiserver::ExternalMetricRequest& request) {
  const Metric* metric = Find(request.metric_name);
  if (!metric) {
    return NotFoundError("the server could not find the metric \"" +
                         request.metric_name + "\"");
  }
  if (metric->delay.count() > 0) {
    auto until = std::min(std::chrono::steady_clock::now() + metric->delay,
                          request.deadline);
    std::this_thread::sleep_until(until);
  }
  if (metric->unavailable) return UnavailableError("static metric marked unavailable");
  const auto now = std::chrono::system_clock::now();
  std::vector<apiserver::ExternalMetricValue> out;
  for (const Series& series : metric->series) {
    if (metric->namespaced) {
      auto ns = series.labels.find("namespace");
      if (ns != series.labels.end() && ns->second != request.namespace_name) continue;
    }
    if (!request.selector.Matches(series.labels)) continue;
    out.push_back({metric->name, series.labels, now, metric->window_seconds, series.value});
  }
  return out;
}

}  // namespace sextant::scaling

#include "scaling/signal_provider.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "scaling/provider_util.h"
#include "scaling/selector_matchers.h"

namespace sextant::scaling {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// The values of the `by` labels, as one key.
std::string GroupKey(const SeriesWindow& s, const std::vector<std::string>& by) {
  std::string key;
  for (const std::string& label : by) {
    key += s.Label(label);
    key += '\xff';
  }
  return key;
}

std::map<std::string, std::string> GroupLabels(const SeriesWindow& s,
                                               const std::vector<std::string>& by) {
  std::map<std::string, std::string> labels;
  for (const std::string& label : by) {
    const std::string_view v = s.Label(label);
    if (!v.empty()) labels.emplace(label, std::string(v));
  }
  return labels;
}

// Go's strconv.ParseFloat as Prometheus reads `le`: the whole text, no spaces.
bool ParseBound(std::string_view text, double* out) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text.front()))) return false;
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  // A NaN bound has no place in the order (Prometheus does not expect one): skipped.
  if (end != s.c_str() + s.size() || std::isnan(v)) return false;
  *out = v;
  return true;
}

double OverTimeValue(const SignalSpec& spec, const SeriesWindow& s, int64_t start, int64_t end,
                     kernels::PrometheusVersion version, std::vector<int64_t>& ts,
                     std::vector<double>& scratch) {
  namespace k = kernels;
  const size_t n = s.size;
  switch (spec.over_time) {
    case OverTime::kAvg:
      return k::Mean(s.values, n);
    case OverTime::kSum:
      return k::Sum(s.values, n);
    case OverTime::kMin:
      return k::Min(s.values, n);
    case OverTime::kMax:
      return k::Max(s.values, n);
    case OverTime::kCount:
      return k::Count(n);
    case OverTime::kLast:
      return k::Last(s.values, n);
    case OverTime::kStdDev:
      return k::StdDev(s.values, n);
    case OverTime::kStdVar:
      return k::StdVar(s.values, n);
    case OverTime::kQuantile:
      scratch.resize(k::QuantileScratchSize(n));
      return k::Quantile(spec.over_time_quantile, s.values, n, scratch.data());
    case OverTime::kRate:
    case OverTime::kIncrease:
    case OverTime::kDelta:
      break;
  }
  ts.resize(n);
  for (size_t i = 0; i < n; ++i) ts[i] = s.timestamp_ms(i);
  switch (spec.over_time) {
    case OverTime::kRate:
      return k::Rate(s.values, ts.data(), n, start, end, version);
    case OverTime::kIncrease:
      return k::Increase(s.values, ts.data(), n, start, end, version);
    default:
      return k::Delta(s.values, ts.data(), n, start, end, version);
  }
}

kernels::AcrossOp AcrossOpOf(Across a) {
  switch (a) {
    case Across::kSum:
      return kernels::AcrossOp::kSum;
    case Across::kAvg:
      return kernels::AcrossOp::kMean;
    case Across::kMin:
      return kernels::AcrossOp::kMin;
    case Across::kMax:
      return kernels::AcrossOp::kMax;
    case Across::kCount:
      return kernels::AcrossOp::kCount;
  }
  return kernels::AcrossOp::kSum;
}

std::vector<SignalValue> EvaluateSeries(const SignalSpec& spec, const WindowView& view,
                                        kernels::PrometheusVersion version) {
  const int64_t end = view.eval_time_ms;
  const int64_t start = end - view.window.count();
  const bool needs_two = spec.over_time == OverTime::kRate ||
                         spec.over_time == OverTime::kIncrease ||
                         spec.over_time == OverTime::kDelta;
  std::vector<double> values;
  std::vector<std::string> keys;
  std::vector<const SeriesWindow*> members;
  std::vector<int64_t> ts;
  std::vector<double> scratch;
  for (const SeriesWindow& s : view.series) {
    if (s.size == 0 || (needs_two && s.size < 2)) continue;  // PromQL emits nothing
    values.push_back(OverTimeValue(spec, s, start, end, version, ts, scratch));
    keys.push_back(GroupKey(s, spec.by));
    members.push_back(&s);
  }
  std::vector<SignalValue> out;
  if (values.empty()) return out;
  const std::vector<std::string_view> key_views(keys.begin(), keys.end());
  const kernels::SeriesGroups groups = kernels::GroupBy(key_views);
  std::vector<double> results(groups.keys.size());
  scratch.resize(values.size());
  kernels::AggregateGroups(AcrossOpOf(spec.across), groups, values.data(), results.data(),
                           scratch.data());
  for (size_t g = 0; g < groups.keys.size(); ++g) {
    const SeriesWindow& first = *members[groups.members[groups.offsets[g]]];
    out.push_back({GroupLabels(first, spec.by), results[g]});
  }
  return out;
}

std::vector<SignalValue> EvaluateHistogram(const SignalSpec& spec, const WindowView& view,
                                           kernels::PrometheusVersion version) {
  const int64_t end = view.eval_time_ms;
  const int64_t start = end - view.window.count();
  struct Group {
    std::map<std::string, std::string> labels;
    std::map<std::string, double> by_le;  // sum by (le, by...) of the bucket rates
  };
  std::map<std::string, Group> groups;
  std::vector<int64_t> ts;
  for (const SeriesWindow& s : view.series) {
    if (s.size < 2) continue;  // rate emits nothing
    const std::string_view le = s.Label("le");
    if (le.empty()) continue;  // histogram_quantile skips samples without a bucket label
    ts.resize(s.size);
    for (size_t i = 0; i < s.size; ++i) ts[i] = s.timestamp_ms(i);
    const double rate = kernels::Rate(s.values, ts.data(), s.size, start, end, version);
    auto [it, inserted] = groups.try_emplace(GroupKey(s, spec.by));
    if (inserted) it->second.labels = GroupLabels(s, spec.by);
    auto [bucket, first] = it->second.by_le.try_emplace(std::string(le), rate);
    if (!first) bucket->second += rate;  // Prometheus 2.x sums in series order
  }
  std::vector<SignalValue> out;
  std::vector<HistogramBucket> buckets;
  for (auto& [key, group] : groups) {
    buckets.clear();
    for (const auto& [le, count] : group.by_le) {
      double bound = 0;
      if (ParseBound(le, &bound)) buckets.push_back({bound, count});
    }
    if (buckets.empty()) continue;
    out.push_back({group.labels, HistogramQuantile(spec.quantile, buckets)});
  }
  return out;
}

}  // namespace

double HistogramQuantile(double q, std::vector<HistogramBucket>& buckets) {
  if (std::isnan(q)) return kNaN;
  if (q < 0) return -kInf;
  if (q > 1) return kInf;
  if (buckets.empty()) return kNaN;
  std::sort(buckets.begin(), buckets.end(), [](const HistogramBucket& a, const HistogramBucket& b) {
    return a.upper_bound < b.upper_bound;
  });
  if (!(std::isinf(buckets.back().upper_bound) && buckets.back().upper_bound > 0)) return kNaN;
  // Merge buckets with equal bounds.
  size_t n = 0;
  for (size_t i = 1; i < buckets.size(); ++i) {
    if (buckets[i].upper_bound == buckets[n].upper_bound) {
      buckets[n].count += buckets[i].count;
    } else {
      buckets[++n] = buckets[i];
    }
  }
  buckets.resize(n + 1);
  // Counts must not decrease with the bound: raise each to the highest count before it.
  double max = -kInf;
  for (HistogramBucket& b : buckets) {
    if (b.count > max) {
      max = b.count;
    } else if (b.count < max) {
      b.count = max;
    }
  }
  if (buckets.size() < 2) return kNaN;
  const double observations = buckets.back().count;
  if (observations == 0) return kNaN;
  double rank = q * observations;
  // The first bucket (excluding +Inf) whose count reaches the rank, by binary search as
  // Go's sort.Search finds it.
  size_t b = 0;
  for (size_t hi = buckets.size() - 1; b < hi;) {
    const size_t mid = b + (hi - b) / 2;
    if (!(buckets[mid].count >= rank)) {
      b = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (b == buckets.size() - 1) return buckets[buckets.size() - 2].upper_bound;
  if (b == 0 && buckets[0].upper_bound <= 0) return buckets[0].upper_bound;
  double bucket_start = 0;
  const double bucket_end = buckets[b].upper_bound;
  double count = buckets[b].count;
  if (b > 0) {
    bucket_start = buckets[b - 1].upper_bound;
    count -= buckets[b - 1].count;
    rank -= buckets[b - 1].count;
  }
  return bucket_start + (bucket_end - bucket_start) * (rank / count);
}

Result<std::string> SignalSelector(const SignalSpec& spec, const std::string& namespace_name,
                                   const apiserver::LabelSelector& selector) {
  Result<SelectorMatchers> request = SelectorToMatchers(selector);
  if (!request.ok()) return request.status();
  std::vector<query::LabelMatcher> matchers = spec.selector.matchers;
  if (spec.namespaced) {
    matchers.push_back({spec.namespace_label, query::LabelMatcher::Op::kEqual, namespace_name});
  }
  matchers.insert(matchers.end(), request->matchers.begin(), request->matchers.end());
  const std::string name = spec.kind == SignalSpec::Kind::kHistogram
                               ? spec.selector.metric_name + "_bucket"
                               : spec.selector.metric_name;
  std::string rendered = query::RenderSelector(name, matchers);
  if (rendered.ends_with("{}")) rendered.resize(rendered.size() - 2);  // `name`, not `name{}`
  return rendered;
}

Result<std::string> EquivalentPromql(const SignalSpec& spec, const std::string& namespace_name,
                                     const apiserver::LabelSelector& selector) {
  Result<std::string> sel = SignalSelector(spec, namespace_name, selector);
  if (!sel.ok()) return sel.status();
  const std::string range = *sel + "[" + FormatPromqlDuration(spec.window) + "]";
  if (spec.kind == SignalSpec::Kind::kHistogram) {
    std::vector<std::string> by = {"le"};
    by.insert(by.end(), spec.by.begin(), spec.by.end());
    return "histogram_quantile(" + FormatPromqlNumber(spec.quantile) + ", sum by (" +
           Join(by, ", ") + ") (rate(" + range + ")))";
  }
  std::string inner;
  switch (spec.over_time) {
    case OverTime::kQuantile:
      inner =
          "quantile_over_time(" + FormatPromqlNumber(spec.over_time_quantile) + ", " + range + ")";
      break;
    case OverTime::kRate:
    case OverTime::kIncrease:
    case OverTime::kDelta:
      inner = OverTimeName(spec.over_time, 0) + "(" + range + ")";
      break;
    default:
      inner = OverTimeName(spec.over_time, 0) + "_over_time(" + range + ")";
  }
  const std::string across = AcrossName(spec.across);
  if (spec.by.empty()) return across + "(" + inner + ")";
  return across + " by (" + Join(spec.by, ", ") + ") (" + inner + ")";
}

std::vector<SignalValue> EvaluateSignal(const SignalSpec& spec, const WindowView& view,
                                        kernels::PrometheusVersion version) {
  std::vector<SignalValue> out = spec.kind == SignalSpec::Kind::kHistogram
                                     ? EvaluateHistogram(spec, view, version)
                                     : EvaluateSeries(spec, view, version);
  std::sort(out.begin(), out.end(),
            [](const SignalValue& a, const SignalValue& b) { return a.labels < b.labels; });
  return out;
}

SignalProvider::SignalProvider(std::vector<SignalSpec> signals, WindowStore& store)
    : signals_(std::move(signals)), store_(store) {
  for (size_t i = 0; i < signals_.size(); ++i) by_name_.emplace(Lower(signals_[i].name), i);
}

bool SignalProvider::Serves(const std::string& name) const {
  return by_name_.count(Lower(name)) > 0;
}

std::vector<apiserver::ExternalMetricInfo> SignalProvider::ListExternalMetrics() {
  std::vector<apiserver::ExternalMetricInfo> out;
  for (const SignalSpec& s : signals_) out.push_back({s.name, s.namespaced});
  return out;
}

Result<std::vector<apiserver::ExternalMetricValue>> SignalProvider::GetExternalMetric(
    const apiserver::ExternalMetricRequest& request) {
  auto found = by_name_.find(Lower(request.metric_name));
  if (found == by_name_.end()) {
    return NotFoundError("the server could not find the metric \"" + request.metric_name + "\"");
  }
  const SignalSpec& spec = signals_[found->second];
  Result<std::string> selector = SignalSelector(spec, request.namespace_name, request.selector);
  if (!selector.ok()) return selector.status();
  std::vector<SignalValue> values;
  int64_t t = 0;
  Status status =
      store_.Read(*selector, spec.window, request.deadline, [&](const WindowView& view) {
        values = EvaluateSignal(spec, view, store_.options().version);
        t = view.eval_time_ms;
      });
  if (!status.ok()) {
    SEXTANT_LOG(WARNING) << "signal \"" << spec.name << "\" failed: " << status.ToString()
                         << "; series: " << *selector;
    return ClientSafe(status, spec.name);
  }
  std::vector<apiserver::ExternalMetricValue> items;
  const auto timestamp = std::chrono::system_clock::time_point(std::chrono::milliseconds(t));
  for (SignalValue& v : values) {
    SEXTANT_VLOG(2) << "signal \"" << spec.name << "\" t=" << t / 1000 << " labels="
                    << nlohmann::json(v.labels).dump(-1, ' ', false,
                                                     nlohmann::json::error_handler_t::replace)
                    << " value=" << [&] {
                         char buf[40];
                         std::snprintf(buf, sizeof(buf), "%.17g", v.value);
                         return std::string(buf);
                       }();
    Result<apiserver::Quantity> quantity = apiserver::Quantity::FromDouble(v.value);
    if (!quantity.ok()) {  // NaN or ±Inf never become a value
      non_finite_dropped_.fetch_add(1);
      continue;
    }
    items.push_back({spec.name, std::move(v.labels), timestamp, spec.window.count() / 1000,
                     std::move(*quantity)});
  }
  return items;
}

}  // namespace sextant::scaling

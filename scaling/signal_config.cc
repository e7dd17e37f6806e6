#include "scaling/signal_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <set>

#include "scaling/adapter_config.h"
#include "scaling/config_yaml.h"

namespace sextant::scaling {
namespace {

constexpr std::chrono::milliseconds kMaxWindow{7LL * 24 * 3600 * 1000};

struct OverTimeRow {
  std::string_view name;
  OverTime f;
};
constexpr OverTimeRow kOverTime[] = {
    {"avg", OverTime::kAvg},           {"sum", OverTime::kSum},       {"min", OverTime::kMin},
    {"max", OverTime::kMax},           {"count", OverTime::kCount},   {"last", OverTime::kLast},
    {"stddev", OverTime::kStdDev},     {"stdvar", OverTime::kStdVar}, {"rate", OverTime::kRate},
    {"increase", OverTime::kIncrease}, {"delta", OverTime::kDelta},
};

struct AcrossRow {
  std::string_view name;
  Across a;
};
constexpr AcrossRow kAcross[] = {{"sum", Across::kSum},
                                 {"avg", Across::kAvg},
                                 {"min", Across::kMin},
                                 {"max", Across::kMax},
                                 {"count", Across::kCount}};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// A finite decimal number written in full ("0.9", "1e-3", ".5"); nothing else.
bool ParseNumber(std::string_view text, double* out) {
  text = Trim(text);
  if (text.empty()) return false;
  for (char c : text) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' ||
          c == '+' || c == '-')) {
      return false;
    }
  }
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

bool IsMetricNameChar(char c, bool first) {
  const auto u = static_cast<unsigned char>(c);
  if (std::isalnum(u)) return true;
  return !first && (c == '-' || c == '_' || c == '.' || c == ':');
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class SignalLoader {
 public:
  explicit SignalLoader(const YamlDocument& doc) : doc_(doc) {}

  Status Parse(const YAML::Node& node, const YAML::Node& parent_key, const std::string& path,
               SignalSpec* s) {
    s->where = doc_.Where(node, parent_key);
    if (!node.IsMap()) return doc_.Error(node, parent_key, path, "a signal must be a mapping");
    static const std::set<std::string> kKeys = {
        "name",   "series",   "histogram", "namespaced", "namespaceLabel",
        "window", "overTime", "across",    "by",         "quantile"};
    std::string series, histogram, window, over_time, across, quantile;
    YAML::Node at_series, at_histogram, at_window, at_over_time, at_across, at_quantile, at_name,
        at_ns_label, at_by;
    std::set<std::string> present;
    SEXTANT_RETURN_IF_ERROR(doc_.ForEachKey(
        node, path, "a signal", kKeys,
        [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) -> Status {
          present.insert(key);
          const std::string sub = path + "." + key;
          const YAML::Node& at = v.IsNull() ? k : v;
          if (key == "name") return (at_name = at, doc_.GetString(v, k, sub, &s->name));
          if (key == "series") return (at_series = at, doc_.GetString(v, k, sub, &series));
          if (key == "histogram") {
            return (at_histogram = at, doc_.GetString(v, k, sub, &histogram));
          }
          if (key == "namespaced") return doc_.GetBool(v, k, sub, &s->namespaced);
          if (key == "namespaceLabel") {
            return (at_ns_label = at, doc_.GetString(v, k, sub, &s->namespace_label));
          }
          if (key == "window") return (at_window = at, doc_.GetString(v, k, sub, &window));
          if (key == "overTime") {
            return (at_over_time = at, doc_.GetString(v, k, sub, &over_time));
          }
          if (key == "across") return (at_across = at, doc_.GetString(v, k, sub, &across));
          if (key == "quantile") {
            return (at_quantile = at, doc_.GetString(v, k, sub, &quantile));
          }
          at_by = at;
          return doc_.ForEachItem(v, k, sub, [&](const YAML::Node& item, const std::string& ip) {
            std::string label;
            SEXTANT_RETURN_IF_ERROR(doc_.GetString(item, k, ip, &label));
            if (!query::IsValidLabelName(label)) {
              return doc_.Error(item, k, ip, "\"" + label + "\" is not a valid label name");
            }
            if (label == "__name__") {
              return doc_.Error(item, k, ip,
                                "__name__ cannot be grouped by: the window functions drop it");
            }
            if (std::find(s->by.begin(), s->by.end(), label) != s->by.end()) {
              return doc_.Error(item, k, ip, "duplicate label \"" + label + "\"");
            }
            s->by.push_back(label);
            return OkStatus();
          });
        }));

    // name
    if (s->name.empty()) return doc_.Error(at_name, node, path + ".name", "name is required");
    for (size_t i = 0; i < s->name.size(); ++i) {
      if (!IsMetricNameChar(s->name[i], i == 0)) {
        return doc_.Error(at_name, node, path + ".name",
                          "\"" + s->name +
                              "\" is not a metric name: use letters, digits, '-', '_', '.' and "
                              "':', starting with a letter or digit");
      }
    }
    // series | histogram
    if (series.empty() == histogram.empty()) {
      return doc_.Error(series.empty() ? node : at_histogram, node, path,
                        series.empty() ? "one of series and histogram is required"
                                       : "series and histogram cannot be used together");
    }
    s->kind = series.empty() ? SignalSpec::Kind::kHistogram : SignalSpec::Kind::kSeries;
    const bool is_series = s->kind == SignalSpec::Kind::kSeries;
    s->source_text = is_series ? series : histogram;
    const std::string sel_path = path + (is_series ? ".series" : ".histogram");
    const YAML::Node& at_sel = is_series ? at_series : at_histogram;
    auto parsed = query::ParseVectorSelector(s->source_text);
    if (!parsed.ok()) {
      return doc_.Error(at_sel, node, sel_path,
                        "not a vector selector: " + std::string(parsed.status().message()));
    }
    s->selector = std::move(*parsed);
    if (!is_series) {
      auto& m = s->selector.matchers;
      for (auto it = m.begin(); it != m.end(); ++it) {
        if (it->name == "__name__" && it->op == query::LabelMatcher::Op::kEqual) {
          s->selector.metric_name = it->value;
          m.erase(it);
          break;
        }
      }
      if (s->selector.metric_name.empty() ||
          !query::IsValidMetricName(s->selector.metric_name + "_bucket")) {
        return doc_.Error(at_sel, node, sel_path,
                          "must name the histogram's base metric, e.g. "
                          "'vllm:time_to_first_token_seconds'");
      }
      for (const auto& matcher : m) {
        if (matcher.name == "__name__" || matcher.name == "le") {
          return doc_.Error(at_sel, node, sel_path,
                            "cannot match on " + matcher.name + " in a histogram selector");
        }
      }
    }
    // namespaceLabel
    if (!query::IsValidLabelName(s->namespace_label)) {
      return doc_.Error(at_ns_label, node, path + ".namespaceLabel",
                        "\"" + s->namespace_label + "\" is not a valid label name");
    }
    // window
    if (window.empty()) return doc_.Error(at_window, node, path + ".window", "window is required");
    auto d = ParseConfigDuration(window);
    if (!d.ok()) return doc_.Error(at_window, node, path + ".window", d.status().message());
    if (d->count() <= 0 || *d > kMaxWindow) {
      return doc_.Error(at_window, node, path + ".window", "must be longer than 0 and at most 7d");
    }
    s->window = *d;
    // kind-specific keys
    if (is_series) {
      if (present.count("quantile")) {
        return doc_.Error(at_quantile, node, path + ".quantile",
                          "belongs to histogram signals; use overTime: quantile(q)");
      }
      if (over_time.empty()) {
        return doc_.Error(at_over_time, node, path + ".overTime",
                          "overTime is required with series");
      }
      SEXTANT_RETURN_IF_ERROR(ParseOverTime(over_time, at_over_time, node, path, s));
      if (!across.empty()) {
        auto it = std::find_if(std::begin(kAcross), std::end(kAcross),
                               [&](const AcrossRow& r) { return r.name == Trim(across); });
        if (it == std::end(kAcross)) {
          return doc_.Error(at_across, node, path + ".across",
                            "\"" + across + "\" is not one of sum, avg, min, max, count");
        }
        s->across = it->a;
      }
    } else {
      if (present.count("overTime")) {
        return doc_.Error(at_over_time, node, path + ".overTime",
                          "does not apply to histogram signals (they use rate)");
      }
      if (present.count("across")) {
        return doc_.Error(at_across, node, path + ".across",
                          "does not apply to histogram signals (buckets are summed)");
      }
      if (quantile.empty()) {
        return doc_.Error(at_quantile, node, path + ".quantile",
                          "quantile is required with histogram");
      }
      if (!ParseNumber(quantile, &s->quantile) || s->quantile < 0 || s->quantile > 1) {
        return doc_.Error(at_quantile, node, path + ".quantile",
                          "must be a number from 0 to 1, not \"" + quantile + "\"");
      }
      if (std::find(s->by.begin(), s->by.end(), "le") != s->by.end()) {
        return doc_.Error(at_by, node, path + ".by",
                          "le is the bucket label; it cannot be grouped by");
      }
    }
    return OkStatus();
  }

 private:
  Status ParseOverTime(const std::string& text, const YAML::Node& at, const YAML::Node& node,
                       const std::string& path, SignalSpec* s) {
    const std::string_view t = Trim(text);
    for (const OverTimeRow& row : kOverTime) {
      if (t == row.name) {
        s->over_time = row.f;
        return OkStatus();
      }
    }
    if (t.starts_with("quantile(") && t.ends_with(")")) {
      const std::string_view arg = t.substr(9, t.size() - 10);
      double q = 0;
      if (!ParseNumber(arg, &q) || q < 0 || q > 1) {
        return doc_.Error(
            at, node, path + ".overTime",
            "the quantile must be a number from 0 to 1, not \"" + std::string(Trim(arg)) + "\"");
      }
      s->over_time = OverTime::kQuantile;
      s->over_time_quantile = q;
      return OkStatus();
    }
    return doc_.Error(at, node, path + ".overTime",
                      "\"" + text +
                          "\" is not one of avg, sum, min, max, count, last, stddev, stdvar, "
                          "quantile(q), rate, increase, delta");
  }

  const YamlDocument& doc_;
};

}  // namespace

std::string SignalSpec::SeriesName() const {
  if (kind == Kind::kHistogram) return selector.metric_name + "_bucket";
  if (!selector.metric_name.empty()) return selector.metric_name;
  for (const auto& m : selector.matchers) {
    if (m.name == "__name__" && m.op == query::LabelMatcher::Op::kEqual) return m.value;
  }
  return "";
}

std::string OverTimeName(OverTime f, double q) {
  if (f == OverTime::kQuantile) return "quantile(" + FormatPromqlNumber(q) + ")";
  for (const OverTimeRow& row : kOverTime) {
    if (row.f == f) return std::string(row.name);
  }
  return "?";
}

std::string AcrossName(Across a) {
  for (const AcrossRow& row : kAcross) {
    if (row.a == a) return std::string(row.name);
  }
  return "?";
}

std::string FormatPromqlNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

std::string FormatPromqlDuration(std::chrono::milliseconds d) {
  static constexpr std::pair<const char*, int64_t> kUnits[] = {
      {"d", 24LL * 3600 * 1000}, {"h", 3600LL * 1000}, {"m", 60LL * 1000}, {"s", 1000}, {"ms", 1}};
  int64_t left = d.count();
  std::string out;
  for (const auto& [unit, ms] : kUnits) {
    if (left >= ms) {
      out += std::to_string(left / ms) + unit;
      left %= ms;
    }
  }
  return out.empty() ? "0s" : out;
}

Status ParseSignals(const YamlDocument& doc, const YAML::Node& node, const YAML::Node& key,
                    std::vector<SignalSpec>* out) {
  // `signals: {}` was the reserved section's only accepted value: it still means none.
  if (node.IsMap() && node.size() == 0) return OkStatus();
  SignalLoader loader(doc);
  std::set<std::string> names;
  for (const SignalSpec& s : *out) names.insert(Lower(s.name));
  return doc.ForEachItem(node, key, "signals", [&](const YAML::Node& item, const std::string& p) {
    SignalSpec spec;
    SEXTANT_RETURN_IF_ERROR(loader.Parse(item, key, p, &spec));
    if (!names.insert(Lower(spec.name)).second) {
      return doc.Error(item["name"], item, p + ".name",
                       "duplicate signal name \"" + spec.name + "\"");
    }
    out->push_back(std::move(spec));
    return OkStatus();
  });
}

}  // namespace sextant::scaling

// SignalSpec: one entry of the config file's `signals:` section, a windowed statistic that
// Sextant computes in-process from raw samples (scaling/signal_provider.h) instead of asking
// Prometheus to evaluate a query:
//
//   signals:
//   - name: vllm-queue-p90            # REQUIRED: the external metric name (unique,
//                                     # case-insensitively); letters, digits, - _ . :
//     series: 'vllm:num_requests_waiting{job="vllm"}'  # an instant-vector selector; exactly
//                                     # one of `series` and `histogram` is REQUIRED
//     namespaced: true                # Default: true: the request's namespace is matched on
//     namespaceLabel: namespace       # Default: "namespace"
//     window: 2m                      # REQUIRED: a Prometheus duration, > 0 and <= 7d
//     overTime: quantile(0.9)         # REQUIRED with series: avg sum min max count last
//                                     # stddev stdvar quantile(q) (0 <= q <= 1) rate
//                                     # increase delta
//     across: sum                     # Default: sum. With series: sum avg min max count
//     by: [model_name]                # Default: none (one item). Label names; one item per
//                                     # distinct combination of their values
//   - name: vllm-ttft-p95
//     histogram: 'vllm:time_to_first_token_seconds'   # a classic histogram's base name,
//                                     # optionally with matchers: base{job="x"}; its
//                                     # `<base>_bucket` series (with `le`) are read
//     window: 5m
//     quantile: 0.95                  # REQUIRED with histogram: 0 <= q <= 1
//
// Equivalent PromQL (what the values equal, see signal_provider.h):
//   series:    <across> by (<by>) (<overTime>_over_time(<series>{<matchers>}[<window>]))
//              (rate/increase/delta: the function itself; quantile: quantile_over_time(q, ...))
//   histogram: histogram_quantile(q, sum by (le, <by>) (rate(<base>_bucket{...}[<window>])))
//
// Errors: InvalidArgument "file:line:col: signals[i].key: what" for an unknown or duplicate
// key, a wrong type, a missing required key, a bad duration, selector, function, quantile,
// label name or metric name, keys that do not belong to the signal's kind (overTime/across
// with histogram, quantile with series), and duplicate signal names. Nothing throws.
// Ownership: plain values.
// Thread safety: immutable after loading; safe to share.
#ifndef SEXTANT_SCALING_SIGNAL_CONFIG_H_
#define SEXTANT_SCALING_SIGNAL_CONFIG_H_

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "query/promql.h"

namespace YAML {
class Node;
}  // namespace YAML

namespace sextant::scaling {

class YamlDocument;

// The per-series function over the window.
enum class OverTime {
  kAvg,
  kSum,
  kMin,
  kMax,
  kCount,
  kLast,
  kStdDev,
  kStdVar,
  kQuantile,
  kRate,
  kIncrease,
  kDelta
};
// The aggregation across the series of one group.
enum class Across { kSum, kAvg, kMin, kMax, kCount };

struct SignalSpec {
  enum class Kind { kSeries, kHistogram };

  std::string name;  // REQUIRED
  Kind kind = Kind::kSeries;
  std::string source_text;  // `series` or `histogram` as written
  // The parsed selector. For a histogram, metric_name is the base name (without _bucket)
  // and matchers are those written after it.
  query::ParsedSelector selector;
  bool namespaced = true;                     // Default: true
  std::string namespace_label = "namespace";  // Default: "namespace"
  std::chrono::milliseconds window{0};        // REQUIRED
  OverTime over_time = OverTime::kLast;       // series only
  double over_time_quantile = 0;              // with OverTime::kQuantile
  Across across = Across::kSum;               // Default: sum (series only)
  std::vector<std::string> by;                // Default: none
  double quantile = 0;                        // histogram only
  std::string where;                          // "file:line:col" of the entry, for messages

  // The Prometheus series the signal reads: `series`'s name, or `<base>_bucket`; empty when
  // `series` names none (e.g. {job="x"}).
  std::string SeriesName() const;
};

// "avg", "quantile(0.9)", "rate", ... as written in the config.
std::string OverTimeName(OverTime f, double q);
std::string AcrossName(Across a);

// The shortest decimal text that reads back as `value` ("0.9", "1e-05", "+Inf"), as
// PromQL number literals and Prometheus print them.
std::string FormatPromqlNumber(double value);

// A PromQL range duration for `d` in its largest exact units: 2m, 1m30s, 1500ms, 1d.
// REQUIRES: d > 0.
std::string FormatPromqlDuration(std::chrono::milliseconds d);

// Parses the value of the top-level `signals:` key (`node`, at `key`) into `out`, appending
// in file order; null and `{}` (what earlier versions accepted) mean none. Used by
// scaling/adapter_config.cc.
Status ParseSignals(const YamlDocument& doc, const YAML::Node& node, const YAML::Node& key,
                    std::vector<SignalSpec>* out);

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_SIGNAL_CONFIG_H_

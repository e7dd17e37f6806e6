// The `signals:` section (scaling/signal_config.h): valid entries and their defaults, one
// named row per overTime function and per formatting case, and every load error with its
// file:line:col.
#include "scaling/signal_config.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>

#include "scaling/adapter_config.h"

namespace sextant::scaling {
namespace {

template <typename Case>
std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return std::string(info.param.name);
}

Result<std::vector<SignalSpec>> Load(const std::string& yaml) {
  Result<AdapterConfig> config = ParseAdapterConfig(yaml, "t.yaml");
  if (!config.ok()) return config.status();
  return config->signals;
}

TEST(SignalConfig, TheIssueExampleLoads) {
  auto signals = Load(R"(signals:
  - name: vllm-queue-p90
    series: 'vllm:num_requests_waiting{job="vllm"}'
    namespaced: true
    namespaceLabel: namespace
    window: 2m
    overTime: quantile(0.9)
    across: sum
    by: [model_name]
  - name: vllm-ttft-p95
    histogram: 'vllm:time_to_first_token_seconds'
    window: 5m
    quantile: 0.95
)");
  ASSERT_TRUE(signals.ok()) << signals.status().ToString();
  ASSERT_EQ(signals->size(), 2u);
  const SignalSpec& q = (*signals)[0];
  EXPECT_EQ(q.name, "vllm-queue-p90");
  EXPECT_EQ(q.kind, SignalSpec::Kind::kSeries);
  EXPECT_EQ(q.selector.metric_name, "vllm:num_requests_waiting");
  ASSERT_EQ(q.selector.matchers.size(), 1u);
  EXPECT_EQ(q.selector.matchers[0].String(), R"(job="vllm")");
  EXPECT_EQ(q.window, std::chrono::minutes(2));
  EXPECT_EQ(q.over_time, OverTime::kQuantile);
  EXPECT_EQ(q.over_time_quantile, 0.9);
  EXPECT_EQ(q.across, Across::kSum);
  EXPECT_EQ(q.by, std::vector<std::string>{"model_name"});
  EXPECT_EQ(q.where, "t.yaml:2:5");
  EXPECT_EQ(q.SeriesName(), "vllm:num_requests_waiting");
  const SignalSpec& h = (*signals)[1];
  EXPECT_EQ(h.kind, SignalSpec::Kind::kHistogram);
  EXPECT_EQ(h.selector.metric_name, "vllm:time_to_first_token_seconds");
  EXPECT_TRUE(h.selector.matchers.empty());
  EXPECT_EQ(h.quantile, 0.95);
  EXPECT_EQ(h.window, std::chrono::minutes(5));
  EXPECT_EQ(h.SeriesName(), "vllm:time_to_first_token_seconds_bucket");
}

TEST(SignalConfig, Defaults) {
  auto signals = Load("signals:\n- {name: q, series: up, window: 30s, overTime: avg}\n");
  ASSERT_TRUE(signals.ok()) << signals.status().ToString();
  const SignalSpec& s = signals->at(0);
  EXPECT_TRUE(s.namespaced);
  EXPECT_EQ(s.namespace_label, "namespace");
  EXPECT_EQ(s.across, Across::kSum);
  EXPECT_TRUE(s.by.empty());
}

TEST(SignalConfig, HistogramSelectorForms) {
  auto signals = Load(R"(signals:
- {name: a, histogram: 'h_seconds{job="x"}', window: 1m, quantile: 0.5}
- {name: b, histogram: '{__name__="h_seconds", job="x"}', window: 1m, quantile: 0}
)");
  ASSERT_TRUE(signals.ok()) << signals.status().ToString();
  for (const SignalSpec& s : *signals) {
    EXPECT_EQ(s.selector.metric_name, "h_seconds") << s.name;
    ASSERT_EQ(s.selector.matchers.size(), 1u) << s.name;
    EXPECT_EQ(s.selector.matchers[0].String(), R"(job="x")");
  }
}

struct OverTimeCase {
  std::string_view name;
  std::string_view text;
  OverTime f;
  double q;
  std::string_view canonical;  // OverTimeName()
};
void PrintTo(const OverTimeCase& c, std::ostream* os) { *os << c.name; }
class OverTimeRow : public ::testing::TestWithParam<OverTimeCase> {};

TEST_P(OverTimeRow, Parses) {
  const OverTimeCase& c = GetParam();
  auto signals = Load("signals:\n- {name: s, series: up, window: 1m, overTime: '" +
                      std::string(c.text) + "'}\n");
  ASSERT_TRUE(signals.ok()) << signals.status().ToString();
  EXPECT_EQ(signals->at(0).over_time, c.f);
  EXPECT_EQ(signals->at(0).over_time_quantile, c.q);
  EXPECT_EQ(OverTimeName(c.f, c.q), c.canonical);
}

INSTANTIATE_TEST_SUITE_P(
    Table, OverTimeRow,
    ::testing::Values(
        OverTimeCase{"avg", "avg", OverTime::kAvg, 0, "avg"},
        OverTimeCase{"sum", "sum", OverTime::kSum, 0, "sum"},
        OverTimeCase{"min", "min", OverTime::kMin, 0, "min"},
        OverTimeCase{"max", "max", OverTime::kMax, 0, "max"},
        OverTimeCase{"count", "count", OverTime::kCount, 0, "count"},
        OverTimeCase{"last", "last", OverTime::kLast, 0, "last"},
        OverTimeCase{"stddev", "stddev", OverTime::kStdDev, 0, "stddev"},
        OverTimeCase{"stdvar", "stdvar", OverTime::kStdVar, 0, "stdvar"},
        OverTimeCase{"rate", "rate", OverTime::kRate, 0, "rate"},
        OverTimeCase{"increase", "increase", OverTime::kIncrease, 0, "increase"},
        OverTimeCase{"delta", "delta", OverTime::kDelta, 0, "delta"},
        OverTimeCase{"quantile", "quantile(0.9)", OverTime::kQuantile, 0.9, "quantile(0.9)"},
        OverTimeCase{"quantile_spaced", " quantile( .25 ) ", OverTime::kQuantile, 0.25,
                     "quantile(0.25)"},
        OverTimeCase{"quantile_one", "quantile(1)", OverTime::kQuantile, 1, "quantile(1)"}),
    CaseName<OverTimeCase>);

struct DurationCase {
  std::string_view name;
  int64_t ms;
  std::string_view text;
};
void PrintTo(const DurationCase& c, std::ostream* os) { *os << c.name; }
class DurationRow : public ::testing::TestWithParam<DurationCase> {};

TEST_P(DurationRow, Formats) {
  EXPECT_EQ(FormatPromqlDuration(std::chrono::milliseconds(GetParam().ms)), GetParam().text);
}

INSTANTIATE_TEST_SUITE_P(Table, DurationRow,
                         ::testing::Values(DurationCase{"minutes", 120000, "2m"},
                                           DurationCase{"mixed", 90000, "1m30s"},
                                           DurationCase{"millis", 1500, "1s500ms"},
                                           DurationCase{"only_millis", 250, "250ms"},
                                           DurationCase{"day", 86400000, "1d"},
                                           DurationCase{"hours", 7200000, "2h"}),
                         CaseName<DurationCase>);

TEST(SignalConfig, NumbersFormatShortest) {
  EXPECT_EQ(FormatPromqlNumber(0.9), "0.9");
  EXPECT_EQ(FormatPromqlNumber(0.95), "0.95");
  EXPECT_EQ(FormatPromqlNumber(1), "1");
  EXPECT_EQ(FormatPromqlNumber(1e-5), "1e-05");
}

// ---- Load errors ------------------------------------------------------------------------

struct ErrorCase {
  std::string_view name;
  std::string_view yaml;
  std::string_view where;    // "line:col" in t.yaml
  std::string_view message;  // a substring of what follows the position
};
void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }
class LoadError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(LoadError, NamesFileLineAndColumn) {
  const ErrorCase& c = GetParam();
  auto signals = Load(std::string(c.yaml));
  ASSERT_FALSE(signals.ok()) << c.yaml;
  EXPECT_EQ(signals.status().code(), StatusCode::kInvalidArgument);
  const std::string message = signals.status().message();
  EXPECT_EQ(message.rfind("t.yaml:" + std::string(c.where) + ": ", 0), 0u) << message;
  EXPECT_NE(message.find(c.message), std::string::npos) << message;
}

#define SIG "signals:\n- name: s\n  series: up\n  window: 1m\n"
#define HIST "signals:\n- name: h\n  histogram: h_seconds\n  window: 1m\n"

INSTANTIATE_TEST_SUITE_P(
    Table, LoadError,
    ::testing::Values(
        ErrorCase{"not_a_list", "signals: {a: b}\n", "1:10",
                  "signals: must be a list, not a mapping"},
        ErrorCase{"not_a_mapping", "signals:\n- up\n", "2:3",
                  "signals[0]: a signal must be a mapping"},
        ErrorCase{"unknown_key", SIG "  overTime: avg\n  seris: up\n", "6:3",
                  "unknown key \"seris\" in a signal"},
        ErrorCase{"duplicate_key", SIG "  overTime: avg\n  window: 2m\n", "6:3",
                  "signals[0].window: duplicate key"},
        ErrorCase{"missing_name", "signals:\n- series: up\n  window: 1m\n  overTime: avg\n", "2:3",
                  "signals[0].name: name is required"},
        ErrorCase{"bad_name",
                  "signals:\n- name: a b\n  series: up\n  window: 1m\n"
                  "  overTime: avg\n",
                  "2:9", "\"a b\" is not a metric name"},
        ErrorCase{"name_not_a_string", "signals:\n- name: [a]\n", "2:9",
                  "signals[0].name: must be a string, not a list"},
        ErrorCase{"neither_series_nor_histogram", "signals:\n- name: s\n  window: 1m\n", "2:3",
                  "one of series and histogram is required"},
        ErrorCase{"both", SIG "  histogram: h\n", "5:14",
                  "series and histogram cannot be used together"},
        ErrorCase{"bad_selector", "signals:\n- name: s\n  series: 'rate(x[1m])'\n", "3:11",
                  "signals[0].series: not a vector selector"},
        ErrorCase{"selector_with_range", "signals:\n- name: s\n  series: 'x[1m]'\n", "3:11",
                  "not a vector selector"},
        ErrorCase{"missing_window", "signals:\n- name: s\n  series: up\n  overTime: avg\n", "2:3",
                  "signals[0].window: window is required"},
        ErrorCase{"bad_window", "signals:\n- name: s\n  series: up\n  window: 2 minutes\n", "4:11",
                  "is not a duration"},
        ErrorCase{"zero_window", "signals:\n- name: s\n  series: up\n  window: 0\n", "4:11",
                  "must be longer than 0 and at most 7d"},
        ErrorCase{"long_window", "signals:\n- name: s\n  series: up\n  window: 8d\n", "4:11",
                  "at most 7d"},
        ErrorCase{"missing_over_time", SIG, "2:3", "signals[0].overTime: overTime is required"},
        ErrorCase{"bad_over_time", SIG "  overTime: median\n", "5:13",
                  "\"median\" is not one of avg, sum"},
        ErrorCase{"quantile_out_of_range", SIG "  overTime: quantile(1.5)\n", "5:13",
                  "the quantile must be a number from 0 to 1, not \"1.5\""},
        ErrorCase{"quantile_not_a_number", SIG "  overTime: quantile(q)\n", "5:13", "not \"q\""},
        ErrorCase{"quantile_over_time_spelled_out", SIG "  overTime: quantile_over_time\n", "5:13",
                  "is not one of"},
        ErrorCase{"bad_across", SIG "  overTime: avg\n  across: median\n", "6:11",
                  "\"median\" is not one of sum, avg, min, max, count"},
        ErrorCase{"by_not_a_list", SIG "  overTime: avg\n  by: model\n", "6:7",
                  "signals[0].by: must be a list, not a scalar"},
        ErrorCase{"by_bad_label", SIG "  overTime: avg\n  by: [a-b]\n", "6:8",
                  "signals[0].by[0]: \"a-b\" is not a valid label name"},
        ErrorCase{"by_duplicate", SIG "  overTime: avg\n  by: [a, a]\n", "6:11",
                  "duplicate label \"a\""},
        ErrorCase{"by_name", SIG "  overTime: avg\n  by: [__name__]\n", "6:8",
                  "__name__ cannot be grouped by"},
        ErrorCase{"quantile_with_series", SIG "  overTime: avg\n  quantile: 0.5\n", "6:13",
                  "belongs to histogram signals"},
        ErrorCase{"over_time_with_histogram", HIST "  quantile: 0.5\n  overTime: avg\n", "6:13",
                  "does not apply to histogram signals"},
        ErrorCase{"across_with_histogram", HIST "  quantile: 0.5\n  across: max\n", "6:11",
                  "buckets are summed"},
        ErrorCase{"missing_quantile", HIST, "2:3", "quantile is required with histogram"},
        ErrorCase{"bad_quantile", HIST "  quantile: 1.01\n", "5:13",
                  "must be a number from 0 to 1, not \"1.01\""},
        ErrorCase{"histogram_by_le", HIST "  quantile: 0.5\n  by: [le]\n", "6:7",
                  "le is the bucket label"},
        ErrorCase{"histogram_without_name", "signals:\n- name: h\n  histogram: '{job=\"x\"}'\n",
                  "3:14", "must name the histogram's base metric"},
        ErrorCase{"histogram_le_matcher", "signals:\n- name: h\n  histogram: 'h{le=\"1\"}'\n",
                  "3:14", "cannot match on le"},
        ErrorCase{"bad_namespace_label", SIG "  overTime: avg\n  namespaceLabel: a.b\n", "6:19",
                  "\"a.b\" is not a valid label name"},
        ErrorCase{"namespaced_quoted", SIG "  overTime: avg\n  namespaced: 'yes'\n", "6:15",
                  "must be true or false"},
        ErrorCase{"duplicate_name_ignoring_case",
                  "signals:\n- {name: Queue, series: up, window: 1m, overTime: avg}\n"
                  "- {name: queue, series: up, window: 1m, overTime: avg}\n",
                  "3:10", "signals[1].name: duplicate signal name \"queue\""}),
    CaseName<ErrorCase>);

}  // namespace
}  // namespace sextant::scaling

// The signal provider's pure parts (scaling/signal_provider.h): the equivalent PromQL of each
// kind of signal, histogram_quantile's bucket rules (one named row each), and the evaluation
// of hand-made windows (grouping, NaN, absent series, counter resets, histograms). The
// equality with a real Prometheus is tested end to end in tests/integration/test_signals.py.
#include "scaling/signal_provider.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "scaling/adapter_config.h"
#include "tests/scaling/window_builder.h"

namespace sextant::scaling {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

template <typename Case>
std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return std::string(info.param.name);
}

SignalSpec Spec(const std::string& yaml_item) {
  auto config = ParseAdapterConfig("signals:\n- " + yaml_item + "\n", "t.yaml");
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  return config.ok() ? config->signals.at(0) : SignalSpec{};
}

// ---- Equivalent PromQL ------------------------------------------------------------------

struct PromqlCase {
  std::string_view name;
  std::string_view item;      // one signal, YAML flow mapping
  std::string_view selector;  // the request's label selector
  std::string_view promql;
};
void PrintTo(const PromqlCase& c, std::ostream* os) { *os << c.name; }
class EquivalentPromqlRow : public ::testing::TestWithParam<PromqlCase> {};

TEST_P(EquivalentPromqlRow, Renders) {
  const PromqlCase& c = GetParam();
  auto selector = apiserver::LabelSelector::Parse(c.selector);
  ASSERT_TRUE(selector.ok());
  auto promql = EquivalentPromql(Spec(std::string(c.item)), "default", *selector);
  ASSERT_TRUE(promql.ok()) << promql.status().ToString();
  EXPECT_EQ(*promql, c.promql);
}

INSTANTIATE_TEST_SUITE_P(
    Table, EquivalentPromqlRow,
    ::testing::Values(
        PromqlCase{"quantile_by",
                   "{name: q, series: 'vllm:num_requests_waiting{job=\"vllm\"}', window: 2m, "
                   "overTime: quantile(0.9), by: [model_name]}",
                   "",
                   "sum by (model_name) (quantile_over_time(0.9, "
                   "vllm:num_requests_waiting{job=\"vllm\",namespace=\"default\"}[2m]))"},
        PromqlCase{"avg_with_selector",
                   "{name: a, series: up, window: 90s, overTime: avg, "
                   "across: max}",
                   "pod in (a,b.c)",
                   "max(avg_over_time(up{namespace=\"default\",pod=~\"a|b\\\\.c\"}[1m30s]))"},
        PromqlCase{"rate_not_namespaced",
                   "{name: r, series: c_total, window: 1m, "
                   "overTime: rate, namespaced: false, across: avg, by: [a, b]}",
                   "", "avg by (a, b) (rate(c_total[1m]))"},
        PromqlCase{"increase_custom_label",
                   "{name: i, series: c_total, window: 5m, "
                   "overTime: increase, namespaceLabel: kubernetes_namespace, across: count}",
                   "", "count(increase(c_total{kubernetes_namespace=\"default\"}[5m]))"},
        PromqlCase{"stddev_min",
                   "{name: s, series: g, window: 10s, overTime: stddev, "
                   "across: min}",
                   "", "min(stddev_over_time(g{namespace=\"default\"}[10s]))"},
        PromqlCase{"histogram",
                   "{name: h, histogram: 'vllm:ttft_seconds', window: 5m, "
                   "quantile: 0.95}",
                   "model_name=m",
                   "histogram_quantile(0.95, sum by (le) (rate(vllm:ttft_seconds_bucket"
                   "{namespace=\"default\",model_name=\"m\"}[5m])))"},
        PromqlCase{"histogram_by",
                   "{name: h, histogram: 'x_seconds{job=\"j\"}', window: 1m, "
                   "quantile: 0.5, by: [model_name]}",
                   "",
                   "histogram_quantile(0.5, sum by (le, model_name) (rate(x_seconds_bucket"
                   "{job=\"j\",namespace=\"default\"}[1m])))"}),
    CaseName<PromqlCase>);

TEST(EquivalentPromql, UnsupportedSelectorIsInvalidArgument) {
  auto selector = apiserver::LabelSelector::Parse("replicas>1");
  ASSERT_TRUE(selector.ok());
  auto promql = EquivalentPromql(Spec("{name: a, series: up, window: 1m, overTime: avg}"),
                                 "default", *selector);
  EXPECT_EQ(promql.status().code(), StatusCode::kInvalidArgument);
}

// ---- histogram_quantile ------------------------------------------------------------------

struct QuantileCase {
  std::string_view name;
  double q;
  std::vector<HistogramBucket> buckets;
  double want;  // NaN: NaN
};
void PrintTo(const QuantileCase& c, std::ostream* os) { *os << c.name; }
class HistogramQuantileRow : public ::testing::TestWithParam<QuantileCase> {};

TEST_P(HistogramQuantileRow, FollowsPrometheus) {
  QuantileCase c = GetParam();
  const double got = HistogramQuantile(c.q, c.buckets);
  if (std::isnan(c.want)) {
    EXPECT_TRUE(std::isnan(got)) << got;
  } else {
    EXPECT_DOUBLE_EQ(got, c.want);
  }
}

const std::vector<HistogramBucket> kBuckets = {{0.1, 10}, {0.5, 30}, {1, 40}, {kInf, 50}};

INSTANTIATE_TEST_SUITE_P(
    Table, HistogramQuantileRow,
    ::testing::Values(
        QuantileCase{"interpolates", 0.5, kBuckets, 0.4},
        QuantileCase{"lowest_bucket_from_zero", 0.1, kBuckets, 0.05},
        QuantileCase{"rank_in_inf_bucket", 0.9, kBuckets, 1}, QuantileCase{"q_one", 1, kBuckets, 1},
        QuantileCase{"q_zero", 0, kBuckets, 0}, QuantileCase{"q_below_zero", -0.1, kBuckets, -kInf},
        QuantileCase{"q_above_one", 1.1, kBuckets, kInf},
        QuantileCase{"q_nan", kNaN, kBuckets, kNaN},
        QuantileCase{"unsorted", 0.5, {{kInf, 50}, {1, 40}, {0.1, 10}, {0.5, 30}}, 0.4},
        QuantileCase{"no_inf_bucket", 0.5, {{0.1, 10}, {0.5, 30}}, kNaN},
        QuantileCase{"only_inf_bucket", 0.5, {{kInf, 10}}, kNaN},
        QuantileCase{"no_observations", 0.5, {{0.1, 0}, {kInf, 0}}, kNaN},
        QuantileCase{"non_positive_lowest_bound", 0.25, {{-1, 10}, {1, 20}, {kInf, 20}}, -1},
        QuantileCase{"forced_monotonic", 0.5, {{1, 10}, {2, 8}, {kInf, 12}}, 0.6},
        QuantileCase{"equal_bounds_merged", 0.5, {{1, 5}, {1, 5}, {kInf, 10}}, 0.5}),
    CaseName<QuantileCase>);

// ---- Evaluation of hand-made windows -----------------------------------------------------

using Window = WindowBuilder;  // Window(t, window_ms)

constexpr int64_t kT = 1700000000000;

TEST(EvaluateSignal, GroupsByLabelsAndOmitsEmptyLabelValues) {
  Window w(kT, 30000);
  w.Add({{"model_name", "a"}, {"pod", "1"}}, {{20000, 1}, {10000, 3}});
  w.Add({{"model_name", "a"}, {"pod", "2"}}, {{5000, 10}});
  w.Add({{"pod", "3"}}, {{1000, 7}, {0, 9}});
  auto out = EvaluateSignal(Spec("{name: s, series: g, window: 30s, overTime: avg, "
                                 "by: [model_name]}"),
                            w.View(), kernels::PrometheusVersion::kV2);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].labels.empty());  // pod 3 has no model_name
  EXPECT_DOUBLE_EQ(out[0].value, 8);
  EXPECT_EQ(out[1].labels, (std::map<std::string, std::string>{{"model_name", "a"}}));
  EXPECT_DOUBLE_EQ(out[1].value, 12);  // avg 2 + avg 10
}

TEST(EvaluateSignal, AcrossFunctionsAndNaN) {
  Window w(kT, 60000);
  w.Add({{"pod", "1"}}, {{0, 4}});
  w.Add({{"pod", "2"}}, {{0, 2}});
  w.Add({{"pod", "3"}}, {{0, kNaN}});
  const auto view = w.View();
  auto eval = [&](const std::string& across) {
    return EvaluateSignal(
               Spec("{name: s, series: g, window: 1m, overTime: last, across: " + across + "}"),
               view, kernels::PrometheusVersion::kV2)
        .at(0)
        .value;
  };
  EXPECT_TRUE(std::isnan(eval("sum")));  // NaN propagates as in PromQL
  EXPECT_TRUE(std::isnan(eval("avg")));
  EXPECT_EQ(eval("min"), 2);  // min/max ignore NaN unless all are NaN
  EXPECT_EQ(eval("max"), 4);
  EXPECT_EQ(eval("count"), 3);
}

TEST(EvaluateSignal, RateNeedsTwoSamplesAndAddsCounterResets) {
  Window w(kT, 30000);
  w.Add({{"pod", "steady"}}, {{30000, 100}, {20000, 110}, {10000, 120}, {0, 130}});
  w.Add({{"pod", "reset"}}, {{30000, 100}, {20000, 110}, {10000, 5}, {0, 15}});
  w.Add({{"pod", "single"}}, {{0, 1}});
  const auto view = w.View();
  auto eval = [&](const std::string& f) {
    return EvaluateSignal(Spec("{name: s, series: c, window: 30s, overTime: " + f + ", by: [pod]}"),
                          view, kernels::PrometheusVersion::kV2);
  };
  auto increase = eval("increase");
  ASSERT_EQ(increase.size(), 2u);  // "single" is absent, as PromQL emits nothing for it
  EXPECT_EQ(increase[0].labels.at("pod"), "reset");
  EXPECT_DOUBLE_EQ(increase[0].value, 25);  // 15 - 100 + 110 (the value before the reset)
  EXPECT_DOUBLE_EQ(increase[1].value, 30);
  auto rate = eval("rate");
  EXPECT_DOUBLE_EQ(rate[1].value, 1.0);
  auto delta = eval("delta");
  EXPECT_DOUBLE_EQ(delta[0].value, -85);
  auto count = eval("count");
  ASSERT_EQ(count.size(), 3u);
  EXPECT_EQ(count[1].value, 1);  // single
}

TEST(EvaluateSignal, HistogramQuantileOfSummedBucketRates) {
  Window w(kT, 60000);
  // Two pods of one model; counts grow linearly over exactly the window, so each bucket's
  // rate is its growth / 60.
  auto bucket = [&](const std::string& pod, const std::string& le, double growth) {
    w.Add({{"le", le}, {"model_name", "m"}, {"pod", pod}},
          {{60000, 1000}, {30000, 1000 + growth / 2}, {0, 1000 + growth}});
  };
  bucket("1", "0.1", 60);
  bucket("1", "0.5", 180);
  bucket("1", "+Inf", 300);
  bucket("2", "0.1", 0);
  bucket("2", "0.5", 0);
  bucket("2", "+Inf", 0);
  w.Add({{"model_name", "m"}, {"pod", "1"}}, {{60000, 1}, {0, 2}});  // no le: ignored
  auto out = EvaluateSignal(Spec("{name: h, histogram: x, window: 1m, quantile: 0.5, "
                                 "by: [model_name]}"),
                            w.View(), kernels::PrometheusVersion::kV2);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].labels.at("model_name"), "m");
  // Rates 1, 3, 5 per second: rank 2.5 in (0.1, 0.5]: 0.1 + 0.4 * (1.5 / 2).
  EXPECT_DOUBLE_EQ(out[0].value, 0.4);
}

}  // namespace
}  // namespace sextant::scaling

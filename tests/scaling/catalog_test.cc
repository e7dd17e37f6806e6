// The built-in catalog's table (scaling/catalog.h) and what one request reads and keeps
// (scaling/catalog_request.h): table invariants and the values the contract documents, the exact
// selector parts a request subscribes to and the exact kube_pod_labels selector its pod-label
// requirements are read with (no client input can change their structure), and Prometheus
// matcher semantics (a missing label is an empty one) on the series' workload labels and pod
// membership for pod labels.
#include "scaling/catalog.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "apiserver/quantity.h"
#include "query/promql.h"
#include "scaling/catalog_request.h"
#include "scaling/provider_util.h"

namespace sextant::scaling {
namespace {

using apiserver::LabelSelector;
using apiserver::Requirement;
using apiserver::SelectorOperator;
using std::chrono::milliseconds;

const CatalogConfig& DefaultConfig() {
  static const CatalogConfig config;
  return config;
}

const CatalogEntry& Entry(std::string_view name) {
  const CatalogEntry* e = FindCatalogEntry(name);
  if (e == nullptr) {
    ADD_FAILURE() << "no catalog entry " << name;
    return Catalog().front();
  }
  return *e;
}

LabelSelector Sel(std::string_view text) {
  auto s = LabelSelector::Parse(text);
  EXPECT_TRUE(s.ok()) << text << ": " << s.status().ToString();
  return s.ok() ? *s : LabelSelector();
}

std::vector<std::string> Parts(const std::string& selector) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (true) {
    const size_t end = selector.find('\n', begin);
    out.push_back(selector.substr(begin, end == std::string::npos ? end : end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return out;
}

CatalogRequest Make(std::string_view entry, std::string_view selector,
                    const std::string& ns = "team-a", bool pod_labels = true,
                    const CatalogConfig& config = DefaultConfig()) {
  auto r = CatalogRequest::Make(Entry(entry), config, ns, Sel(selector), pod_labels);
  EXPECT_TRUE(r.ok()) << entry << " / " << selector << ": " << r.status().ToString();
  if (!r.ok()) std::abort();
  return *r;
}

// Owns a series' encoded labels; Keep reads nothing else.
struct Labeled {
  explicit Labeled(const query::LabelSet& labels) : key(EncodeLabels(labels)) {}
  SeriesWindow Window() const {
    SeriesWindow w;
    w.labels_key = key;
    return w;
  }
  std::string key;
};

bool Keeps(const CatalogRequest& request, const query::LabelSet& labels,
           const std::set<std::pair<std::string, std::string>>& pods = {}) {
  Labeled l(labels);
  return request.Keep(l.Window(), pods);
}

// ---- The table --------------------------------------------------------------------------

TEST(CatalogTable, NamesAreUniqueCaseInsensitively) {
  std::set<std::string> seen;
  for (const CatalogEntry& e : Catalog()) {
    EXPECT_TRUE(seen.insert(Lower(std::string(e.name))).second) << e.name;
  }
  EXPECT_EQ(seen.size(), Catalog().size());
}

TEST(CatalogTable, NamesFollowTheSpecInDocumentationOrder) {
  std::vector<std::string> names;
  for (const CatalogEntry& e : Catalog()) names.emplace_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "gpu-utilization",
                       "gpu-tensor-active",
                       "gpu-engine-active",
                       "gpu-dram-active",
                       "gpu-memory-used-ratio",
                       "neuroncore-utilization",
                       "neuron-execution-latency-p99",
                       "neuron-errors-per-second",
                       "vllm-requests-waiting",
                       "vllm-requests-running",
                       "vllm-kv-cache-usage",
                       "vllm-ttft-p95",
                       "vllm-e2e-latency-p95",
                       "vllm-inter-token-latency-p95",
                       "triton-pending-requests",
                       "triton-queue-time-per-request",
                       "tgi-queue-size",
                       "tgi-batch-size",
                       "tgi-request-latency-p95",
                       "sglang-queue-requests",
                       "sglang-token-usage",
                       "gpu-pending-demand",
                       "gpu-headroom-deficit",
                   }));
}

TEST(CatalogTable, EveryEntrysMatchersParse) {
  for (const CatalogEntry& e : Catalog()) {
    if (e.matchers.empty()) continue;
    auto parsed = query::ParseVectorSelector("{" + std::string(e.matchers) + "}");
    EXPECT_TRUE(parsed.ok()) << e.name << ": " << parsed.status().ToString();
  }
  auto p99 = query::ParseVectorSelector(
      "{" + std::string(Entry("neuron-execution-latency-p99").matchers) + "}");
  ASSERT_TRUE(p99.ok());
  ASSERT_EQ(p99->matchers.size(), 1u);
  EXPECT_EQ(p99->matchers[0],
            (query::LabelMatcher{"percentile", query::LabelMatcher::Op::kEqual, "p99"}));
}

TEST(CatalogTable, EveryEntryIsWellFormed) {
  for (const CatalogEntry& e : Catalog()) {
    SCOPED_TRACE(e.name);
    EXPECT_FALSE(e.unit.empty());
    EXPECT_FALSE(e.description.empty());
    EXPECT_TRUE(e.target_type == "Value" || e.target_type == "AverageValue") << e.target_type;
    // Every entry recommends a starting target, a valid Kubernetes quantity.
    EXPECT_FALSE(e.typical_target.empty()) << e.name;
    if (!e.typical_target.empty()) {
      EXPECT_TRUE(apiserver::Quantity::Parse(e.typical_target).ok()) << e.typical_target;
    }
    EXPECT_GT(e.window.count(), 0);
    switch (e.plan) {
      case CatalogPlan::kGauge:
      case CatalogPlan::kHistogramQuantile:
        EXPECT_GE(e.metrics.size(), 1u);
        EXPECT_LE(e.metrics.size(), 2u);
        break;
      case CatalogPlan::kUsedRatio:
      case CatalogPlan::kIncreaseRatio:
        EXPECT_EQ(e.metrics.size(), 2u);
        break;
      case CatalogPlan::kPendingDemand:
      case CatalogPlan::kHeadroomDeficit:
        EXPECT_TRUE(e.metrics.empty());
        EXPECT_EQ(e.family, CatalogFamily::kKubeState);
        break;
    }
    for (std::string_view m : e.metrics) EXPECT_TRUE(query::IsValidMetricName(m)) << m;
    for (const std::string& n : CatalogSeriesNames(e)) {
      EXPECT_TRUE(query::IsValidMetricName(n)) << n;
    }
    if (e.family == CatalogFamily::kNeuron) {
      EXPECT_TRUE(e.series_keys.empty());
    }
  }
}

struct SpecRow {
  std::string_view name;
  CatalogFamily family;
  CatalogPlan plan;
  std::vector<std::string_view> metrics;
  OverTime over_time;  // kGauge only
  Across across;       // kGauge only
  int64_t window_ms;
  std::string_view target_type;
};
void PrintTo(const SpecRow& r, std::ostream* os) { *os << r.name; }
class CatalogSpecRow : public ::testing::TestWithParam<SpecRow> {};

TEST_P(CatalogSpecRow, MatchesTheSpecTable) {
  const SpecRow& r = GetParam();
  const CatalogEntry& e = Entry(r.name);
  EXPECT_EQ(e.family, r.family);
  EXPECT_EQ(e.plan, r.plan);
  EXPECT_EQ(e.metrics, r.metrics);
  if (r.plan == CatalogPlan::kGauge) {
    EXPECT_EQ(e.over_time, r.over_time);
    EXPECT_EQ(e.across, r.across);
  }
  if (r.plan == CatalogPlan::kHistogramQuantile) {
    EXPECT_EQ(e.quantile, 0.95);
  }
  EXPECT_EQ(e.window, milliseconds(r.window_ms));
  EXPECT_EQ(e.target_type, r.target_type);
}

using F = CatalogFamily;
using P = CatalogPlan;
using O = OverTime;
using A = Across;
INSTANTIATE_TEST_SUITE_P(
    Spec, CatalogSpecRow,
    ::testing::Values(
        SpecRow{"gpu-utilization", F::kDcgm, P::kGauge, {"DCGM_FI_DEV_GPU_UTIL"}, O::kAvg,
                A::kAvg, 60000, "Value"},
        SpecRow{"gpu-tensor-active", F::kDcgm, P::kGauge, {"DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"},
                O::kAvg, A::kAvg, 60000, "Value"},
        SpecRow{"gpu-engine-active", F::kDcgm, P::kGauge, {"DCGM_FI_PROF_GR_ENGINE_ACTIVE"},
                O::kAvg, A::kAvg, 60000, "Value"},
        SpecRow{"gpu-dram-active", F::kDcgm, P::kGauge, {"DCGM_FI_PROF_DRAM_ACTIVE"}, O::kAvg,
                A::kAvg, 60000, "Value"},
        SpecRow{"gpu-memory-used-ratio", F::kDcgm, P::kUsedRatio,
                {"DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"}, O::kAvg, A::kAvg, 60000,
                "Value"},
        SpecRow{"neuroncore-utilization", F::kNeuron, P::kGauge,
                {"neuroncore_utilization_ratio"}, O::kAvg, A::kAvg, 60000, "Value"},
        SpecRow{"neuron-execution-latency-p99", F::kNeuron, P::kGauge,
                {"execution_latency_seconds"}, O::kAvg, A::kMax, 60000, "Value"},
        SpecRow{"neuron-errors-per-second", F::kNeuron, P::kGauge, {"execution_errors_total"},
                O::kRate, A::kSum, 120000, "Value"},
        SpecRow{"vllm-requests-waiting", F::kServer, P::kGauge, {"vllm:num_requests_waiting"},
                O::kAvg, A::kSum, 60000, "AverageValue"},
        SpecRow{"vllm-requests-running", F::kServer, P::kGauge, {"vllm:num_requests_running"},
                O::kAvg, A::kSum, 60000, "AverageValue"},
        SpecRow{"vllm-kv-cache-usage", F::kServer, P::kGauge,
                {"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"}, O::kAvg, A::kAvg,
                60000, "Value"},
        SpecRow{"vllm-ttft-p95", F::kServer, P::kHistogramQuantile,
                {"vllm:time_to_first_token_seconds"}, O::kAvg, A::kSum, 300000, "Value"},
        SpecRow{"vllm-e2e-latency-p95", F::kServer, P::kHistogramQuantile,
                {"vllm:e2e_request_latency_seconds"}, O::kAvg, A::kSum, 300000, "Value"},
        SpecRow{"vllm-inter-token-latency-p95", F::kServer, P::kHistogramQuantile,
                {"vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"},
                O::kAvg, A::kSum, 300000, "Value"},
        SpecRow{"triton-pending-requests", F::kServer, P::kGauge,
                {"nv_inference_pending_request_count"}, O::kAvg, A::kSum, 60000,
                "AverageValue"},
        SpecRow{"triton-queue-time-per-request", F::kServer, P::kIncreaseRatio,
                {"nv_inference_queue_duration_us", "nv_inference_request_success"}, O::kAvg,
                A::kSum, 120000, "Value"},
        SpecRow{"tgi-queue-size", F::kServer, P::kGauge, {"tgi_queue_size"}, O::kAvg, A::kSum,
                60000, "AverageValue"},
        SpecRow{"tgi-batch-size", F::kServer, P::kGauge, {"tgi_batch_current_size"}, O::kAvg,
                A::kAvg, 60000, "Value"},
        SpecRow{"tgi-request-latency-p95", F::kServer, P::kHistogramQuantile,
                {"tgi_request_duration"}, O::kAvg, A::kSum, 300000, "Value"},
        SpecRow{"sglang-queue-requests", F::kServer, P::kGauge, {"sglang:num_queue_reqs"},
                O::kAvg, A::kSum, 60000, "AverageValue"},
        SpecRow{"sglang-token-usage", F::kServer, P::kGauge, {"sglang:token_usage"}, O::kAvg,
                A::kAvg, 60000, "Value"},
        // 5m: kube-state-metrics' last values as an instant selector (its lookback) finds them.
        SpecRow{"gpu-pending-demand", F::kKubeState, P::kPendingDemand, {}, O::kAvg, A::kSum,
                300000, "AverageValue"},
        SpecRow{"gpu-headroom-deficit", F::kKubeState, P::kHeadroomDeficit, {}, O::kAvg,
                A::kSum, 300000, "AverageValue"}),
    [](const ::testing::TestParamInfo<SpecRow>& info) {
      std::string n(info.param.name);
      std::replace(n.begin(), n.end(), '-', '_');
      return n;
    });

TEST(CatalogTable, SeriesNames) {
  EXPECT_EQ(CatalogSeriesNames(Entry("gpu-utilization")),
            (std::vector<std::string>{"DCGM_FI_DEV_GPU_UTIL"}));
  EXPECT_EQ(CatalogSeriesNames(Entry("gpu-memory-used-ratio")),
            (std::vector<std::string>{"DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"}));
  EXPECT_EQ(CatalogSeriesNames(Entry("vllm-kv-cache-usage")),
            (std::vector<std::string>{"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"}));
  EXPECT_EQ(CatalogSeriesNames(Entry("vllm-ttft-p95")),
            (std::vector<std::string>{"vllm:time_to_first_token_seconds_bucket"}));
  EXPECT_EQ(CatalogSeriesNames(Entry("vllm-inter-token-latency-p95")),
            (std::vector<std::string>{"vllm:inter_token_latency_seconds_bucket",
                                      "vllm:time_per_output_token_seconds_bucket"}));
  EXPECT_EQ(CatalogSeriesNames(Entry("tgi-request-latency-p95")),
            (std::vector<std::string>{"tgi_request_duration_bucket"}));
  EXPECT_EQ(CatalogSeriesNames(Entry("triton-queue-time-per-request")),
            (std::vector<std::string>{"nv_inference_queue_duration_us",
                                      "nv_inference_request_success"}));
  for (std::string_view kube : {"gpu-pending-demand", "gpu-headroom-deficit"}) {
    EXPECT_EQ(CatalogSeriesNames(Entry(kube)),
              (std::vector<std::string>{"kube_pod_status_phase",
                                        "kube_pod_container_resource_requests"}));
  }
}

TEST(CatalogTable, FindIsCaseInsensitive) {
  const CatalogEntry* e = FindCatalogEntry("GPU-Utilization");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "gpu-utilization");
  EXPECT_EQ(FindCatalogEntry("VLLM-TTFT-P95"), FindCatalogEntry("vllm-ttft-p95"));
  EXPECT_EQ(FindCatalogEntry("gpu-utilisation"), nullptr);
  EXPECT_EQ(FindCatalogEntry(""), nullptr);
  EXPECT_EQ(FindCatalogEntry("gpu-utilization "), nullptr);
  for (const CatalogEntry& entry : Catalog()) EXPECT_EQ(FindCatalogEntry(entry.name), &entry);
}

TEST(CatalogTable, SeriesKeys) {
  for (const CatalogEntry& e : Catalog()) {
    SCOPED_TRACE(e.name);
    for (std::string_view k : {"job", "instance", "pod", "container"}) {
      EXPECT_TRUE(SeriesKey(e, k)) << k;
    }
  }
  const CatalogEntry& dcgm = Entry("gpu-utilization");
  for (std::string_view k :
       {"gpu", "UUID", "device", "modelName", "pci_bus_id", "Hostname", "hostname"}) {
    EXPECT_TRUE(SeriesKey(dcgm, k)) << k;
  }
  EXPECT_FALSE(SeriesKey(dcgm, "namespace"));  // namespace is the Karpenter entries' only
  EXPECT_FALSE(SeriesKey(dcgm, "app"));
  EXPECT_FALSE(SeriesKey(dcgm, "uuid"));  // keys are case-sensitive
  EXPECT_TRUE(SeriesKey(Entry("vllm-requests-waiting"), "model_name"));
  EXPECT_TRUE(SeriesKey(Entry("vllm-requests-waiting"), "engine"));
  EXPECT_TRUE(SeriesKey(Entry("sglang-token-usage"), "model_name"));
  EXPECT_FALSE(SeriesKey(Entry("sglang-token-usage"), "engine"));
  EXPECT_TRUE(SeriesKey(Entry("triton-pending-requests"), "model"));
  EXPECT_TRUE(SeriesKey(Entry("triton-pending-requests"), "version"));
  EXPECT_FALSE(SeriesKey(Entry("tgi-queue-size"), "model_name"));
  EXPECT_TRUE(SeriesKey(Entry("gpu-pending-demand"), "namespace"));
  EXPECT_FALSE(SeriesKey(Entry("gpu-pending-demand"), "app.kubernetes.io/name"));
  EXPECT_TRUE(SeriesKey(Entry("neuroncore-utilization"), "anything.example.com/at-all"));
}

// ---- CatalogRequest::Make: the subscription's selector -------------------------------------

TEST(CatalogRequestSelector, DcgmSingleMetric) {
  CatalogRequest r = Make("gpu-utilization", "");
  EXPECT_EQ(Parts(r.selector()),
            (std::vector<std::string>{
                R"(DCGM_FI_DEV_GPU_UTIL{namespace="team-a",exported_namespace=""})",
                R"(DCGM_FI_DEV_GPU_UTIL{exported_namespace="team-a"})"}));
  EXPECT_EQ(r.window(), milliseconds(60000));
  EXPECT_FALSE(r.has_pod_requirements());
  EXPECT_EQ(r.pod_labels_selector(), "");
  EXPECT_EQ(&r.entry(), FindCatalogEntry("gpu-utilization"));
}

TEST(CatalogRequestSelector, DcgmTwoMetricsShareAPart) {
  CatalogRequest r = Make("gpu-memory-used-ratio", "");
  EXPECT_EQ(Parts(r.selector()),
            (std::vector<std::string>{
                R"({__name__=~"DCGM_FI_DEV_FB_USED|DCGM_FI_DEV_FB_FREE",namespace="team-a",exported_namespace=""})",
                R"({__name__=~"DCGM_FI_DEV_FB_USED|DCGM_FI_DEV_FB_FREE",exported_namespace="team-a"})"}));
}

TEST(CatalogRequestSelector, DcgmWithPodLabelAndSeriesKeys) {
  // gpu and Hostname are series keys (checked in-process, never sent); the pod label is
  // spelled as kube-state-metrics does.
  CatalogRequest r = Make("gpu-utilization", "app.kubernetes.io/name=web,gpu=0,Hostname!=n1");
  EXPECT_TRUE(r.has_pod_requirements());
  // The series parts are those of the plain request: the pods are read separately.
  EXPECT_EQ(r.selector(), Make("gpu-utilization", "").selector());
  EXPECT_EQ(Parts(r.selector()),
            (std::vector<std::string>{
                R"(DCGM_FI_DEV_GPU_UTIL{namespace="team-a",exported_namespace=""})",
                R"(DCGM_FI_DEV_GPU_UTIL{exported_namespace="team-a"})"}));
  EXPECT_EQ(r.pod_labels_selector(),
            R"(kube_pod_labels{namespace="team-a",label_app_kubernetes_io_name="web"})");
}

TEST(CatalogRequestSelector, PodLabelSelectorsOfANamespaceShareTheSeriesSelector) {
  // Every selector of one namespace subscribes to the same series selector; only the
  // kube_pod_labels selector differs.
  const std::string plain = Make("vllm-requests-waiting", "").selector();
  for (std::string_view sel : {"app=web", "app=api", "tier in (gold),!canary", "model_name=m",
                               "app notin (x),engine"}) {
    SCOPED_TRACE(sel);
    EXPECT_EQ(Make("vllm-requests-waiting", sel).selector(), plain);
    EXPECT_EQ(Parts(Make("vllm-requests-waiting", sel).selector()).size(), 1u);
  }
  EXPECT_NE(Make("vllm-requests-waiting", "app=web").pod_labels_selector(),
            Make("vllm-requests-waiting", "app=api").pod_labels_selector());
  EXPECT_EQ(Make("vllm-requests-waiting", "app=web").pod_labels_selector(),
            R"(kube_pod_labels{namespace="team-a",label_app="web"})");
  EXPECT_EQ(Make("vllm-requests-waiting", "app=api").pod_labels_selector(),
            R"(kube_pod_labels{namespace="team-a",label_app="api"})");
  // Series keys only: no pod-label selector.
  EXPECT_EQ(Make("vllm-requests-waiting", "model_name=m").pod_labels_selector(), "");
  // Another namespace: another series selector and another pod-label selector.
  EXPECT_EQ(Make("vllm-requests-waiting", "app=web", "team-b").selector(),
            R"(vllm:num_requests_waiting{namespace="team-b"})");
  EXPECT_EQ(Make("vllm-requests-waiting", "app=web", "team-b").pod_labels_selector(),
            R"(kube_pod_labels{namespace="team-b",label_app="web"})");
}

TEST(CatalogRequestSelector, ServerWithAndWithoutPodLabels) {
  EXPECT_EQ(Make("vllm-requests-waiting", "").selector(),
            R"(vllm:num_requests_waiting{namespace="team-a"})");
  EXPECT_EQ(Make("vllm-requests-waiting", "model_name=m,engine").selector(),
            R"(vllm:num_requests_waiting{namespace="team-a"})");
  EXPECT_EQ(Make("vllm-requests-waiting", "model_name=m,engine").pod_labels_selector(), "");
  CatalogRequest r = Make("vllm-requests-waiting", "model_name=m,tier in (gold,silver),!canary");
  EXPECT_TRUE(r.has_pod_requirements());
  EXPECT_EQ(r.selector(), R"(vllm:num_requests_waiting{namespace="team-a"})");
  EXPECT_EQ(r.pod_labels_selector(),
            R"(kube_pod_labels{namespace="team-a",label_canary="",label_tier=~"gold|silver"})");
  // An empty pod-label value is sent as Prometheus takes it (pods without the label match).
  EXPECT_EQ(Make("vllm-requests-waiting", "app=").pod_labels_selector(),
            R"(kube_pod_labels{namespace="team-a",label_app=""})");
  EXPECT_EQ(Make("vllm-kv-cache-usage", "").selector(),
            R"({__name__=~"vllm\\:kv_cache_usage_perc|vllm\\:gpu_cache_usage_perc",namespace="team-a"})");
  EXPECT_EQ(Make("vllm-ttft-p95", "").selector(),
            R"(vllm:time_to_first_token_seconds_bucket{namespace="team-a"})");
  EXPECT_EQ(Make("triton-queue-time-per-request", "").window(), milliseconds(120000));
}

TEST(CatalogRequestSelector, TwoMetricNamesWithColonsStillParseAndMatchOnlyThemselves) {
  const std::string sel = Make("vllm-inter-token-latency-p95", "").selector();
  auto parsed = query::ParseVectorSelector(sel);
  ASSERT_TRUE(parsed.ok()) << sel;
  ASSERT_EQ(parsed->matchers.size(), 2u);
  EXPECT_EQ(parsed->matchers[0].name, "__name__");
  EXPECT_EQ(parsed->matchers[0].op, query::LabelMatcher::Op::kRegexMatch);
  EXPECT_EQ(parsed->matchers[0].value,
            query::JoinRegexAlternatives({"vllm:inter_token_latency_seconds_bucket",
                                          "vllm:time_per_output_token_seconds_bucket"}));
}

TEST(CatalogRequestSelector, NeuronIsClusterWideAndHasNoPodMapping) {
  EXPECT_EQ(Make("neuroncore-utilization", "").selector(), "neuroncore_utilization_ratio");
  auto bare = query::ParseVectorSelector(Make("neuroncore-utilization", "").selector());
  ASSERT_TRUE(bare.ok()) << Make("neuroncore-utilization", "").selector();
  EXPECT_EQ(bare->metric_name, "neuroncore_utilization_ratio");
  EXPECT_TRUE(bare->matchers.empty());
  // Every key is a series key: no kube_pod_labels part, whatever the key.
  CatalogRequest r = Make("neuron-execution-latency-p99", "app.kubernetes.io/name=web", "other");
  EXPECT_EQ(r.selector(), R"(execution_latency_seconds{percentile="p99"})");
  EXPECT_FALSE(r.has_pod_requirements());
  EXPECT_EQ(r.pod_labels_selector(), "");
  EXPECT_EQ(Make("neuron-errors-per-second", "", "ns-1").selector(),
            Make("neuron-errors-per-second", "", "ns-2").selector());
}

TEST(CatalogRequestSelector, KubeStateIsClusterWide) {
  const std::vector<std::string> base = {
      R"(kube_pod_status_phase{phase=~"Pending|Running"})",
      R"(kube_pod_container_resource_requests{resource="nvidia_com_gpu"})",
      R"(kube_node_status_allocatable{resource="nvidia_com_gpu"})",
      "kube_node_spec_unschedulable"};
  EXPECT_EQ(Parts(Make("gpu-pending-demand", "").selector()), base);
  // namespace is a series key of the Karpenter entries: not sent.
  EXPECT_EQ(Parts(Make("gpu-headroom-deficit", "namespace=team-b", "team-a").selector()), base);
  EXPECT_EQ(Make("gpu-pending-demand", "").pod_labels_selector(), "");
  EXPECT_EQ(Make("gpu-headroom-deficit", "namespace=team-b", "team-a").pod_labels_selector(), "");
  // Other keys are pod labels, cluster-wide (no namespace matcher), read separately: the
  // series parts stay the same.
  CatalogRequest r =
      Make("gpu-headroom-deficit", "app.kubernetes.io/name notin (gpu-headroom)", "team-a");
  EXPECT_EQ(Parts(r.selector()), base);
  EXPECT_EQ(r.pod_labels_selector(),
            R"(kube_pod_labels{label_app_kubernetes_io_name!~"gpu\\-headroom"})");
  EXPECT_TRUE(r.has_pod_requirements());
  EXPECT_EQ(r.window(), milliseconds(300000));
  // Both: namespace stays a series key, the pod label alone is in the pod-label selector.
  CatalogRequest both = Make("gpu-pending-demand", "namespace=team-b,app=web", "team-a");
  EXPECT_EQ(Parts(both.selector()), base);
  EXPECT_EQ(both.pod_labels_selector(), R"(kube_pod_labels{label_app="web"})");
  // The same selector in another namespace reads the same pods.
  EXPECT_EQ(Make("gpu-pending-demand", "app=web", "team-z").pod_labels_selector(),
            R"(kube_pod_labels{label_app="web"})");
}

TEST(CatalogRequestSelector, KubeStateResourceFromConfig) {
  CatalogConfig config;
  config.gpu_resource = "amd.com/gpu";
  config.gpu_buffer = 3;
  CatalogRequest r = Make("gpu-pending-demand", "", "team-a", true, config);
  EXPECT_EQ(Parts(r.selector()),
            (std::vector<std::string>{
                R"(kube_pod_status_phase{phase=~"Pending|Running"})",
                R"(kube_pod_container_resource_requests{resource="amd_com_gpu"})",
                R"(kube_node_status_allocatable{resource="amd_com_gpu"})",
                "kube_node_spec_unschedulable"}));
  EXPECT_EQ(r.config().gpu_buffer, 3);
}

TEST(CatalogRequestSelector, PodLabelKeySpelling) {
  // label_ + the key, every character outside [a-zA-Z0-9_] replaced by '_'.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"app.kubernetes.io/name=x", "label_app_kubernetes_io_name"},
      {"example.com/team-name=x", "label_example_com_team_name"},
      {"app=x", "label_app"},
      {"9lives=x", "label_9lives"},
  };
  for (const auto& [selector, label] : cases) {
    CatalogRequest r = Make("tgi-queue-size", selector);
    EXPECT_EQ(r.selector(), R"(tgi_queue_size{namespace="team-a"})") << selector;
    auto parsed = query::ParseVectorSelector(r.pod_labels_selector());
    ASSERT_TRUE(parsed.ok()) << r.pod_labels_selector();
    EXPECT_EQ(parsed->metric_name, "kube_pod_labels");
    ASSERT_EQ(parsed->matchers.size(), 2u) << r.pod_labels_selector();
    EXPECT_EQ(parsed->matchers[0],
              (query::LabelMatcher{"namespace", query::LabelMatcher::Op::kEqual, "team-a"}));
    EXPECT_EQ(parsed->matchers[1].name, label) << selector;
  }
}

TEST(CatalogRequestSelector, RegexSpecialSelectorValuesAreEscaped) {
  // '.' and '-' are the only regex-special characters a parsed selector value can hold.
  CatalogRequest r = Make("sglang-queue-requests", "tier in (a.b,c-d),zone notin (x.y)");
  EXPECT_EQ(r.selector(), R"(sglang:num_queue_reqs{namespace="team-a"})");
  EXPECT_EQ(
      r.pod_labels_selector(),
      R"(kube_pod_labels{namespace="team-a",label_tier=~"a\\.b|c\\-d",label_zone!~"x\\.y"})");
}

TEST(CatalogRequestSelector, HostileNamespaceStaysInsideItsStringLiteral) {
  const std::string ns = "x\"} or vector(1) #\n{a=\"\\";
  for (std::string_view entry :
       {"gpu-utilization", "gpu-memory-used-ratio", "vllm-requests-waiting", "tgi-batch-size"}) {
    SCOPED_TRACE(entry);
    CatalogRequest r = Make(entry, "app=web", ns);
    std::vector<std::string> parts = Parts(r.selector());
    const size_t want_parts = r.entry().family == CatalogFamily::kDcgm ? 2 : 1;
    ASSERT_EQ(parts.size(), want_parts) << r.selector();
    ASSERT_TRUE(r.has_pod_requirements());
    ASSERT_EQ(Parts(r.pod_labels_selector()).size(), 1u) << r.pod_labels_selector();
    parts.push_back(r.pod_labels_selector());
    for (const std::string& part : parts) {
      auto parsed = query::ParseVectorSelector(part);
      ASSERT_TRUE(parsed.ok()) << part << ": " << parsed.status().ToString();
      int namespace_matchers = 0;
      for (const query::LabelMatcher& m : parsed->matchers) {
        if (m.name == "namespace" || (m.name == "exported_namespace" && !m.value.empty())) {
          EXPECT_EQ(m.value, ns);
          EXPECT_EQ(m.op, query::LabelMatcher::Op::kEqual);
          ++namespace_matchers;
        }
      }
      EXPECT_EQ(namespace_matchers, 1) << part;
    }
  }
}

TEST(CatalogRequestSelector, HostileHandBuiltPodRequirementStaysInsideItsLiterals) {
  // Requirements built by hand are not validated (apiserver/label_selector.h): the values and
  // the key must still not change the selector's structure.
  const std::vector<std::string> values = {"a\"}|b", "c\\", "d\n) or up"};
  LabelSelector selector = LabelSelector::FromRequirements({
      Requirement{"we\"ird}key", SelectorOperator::kIn, values},
      Requirement{"app", SelectorOperator::kNotEquals, {"\"}) or vector(1"}},
  });
  auto r = CatalogRequest::Make(Entry("vllm-requests-waiting"), DefaultConfig(), "team-a",
                                selector, true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->selector(), R"(vllm:num_requests_waiting{namespace="team-a"})");
  const std::string pods = r->pod_labels_selector();
  ASSERT_EQ(Parts(pods).size(), 1u) << pods;
  auto parsed = query::ParseVectorSelector(pods);
  ASSERT_TRUE(parsed.ok()) << pods << ": " << parsed.status().ToString();
  EXPECT_EQ(parsed->metric_name, "kube_pod_labels");
  ASSERT_EQ(parsed->matchers.size(), 3u) << pods;
  EXPECT_EQ(parsed->matchers[0],
            (query::LabelMatcher{"namespace", query::LabelMatcher::Op::kEqual, "team-a"}));
  EXPECT_EQ(parsed->matchers[1], (query::LabelMatcher{"label_app", query::LabelMatcher::Op::kNotEqual,
                                                      "\"}) or vector(1"}));
  EXPECT_EQ(parsed->matchers[2],
            (query::LabelMatcher{"label_we_ird_key", query::LabelMatcher::Op::kRegexMatch,
                                 query::JoinRegexAlternatives(values)}));
}

TEST(CatalogRequestSelector, GtAndLtAreInvalidArgument) {
  for (std::string_view text : {"gpu>1", "replicas<3", "app=web,gpu>0"}) {
    for (std::string_view entry : {"gpu-utilization", "vllm-requests-waiting",
                                   "neuroncore-utilization", "gpu-headroom-deficit"}) {
      for (bool pod_labels : {true, false}) {
        auto r = CatalogRequest::Make(Entry(entry), DefaultConfig(), "team-a", Sel(text),
                                      pod_labels);
        EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << entry << " " << text;
      }
    }
  }
}

TEST(CatalogRequestSelector, WithoutKubePodLabelsPodKeysAreSeriesKeys) {
  CatalogRequest r = Make("vllm-requests-waiting", "app.kubernetes.io/name=web", "team-a",
                          /*pod_labels=*/false);
  EXPECT_FALSE(r.has_pod_requirements());
  EXPECT_EQ(r.selector(), R"(vllm:num_requests_waiting{namespace="team-a"})");
  EXPECT_EQ(r.pod_labels_selector(), "");
  // The key is matched against the series label of the sanitized name.
  EXPECT_TRUE(Keeps(r, {{"__name__", "vllm:num_requests_waiting"},
                        {"app_kubernetes_io_name", "web"}}));
  EXPECT_FALSE(Keeps(r, {{"__name__", "vllm:num_requests_waiting"},
                         {"app_kubernetes_io_name", "api"}}));
  EXPECT_FALSE(Keeps(r, {{"__name__", "vllm:num_requests_waiting"}}));

  CatalogRequest dcgm = Make("gpu-utilization", "app=web", "team-a", false);
  EXPECT_EQ(Parts(dcgm.selector()).size(), 2u);
  EXPECT_FALSE(dcgm.has_pod_requirements());
  EXPECT_EQ(dcgm.pod_labels_selector(), "");
  EXPECT_TRUE(Keeps(dcgm, {{"__name__", "DCGM_FI_DEV_GPU_UTIL"}, {"app", "web"}}));
  EXPECT_FALSE(Keeps(dcgm, {{"__name__", "DCGM_FI_DEV_GPU_UTIL"}, {"app", "api"}}));
}

TEST(CatalogRequestSelector, KubeStateNeverFallsBackToSeriesLabels) {
  // Without kube_pod_labels, a pod-label key of the headroom entries stays a pod label: it
  // selects no pending pod (a `notin` on series labels would select every pod, the
  // placeholders included).
  const std::vector<std::string> base = {
      R"(kube_pod_status_phase{phase=~"Pending|Running"})",
      R"(kube_pod_container_resource_requests{resource="nvidia_com_gpu"})",
      R"(kube_node_status_allocatable{resource="nvidia_com_gpu"})",
      "kube_node_spec_unschedulable"};
  for (std::string_view entry : {"gpu-pending-demand", "gpu-headroom-deficit"}) {
    SCOPED_TRACE(entry);
    CatalogRequest notin = Make(entry, "app notin (x)", "team-a", /*pod_labels=*/false);
    EXPECT_TRUE(notin.has_pod_requirements());
    EXPECT_EQ(Parts(notin.selector()), base);
    EXPECT_EQ(notin.pod_labels_selector(), R"(kube_pod_labels{label_app!~"x"})");
    const query::LabelSet requests = {{"__name__", "kube_pod_container_resource_requests"},
                                      {"namespace", "team-a"},
                                      {"pod", "p"},
                                      {"app", "y"}};
    // The series' own app label does not stand in: no pods, nothing kept.
    EXPECT_FALSE(Keeps(notin, requests));
    query::LabelSet no_app = requests;
    no_app.erase("app");
    EXPECT_FALSE(Keeps(notin, no_app));
    EXPECT_TRUE(Keeps(notin, requests, {{"team-a", "p"}}));

    CatalogRequest eq = Make(entry, "app=web", "team-a", false);
    EXPECT_TRUE(eq.has_pod_requirements());
    EXPECT_EQ(eq.pod_labels_selector(), R"(kube_pod_labels{label_app="web"})");
    EXPECT_FALSE(Keeps(eq, {{"__name__", "kube_pod_container_resource_requests"},
                            {"namespace", "team-a"},
                            {"pod", "p"},
                            {"app", "web"}}));

    // Series keys are still series keys.
    CatalogRequest ns = Make(entry, "namespace=team-b", "team-a", false);
    EXPECT_FALSE(ns.has_pod_requirements());
    EXPECT_EQ(ns.pod_labels_selector(), "");
    // The same request with kube_pod_labels present reads the same selectors.
    CatalogRequest with = Make(entry, "app notin (x)", "team-a", true);
    EXPECT_EQ(with.selector(), notin.selector());
    EXPECT_EQ(with.pod_labels_selector(), notin.pod_labels_selector());
  }
}

// ---- Keep ---------------------------------------------------------------------------------

struct KeepCase {
  std::string_view name;
  std::string_view selector;
  query::LabelSet labels;  // besides __name__
  bool keep;
};
void PrintTo(const KeepCase& c, std::ostream* os) { *os << c.name; }
class KeepRow : public ::testing::TestWithParam<KeepCase> {};

TEST_P(KeepRow, PrometheusMatcherSemanticsOnWorkloadLabels) {
  const KeepCase& c = GetParam();
  CatalogRequest r = Make("vllm-requests-waiting", c.selector);
  query::LabelSet labels = c.labels;
  labels["__name__"] = "vllm:num_requests_waiting";
  EXPECT_EQ(Keeps(r, labels), c.keep);
}

INSTANTIATE_TEST_SUITE_P(
    Semantics, KeepRow,
    ::testing::Values(
        KeepCase{"empty_keeps_all", "", {}, true},
        KeepCase{"eq_match", "model_name=m", {{"model_name", "m"}}, true},
        KeepCase{"eq_other", "model_name=m", {{"model_name", "n"}}, false},
        KeepCase{"eq_missing", "model_name=m", {}, false},
        KeepCase{"double_eq", "model_name==m", {{"model_name", "m"}}, true},
        KeepCase{"ne_match", "model_name!=m", {{"model_name", "m"}}, false},
        KeepCase{"ne_other", "model_name!=m", {{"model_name", "n"}}, true},
        KeepCase{"ne_missing", "model_name!=m", {}, true},
        KeepCase{"in_match", "model_name in (a,b)", {{"model_name", "b"}}, true},
        KeepCase{"in_other", "model_name in (a,b)", {{"model_name", "c"}}, false},
        KeepCase{"in_missing", "model_name in (a,b)", {}, false},
        KeepCase{"notin_match", "model_name notin (a,b)", {{"model_name", "a"}}, false},
        KeepCase{"notin_other", "model_name notin (a,b)", {{"model_name", "c"}}, true},
        KeepCase{"notin_missing", "model_name notin (a,b)", {}, true},
        KeepCase{"exists_present", "model_name", {{"model_name", "a"}}, true},
        KeepCase{"exists_missing", "model_name", {}, false},
        KeepCase{"exists_empty_is_missing", "model_name", {{"model_name", ""}}, false},
        KeepCase{"not_exists_present", "!model_name", {{"model_name", "a"}}, false},
        KeepCase{"not_exists_missing", "!model_name", {}, true},
        KeepCase{"not_exists_empty_is_missing", "!model_name", {{"model_name", ""}}, true},
        // An empty value is a missing label, as Prometheus matches `k=""`.
        KeepCase{"eq_empty_missing", "model_name=", {}, true},
        KeepCase{"eq_empty_empty", "model_name=", {{"model_name", ""}}, true},
        KeepCase{"eq_empty_present", "model_name=", {{"model_name", "m"}}, false},
        KeepCase{"double_eq_empty_missing", "model_name==", {}, true},
        KeepCase{"double_eq_empty_present", "model_name==", {{"model_name", "m"}}, false},
        KeepCase{"in_empty_missing", "model_name in ()", {}, true},
        KeepCase{"in_empty_present", "model_name in ()", {{"model_name", "m"}}, false},
        KeepCase{"in_empty_or_a_missing", "model_name in (,a)", {}, true},
        KeepCase{"in_empty_or_a_a", "model_name in (,a)", {{"model_name", "a"}}, true},
        KeepCase{"in_empty_or_a_other", "model_name in (,a)", {{"model_name", "b"}}, false},
        KeepCase{"ne_empty_missing", "model_name!=", {}, false},
        KeepCase{"ne_empty_present", "model_name!=", {{"model_name", "m"}}, true},
        KeepCase{"notin_empty_missing", "model_name notin ()", {}, false},
        KeepCase{"notin_empty_present", "model_name notin ()", {{"model_name", "m"}}, true},
        KeepCase{"notin_empty_or_a_a", "model_name notin (,a)", {{"model_name", "a"}}, false},
        KeepCase{"notin_empty_or_a_b", "model_name notin (,a)", {{"model_name", "b"}}, true},
        KeepCase{"all_requirements", "model_name=m,engine!=v0,pod in (p-1)",
                 {{"model_name", "m"}, {"engine", "v1"}, {"pod", "p-1"}}, true},
        KeepCase{"one_fails", "model_name=m,engine!=v0,pod in (p-1)",
                 {{"model_name", "m"}, {"engine", "v0"}, {"pod", "p-1"}}, false},
        KeepCase{"job_instance_container", "job=vllm,instance=vllm-0.svc,container=c",
                 {{"job", "vllm"}, {"instance", "vllm-0.svc"}, {"container", "c"}}, true}),
    [](const ::testing::TestParamInfo<KeepCase>& info) { return std::string(info.param.name); });

// A GPU of pod team-a/web-0 seen through a ServiceMonitor without honorLabels: the exporter's
// own pod is in namespace/pod/container, the workload's in exported_*.
const query::LabelSet kExported = {{"__name__", "DCGM_FI_DEV_GPU_UTIL"},
                                   {"namespace", "gpu-operator"},
                                   {"pod", "dcgm-exporter-abc"},
                                   {"container", "exporter"},
                                   {"exported_namespace", "team-a"},
                                   {"exported_pod", "web-0"},
                                   {"exported_container", "main"},
                                   {"Hostname", "node-1"},
                                   {"gpu", "0"}};
// The same through honorLabels: exported_namespace is empty.
const query::LabelSet kPlain = {{"__name__", "DCGM_FI_DEV_GPU_UTIL"},
                                {"namespace", "team-a"},
                                {"pod", "web-1"},
                                {"container", "main"},
                                {"exported_namespace", ""},
                                {"hostname", "node-2"},
                                {"gpu", "1"}};

TEST(CatalogKeep, DcgmWorkloadLabelsAreTheExportedOnes) {
  EXPECT_TRUE(Keeps(Make("gpu-utilization", "pod=web-0"), kExported));
  EXPECT_FALSE(Keeps(Make("gpu-utilization", "pod=dcgm-exporter-abc"), kExported));
  EXPECT_TRUE(Keeps(Make("gpu-utilization", "container=main"), kExported));
  EXPECT_FALSE(Keeps(Make("gpu-utilization", "container=exporter"), kExported));
  EXPECT_TRUE(Keeps(Make("gpu-utilization", "pod!=dcgm-exporter-abc"), kExported));
  EXPECT_TRUE(Keeps(Make("gpu-utilization", "pod=web-1,container=main"), kPlain));
  EXPECT_FALSE(Keeps(Make("gpu-utilization", "pod=web-0"), kPlain));

  // exported_namespace set without exported_container: the workload has no container label,
  // the exporter's own does not stand in.
  query::LabelSet no_container = kExported;
  no_container.erase("exported_container");
  EXPECT_FALSE(Keeps(Make("gpu-utilization", "container"), no_container));
  EXPECT_TRUE(Keeps(Make("gpu-utilization", "!container"), no_container));
  EXPECT_FALSE(Keeps(Make("gpu-utilization", "container=exporter"), no_container));

  Labeled l(kExported);
  const apiserver::Labels workload = WorkloadLabels(Entry("gpu-utilization"), l.Window());
  EXPECT_EQ(workload.at("namespace"), "team-a");
  EXPECT_EQ(workload.at("pod"), "web-0");
  EXPECT_EQ(workload.at("container"), "main");
  // Other families keep the series' labels as they are.
  const apiserver::Labels server = WorkloadLabels(Entry("vllm-requests-waiting"), l.Window());
  EXPECT_EQ(server.at("pod"), "dcgm-exporter-abc");
}

TEST(CatalogKeep, LabelRequirementMatchesLikeAPrometheusMatcher) {
  using Op = SelectorOperator;
  const apiserver::Labels with = {{"k", "v"}};
  const apiserver::Labels without = {{"other", "v"}};
  struct Row {
    Requirement r;
    bool with_k;
    bool without_k;
  };
  const std::vector<Row> rows = {
      {{"k", Op::kEquals, {"v"}}, true, false},
      {{"k", Op::kEquals, {""}}, false, true},
      {{"k", Op::kDoubleEquals, {""}}, false, true},
      {{"k", Op::kIn, {"", "v"}}, true, true},
      {{"k", Op::kIn, {"w"}}, false, false},
      {{"k", Op::kNotEquals, {"v"}}, false, true},
      {{"k", Op::kNotEquals, {"w"}}, true, true},
      {{"k", Op::kNotEquals, {""}}, true, false},
      {{"k", Op::kNotIn, {"w"}}, true, true},
      {{"k", Op::kNotIn, {""}}, true, false},
      {{"k", Op::kNotIn, {"", "v"}}, false, false},
      {{"k", Op::kExists, {}}, true, false},
      {{"k", Op::kDoesNotExist, {}}, false, true},
      // Refused by Make; never a match.
      {{"k", Op::kGreaterThan, {"1"}}, false, false},
      {{"k", Op::kLessThan, {"1"}}, false, false},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.r.String());
    EXPECT_EQ(LabelRequirementMatches(row.r, with), row.with_k);
    EXPECT_EQ(LabelRequirementMatches(row.r, without), row.without_k);
  }
  // An empty value is a missing label.
  EXPECT_TRUE(LabelRequirementMatches({"k", Op::kEquals, {""}}, {{"k", ""}}));
  EXPECT_FALSE(LabelRequirementMatches({"k", Op::kExists, {}}, {{"k", ""}}));
}

TEST(CatalogKeep, EmptyValueOnDcgmWorkloadLabels) {
  // The exported workload has no container: `container=` keeps it, though the exporter's own
  // series label is set.
  query::LabelSet no_container = kExported;
  no_container.erase("exported_container");
  EXPECT_TRUE(Keeps(Make("gpu-utilization", "container="), no_container));
  EXPECT_FALSE(Keeps(Make("gpu-utilization", "container="), kExported));
  EXPECT_FALSE(Keeps(Make("gpu-utilization", "container!="), no_container));
  EXPECT_TRUE(Keeps(Make("gpu-utilization", "container!="), kExported));
  // kPlain's exported_namespace="" is no exported namespace: its own labels count.
  EXPECT_FALSE(Keeps(Make("gpu-utilization", "pod="), kPlain));
  query::LabelSet no_host = kPlain;
  no_host.erase("hostname");
  EXPECT_TRUE(Keeps(Make("gpu-utilization", "Hostname="), no_host));
  EXPECT_FALSE(Keeps(Make("gpu-utilization", "Hostname="), kPlain));
  EXPECT_FALSE(Keeps(Make("gpu-utilization", "hostname="), kExported));
}

TEST(CatalogKeep, HostnameAndhostnameAreOneKey) {
  EXPECT_TRUE(Keeps(Make("gpu-utilization", "hostname=node-1"), kExported));
  EXPECT_TRUE(Keeps(Make("gpu-utilization", "Hostname=node-1"), kExported));
  EXPECT_TRUE(Keeps(Make("gpu-utilization", "Hostname=node-2"), kPlain));
  EXPECT_TRUE(Keeps(Make("gpu-utilization", "hostname=node-2"), kPlain));
  EXPECT_FALSE(Keeps(Make("gpu-utilization", "Hostname in (node-1)"), kPlain));
  EXPECT_FALSE(Keeps(Make("gpu-utilization", "hostname!=node-2"), kPlain));
  EXPECT_TRUE(Keeps(Make("gpu-utilization", "Hostname,hostname"), kPlain));
  query::LabelSet no_host = kPlain;
  no_host.erase("hostname");
  EXPECT_TRUE(Keeps(Make("gpu-utilization", "!Hostname"), no_host));
  EXPECT_FALSE(Keeps(Make("gpu-utilization", "hostname"), no_host));
}

TEST(CatalogKeep, PodLabelKeysNeedAPodOfTheSet) {
  CatalogRequest r = Make("gpu-utilization", "app=web");
  ASSERT_TRUE(r.has_pod_requirements());
  const std::set<std::pair<std::string, std::string>> pods = {{"team-a", "web-0"}};
  EXPECT_TRUE(Keeps(r, kExported, pods));       // (exported ns, exported pod)
  EXPECT_FALSE(Keeps(r, kPlain, pods));         // team-a/web-1
  EXPECT_TRUE(Keeps(r, kPlain, {{"team-a", "web-1"}}));
  EXPECT_FALSE(Keeps(r, kExported, {{"gpu-operator", "dcgm-exporter-abc"}}));
  EXPECT_FALSE(Keeps(r, kExported, {}));
  query::LabelSet no_pod = kPlain;
  no_pod.erase("pod");
  EXPECT_FALSE(Keeps(r, no_pod, {{"team-a", ""}}));

  // Series requirements still apply on top of the membership.
  CatalogRequest both = Make("gpu-utilization", "app=web,gpu=1");
  EXPECT_FALSE(Keeps(both, kExported, pods));  // gpu 0
  EXPECT_TRUE(Keeps(both, kPlain, {{"team-a", "web-1"}}));
}

TEST(CatalogKeep, PodsOfReadsTheKubePodLabelsSeriesWithSamples) {
  CatalogRequest r = Make("vllm-requests-waiting", "app=web");
  const std::string k1 = EncodeLabels(
      {{"__name__", "kube_pod_labels"}, {"namespace", "team-a"}, {"pod", "p1"}, {"label_app", "web"}});
  const std::string k2 = EncodeLabels(
      {{"__name__", "kube_pod_labels"}, {"namespace", "team-a"}, {"pod", "p2"}});
  const std::string k3 = EncodeLabels(
      {{"__name__", "vllm:num_requests_waiting"}, {"namespace", "team-a"}, {"pod", "p3"}});
  const double v[] = {1};
  const int32_t o[] = {0};
  const std::vector<SeriesWindow> series = {
      {k1, v, o, 0, 1}, {k2, v, o, 0, 0} /* no sample */, {k3, v, o, 0, 1}};
  WindowView view;
  view.eval_time_ms = 1000;
  view.window = milliseconds(60000);
  view.series = series;
  EXPECT_EQ(r.PodsOf(view), (std::set<std::pair<std::string, std::string>>{{"team-a", "p1"}}));
}

TEST(CatalogKeep, KubeStateNamespaceIsASeriesKey) {
  CatalogRequest r = Make("gpu-pending-demand", "namespace=team-b", "team-a");
  EXPECT_FALSE(r.has_pod_requirements());
  const query::LabelSet b = {{"__name__", "kube_pod_container_resource_requests"},
                             {"namespace", "team-b"},
                             {"pod", "p"}};
  const query::LabelSet a = {{"__name__", "kube_pod_container_resource_requests"},
                             {"namespace", "team-a"},
                             {"pod", "p"}};
  EXPECT_TRUE(Keeps(r, b));
  EXPECT_FALSE(Keeps(r, a));
}

TEST(CatalogKeep, NeuronKeysMatchSeriesLabels) {
  CatalogRequest r = Make("neuroncore-utilization", "instance_type=trn1,neuroncore notin (3)");
  EXPECT_TRUE(Keeps(r, {{"__name__", "neuroncore_utilization_ratio"},
                        {"instance_type", "trn1"},
                        {"neuroncore", "0"}}));
  EXPECT_FALSE(Keeps(r, {{"__name__", "neuroncore_utilization_ratio"},
                         {"instance_type", "trn1"},
                         {"neuroncore", "3"}}));
  EXPECT_FALSE(Keeps(r, {{"__name__", "neuroncore_utilization_ratio"}, {"neuroncore", "0"}}));
}

}  // namespace
}  // namespace sextant::scaling

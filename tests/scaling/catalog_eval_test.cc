// EvaluateCatalog (scaling/catalog_eval.h) over hand-made windows with exact samples: each plan
// (gauges with their over-time and across functions, the fallback metric, histogram quantiles,
// the per-GPU used ratio, the increase ratio, the Karpenter pending demand and headroom
// deficit, which read only current kube-state-metrics series), with the pods of pod-label
// requirements taken from the view or given. Every expected value is worked out by hand in the
// test.
#include "scaling/catalog_eval.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "scaling/signal_provider.h"
#include "tests/scaling/window_builder.h"

namespace sextant::scaling {
namespace {

using std::chrono::milliseconds;

constexpr int64_t kT = 1700000000000;
constexpr auto kV2 = kernels::PrometheusVersion::kV2;
constexpr double kInf = std::numeric_limits<double>::infinity();

// A window at kT.
class Window : public WindowBuilder {
 public:
  explicit Window(int64_t window_ms) : WindowBuilder(kT, window_ms) {}
};

const CatalogConfig& DefaultConfig() {
  static const CatalogConfig config;
  return config;
}

CatalogRequest Request(std::string_view entry, std::string_view selector = "",
                       const CatalogConfig& config = DefaultConfig(), bool pod_labels = true) {
  const CatalogEntry* e = FindCatalogEntry(entry);
  EXPECT_NE(e, nullptr) << entry;
  auto sel = apiserver::LabelSelector::Parse(selector);
  EXPECT_TRUE(sel.ok()) << selector;
  auto r = CatalogRequest::Make(*e, config, "team-a", *sel, pod_labels);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) std::abort();
  return *r;
}

using PodSet = std::set<std::pair<std::string, std::string>>;

std::optional<double> Eval(const CatalogRequest& r, Window& w) {
  return EvaluateCatalog(r, w.View(), kV2);
}
// With the pods of the request's pod-label requirements given (the provider reads them through
// request.pod_labels_selector()).
std::optional<double> Eval(const CatalogRequest& r, Window& w, const PodSet& pods) {
  return EvaluateCatalog(r, w.View(), pods, kV2);
}

// ---- kGauge -------------------------------------------------------------------------------

TEST(CatalogEvalGauge, AvgOfAvgOverTime) {
  Window w(60000);
  w.Add({{"__name__", "DCGM_FI_DEV_GPU_UTIL"}, {"gpu", "0"}}, {{50000, 10}, {20000, 20}});
  w.Add({{"__name__", "DCGM_FI_DEV_GPU_UTIL"}, {"gpu", "1"}}, {{5000, 40}});
  // Another metric in the same view is not read.
  w.Add({{"__name__", "DCGM_FI_DEV_FB_USED"}, {"gpu", "0"}}, {{5000, 1000}});
  EXPECT_EQ(Eval(Request("gpu-utilization"), w), 27.5);  // avg(15, 40)
  EXPECT_EQ(Eval(Request("gpu-utilization", "gpu=0"), w), 15);
  EXPECT_EQ(Eval(Request("gpu-utilization", "gpu in (0,1)"), w), 27.5);
  EXPECT_EQ(Eval(Request("gpu-utilization", "gpu=7"), w), std::nullopt);
}

TEST(CatalogEvalGauge, SumOfAvgOverTime) {
  Window w(60000);
  w.Add({{"__name__", "vllm:num_requests_waiting"}, {"model_name", "a"}, {"pod", "p1"}},
        {{40000, 1}, {30000, 3}});
  w.Add({{"__name__", "vllm:num_requests_waiting"}, {"model_name", "b"}, {"pod", "p2"}},
        {{1000, 5}});
  EXPECT_EQ(Eval(Request("vllm-requests-waiting"), w), 7);  // 2 + 5
  EXPECT_EQ(Eval(Request("vllm-requests-waiting", "model_name=a"), w), 2);
  EXPECT_EQ(Eval(Request("vllm-requests-waiting", "model_name!=a"), w), 5);
}

TEST(CatalogEvalGauge, MaxOfAvgOverTime) {
  Window w(60000);
  w.Add({{"__name__", "execution_latency_seconds"}, {"percentile", "p99"}, {"runtime", "r1"}},
        {{30000, 0.25}, {10000, 0.75}});
  w.Add({{"__name__", "execution_latency_seconds"}, {"percentile", "p99"}, {"runtime", "r2"}},
        {{10000, 0.125}});
  EXPECT_EQ(Eval(Request("neuron-execution-latency-p99"), w), 0.5);  // max(0.5, 0.125)
  EXPECT_EQ(Eval(Request("neuron-execution-latency-p99", "runtime=r2"), w), 0.125);
}

TEST(CatalogEvalGauge, SumOfRate) {
  // Samples cover [t - 2m, t] exactly: no extrapolation, rate = delta / 120 s.
  Window w(120000);
  w.Add({{"__name__", "execution_errors_total"}, {"node", "a"}},
        {{120000, 0}, {60000, 6}, {0, 12}});
  w.Add({{"__name__", "execution_errors_total"}, {"node", "b"}},
        {{120000, 0}, {60000, 12}, {0, 24}});
  auto v = Eval(Request("neuron-errors-per-second"), w);
  ASSERT_TRUE(v.has_value());
  EXPECT_NEAR(*v, 12.0 / 120 + 24.0 / 120, 1e-12);
  v = Eval(Request("neuron-errors-per-second", "node=b"), w);
  ASSERT_TRUE(v.has_value());
  EXPECT_NEAR(*v, 0.2, 1e-12);
}

TEST(CatalogEvalGauge, EmptyValueMatchesSeriesWithoutTheLabel) {
  Window w(60000);
  w.Add({{"__name__", "vllm:num_requests_waiting"}, {"model_name", "a"}, {"pod", "p1"}},
        {{1000, 1}});
  w.Add({{"__name__", "vllm:num_requests_waiting"}, {"pod", "p2"}}, {{1000, 2}});
  w.Add({{"__name__", "vllm:num_requests_waiting"}, {"model_name", ""}, {"pod", "p3"}},
        {{1000, 4}});
  EXPECT_EQ(Eval(Request("vllm-requests-waiting", "model_name="), w), 6);      // p2 + p3
  EXPECT_EQ(Eval(Request("vllm-requests-waiting", "model_name in (,a)"), w), 7);
  EXPECT_EQ(Eval(Request("vllm-requests-waiting", "model_name!="), w), 1);     // p1
  EXPECT_EQ(Eval(Request("vllm-requests-waiting", "model_name notin ()"), w), 1);
  EXPECT_EQ(Eval(Request("vllm-requests-waiting", "model_name!=a"), w), 6);
  EXPECT_EQ(Eval(Request("vllm-requests-waiting", "model_name=b"), w), std::nullopt);
}

TEST(CatalogEvalGauge, GivenPodsStandForTheViewsKubePodLabels) {
  Window w(60000);
  w.Add({{"__name__", "vllm:num_requests_waiting"}, {"namespace", "team-a"}, {"pod", "p1"}},
        {{1000, 1}});
  w.Add({{"__name__", "vllm:num_requests_waiting"}, {"namespace", "team-a"}, {"pod", "p2"}},
        {{1000, 2}});
  w.Add({{"__name__", "vllm:num_requests_waiting"}, {"namespace", "team-a"}, {"pod", "p3"}},
        {{1000, 4}});
  w.Add({{"__name__", "kube_pod_labels"}, {"namespace", "team-a"}, {"pod", "p1"},
         {"label_app", "web"}},
        {{1000, 1}});
  const CatalogRequest web = Request("vllm-requests-waiting", "app=web");
  ASSERT_TRUE(web.has_pod_requirements());
  // The old overload: the pods of the view's kube_pod_labels series.
  EXPECT_EQ(Eval(web, w), 1);
  // Given pods: those, not the view's.
  EXPECT_EQ(Eval(web, w, {{"team-a", "p2"}, {"team-a", "p3"}}), 6);
  EXPECT_EQ(Eval(web, w, {{"team-b", "p2"}}), std::nullopt);
  EXPECT_EQ(Eval(web, w, {}), std::nullopt);
  // Series requirements still apply on top.
  EXPECT_EQ(Eval(Request("vllm-requests-waiting", "app=web,pod!=p3"), w,
                 {{"team-a", "p2"}, {"team-a", "p3"}}),
            2);
  // Without pod requirements the pods are ignored.
  EXPECT_EQ(Eval(Request("vllm-requests-waiting"), w, {}), 7);
  EXPECT_EQ(Eval(Request("vllm-requests-waiting", "pod=p3"), w, {{"team-a", "p1"}}), 4);
}

TEST(CatalogEvalGauge, FallbackOnlyWhenNoPrimaryIsKept) {
  const query::LabelSet kv_a = {{"__name__", "vllm:kv_cache_usage_perc"}, {"model_name", "a"}};
  const query::LabelSet gpu_b = {{"__name__", "vllm:gpu_cache_usage_perc"}, {"model_name", "b"}};
  {
    Window w(60000);  // only the old name: the fallback
    w.Add(gpu_b, {{30000, 0.5}, {10000, 0.75}});
    EXPECT_EQ(Eval(Request("vllm-kv-cache-usage"), w), 0.625);
  }
  {
    Window w(60000);  // both: the primary only
    w.Add(kv_a, {{10000, 0.25}});
    w.Add(gpu_b, {{30000, 0.5}, {10000, 0.75}});
    EXPECT_EQ(Eval(Request("vllm-kv-cache-usage"), w), 0.25);
    // The selector keeps no primary series: the fallback's kept series.
    EXPECT_EQ(Eval(Request("vllm-kv-cache-usage", "model_name=b"), w), 0.625);
    // Neither kept.
    EXPECT_EQ(Eval(Request("vllm-kv-cache-usage", "model_name=c"), w), std::nullopt);
  }
  {
    Window w(60000);  // nothing
    EXPECT_EQ(Eval(Request("vllm-kv-cache-usage"), w), std::nullopt);
  }
}

// ---- kHistogramQuantile ---------------------------------------------------------------------

// Adds the cumulative buckets of one pod, each counter going from 0 (5m ago) to its count (at t).
void AddHistogram(Window& w, const std::string& name, const query::LabelSet& labels,
                  const std::vector<std::pair<std::string, double>>& counts) {
  for (const auto& [le, count] : counts) {
    query::LabelSet l = labels;
    l["__name__"] = name;
    l["le"] = le;
    w.Add(l, {{300000, 0}, {150000, count / 2}, {0, count}});
  }
}

TEST(CatalogEvalHistogram, QuantileOfSummedBucketRates) {
  Window w(300000);
  AddHistogram(w, "vllm:time_to_first_token_seconds_bucket", {{"pod", "p1"}, {"model_name", "a"}},
               {{"0.1", 10}, {"0.5", 20}, {"1", 30}, {"+Inf", 30}});
  AddHistogram(w, "vllm:time_to_first_token_seconds_bucket", {{"pod", "p2"}, {"model_name", "b"}},
               {{"0.1", 0}, {"0.5", 10}, {"1", 20}, {"+Inf", 20}});
  // Summed by le: 10, 30, 50, 50 (per 300 s). Rank 0.95 * 50 = 47.5 lies in (0.5, 1]:
  // 0.5 + 0.5 * (47.5 - 30) / (50 - 30) = 0.9375.
  auto v = Eval(Request("vllm-ttft-p95"), w);
  ASSERT_TRUE(v.has_value());
  EXPECT_NEAR(*v, 0.9375, 1e-12);
  std::vector<HistogramBucket> buckets = {
      {0.1, 10.0 / 300}, {0.5, 30.0 / 300}, {1, 50.0 / 300}, {kInf, 50.0 / 300}};
  EXPECT_NEAR(*v, HistogramQuantile(0.95, buckets), 1e-12);

  // Pod 1 alone: 10, 20, 30, 30; rank 28.5 in (0.5, 1]: 0.5 + 0.5 * 8.5 / 10 = 0.925.
  v = Eval(Request("vllm-ttft-p95", "model_name=a"), w);
  ASSERT_TRUE(v.has_value());
  EXPECT_NEAR(*v, 0.925, 1e-12);
  // Pod 2 alone: 0, 10, 20, 20; rank 19 in (0.5, 1]: 0.5 + 0.5 * 9 / 10 = 0.95.
  v = Eval(Request("vllm-ttft-p95", "pod=p2"), w);
  ASSERT_TRUE(v.has_value());
  EXPECT_NEAR(*v, 0.95, 1e-12);
}

TEST(CatalogEvalHistogram, FallbackHistogram) {
  const query::LabelSet pod = {{"pod", "p1"}};
  {
    Window w(300000);  // only the old name
    AddHistogram(w, "vllm:time_per_output_token_seconds_bucket", pod,
                 {{"0.01", 50}, {"0.05", 90}, {"+Inf", 100}});
    // Rank 95 in (0.05, +Inf]: the highest finite bound, 0.05.
    auto v = Eval(Request("vllm-inter-token-latency-p95"), w);
    ASSERT_TRUE(v.has_value());
    EXPECT_NEAR(*v, 0.05, 1e-12);
  }
  {
    Window w(300000);  // both: the new name only
    AddHistogram(w, "vllm:time_per_output_token_seconds_bucket", pod,
                 {{"0.01", 50}, {"0.05", 90}, {"+Inf", 100}});
    AddHistogram(w, "vllm:inter_token_latency_seconds_bucket", pod,
                 {{"0.01", 90}, {"0.05", 100}, {"+Inf", 100}});
    // Rank 95 in (0.01, 0.05]: 0.01 + 0.04 * (95 - 90) / 10 = 0.03.
    auto v = Eval(Request("vllm-inter-token-latency-p95"), w);
    ASSERT_TRUE(v.has_value());
    EXPECT_NEAR(*v, 0.03, 1e-12);
  }
}

// ---- kUsedRatio ---------------------------------------------------------------------------

TEST(CatalogEvalUsedRatio, PerGpuJoinNeedsBothSides) {
  Window w(60000);
  auto gpu = [](const char* name, const char* id) {
    return query::LabelSet{{"__name__", name}, {"gpu", id}, {"UUID", std::string("GPU-") + id},
                           {"namespace", "team-a"}, {"pod", "web-0"}};
  };
  w.Add(gpu("DCGM_FI_DEV_FB_USED", "0"), {{40000, 30}, {10000, 50}});  // avg 40
  w.Add(gpu("DCGM_FI_DEV_FB_FREE", "0"), {{10000, 60}});               // 40 / 100 = 0.4
  w.Add(gpu("DCGM_FI_DEV_FB_USED", "1"), {{10000, 10}});
  w.Add(gpu("DCGM_FI_DEV_FB_FREE", "1"), {{40000, 20}, {10000, 40}});  // 10 / 40 = 0.25
  w.Add(gpu("DCGM_FI_DEV_FB_USED", "2"), {{10000, 50}});               // no free: left out
  w.Add(gpu("DCGM_FI_DEV_FB_FREE", "3"), {{10000, 50}});               // no used: left out
  EXPECT_EQ(Eval(Request("gpu-memory-used-ratio"), w), 0.325);  // avg(0.4, 0.25)
  EXPECT_EQ(Eval(Request("gpu-memory-used-ratio", "gpu=1"), w), 0.25);
  EXPECT_EQ(Eval(Request("gpu-memory-used-ratio", "gpu in (2,3)"), w), std::nullopt);
}

TEST(CatalogEvalUsedRatio, LabelsOtherThanTheNameMustAllMatch) {
  Window w(60000);
  w.Add({{"__name__", "DCGM_FI_DEV_FB_USED"}, {"gpu", "0"}, {"Hostname", "n1"}}, {{1000, 1}});
  w.Add({{"__name__", "DCGM_FI_DEV_FB_FREE"}, {"gpu", "0"}, {"Hostname", "n2"}}, {{1000, 3}});
  EXPECT_EQ(Eval(Request("gpu-memory-used-ratio"), w), std::nullopt);
}

// ---- kIncreaseRatio -----------------------------------------------------------------------

TEST(CatalogEvalIncreaseRatio, SumOfIncreasesOverSumOfIncreases) {
  // Samples cover [t - 2m, t] exactly: increase = last - first.
  Window w(120000);
  auto s = [](const char* name, const char* pod) {
    return query::LabelSet{{"__name__", name}, {"pod", pod}, {"model", "m"}};
  };
  w.Add(s("nv_inference_queue_duration_us", "p1"), {{120000, 0}, {60000, 1500}, {0, 3000}});
  w.Add(s("nv_inference_request_success", "p1"), {{120000, 0}, {60000, 5}, {0, 10}});
  w.Add(s("nv_inference_queue_duration_us", "p2"), {{120000, 0}, {60000, 500}, {0, 1000}});
  w.Add(s("nv_inference_request_success", "p2"), {{120000, 0}, {60000, 5}, {0, 10}});
  auto v = Eval(Request("triton-queue-time-per-request"), w);
  ASSERT_TRUE(v.has_value());
  EXPECT_NEAR(*v, (3000.0 + 1000.0) / (10.0 + 10.0), 1e-9);
  v = Eval(Request("triton-queue-time-per-request", "pod=p2"), w);
  ASSERT_TRUE(v.has_value());
  EXPECT_NEAR(*v, 100, 1e-9);
}

TEST(CatalogEvalIncreaseRatio, NoRequestsIsNaN) {
  Window w(120000);
  w.Add({{"__name__", "nv_inference_queue_duration_us"}}, {{120000, 7}, {60000, 7}, {0, 7}});
  w.Add({{"__name__", "nv_inference_request_success"}}, {{120000, 3}, {60000, 3}, {0, 3}});
  auto v = Eval(Request("triton-queue-time-per-request"), w);
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(std::isnan(*v)) << *v;  // 0 / 0
}

TEST(CatalogEvalIncreaseRatio, BothSidesNeeded) {
  Window w(120000);
  w.Add({{"__name__", "nv_inference_queue_duration_us"}}, {{120000, 0}, {0, 7}});
  EXPECT_EQ(Eval(Request("triton-queue-time-per-request"), w), std::nullopt);
  Window d(120000);
  d.Add({{"__name__", "nv_inference_request_success"}}, {{120000, 0}, {0, 7}});
  EXPECT_EQ(Eval(Request("triton-queue-time-per-request"), d), std::nullopt);
}

// ---- Karpenter headroom --------------------------------------------------------------------

// A cluster as kube-state-metrics shows it, in the entries' 5m window, scraped from one target
// (job, instance). Every series has two samples, the last one from the target's latest scrape
// (10 s before t), so "last" is the second one and every series is current.
class KubeCluster {
 public:
  static constexpr int64_t kLatest = 10000;  // ms before t of the target's latest scrape

  KubeCluster() : w_(300000) {}
  // The phase series of a pod: its last values for Pending and Running (a series per phase,
  // as kube-state-metrics exports; the subscription fetches only these two phases).
  void Phase(const std::string& ns, const std::string& pod, double pending, double running,
             int64_t last_ago = kLatest, const std::string& instance = kInstance) {
    for (const auto& [phase, v] : {std::pair{"Pending", pending}, std::pair{"Running", running}}) {
      w_.Add(Target({{"__name__", "kube_pod_status_phase"},
                     {"namespace", ns},
                     {"pod", pod},
                     {"phase", phase}},
                    instance),
             {{last_ago + 30000, 1 - v}, {last_ago, v}});
    }
  }
  void Requests(const std::string& ns, const std::string& pod, const std::string& node,
                double gpus, const std::string& container = "main", int64_t last_ago = kLatest,
                const std::string& instance = kInstance) {
    query::LabelSet l = {{"__name__", "kube_pod_container_resource_requests"},
                         {"namespace", ns},
                         {"pod", pod},
                         {"container", container},
                         {"resource", "nvidia_com_gpu"},
                         {"unit", "integer"}};
    if (!node.empty()) l["node"] = node;
    w_.Add(Target(l, instance), {{last_ago + 30000, gpus + 100}, {last_ago, gpus}});
  }
  void Allocatable(const std::string& node, double gpus, int64_t last_ago = kLatest) {
    w_.Add(Target({{"__name__", "kube_node_status_allocatable"},
                   {"node", node},
                   {"resource", "nvidia_com_gpu"},
                   {"unit", "integer"}},
                  kInstance),
           {{last_ago + 30000, gpus + 100}, {last_ago, gpus}});
  }
  void Unschedulable(const std::string& node, double last) {
    w_.Add(Target({{"__name__", "kube_node_spec_unschedulable"}, {"node", node}}, kInstance),
           {{kLatest + 30000, 1 - last}, {kLatest, last}});
  }
  void PodLabels(const std::string& ns, const std::string& pod) {
    w_.Add(Target({{"__name__", "kube_pod_labels"}, {"namespace", ns}, {"pod", pod}}, kInstance),
           {{kLatest, 1}});
  }
  Window& window() { return w_; }

  static inline const std::string kInstance = "10.0.0.7:8080";

 private:
  static query::LabelSet Target(query::LabelSet l, const std::string& instance) {
    l["job"] = "kube-state-metrics";
    l["instance"] = instance;
    return l;
  }
  Window w_;
};

TEST(CatalogEvalKubeState, WindowIsFiveMinutes) {
  EXPECT_EQ(Request("gpu-pending-demand").window(), milliseconds(300000));
  EXPECT_EQ(Request("gpu-headroom-deficit").window(), milliseconds(300000));
}

TEST(CatalogEvalPendingDemand, UnscheduledPendingPodsOnly) {
  KubeCluster c;
  c.Phase("team-a", "p1", 1, 0);  // Pending, not bound: counted
  c.Requests("team-a", "p1", "", 2);
  c.Requests("team-a", "p1", "", 1, "sidecar");  // every container of it: counted
  c.Phase("team-a", "p2", 0, 1);                // Running
  c.Requests("team-a", "p2", "n1", 3);
  c.Phase("team-a", "p3", 1, 0);  // Pending but bound to a node: the node holds the GPUs
  c.Requests("team-a", "p3", "n2", 4);
  c.Requests("team-a", "p4", "", 8);  // no phase series (Succeeded, Failed, gone)
  c.Phase("team-b", "p5", 0, 0);     // was Pending, not any more (last value 0)
  c.Requests("team-b", "p5", "", 16);
  EXPECT_EQ(Eval(Request("gpu-pending-demand"), c.window()), 3);
}

TEST(CatalogEvalPendingDemand, ZeroWhenNothingPendsAndNoValueWithoutPhases) {
  KubeCluster running;
  running.Phase("team-a", "p2", 0, 1);
  running.Requests("team-a", "p2", "n1", 3);
  running.Allocatable("n1", 8);
  EXPECT_EQ(Eval(Request("gpu-pending-demand"), running.window()), 0);

  KubeCluster none;  // requests and nodes, but no kube_pod_status_phase at all
  none.Requests("team-a", "p1", "", 2);
  none.Allocatable("n1", 8);
  EXPECT_EQ(Eval(Request("gpu-pending-demand"), none.window()), std::nullopt);
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit"), none.window()), std::nullopt);
}

TEST(CatalogEvalPendingDemand, SelectorNarrowsThePendingPods) {
  KubeCluster c;
  c.Phase("team-a", "p1", 1, 0);
  c.Requests("team-a", "p1", "", 2);
  c.Phase("team-b", "p2", 1, 0);
  c.Requests("team-b", "p2", "", 10);
  c.Phase("karpenter", "headroom-0", 1, 0);  // the placeholder's own pod
  c.Requests("karpenter", "headroom-0", "", 100);
  // The pods kube_pod_labels shows for `app.kubernetes.io/name notin (gpu-headroom)`.
  c.PodLabels("team-a", "p1");
  c.PodLabels("team-b", "p2");
  EXPECT_EQ(Eval(Request("gpu-pending-demand"), c.window()), 112);
  EXPECT_EQ(Eval(Request("gpu-pending-demand", "namespace=team-a"), c.window()), 2);
  EXPECT_EQ(Eval(Request("gpu-pending-demand", "namespace!=team-a"), c.window()), 110);
  EXPECT_EQ(Eval(Request("gpu-pending-demand", "app.kubernetes.io/name notin (gpu-headroom)"),
                 c.window()),
            12);
  EXPECT_EQ(Eval(Request("gpu-pending-demand",
                         "app.kubernetes.io/name notin (gpu-headroom),namespace=team-b"),
                 c.window()),
            10);
}

TEST(CatalogEvalPendingDemand, PodLabelKeysNeverFallBackToSeriesLabels) {
  // kube_pod_labels is absent (pod_labels_available false): `app notin (x)` still reads pod
  // labels, which select no pod; the series' own app labels do not stand in.
  const CatalogRequest r = Request("gpu-pending-demand", "app notin (x)", DefaultConfig(),
                                   /*pod_labels=*/false);
  ASSERT_TRUE(r.has_pod_requirements());
  EXPECT_EQ(r.pod_labels_selector(), R"(kube_pod_labels{label_app!~"x"})");
  KubeCluster c;
  c.Phase("team-a", "p1", 1, 0);
  c.Requests("team-a", "p1", "", 2);
  c.Phase("karpenter", "headroom-0", 1, 0);
  c.Requests("karpenter", "headroom-0", "", 100);
  EXPECT_EQ(Eval(r, c.window()), 0);      // no kube_pod_labels series: no pending pod
  EXPECT_EQ(Eval(r, c.window(), {}), 0);  // the pod-label subscription found none
  // The headroom deficit: only the buffer against the free capacity.
  CatalogConfig buffer2;
  buffer2.gpu_buffer = 2;
  c.Allocatable("n1", 1);
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit", "app notin (x)", buffer2, false), c.window()),
            1);  // 0 + 2 - 1
  // Without the pod-label key everything pending counts.
  EXPECT_EQ(Eval(Request("gpu-pending-demand", "", DefaultConfig(), false), c.window()), 102);
  // Given the pods, they are counted.
  EXPECT_EQ(Eval(r, c.window(), {{"team-a", "p1"}}), 2);
}

TEST(CatalogEvalPendingDemand, GivenPodsNarrowThePendingPods) {
  KubeCluster c;
  c.Phase("team-a", "p1", 1, 0);
  c.Requests("team-a", "p1", "", 2);
  c.Phase("team-b", "p2", 1, 0);
  c.Requests("team-b", "p2", "", 10);
  c.PodLabels("team-a", "p1");  // in the view, but the given pods are read
  const CatalogRequest r = Request("gpu-pending-demand", "app=web");
  EXPECT_EQ(Eval(r, c.window()), 2);
  EXPECT_EQ(Eval(r, c.window(), {{"team-b", "p2"}}), 10);
  EXPECT_EQ(Eval(r, c.window(), {{"team-a", "p1"}, {"team-b", "p2"}}), 12);
  EXPECT_EQ(Eval(r, c.window(), {}), 0);
  EXPECT_EQ(Eval(Request("gpu-pending-demand"), c.window(), {}), 12);  // no pod keys
}

// ---- Current series: what an instant selector would see ---------------------------------

TEST(CatalogEvalKubeState, APendingPodBoundToANodeIsNotPendingAndUsesItsNode) {
  // bound-1 was Pending and unscheduled (its node="" requests series), then bound to n1: the
  // node="" series vanished 70 s ago (Prometheus marked it stale), a node="n1" series took
  // over. It is still Pending (pulling its image).
  KubeCluster c;
  c.Allocatable("n1", 4);
  c.Phase("team-a", "bound-1", 1, 0);
  c.Requests("team-a", "bound-1", "", 3, "main", /*last_ago=*/70000);
  c.Requests("team-a", "bound-1", "n1", 3);
  c.Phase("team-a", "pend-1", 1, 0);  // really pending
  c.Requests("team-a", "pend-1", "", 2);
  EXPECT_EQ(Eval(Request("gpu-pending-demand"), c.window()), 2);
  // n1: 4 - 3 = 1 free. Deficit 2 - 1.
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit"), c.window()), 1);
  CatalogConfig buffer1;
  buffer1.gpu_buffer = 1;
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit", "", buffer1), c.window()), 2);  // 2 + 1 - 1

  // Once Running, the same.
  KubeCluster running;
  running.Allocatable("n1", 4);
  running.Phase("team-a", "bound-1", 0, 1);
  running.Requests("team-a", "bound-1", "", 3, "main", 70000);
  running.Requests("team-a", "bound-1", "n1", 3);
  EXPECT_EQ(Eval(Request("gpu-pending-demand"), running.window()), 0);
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit", "", buffer1), running.window()), 0);  // 1 - 1
}

TEST(CatalogEvalKubeState, ADeletedPodCountsNowhere) {
  KubeCluster c;
  c.Allocatable("n1", 4);
  // gone-1 was Pending, unscheduled; deleted 60 s ago: its phase and requests series stale.
  c.Phase("team-a", "gone-1", 1, 0, /*last_ago=*/60000);
  c.Requests("team-a", "gone-1", "", 8, "main", 60000);
  // gone-2 was Running on n1; deleted 60 s ago.
  c.Phase("team-a", "gone-2", 0, 1, 60000);
  c.Requests("team-a", "gone-2", "n1", 4, "main", 60000);
  // The cluster still reports: a live pending pod.
  c.Phase("team-a", "live", 1, 0);
  c.Requests("team-a", "live", "", 1);
  EXPECT_EQ(Eval(Request("gpu-pending-demand"), c.window()), 1);
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit"), c.window()), 0);  // 1 - 4 floored
  CatalogConfig buffer5;
  buffer5.gpu_buffer = 5;
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit", "", buffer5), c.window()), 2);  // 1 + 5 - 4

  // A phase series gone while its requests are current (it is not any more Pending or
  // Running): neither pending nor using its node.
  KubeCluster phase_gone;
  phase_gone.Allocatable("n1", 4);
  phase_gone.Phase("team-a", "p", 1, 1, 60000);
  phase_gone.Requests("team-a", "p", "", 2);
  phase_gone.Requests("team-a", "q", "n1", 3);
  phase_gone.Phase("team-a", "q", 0, 1, 60000);
  phase_gone.Phase("team-a", "other", 0, 1);  // one current phase series: the plan has a value
  EXPECT_EQ(Eval(Request("gpu-pending-demand"), phase_gone.window()), 0);
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit", "", buffer5), phase_gone.window()),
            1);  // 0 + 5 - 4
}

TEST(CatalogEvalKubeState, OnlyStalePhaseSeriesIsNoValue) {
  KubeCluster c;
  c.Phase("team-a", "gone", 1, 0, 60000);
  c.Requests("team-a", "gone", "", 2, "main", 60000);
  c.Allocatable("n1", 4);  // the target's latest scrape
  EXPECT_EQ(Eval(Request("gpu-pending-demand"), c.window()), std::nullopt);
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit"), c.window()), std::nullopt);
}

TEST(CatalogEvalKubeState, ADeletedNodeHasNoFreeCapacity) {
  KubeCluster c;
  c.Allocatable("n1", 2);
  c.Allocatable("gone", 8, /*last_ago=*/60000);
  c.Phase("team-a", "pend", 1, 0);
  c.Requests("team-a", "pend", "", 5);
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit"), c.window()), 3);  // 5 - 2
}

TEST(CatalogEvalKubeState, CurrentIsPerTarget) {
  // Two kube-state-metrics shards scraped at different times: each series is current when it
  // is from its own target's latest scrape.
  KubeCluster c;
  const std::string shard2 = "10.0.0.8:8080";
  c.Allocatable("n1", 4);  // shard 1, 10 s ago
  c.Phase("team-a", "a", 1, 0);
  c.Requests("team-a", "a", "", 1);
  c.Phase("team-b", "b", 1, 0, /*last_ago=*/25000, shard2);  // shard 2's latest: 25 s ago
  c.Requests("team-b", "b", "", 2, "main", 25000, shard2);
  c.Phase("team-b", "c", 1, 0, 55000, shard2);  // shard 2, vanished since
  c.Requests("team-b", "c", "", 4, "main", 55000, shard2);
  EXPECT_EQ(Eval(Request("gpu-pending-demand"), c.window()), 3);
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit"), c.window()), 0);  // 3 - 4 floored
  EXPECT_EQ(Eval(Request("gpu-pending-demand", "namespace=team-b"), c.window()), 2);
}

TEST(CatalogEvalKubeState, AReplacedKubeStateMetricsInstanceCountsNoMore) {
  // kube-state-metrics was rescheduled: its old instance's series (30 s scrapes, last 60 s
  // ago) are still in the 5m window, the new instance scrapes every 30 s (latest 10 s ago).
  // The old target is 50 s behind, more than 1.5 of its intervals: gone, as Prometheus marks
  // a target's series stale when service discovery drops it.
  KubeCluster c;
  const std::string old_instance = "10.0.0.9:8080";
  c.Allocatable("n1", 4);
  c.Phase("team-a", "p", 1, 0);
  c.Requests("team-a", "p", "", 2);
  c.Phase("team-a", "p", 1, 0, /*last_ago=*/60000, old_instance);
  c.Requests("team-a", "p", "", 2, "main", 60000, old_instance);
  EXPECT_EQ(Eval(Request("gpu-pending-demand"), c.window()), 2);  // not 4
  CatalogConfig buffer3;
  buffer3.gpu_buffer = 3;
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit", "", buffer3), c.window()), 1);  // 2 + 3 - 4
  // 40 s behind (within 1.5 × 30 s): still a live shard, its series count.
  KubeCluster shards;
  shards.Allocatable("n1", 4);
  shards.Phase("team-a", "p", 1, 0);
  shards.Requests("team-a", "p", "", 2);
  shards.Phase("team-b", "q", 1, 0, 50000, old_instance);
  shards.Requests("team-b", "q", "", 1, "main", 50000, old_instance);
  EXPECT_EQ(Eval(Request("gpu-pending-demand"), shards.window()), 3);
}

TEST(CatalogPodsOf, APodWhoseLabelsChangedLeavesTheSelection) {
  // kube_pod_labels{label_app="web"}: p1 was relabelled app=api 40 s ago (its web series ended
  // then; scrapes every 30 s), p2 is still app=web. As an instant selector: p2 only.
  Window w(60000);
  const query::LabelSet target = {{"job", "kube-state-metrics"}, {"instance", "10.0.0.5:8080"}};
  auto labels = [&](const char* pod) {
    query::LabelSet l = target;
    l.insert({{"__name__", "kube_pod_labels"}, {"namespace", "team-a"}, {"pod", pod},
              {"label_app", "web"}});
    return l;
  };
  w.Add(labels("p1"), {{40000, 1}});
  w.Add(labels("p2"), {{40000, 1}, {10000, 1}});
  const auto pods = Request("vllm-requests-waiting", "app=web").PodsOf(w.View());
  EXPECT_EQ(pods, (std::set<std::pair<std::string, std::string>>{{"team-a", "p2"}}));
}

TEST(CatalogEvalHeadroomDeficit, PendingPlusBufferMinusFree) {
  CatalogConfig buffer3;
  buffer3.gpu_buffer = 3;
  KubeCluster c;
  // n1: 4 allocatable, 3 requested by a Running pod: 1 free. A finished pod's requests (no
  // Pending/Running phase at 1) do not count.
  c.Allocatable("n1", 4);
  c.Phase("team-a", "run-1", 0, 1);
  c.Requests("team-a", "run-1", "n1", 3);
  c.Phase("team-a", "done-1", 0, 0);
  c.Requests("team-a", "done-1", "n1", 4);
  // n2: 4 allocatable; a Pending pod bound to it (1) and a team-b Running pod (2): 1 free.
  c.Allocatable("n2", 4);
  c.Phase("team-a", "bound-1", 1, 0);
  c.Requests("team-a", "bound-1", "n2", 1);
  c.Phase("team-b", "run-2", 0, 1);
  c.Requests("team-b", "run-2", "n2", 2);
  // n3: cordoned, 8 free that do not count.
  c.Allocatable("n3", 8);
  c.Unschedulable("n3", 1);
  // n4: 2 free; it was cordoned, and is not any more.
  c.Allocatable("n4", 2);
  c.Unschedulable("n4", 0);
  // n5: requests but no allocatable series: not a node with free GPUs.
  c.Phase("team-a", "run-5", 0, 1);
  c.Requests("team-a", "run-5", "n5", 1);
  // Pending demand: team-a 2, team-b 10.
  c.Phase("team-a", "pend-a", 1, 0);
  c.Requests("team-a", "pend-a", "", 2);
  c.Phase("team-b", "pend-b", 1, 0);
  c.Requests("team-b", "pend-b", "", 10);

  // free = 1 + 1 + 2 = 4.
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit"), c.window()), 12 - 4);          // buffer 0
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit", "", buffer3), c.window()), 11);  // 12 + 3 - 4
  // The selector narrows the pending side only: team-b's Running pod still uses n2.
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit", "namespace=team-a", buffer3), c.window()),
            1);  // 2 + 3 - 4
  EXPECT_EQ(Eval(Request("gpu-pending-demand", "namespace=team-a", buffer3), c.window()), 2);
}

TEST(CatalogEvalHeadroomDeficit, FloorsPerNodeAndOverall) {
  KubeCluster c;
  // n1 is over-committed (2 allocatable, 5 requested): it contributes 0, not -3.
  c.Allocatable("n1", 2);
  c.Phase("team-a", "run-1", 0, 1);
  c.Requests("team-a", "run-1", "n1", 5);
  c.Allocatable("n2", 4);
  c.Phase("team-a", "pend", 1, 0);
  c.Requests("team-a", "pend", "", 6);
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit"), c.window()), 2);  // 6 - (0 + 4)
  // Less demand than free capacity: 0, not negative.
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit", "namespace=team-b"), c.window()), 0);
}

TEST(CatalogEvalHeadroomDeficit, BufferAloneWhenNothingPends) {
  CatalogConfig buffer2;
  buffer2.gpu_buffer = 2;
  KubeCluster c;
  c.Phase("team-a", "run-1", 0, 1);
  c.Requests("team-a", "run-1", "n1", 8);
  c.Allocatable("n1", 8);
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit", "", buffer2), c.window()), 2);
  c.Allocatable("n2", 1);
  EXPECT_EQ(Eval(Request("gpu-headroom-deficit", "", buffer2), c.window()), 1);
}

}  // namespace
}  // namespace sextant::scaling

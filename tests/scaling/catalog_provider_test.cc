// CatalogProvider (scaling/catalog_provider.h) and its place in CompositeProvider
// (scaling/composite_provider.h), over a real WindowStore driven by a ManualClock and a scripted
// Prometheus: discovery (what is listed, failures keep the previous list, disabled entries),
// answers (one item at t, NaN left out and counted, client-safe errors, cluster-wide entries),
// the store's multi-selector subscriptions (one query per part per refresh, one t), pod-label
// requirements read first through their own subscription (the series subscription shared by
// every selector of a namespace), the kube_pod_labels switch, and precedence (signals > rules >
// catalog).
#include "scaling/catalog_provider.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "query/promql.h"
#include "scaling/adapter_config.h"
#include "scaling/composite_provider.h"

namespace sextant::scaling {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int64_t kT = 1699999999000;  // ManualClock's wall start minus the 1s delay
constexpr std::string_view kDiscoveryPrefix = "count by (__name__) (";

// A scripted Prometheus. Instant queries starting with `count by (__name__) (` are discovery:
// they answer one vector element per name in `present`. Every other query is
// `selector[range]` at t, answered from `series` with Prometheus 2.x's [t - range, t].
// Regex matchers are taken as what JoinRegexAlternatives makes: escaped literals joined by '|'.
class FakePrometheus : public query::PrometheusClient {
 public:
  struct Call {
    std::string expr;
    std::optional<int64_t> t;
  };

  void Add(query::LabelSet labels, std::vector<query::Sample> samples) {
    std::lock_guard<std::mutex> lock(mu_);
    series_.push_back({std::move(labels), std::move(samples)});
  }
  void SetPresent(std::set<std::string> names) {
    std::lock_guard<std::mutex> lock(mu_);
    present_ = std::move(names);
  }
  void SetDiscoveryFailure(Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    discovery_fail_ = std::move(s);
  }
  void SetDiscoveryNotAVector(bool b) {
    std::lock_guard<std::mutex> lock(mu_);
    discovery_not_vector_ = b;
  }
  void SetRangeFailure(Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    range_fail_ = std::move(s);
  }
  std::vector<Call> Calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::vector<Call> RangeCalls() {
    std::vector<Call> out;
    for (Call& c : Calls()) {
      if (!c.expr.starts_with(kDiscoveryPrefix)) out.push_back(std::move(c));
    }
    return out;
  }
  void ClearCalls() {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.clear();
  }

  Result<query::QueryResult> Query(const std::string& expr, std::optional<SystemTime> time,
                                   Deadline) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::optional<int64_t> t;
    if (time) t = std::chrono::duration_cast<milliseconds>(time->time_since_epoch()).count();
    calls_.push_back({expr, t});
    query::QueryResult r;
    if (expr.starts_with(kDiscoveryPrefix)) {
      if (!discovery_fail_.ok()) return discovery_fail_;
      if (discovery_not_vector_) {
        r.type = query::QueryResult::Type::kScalar;
        return r;
      }
      r.type = query::QueryResult::Type::kVector;
      for (const std::string& n : present_) r.vector.push_back({{{"__name__", n}}, {kT, 1}});
      return r;
    }
    if (!range_fail_.ok()) return range_fail_;
    const size_t open = expr.rfind('[');
    if (open == std::string::npos || !t) return InvalidArgumentError("not a range selector");
    auto parsed = query::ParseVectorSelector(expr.substr(0, open));
    auto range = ParseConfigDuration(expr.substr(open + 1, expr.size() - open - 2));
    if (!parsed.ok() || !range.ok()) return InvalidArgumentError("bad expr " + expr);
    r.type = query::QueryResult::Type::kMatrix;
    for (const auto& [labels, samples] : series_) {
      if (!Matches(*parsed, labels)) continue;
      query::RangeSeries rs{labels, {}};
      for (const query::Sample& x : samples) {
        if (x.timestamp_ms >= *t - range->count() && x.timestamp_ms <= *t) {
          rs.samples.push_back(x);
        }
      }
      if (!rs.samples.empty()) r.matrix.push_back(std::move(rs));
    }
    return r;
  }
  Result<query::QueryResult> QueryRange(const std::string&, SystemTime, SystemTime, milliseconds,
                                        Deadline) override {
    return UnimplementedError("range");
  }
  Result<std::vector<query::LabelSet>> Series(const std::vector<std::string>&, SystemTime,
                                              SystemTime, Deadline) override {
    return UnimplementedError("series");
  }

 private:
  // The literals of an alternation of QuoteRegexMeta'd values.
  static std::set<std::string> Alternatives(const std::string& regex) {
    std::set<std::string> out;
    std::string cur;
    for (size_t i = 0; i < regex.size(); ++i) {
      if (regex[i] == '\\' && i + 1 < regex.size()) {
        cur += regex[++i];
      } else if (regex[i] == '|') {
        out.insert(cur);
        cur.clear();
      } else {
        cur += regex[i];
      }
    }
    out.insert(cur);
    return out;
  }
  static bool Matches(const query::ParsedSelector& sel, const query::LabelSet& labels) {
    auto get = [&](const std::string& name) {
      auto it = labels.find(name);
      return it == labels.end() ? std::string() : it->second;
    };
    if (!sel.metric_name.empty() && get("__name__") != sel.metric_name) return false;
    for (const query::LabelMatcher& m : sel.matchers) {
      const std::string v = get(m.name);
      using Op = query::LabelMatcher::Op;
      switch (m.op) {
        case Op::kEqual:
          if (v != m.value) return false;
          break;
        case Op::kNotEqual:
          if (v == m.value) return false;
          break;
        case Op::kRegexMatch:
          if (!Alternatives(m.value).count(v)) return false;
          break;
        case Op::kRegexNoMatch:
          if (Alternatives(m.value).count(v)) return false;
          break;
      }
    }
    return true;
  }

  std::mutex mu_;
  std::vector<std::pair<query::LabelSet, std::vector<query::Sample>>> series_;
  std::set<std::string> present_;
  Status discovery_fail_;
  bool discovery_not_vector_ = false;
  Status range_fail_;
  std::vector<Call> calls_;
};

// Stands for the rule provider: serves `names`, answering one item of value 1.
class FakeRules : public apiserver::ExternalMetricsProvider {
 public:
  explicit FakeRules(std::vector<std::string> names) : names_(std::move(names)) {}
  std::vector<apiserver::ExternalMetricInfo> ListExternalMetrics() override {
    ++lists;
    std::vector<apiserver::ExternalMetricInfo> out;
    for (const auto& n : names_) out.push_back({n, true});
    return out;
  }
  void SetNames(std::vector<std::string> names) { names_ = std::move(names); }
  int lists = 0;
  Result<std::vector<apiserver::ExternalMetricValue>> GetExternalMetric(
      const apiserver::ExternalMetricRequest& request) override {
    ++calls;
    last_name = request.metric_name;
    return std::vector<apiserver::ExternalMetricValue>{
        {request.metric_name,
         {},
         {},
         std::nullopt,
         apiserver::Quantity::FromInt(1, apiserver::Quantity::Format::kDecimalSI)}};
  }
  bool Ready() const override { return true; }
  int calls = 0;
  std::string last_name;

 private:
  std::vector<std::string> names_;
};

std::vector<std::string> Names(const std::vector<apiserver::ExternalMetricInfo>& infos) {
  std::vector<std::string> out;
  for (const auto& i : infos) out.push_back(i.name);
  return out;
}

class CatalogProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = WindowStore::Create(prom_, clock_, WindowStoreOptions{});
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
  }
  std::unique_ptr<CatalogProvider> Provider(CatalogConfig config = {}) {
    return std::make_unique<CatalogProvider>(std::move(config), prom_, *store_, seconds(60));
  }
  static apiserver::ExternalMetricRequest Request(const std::string& name,
                                                  const std::string& selector = "",
                                                  const std::string& ns = "team-a") {
    apiserver::ExternalMetricRequest r;
    r.namespace_name = ns;
    r.metric_name = name;
    auto sel = apiserver::LabelSelector::Parse(selector);
    EXPECT_TRUE(sel.ok()) << selector;
    if (sel.ok()) r.selector = *sel;
    r.deadline = std::chrono::steady_clock::now() + seconds(5);
    return r;
  }
  // The single item's value as text; "" (and a failure) otherwise.
  static std::string ValueOf(
      const Result<std::vector<apiserver::ExternalMetricValue>>& answer) {
    EXPECT_TRUE(answer.ok()) << answer.status().ToString();
    if (!answer.ok()) return "";
    EXPECT_EQ(answer->size(), 1u);
    if (answer->size() != 1) return "";
    return answer->front().value.String();
  }
  // Two GPUs of team-a (one seen through exported_*), and GPUs of others.
  void AddGpus() {
    prom_.Add({{"__name__", "DCGM_FI_DEV_GPU_UTIL"},
               {"namespace", "team-a"},
               {"pod", "web-0"},
               {"gpu", "0"}},
              {{kT - 70000, 1000}, {kT - 50000, 10}, {kT - 20000, 30}});  // avg in 1m: 20
    prom_.Add({{"__name__", "DCGM_FI_DEV_GPU_UTIL"},
               {"namespace", "gpu-operator"},
               {"pod", "dcgm-exporter-x"},
               {"exported_namespace", "team-a"},
               {"exported_pod", "web-1"},
               {"gpu", "1"}},
              {{kT - 10000, 50}});
    prom_.Add({{"__name__", "DCGM_FI_DEV_GPU_UTIL"},
               {"namespace", "team-b"},
               {"pod", "other-0"},
               {"gpu", "2"}},
              {{kT - 10000, 90}});
    prom_.Add({{"__name__", "DCGM_FI_DEV_GPU_UTIL"},
               {"namespace", "gpu-operator"},
               {"pod", "dcgm-exporter-x"},
               {"exported_namespace", "team-b"},
               {"exported_pod", "other-1"},
               {"gpu", "3"}},
              {{kT - 10000, 70}});
    prom_.Add({{"__name__", "kube_pod_labels"},
               {"namespace", "team-a"},
               {"pod", "web-0"},
               {"label_app", "web"}},
              {{kT - 10000, 1}});
    prom_.Add({{"__name__", "kube_pod_labels"},
               {"namespace", "team-a"},
               {"pod", "web-1"},
               {"label_app", "api"}},
              {{kT - 10000, 1}});
  }

  ManualClock clock_;
  FakePrometheus prom_;
  std::unique_ptr<WindowStore> store_;
};

// ---- Discovery ----------------------------------------------------------------------------

TEST_F(CatalogProviderTest, NothingIsListedBeforeDiscoveryButEntriesAreServed) {
  auto p = Provider();
  EXPECT_TRUE(p->ListExternalMetrics().empty());
  EXPECT_TRUE(p->Ready());
  auto answer = p->GetExternalMetric(Request("gpu-utilization"));
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_TRUE(answer->empty());
}

TEST_F(CatalogProviderTest, DiscoveryListsEntriesWhoseSeriesExist) {
  auto p = Provider();
  prom_.SetPresent({"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "neuroncore_utilization_ratio",
                    "vllm:gpu_cache_usage_perc", "vllm:time_per_output_token_seconds_bucket",
                    "nv_inference_queue_duration_us", "kube_pod_status_phase", "unrelated"});
  ASSERT_TRUE(p->DiscoverNow().ok());
  // Ratios need both sides, the Karpenter entries both kube-state series; a fallback alone
  // lists its entry.
  auto infos = p->ListExternalMetrics();
  EXPECT_EQ(Names(infos),
            (std::vector<std::string>{"gpu-utilization", "neuroncore-utilization",
                                      "vllm-kv-cache-usage", "vllm-inter-token-latency-p95"}));
  ASSERT_EQ(infos.size(), 4u);
  EXPECT_TRUE(infos[0].namespaced);
  EXPECT_FALSE(infos[1].namespaced);  // Neuron: cluster-wide
  EXPECT_TRUE(infos[2].namespaced);

  prom_.SetPresent({"DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "nv_inference_queue_duration_us",
                    "nv_inference_request_success", "kube_pod_status_phase",
                    "kube_pod_container_resource_requests", "vllm:time_to_first_token_seconds_bucket"});
  ASSERT_TRUE(p->DiscoverNow().ok());
  infos = p->ListExternalMetrics();
  EXPECT_EQ(Names(infos), (std::vector<std::string>{"gpu-memory-used-ratio", "vllm-ttft-p95",
                                                    "triton-queue-time-per-request",
                                                    "gpu-pending-demand",
                                                    "gpu-headroom-deficit"}));
  ASSERT_EQ(infos.size(), 5u);
  EXPECT_FALSE(infos[3].namespaced);
  EXPECT_FALSE(infos[4].namespaced);
}

TEST_F(CatalogProviderTest, DiscoveryIsOneInstantQueryOfEveryName) {
  auto p = Provider();
  ASSERT_TRUE(p->DiscoverNow().ok());
  const auto calls = prom_.Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_FALSE(calls[0].t.has_value());  // the backend's now
  std::set<std::string> names = {"kube_pod_labels", "kube_pod_status_phase",
                                 "kube_pod_container_resource_requests"};
  for (const CatalogEntry& e : Catalog()) {
    for (std::string_view m : e.metrics) {
      names.insert(e.plan == CatalogPlan::kHistogramQuantile ? std::string(m) + "_bucket"
                                                             : std::string(m));
    }
  }
  EXPECT_EQ(calls[0].expr,
            "count by (__name__) ({__name__=~" +
                query::QuotePromqlString(query::JoinRegexAlternatives(
                    std::vector<std::string>(names.begin(), names.end()))) +
                "})");
}

TEST_F(CatalogProviderTest, FailedDiscoveryKeepsThePreviousList) {
  auto p = Provider();
  prom_.SetDiscoveryFailure(UnavailableError("down"));
  EXPECT_EQ(p->DiscoverNow().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(p->ListExternalMetrics().empty());

  prom_.SetDiscoveryFailure(OkStatus());
  prom_.SetPresent({"DCGM_FI_DEV_GPU_UTIL"});
  ASSERT_TRUE(p->DiscoverNow().ok());
  EXPECT_EQ(Names(p->ListExternalMetrics()), (std::vector<std::string>{"gpu-utilization"}));

  prom_.SetPresent({});
  prom_.SetDiscoveryFailure(UnavailableError("down"));
  EXPECT_EQ(p->DiscoverNow().code(), StatusCode::kUnavailable);
  EXPECT_EQ(Names(p->ListExternalMetrics()), (std::vector<std::string>{"gpu-utilization"}));
  prom_.SetDiscoveryFailure(OkStatus());
  prom_.SetDiscoveryNotAVector(true);
  EXPECT_FALSE(p->DiscoverNow().ok());
  EXPECT_EQ(Names(p->ListExternalMetrics()), (std::vector<std::string>{"gpu-utilization"}));

  prom_.SetDiscoveryNotAVector(false);  // an answer with no series empties the list
  ASSERT_TRUE(p->DiscoverNow().ok());
  EXPECT_TRUE(p->ListExternalMetrics().empty());
}

TEST_F(CatalogProviderTest, StartRunsTheFirstRoundAtOnce) {
  prom_.SetPresent({"tgi_queue_size"});
  auto p = Provider();
  p->Start();
  const auto until = std::chrono::steady_clock::now() + seconds(10);
  while (p->ListExternalMetrics().empty() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(Names(p->ListExternalMetrics()), (std::vector<std::string>{"tgi-queue-size"}));
  p.reset();  // the destructor stops the thread without waiting a relist interval
}

TEST_F(CatalogProviderTest, DisabledEntriesAreNotFoundAndUnlisted) {
  auto config = ParseAdapterConfig("catalog:\n  disabled: [GPU-Utilization, tgi-batch-size]\n",
                                   "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto p = Provider(config->catalog);
  prom_.SetPresent({"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_PROF_DRAM_ACTIVE", "tgi_batch_current_size"});
  ASSERT_TRUE(p->DiscoverNow().ok());
  EXPECT_EQ(Names(p->ListExternalMetrics()), (std::vector<std::string>{"gpu-dram-active"}));
  EXPECT_FALSE(p->Serves("gpu-utilization"));
  EXPECT_FALSE(p->Serves("TGI-batch-size"));
  EXPECT_TRUE(p->Serves("GPU-DRAM-Active"));
  EXPECT_EQ(p->entries().size(), Catalog().size() - 2);
  EXPECT_EQ(p->GetExternalMetric(Request("gpu-utilization")).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(p->GetExternalMetric(Request("Tgi-Batch-Size")).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(p->GetExternalMetric(Request("no-such-entry")).status().code(),
            StatusCode::kNotFound);
  EXPECT_TRUE(prom_.RangeCalls().empty());  // nothing was read for them

  auto unknown = ParseAdapterConfig("catalog:\n  disabled: [no-such-entry]\n", "t.yaml");
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(CatalogProviderTest, DisabledCatalogServesNothingAndAsksNothing) {
  CatalogConfig off;
  off.enabled = false;
  auto p = Provider(off);
  EXPECT_TRUE(p->entries().empty());
  EXPECT_TRUE(p->DiscoverNow().ok());
  EXPECT_TRUE(prom_.Calls().empty());
  EXPECT_TRUE(p->ListExternalMetrics().empty());
  for (const CatalogEntry& e : Catalog()) {
    EXPECT_EQ(p->GetExternalMetric(Request(std::string(e.name))).status().code(),
              StatusCode::kNotFound)
        << e.name;
  }
}

// ---- Answers ------------------------------------------------------------------------------

TEST_F(CatalogProviderTest, OneItemAtTheEvaluationTime) {
  AddGpus();
  auto p = Provider();
  auto answer = p->GetExternalMetric(Request("GPU-Utilization"));
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  ASSERT_EQ(answer->size(), 1u);
  const apiserver::ExternalMetricValue& item = answer->front();
  EXPECT_EQ(item.metric_name, "gpu-utilization");
  EXPECT_TRUE(item.metric_labels.empty());
  EXPECT_EQ(item.timestamp, std::chrono::system_clock::time_point(milliseconds(kT)));
  EXPECT_EQ(item.window_seconds, 60);
  EXPECT_EQ(item.value.String(), "35");  // avg(avg(10, 30), 50); other namespaces left out
}

TEST_F(CatalogProviderTest, SelectorsOnSeriesAndPodLabels) {
  AddGpus();
  auto p = Provider();
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-utilization", "pod=web-1"))), "50");
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-utilization", "gpu=0"))), "20");
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-utilization", "app=web"))), "20");
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-utilization", "app=api"))), "50");
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-utilization", "app in (api,web)"))), "35");
  auto none = p->GetExternalMetric(Request("gpu-utilization", "app=db"));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(p->non_finite_values_dropped(), 0u);
  EXPECT_EQ(p->GetExternalMetric(Request("gpu-utilization", "gpu>1")).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(CatalogProviderTest, WithoutKubePodLabelsKeysMatchSeriesLabels) {
  prom_.Add({{"__name__", "tgi_queue_size"}, {"namespace", "team-a"}, {"pod", "t-0"},
             {"app", "web"}},
            {{kT - 5000, 4}});
  prom_.Add({{"__name__", "tgi_queue_size"}, {"namespace", "team-a"}, {"pod", "t-1"},
             {"app", "api"}},
            {{kT - 5000, 6}});
  prom_.Add({{"__name__", "kube_pod_labels"}, {"namespace", "team-a"}, {"pod", "t-1"},
             {"label_app", "web"}},
            {{kT - 5000, 1}});
  auto p = Provider();
  prom_.SetPresent({"tgi_queue_size"});  // no kube_pod_labels
  ASSERT_TRUE(p->DiscoverNow().ok());
  prom_.ClearCalls();
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("tgi-queue-size", "app=web"))), "4");
  auto calls = prom_.RangeCalls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].expr, R"(tgi_queue_size{namespace="team-a"}[1m])");

  prom_.SetPresent({"tgi_queue_size", "kube_pod_labels"});
  ASSERT_TRUE(p->DiscoverNow().ok());
  prom_.ClearCalls();
  clock_.Advance(seconds(10));  // past the TTL: the series subscription is refreshed
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("tgi-queue-size", "app=web"))), "6");
  calls = prom_.RangeCalls();
  ASSERT_EQ(calls.size(), 2u);
  // The pods first, through their own subscription; the series subscription is the one the
  // fallback read (an incremental refresh).
  EXPECT_EQ(calls[0].expr, R"(kube_pod_labels{namespace="team-a",label_app="web"}[1m])");
  EXPECT_EQ(calls[1].expr, R"(tgi_queue_size{namespace="team-a"}[20s])");
  EXPECT_EQ(store_->stats().subscriptions, 2u);
}

TEST_F(CatalogProviderTest, NonFiniteValuesGiveAnEmptyListAndAreCounted) {
  // No request succeeded in the window: 0 / 0.
  prom_.Add({{"__name__", "nv_inference_queue_duration_us"}, {"namespace", "team-a"},
             {"pod", "tr-0"}},
            {{kT - 100000, 7}, {kT - 50000, 7}, {kT - 1000, 7}});
  prom_.Add({{"__name__", "nv_inference_request_success"}, {"namespace", "team-a"},
             {"pod", "tr-0"}},
            {{kT - 100000, 3}, {kT - 50000, 3}, {kT - 1000, 3}});
  auto p = Provider();
  auto answer = p->GetExternalMetric(Request("triton-queue-time-per-request"));
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_TRUE(answer->empty());
  EXPECT_EQ(p->non_finite_values_dropped(), 1u);
  // Nothing selected is an empty list too, but not a dropped value.
  answer = p->GetExternalMetric(Request("triton-queue-time-per-request", "", "team-z"));
  ASSERT_TRUE(answer.ok());
  EXPECT_TRUE(answer->empty());
  EXPECT_EQ(p->non_finite_values_dropped(), 1u);
}

TEST_F(CatalogProviderTest, BackendErrorsAreClientSafe) {
  auto p = Provider();
  const std::string secret = "10.1.2.3:9090 token=hunter2";
  struct Case {
    Status backend;
    StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {UnavailableError("dial " + secret), StatusCode::kUnavailable,
       "the metrics backend is unavailable"},
      {DeadlineExceededError("slow " + secret), StatusCode::kDeadlineExceeded,
       "the metrics backend is unavailable"},
      {BackendRejectedError("bad_data: " + secret), StatusCode::kBackendRejected,
       "the backend rejected the query of metric \"vllm-requests-waiting\""},
      {InternalError("html page " + secret), StatusCode::kInternal,
       "metric \"vllm-requests-waiting\" could not be computed"},
  };
  for (const Case& c : cases) {
    prom_.SetRangeFailure(c.backend);
    auto answer = p->GetExternalMetric(Request("VLLM-Requests-Waiting"));
    EXPECT_EQ(answer.status().code(), c.code) << c.backend.ToString();
    EXPECT_EQ(answer.status().message(), c.message);
    EXPECT_EQ(answer.status().message().find("hunter2"), std::string::npos);
  }
}

TEST_F(CatalogProviderTest, ClusterWideEntriesIgnoreTheNamespace) {
  prom_.Add({{"__name__", "neuroncore_utilization_ratio"}, {"instance", "trn-1"},
             {"neuroncore", "0"}},
            {{kT - 30000, 0.25}, {kT - 10000, 0.75}});
  prom_.Add({{"__name__", "neuroncore_utilization_ratio"}, {"instance", "trn-2"},
             {"neuroncore", "0"}},
            {{kT - 10000, 1}});
  auto p = Provider();
  auto a = p->GetExternalMetric(Request("neuroncore-utilization", "", "team-a"));
  auto b = p->GetExternalMetric(Request("neuroncore-utilization", "", "team-b"));
  EXPECT_EQ(ValueOf(a), "750m");  // avg(0.5, 1)
  EXPECT_EQ(ValueOf(b), "750m");
  // One subscription for every namespace: one query, with no namespace matcher.
  const auto calls = prom_.RangeCalls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].expr.find("namespace"), std::string::npos) << calls[0].expr;
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("neuroncore-utilization", "instance=trn-2",
                                                 "team-c"))),
            "1");
}

TEST_F(CatalogProviderTest, KarpenterEntriesIgnoreTheNamespace) {
  auto add = [&](query::LabelSet l, double v) { prom_.Add(std::move(l), {{kT - 5000, v}}); };
  add({{"__name__", "kube_pod_status_phase"}, {"namespace", "team-b"}, {"pod", "p"},
       {"phase", "Pending"}},
      1);
  add({{"__name__", "kube_pod_container_resource_requests"}, {"namespace", "team-b"},
       {"pod", "p"}, {"resource", "nvidia_com_gpu"}},
      4);
  add({{"__name__", "kube_node_status_allocatable"}, {"node", "n1"},
       {"resource", "nvidia_com_gpu"}},
      1);
  CatalogConfig config;
  config.gpu_buffer = 1;
  auto p = Provider(config);
  auto pending = p->GetExternalMetric(Request("gpu-pending-demand", "", "team-a"));
  EXPECT_EQ(ValueOf(pending), "4");
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->front().window_seconds, 300);  // 5m
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-headroom-deficit", "", "karpenter"))),
            "4");  // 4 + 1 - 1
  const auto calls = prom_.RangeCalls();
  ASSERT_EQ(calls.size(), 4u);  // both entries and namespaces share one subscription
  const std::vector<std::string> want = {
      R"(kube_pod_status_phase{phase=~"Pending|Running"}[5m])",
      R"(kube_pod_container_resource_requests{resource="nvidia_com_gpu"}[5m])",
      R"(kube_node_status_allocatable{resource="nvidia_com_gpu"}[5m])",
      "kube_node_spec_unschedulable[5m]"};
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].expr, want[i]);
    EXPECT_EQ(calls[i].t, kT);
  }
}

// A cluster with kube-state-metrics series scraped from one target at kT - 5 s; a Pending pod
// p1 (2 GPUs, label app=web) and the headroom placeholder (100 GPUs, app=gpu-headroom).
void AddKubeState(FakePrometheus& prom, bool with_pod_labels) {
  auto add = [&](query::LabelSet l, double v) {
    l["job"] = "kube-state-metrics";
    l["instance"] = "10.0.0.7:8080";
    prom.Add(std::move(l), {{kT - 35000, v}, {kT - 5000, v}});
  };
  for (const auto& [ns, pod, gpus, app] :
       {std::tuple{"team-a", "p1", 2.0, "web"},
        std::tuple{"karpenter", "headroom-0", 100.0, "gpu-headroom"}}) {
    add({{"__name__", "kube_pod_status_phase"}, {"namespace", ns}, {"pod", pod},
         {"phase", "Pending"}},
        1);
    add({{"__name__", "kube_pod_status_phase"}, {"namespace", ns}, {"pod", pod},
         {"phase", "Running"}},
        0);
    // The series carry an app label of their own (e.g. relabelled): never a stand-in.
    add({{"__name__", "kube_pod_container_resource_requests"}, {"namespace", ns}, {"pod", pod},
         {"resource", "nvidia_com_gpu"}, {"app", "series-only"}},
        gpus);
    if (with_pod_labels) {
      add({{"__name__", "kube_pod_labels"}, {"namespace", ns}, {"pod", pod}, {"label_app", app}},
          1);
    }
  }
}

TEST_F(CatalogProviderTest, KarpenterPodLabelsAreReadFirstAndNeverFallBack) {
  AddKubeState(prom_, /*with_pod_labels=*/true);
  auto p = Provider();
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-pending-demand"))), "102");
  prom_.ClearCalls();
  EXPECT_EQ(ValueOf(p->GetExternalMetric(
                Request("gpu-pending-demand", "app.kubernetes.io/name notin (x),app notin (gpu-headroom)"))),
            "2");
  auto calls = prom_.RangeCalls();
  ASSERT_EQ(calls.size(), 1u);  // only the pods: the series subscription is shared
  EXPECT_EQ(calls[0].expr,
            R"(kube_pod_labels{label_app!~"gpu\\-headroom",label_app_kubernetes_io_name!~"x"}[5m])");

  // Without kube_pod_labels in Prometheus: the pod-label key still reads pod labels (none), so
  // nothing is pending; the series' own app label does not stand in.
  FakePrometheus bare;
  AddKubeState(bare, /*with_pod_labels=*/false);
  auto store = WindowStore::Create(bare, clock_, WindowStoreOptions{});
  ASSERT_TRUE(store.ok());
  CatalogProvider q(CatalogConfig{}, bare, **store, seconds(60));
  bare.SetPresent({"kube_pod_status_phase", "kube_pod_container_resource_requests"});
  ASSERT_TRUE(q.DiscoverNow().ok());
  ASSERT_FALSE(q.pod_labels_available());
  bare.ClearCalls();
  EXPECT_EQ(ValueOf(q.GetExternalMetric(Request("gpu-pending-demand", "app notin (x)"))), "0");
  calls = bare.RangeCalls();
  ASSERT_EQ(calls.size(), 5u);
  EXPECT_EQ(calls[0].expr, R"(kube_pod_labels{label_app!~"x"}[5m])");
  EXPECT_EQ(calls[1].expr, R"(kube_pod_status_phase{phase=~"Pending|Running"}[5m])");
  EXPECT_EQ(ValueOf(q.GetExternalMetric(Request("gpu-pending-demand", "app=series-only"))),
            "0");
  EXPECT_EQ(ValueOf(q.GetExternalMetric(Request("gpu-pending-demand", "namespace=team-a"))),
            "2");
}

// ---- The window store's multi-selector subscriptions ---------------------------------------

TEST_F(CatalogProviderTest, OneQueryPerPartPerRefreshAllAtOneTime) {
  AddGpus();
  auto p = Provider();
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-utilization", "app=web"))), "20");
  auto calls = prom_.RangeCalls();
  ASSERT_EQ(calls.size(), 3u);
  // Two subscriptions: the pods first, then the series' two parts.
  EXPECT_EQ(store_->stats().subscriptions, 2u);
  EXPECT_EQ(calls[0].expr, R"(kube_pod_labels{namespace="team-a",label_app="web"}[1m])");
  EXPECT_EQ(calls[1].expr,
            R"(DCGM_FI_DEV_GPU_UTIL{namespace="team-a",exported_namespace=""}[1m])");
  EXPECT_EQ(calls[2].expr, R"(DCGM_FI_DEV_GPU_UTIL{exported_namespace="team-a"}[1m])");
  for (const auto& c : calls) EXPECT_EQ(c.t, kT);

  // Within the TTL: served as it is.
  prom_.ClearCalls();
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-utilization", "app=web"))), "20");
  EXPECT_TRUE(prom_.RangeCalls().empty());

  // Later: every part again, incrementally, at the same new t.
  clock_.Advance(seconds(10));
  prom_.Add({{"__name__", "DCGM_FI_DEV_GPU_UTIL"},
             {"namespace", "gpu-operator"},
             {"pod", "dcgm-exporter-x"},
             {"exported_namespace", "team-a"},
             {"exported_pod", "web-0"},
             {"gpu", "4"}},
            {{kT + 5000, 80}});
  prom_.ClearCalls();
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-utilization", "app=web"))), "50");
  calls = prom_.RangeCalls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].expr, R"(kube_pod_labels{namespace="team-a",label_app="web"}[20s])");
  EXPECT_EQ(calls[1].expr,
            R"(DCGM_FI_DEV_GPU_UTIL{namespace="team-a",exported_namespace=""}[20s])");
  EXPECT_EQ(calls[2].expr, R"(DCGM_FI_DEV_GPU_UTIL{exported_namespace="team-a"}[20s])");
  for (const auto& c : calls) EXPECT_EQ(c.t, kT + 10000);
}

TEST_F(CatalogProviderTest, PodLabelSelectorsOfANamespaceShareTheSeriesSubscription) {
  AddGpus();
  auto p = Provider();
  const std::string plain_ns = R"(DCGM_FI_DEV_GPU_UTIL{namespace="team-a",exported_namespace=""})";
  const std::string exported = R"(DCGM_FI_DEV_GPU_UTIL{exported_namespace="team-a"})";
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-utilization", "app=web"))), "20");
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-utilization", "app=api"))), "50");
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-utilization", "gpu=1"))), "50");
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-utilization"))), "35");
  auto calls = prom_.RangeCalls();
  // Pods of app=web, the series (2 parts), pods of app=api; the series once.
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0].expr, R"(kube_pod_labels{namespace="team-a",label_app="web"}[1m])");
  EXPECT_EQ(calls[1].expr, plain_ns + "[1m]");
  EXPECT_EQ(calls[2].expr, exported + "[1m]");
  EXPECT_EQ(calls[3].expr, R"(kube_pod_labels{namespace="team-a",label_app="api"}[1m])");
  EXPECT_EQ(store_->stats().subscriptions, 3u);

  // The next refresh: the series query is issued once, not once per selector.
  clock_.Advance(seconds(10));
  prom_.ClearCalls();
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-utilization", "app=api"))), "50");
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-utilization", "app=web"))), "20");
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-utilization", "app in (api,web)"))),
            "35");
  EXPECT_EQ(ValueOf(p->GetExternalMetric(Request("gpu-utilization"))), "35");
  calls = prom_.RangeCalls();
  std::map<std::string, int> count;
  for (const auto& c : calls) {
    ++count[c.expr];
    EXPECT_EQ(c.t, kT + 10000);
  }
  EXPECT_EQ(count[plain_ns + "[20s]"], 1);
  EXPECT_EQ(count[exported + "[20s]"], 1);
  EXPECT_EQ(count[R"(kube_pod_labels{namespace="team-a",label_app="api"}[20s])"], 1);
  EXPECT_EQ(count[R"(kube_pod_labels{namespace="team-a",label_app="web"}[20s])"], 1);
  EXPECT_EQ(count[R"(kube_pod_labels{namespace="team-a",label_app=~"api|web"}[1m])"], 1);
  EXPECT_EQ(calls.size(), 5u);
  ASSERT_GE(calls.size(), 3u);
  EXPECT_EQ(calls[0].expr, R"(kube_pod_labels{namespace="team-a",label_app="api"}[20s])");
  EXPECT_EQ(calls[1].expr, plain_ns + "[20s]");
  EXPECT_EQ(calls[2].expr, exported + "[20s]");
  EXPECT_EQ(store_->stats().subscriptions, 4u);

  // Another namespace has its own series subscription.
  prom_.ClearCalls();
  auto other = p->GetExternalMetric(Request("gpu-utilization", "app=web", "team-b"));
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_TRUE(other->empty());  // no team-b pod has app=web
  calls = prom_.RangeCalls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].expr, R"(kube_pod_labels{namespace="team-b",label_app="web"}[1m])");
  EXPECT_EQ(calls[1].expr,
            R"(DCGM_FI_DEV_GPU_UTIL{namespace="team-b",exported_namespace=""}[1m])");
}

TEST_F(CatalogProviderTest, AFailingPartFailsTheRead) {
  AddGpus();
  auto p = Provider();
  prom_.SetRangeFailure(UnavailableError("down"));
  EXPECT_EQ(p->GetExternalMetric(Request("gpu-utilization")).status().code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(prom_.RangeCalls().size(), 1u);  // the first part failed: no second query

  // The pods' read fails: the series are not read.
  prom_.ClearCalls();
  EXPECT_EQ(p->GetExternalMetric(Request("gpu-utilization", "app=web")).status().code(),
            StatusCode::kUnavailable);
  const auto calls = prom_.RangeCalls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].expr, R"(kube_pod_labels{namespace="team-a",label_app="web"}[1m])");
}

// ---- Precedence in CompositeProvider -------------------------------------------------------

class CatalogCompositeTest : public CatalogProviderTest {
 protected:
  void SetUp() override {
    CatalogProviderTest::SetUp();
    AddGpus();
    prom_.Add({{"__name__", "q"}, {"namespace", "team-a"}}, {{kT - 5000, 5}});
    prom_.Add({{"__name__", "DCGM_FI_PROF_DRAM_ACTIVE"}, {"namespace", "team-a"},
               {"pod", "web-0"}},
              {{kT - 5000, 0.5}});
    prom_.SetPresent({"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_PROF_DRAM_ACTIVE",
                      "vllm:num_requests_waiting", "tgi_queue_size", "kube_pod_labels"});
    auto config = ParseAdapterConfig(
        "signals:\n- {name: GPU-Utilization, series: q, window: 1m, overTime: avg}\n", "t.yaml");
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    auto rules = std::make_unique<FakeRules>(
        std::vector<std::string>{"VLLM-Requests-Waiting", "other"});
    rules_ = rules.get();
    auto catalog = Provider();
    ASSERT_TRUE(catalog->DiscoverNow().ok());
    composite_ = std::make_unique<CompositeProvider>(
        std::make_unique<SignalProvider>(config->signals, *store_), std::move(rules),
        std::move(catalog));
  }
  FakeRules* rules_ = nullptr;
  std::unique_ptr<CompositeProvider> composite_;
};

TEST_F(CatalogCompositeTest, DiscoveryListsEachNameOnceUserDefinitionsFirst) {
  EXPECT_EQ(Names(composite_->ListExternalMetrics()),
            (std::vector<std::string>{"GPU-Utilization", "VLLM-Requests-Waiting", "other",
                                      "gpu-dram-active", "tgi-queue-size"}));
}

TEST_F(CatalogCompositeTest, ASignalWinsOverTheCatalog) {
  auto answer = composite_->GetExternalMetric(Request("gpu-utilization"));
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  ASSERT_EQ(answer->size(), 1u);
  EXPECT_EQ(answer->front().value.String(), "5");  // q, not the GPUs' 35
  for (const auto& c : prom_.RangeCalls()) {
    EXPECT_EQ(c.expr.find("DCGM"), std::string::npos) << c.expr;
  }
  EXPECT_EQ(rules_->calls, 0);
}

TEST_F(CatalogCompositeTest, ARuleListingTheNameWinsOverTheCatalog) {
  auto answer = composite_->GetExternalMetric(Request("vllm-requests-waiting"));
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(rules_->calls, 1);
  EXPECT_TRUE(prom_.RangeCalls().empty());
}

TEST_F(CatalogCompositeTest, CatalogAnswersItsOtherNames) {
  EXPECT_EQ(ValueOf(composite_->GetExternalMetric(Request("gpu-dram-active"))), "500m");
  // Listed or not.
  auto answer = composite_->GetExternalMetric(Request("sglang-token-usage"));
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_TRUE(answer->empty());
  EXPECT_EQ(rules_->calls, 0);
}

TEST_F(CatalogCompositeTest, UnknownNamesGoToTheRules) {
  ASSERT_TRUE(composite_->GetExternalMetric(Request("other")).ok());
  ASSERT_TRUE(composite_->GetExternalMetric(Request("not-listed-anywhere")).ok());
  EXPECT_EQ(rules_->calls, 2);
  EXPECT_EQ(rules_->last_name, "not-listed-anywhere");
  EXPECT_TRUE(prom_.RangeCalls().empty());
}

TEST_F(CatalogProviderTest, CompositeWithoutRulesAnswersNotFoundForOtherNames) {
  AddGpus();
  CompositeProvider c(nullptr, nullptr, Provider());
  EXPECT_EQ(c.GetExternalMetric(Request("nope")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ValueOf(c.GetExternalMetric(Request("gpu-utilization"))), "35");
  EXPECT_TRUE(c.Ready());
  EXPECT_NE(c.catalog(), nullptr);
}

TEST_F(CatalogProviderTest, CompositeReadsTheRulesListAtMostOnceASecond) {
  AddGpus();
  auto rules = std::make_unique<FakeRules>(std::vector<std::string>{});
  FakeRules* r = rules.get();
  CompositeProvider c(nullptr, std::move(rules), Provider());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ValueOf(c.GetExternalMetric(Request("gpu-utilization"))), "35");
  EXPECT_EQ(r->lists, 1);
  // A rule now lists the name; within the second the cached list still says it does not.
  r->SetNames({"GPU-Utilization"});
  EXPECT_EQ(ValueOf(c.GetExternalMetric(Request("gpu-utilization"))), "35");
  auto dram = c.GetExternalMetric(Request("gpu-dram-active", "", "team-z"));
  ASSERT_TRUE(dram.ok()) << dram.status().ToString();
  EXPECT_TRUE(dram->empty());
  if (std::chrono::steady_clock::now() - start < milliseconds(900)) {
    EXPECT_EQ(r->lists, 1);
    EXPECT_EQ(r->calls, 0);
  }
  // A second later the rules' list is read again: the user's definition wins.
  std::this_thread::sleep_for(milliseconds(1100));
  ASSERT_TRUE(c.GetExternalMetric(Request("gpu-utilization")).ok());
  EXPECT_EQ(r->calls, 1);
  EXPECT_EQ(r->last_name, "gpu-utilization");
  EXPECT_EQ(r->lists, 2);
}

TEST_F(CatalogProviderTest, CompositeSendsDisabledEntriesToTheRules) {
  CatalogConfig config;
  config.disabled = {"gpu-utilization"};
  auto rules = std::make_unique<FakeRules>(std::vector<std::string>{});
  FakeRules* r = rules.get();
  CompositeProvider c(nullptr, std::move(rules), Provider(config));
  ASSERT_TRUE(c.GetExternalMetric(Request("gpu-utilization")).ok());
  EXPECT_EQ(r->calls, 1);
}

}  // namespace
}  // namespace sextant::scaling

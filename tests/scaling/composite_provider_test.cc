// CompositeProvider (scaling/composite_provider.h): signals win a name clash (in discovery
// and in answers), the rules' other metrics pass through, readiness needs both parts.
#include "scaling/composite_provider.h"

#include <gtest/gtest.h>

#include "scaling/adapter_config.h"

namespace sextant::scaling {
namespace {

// Stands for the rule provider: serves `names`, answering one item of value 1.
class FakeRules : public apiserver::ExternalMetricsProvider {
 public:
  explicit FakeRules(std::vector<std::string> names) : names_(std::move(names)) {}
  std::vector<apiserver::ExternalMetricInfo> ListExternalMetrics() override {
    std::vector<apiserver::ExternalMetricInfo> out;
    for (const auto& n : names_) out.push_back({n, true});
    return out;
  }
  Result<std::vector<apiserver::ExternalMetricValue>> GetExternalMetric(
      const apiserver::ExternalMetricRequest& request) override {
    ++calls;
    return std::vector<apiserver::ExternalMetricValue>{
        {request.metric_name,
         {},
         {},
         std::nullopt,
         apiserver::Quantity::FromInt(1, apiserver::Quantity::Format::kDecimalSI)}};
  }
  bool Ready() const override { return ready; }
  bool ready = true;
  int calls = 0;

 private:
  std::vector<std::string> names_;
};

// A backend that is never reachable: signal answers fail with Unavailable.
class DownPrometheus : public query::PrometheusClient {
 public:
  Result<query::QueryResult> Query(const std::string&, std::optional<SystemTime>,
                                   Deadline) override {
    return UnavailableError("down");
  }
  Result<query::QueryResult> QueryRange(const std::string&, SystemTime, SystemTime,
                                        std::chrono::milliseconds, Deadline) override {
    return UnavailableError("down");
  }
  Result<std::vector<query::LabelSet>> Series(const std::vector<std::string>&, SystemTime,
                                              SystemTime, Deadline) override {
    return UnavailableError("down");
  }
};

class CompositeProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = ParseAdapterConfig(
        "signals:\n- {name: Queue-P90, series: q, window: 1m, overTime: 'quantile(0.9)'}\n",
        "t.yaml");
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    auto store = WindowStore::Create(prom_, clock_, WindowStoreOptions{});
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    auto rules = std::make_unique<FakeRules>(std::vector<std::string>{"queue-p90", "other"});
    rules_ = rules.get();
    composite_ = std::make_unique<CompositeProvider>(
        std::make_unique<SignalProvider>(config->signals, *store_), std::move(rules));
  }
  apiserver::ExternalMetricRequest Request(const std::string& name) {
    apiserver::ExternalMetricRequest r;
    r.namespace_name = "default";
    r.metric_name = name;
    r.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    return r;
  }

  ManualClock clock_;
  DownPrometheus prom_;
  std::unique_ptr<WindowStore> store_;
  FakeRules* rules_ = nullptr;
  std::unique_ptr<CompositeProvider> composite_;
};

TEST_F(CompositeProviderTest, DiscoveryListsSignalsThenUnshadowedRuleMetrics) {
  std::vector<std::string> names;
  for (const auto& info : composite_->ListExternalMetrics()) names.push_back(info.name);
  EXPECT_EQ(names, (std::vector<std::string>{"Queue-P90", "other"}));
}

TEST_F(CompositeProviderTest, SignalsAnswerTheirNamesAndRulesTheRest) {
  // The signal answers (its backend is down: a client-safe Unavailable), not the rule.
  auto signal = composite_->GetExternalMetric(Request("queue-P90"));
  EXPECT_EQ(signal.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(signal.status().message(), "the metrics backend is unavailable");
  EXPECT_EQ(rules_->calls, 0);
  auto rule = composite_->GetExternalMetric(Request("other"));
  ASSERT_TRUE(rule.ok());
  EXPECT_EQ(rules_->calls, 1);
}

TEST_F(CompositeProviderTest, ReadyWhenBothAre) {
  EXPECT_TRUE(composite_->Ready());
  rules_->ready = false;
  EXPECT_FALSE(composite_->Ready());
}

TEST(CompositeProvider, WithoutPartsNothingIsServed) {
  CompositeProvider empty(nullptr, nullptr);
  EXPECT_TRUE(empty.ListExternalMetrics().empty());
  EXPECT_TRUE(empty.Ready());
  apiserver::ExternalMetricRequest r;
  r.metric_name = "x";
  EXPECT_EQ(empty.GetExternalMetric(r).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace sextant::scaling

// Each selector operator's PromQL rendering, one named row each, and the cases that must be
// refused.
#include "scaling/selector_matchers.h"

#include <gtest/gtest.h>

#include <random>

namespace sextant::scaling {
namespace {

struct Row {
  const char* name;
  const char* selector;
  const char* rendered;  // RenderMatchers() of the result
};

class Rendering : public ::testing::TestWithParam<Row> {};

TEST_P(Rendering, MatchesTheDocumentedMapping) {
  auto selector = apiserver::LabelSelector::Parse(GetParam().selector);
  ASSERT_TRUE(selector.ok()) << selector.status().ToString();
  auto out = SelectorToMatchers(*selector);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(query::RenderMatchers(out->matchers), GetParam().rendered);
}

INSTANTIATE_TEST_SUITE_P(
    Table, Rendering,
    ::testing::Values(
        Row{"empty", "", ""},
        Row{"equals", "model=llama", R"(model="llama")"},
        Row{"double_equals", "model==llama", R"(model="llama")"},
        Row{"not_equals", "model!=llama", R"(model!="llama")"},
        Row{"in_escapes_each_value", "model in (a.b,c-d)", R"(model=~"a\\.b|c\\-d")"},
        Row{"notin", "model notin (x)", R"(model!~"x")"},
        Row{"exists", "gpu", R"(gpu!="")"},
        Row{"does_not_exist", "!gpu", R"(gpu="")"},
        Row{"dotted_key_is_mapped", "app.kubernetes.io/name=vllm",
            R"(app_kubernetes_io_name="vllm")"},
        Row{"dashed_key_is_mapped", "model-name=x", R"(model_name="x")"},
        Row{"several_sorted_by_key", "z=1,a!=2", R"(a!="2",z="1")"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(SelectorToMatchers, GreaterAndLessThanAreRefused) {
  for (const char* text : {"replicas>1", "replicas<3", "replicas gt 1"}) {
    auto selector = apiserver::LabelSelector::Parse(text);
    if (!selector.ok()) continue;  // spelling not accepted by the parser itself
    auto out = SelectorToMatchers(*selector);
    ASSERT_FALSE(out.ok()) << text;
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(out.status().message().find("not supported for external metrics"),
              std::string::npos);
  }
}

TEST(SelectorToMatchers, ValuesByNameForEqualityAndIn) {
  auto selector = apiserver::LabelSelector::Parse("a=1,b in (x,y),c!=z");
  ASSERT_TRUE(selector.ok());
  auto out = SelectorToMatchers(*selector);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->values_by_name.at("a"), std::vector<std::string>{"1"});
  EXPECT_EQ(out->values_by_name.at("b"), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(out->values_by_name.count("c"), 0u);
}

TEST(SelectorToMatchers, RenderedSelectorParsesBackToTheSameMatchers) {
  auto selector = apiserver::LabelSelector::Parse("model in (a.b,x_y),pod!=p-1,!gone");
  ASSERT_TRUE(selector.ok());
  auto out = SelectorToMatchers(*selector);
  ASSERT_TRUE(out.ok());
  auto parsed = query::ParseVectorSelector(query::RenderSelector("m", out->matchers));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->matchers, out->matchers);
}

}  // namespace
}  // namespace sextant::scaling

namespace sextant::scaling {
namespace {

// The renderer's safety property over many random selectors: whatever a client sends, the
// rendered query parses back to exactly the matchers Sextant meant (no structure injected).
TEST(SelectorToMatchersFuzz, RenderedQueriesAlwaysParseToTheExpectedMatchers) {
  const std::vector<std::string> keys = {"model", "app.kubernetes.io/name", "a-b", "x", "pod"};
  const std::vector<std::string> values = {"a.b", "x", "a-b_c", "", "v1.2", "A9", "zz.zz-9"};
  const std::vector<std::string> ops = {"=", "==", "!=", " in ", " notin "};
  std::mt19937 rng(20261129);
  auto pick = [&](const auto& v) { return v[rng() % v.size()]; };
  int rendered = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    const int requirements = 1 + static_cast<int>(rng() % 4);
    for (int r = 0; r < requirements; ++r) {
      if (r) text += ",";
      const std::string key = pick(keys);
      switch (rng() % 4) {
        case 0: text += key; break;
        case 1: text += "!" + key; break;
        default: {
          const std::string op = pick(ops);
          if (op == " in " || op == " notin ") {
            text += key + op + "(" + pick(values) + "," + pick(values) + ")";
          } else {
            text += key + op + pick(values);
          }
        }
      }
    }
    auto selector = apiserver::LabelSelector::Parse(text);
    if (!selector.ok()) continue;
    auto out = SelectorToMatchers(*selector);
    ASSERT_TRUE(out.ok()) << text << ": " << out.status().ToString();
    const std::string query = query::RenderSelector("vllm:num_requests_waiting", out->matchers);
    auto parsed = query::ParseVectorSelector(query);
    ASSERT_TRUE(parsed.ok()) << text << " -> " << query;
    EXPECT_EQ(parsed->metric_name, "vllm:num_requests_waiting") << query;
    EXPECT_EQ(parsed->matchers, out->matchers) << text << " -> " << query;
    ++rendered;
  }
  EXPECT_GT(rendered, 10000);  // most generated selectors are valid: the property was exercised
}

}  // namespace
}  // namespace sextant::scaling

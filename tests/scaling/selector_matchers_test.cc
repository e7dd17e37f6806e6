// Each selector operator's PromQL rendering, one named row each, and the cases that must be
// refused.
#include "scaling/selector_matchers.h"

#include <gtest/gtest.h>

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

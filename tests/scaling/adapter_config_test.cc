// AdapterConfig: prometheus-adapter config files load unchanged; tables, one named case per
// row: the example configs under testdata/, name.as expansion (rows checked against Go's
// regexp.Expand), series filters, the namespace label, Sextant's prometheus section,
// durations, and every kind of load error with its file:line:col.
#include "scaling/adapter_config.h"
#include "scaling/catalog.h"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace sextant::scaling {
namespace {

const std::string kTestdata = std::string(SEXTANT_SOURCE_DIR) + "/tests/scaling/testdata/";

template <typename Case>
std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return std::string(info.param.name);
}

// ---- The example files ------------------------------------------------------------------

struct FileCase {
  std::string_view name;
  std::string_view file;
  std::size_t external_rules;
  std::size_t ignored_rules;
  std::size_t ignored_resource_rules;
};
void PrintTo(const FileCase& c, std::ostream* os) { *os << c.name; }

class ExampleFile : public ::testing::TestWithParam<FileCase> {};

TEST_P(ExampleFile, LoadsUnchanged) {
  const FileCase& c = GetParam();
  Result<AdapterConfig> config = LoadAdapterConfig(kTestdata + std::string(c.file));
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->external_rules.size(), c.external_rules);
  EXPECT_EQ(config->ignored_rules, c.ignored_rules);
  EXPECT_EQ(config->ignored_resource_rules, c.ignored_resource_rules);
  for (const ExternalRule& rule : config->external_rules) {
    EXPECT_EQ(rule.where.rfind(kTestdata + std::string(c.file) + ":", 0), 0u) << rule.where;
    EXPECT_FALSE(rule.name.as.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ExampleFile,
    ::testing::Values(FileCase{"docs_sample", "adapter_docs_sample.yaml", 2, 4, 0},
                      FileCase{"kube_prometheus", "adapter_kube_prometheus.yaml", 1, 0, 2},
                      FileCase{"external_templates", "adapter_external_templates.yaml", 2, 0, 0},
                      FileCase{"sextant_gpu", "sextant_gpu.yaml", 2, 0, 0}),
    CaseName<FileCase>);

TEST(ExampleFile, DocsSampleExternalRules) {
  Result<AdapterConfig> config = LoadAdapterConfig(kTestdata + "adapter_docs_sample.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const ExternalRule& lag = config->external_rules[0];
  EXPECT_EQ(lag.series_query, R"({__name__="queue_consumer_lag",name!=""})");
  EXPECT_EQ(lag.name.MetricNameFor("queue_consumer_lag"), "queue_consumer_lag");
  EXPECT_TRUE(lag.resources.Namespaced());
  EXPECT_EQ(lag.resources.NamespaceLabel(), "namespace");
  EXPECT_FALSE(config->external_rules[1].resources.Namespaced());
  TemplateValues values;
  values.series = "queue_consumer_lag";
  values.label_matchers = R"(name="orders",namespace="prod")";
  EXPECT_EQ(*lag.metrics_query.Render(values),
            R"(sum(queue_consumer_lag{name="orders",namespace="prod"}) by (name))");
  EXPECT_EQ(lag.metrics_query_text, "sum(<<.Series>>{<<.LabelMatchers>>}) by (name)");
  EXPECT_FALSE(config->prometheus.present);
}

TEST(ExampleFile, ExternalTemplatesRender) {
  Result<AdapterConfig> config = LoadAdapterConfig(kTestdata + "adapter_external_templates.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  TemplateValues values;
  values.series = "kafka_consumergroup_lag";
  values.label_values_by_name = {
      {"consumergroup", "billing"}, {"namespace", "prod"}, {"topic", "orders"}};
  EXPECT_EQ(*config->external_rules[0].metrics_query.Render(values),
            "sum(min_over_time(kafka_consumergroup_lag{consumergroup=\"billing\",topic=\"orders\""
            ",}[1h])) by (topic,consumergroup)");
  EXPECT_EQ(config->external_rules[0].name.MetricNameFor("kafka_consumergroup_lag"), "kafka_lag");

  const ExternalRule& sqs = config->external_rules[1];
  EXPECT_EQ(sqs.resources.NamespaceLabel(), "kubernetes_namespace");
  EXPECT_EQ(sqs.name.MetricNameFor("aws_sqs_orders_messages_visible"), "sqs_orders_backlog");
  EXPECT_TRUE(sqs.SelectsSeries("aws_sqs_orders_messages_visible"));
  EXPECT_FALSE(sqs.SelectsSeries("aws_sqs_orders_dlq_messages_visible"));  // isNot _dlq_
  EXPECT_FALSE(sqs.SelectsSeries("gcp_pubsub_messages_visible"));          // is ^aws_sqs_
  values.series = "aws_sqs_orders_messages_visible";
  values.label_matchers = R"(queue_name="orders",kubernetes_namespace="prod")";
  values.label_values_by_name = {{"kubernetes_namespace", "prod"}, {"queue_name", "orders"}};
  EXPECT_EQ(*sqs.metrics_query.Render(values),
            "max by (queue_name) (\n  aws_sqs_orders_messages_visible{queue_name=\"orders\","
            "kubernetes_namespace=\"prod\", queue_name=~\"orders\"}\n)\n");
}

TEST(ExampleFile, UpstreamSampleTypoIsRejectedAtTheKey) {
  const std::string file = kTestdata + "adapter_metricquery_typo.yaml";
  Result<AdapterConfig> config = LoadAdapterConfig(file);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(),
            file +
                ":9:3: rules[0]: unknown key \"metricQuery\" in a rule (expected: "
                "emptyResult, metricsQuery, name, resources, seriesFilters, seriesQuery)");
}

TEST(ExampleFile, MissingFile) {
  Result<AdapterConfig> config = LoadAdapterConfig(kTestdata + "no_such_file.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
}

TEST(ExampleFile, EmptyFileIsAnEmptyConfig) {
  Result<AdapterConfig> config = ParseAdapterConfig("# nothing yet\n", "empty.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->external_rules.empty());
  EXPECT_EQ(IgnoredRulesNotice(*config), "");
}

TEST(ExampleFile, IgnoredRulesNotice) {
  Result<AdapterConfig> config = LoadAdapterConfig(kTestdata + "adapter_docs_sample.yaml");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(IgnoredRulesNotice(*config),
            kTestdata +
                "adapter_docs_sample.yaml: 4 entries of rules (custom.metrics.k8s.io) "
                "loaded but not served: Sextant serves external.metrics.k8s.io "
                "(externalRules) only");
  config = LoadAdapterConfig(kTestdata + "adapter_kube_prometheus.yaml");
  ASSERT_TRUE(config.ok());
  EXPECT_NE(IgnoredRulesNotice(*config).find(": 2 of resourceRules (metrics.k8s.io) loaded"),
            std::string::npos)
      << IgnoredRulesNotice(*config);
}

// ---- name: matches / as ---------------------------------------------------------------

// The minimal rule around a name mapping.
std::string RuleWithName(std::string_view name_yaml) {
  return "externalRules:\n- seriesQuery: up\n  metricsQuery: up\n  name: " +
         std::string(name_yaml) + "\n";
}

struct NameCase {
  std::string_view name;
  std::string_view name_yaml;
  std::string_view series;
  std::optional<std::string> want;
  std::string_view resolved_as;
};
void PrintTo(const NameCase& c, std::ostream* os) { *os << c.name; }

class Name : public ::testing::TestWithParam<NameCase> {};

TEST_P(Name, ExpandsLikeGo) {
  const NameCase& c = GetParam();
  Result<AdapterConfig> config = ParseAdapterConfig(RuleWithName(c.name_yaml), "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const NameMapping& name = config->external_rules[0].name;
  EXPECT_EQ(name.MetricNameFor(std::string(c.series)), c.want);
  EXPECT_EQ(name.as, c.resolved_as);
}

INSTANTIATE_TEST_SUITE_P(
    Table, Name,
    ::testing::Values(
        NameCase{"absent_is_whole_name", "{}", "queue_depth", "queue_depth", "$0"},
        NameCase{"empty_strings_are_defaults", R"({matches: "", as: ""})", "queue_depth",
                 "queue_depth", "$0"},
        NameCase{"no_group_defaults_to_dollar_zero", "{matches: '^queue_.*$'}", "queue_depth",
                 "queue_depth", "$0"},
        NameCase{"one_group_defaults_to_dollar_one", "{matches: '^container_(.*)_seconds_total$'}",
                 "container_cpu_usage_seconds_total", "cpu_usage", "$1"},
        NameCase{"one_named_group_defaults_to_dollar_one", "{matches: '^vllm:(?P<m>.*)$'}",
                 "vllm:num_requests_waiting", "num_requests_waiting", "$1"},
        NameCase{"braced_group", "{matches: '^(.*)_total$', as: '${1}_per_second'}",
                 "http_requests_total", "http_requests_per_second", "${1}_per_second"},
        NameCase{"unbraced_group_takes_the_suffix_as_its_name",
                 "{matches: '^(.*)_total$', as: '$1_per_second'}", "http_requests_total", "",
                 "$1_per_second"},
        NameCase{"named_group",
                 "{matches: '^aws_sqs_(?P<queue>.*)_messages_visible$', "
                 "as: 'sqs_${queue}_backlog'}",
                 "aws_sqs_orders_messages_visible", "sqs_orders_backlog", "sqs_${queue}_backlog"},
        NameCase{"go_122_named_group_syntax",
                 "{matches: '^aws_sqs_(?<queue>.*)_messages_visible$', as: '${queue}'}",
                 "aws_sqs_orders_messages_visible", "orders", "${queue}"},
        NameCase{"named_group_syntax_left_alone_in_a_class", R"({matches: '^[(?<]+$'})", "(?<",
                 "(?<", "$0"},
        NameCase{"named_group_unbraced",
                 "{matches: '^aws_sqs_(?P<queue>.*)_messages_visible$', "
                 "as: 'sqs_$queue'}",
                 "aws_sqs_orders_messages_visible", "sqs_orders", "sqs_$queue"},
        NameCase{"dollar_dollar", "{matches: '^(.*)$', as: '$$$1'}", "x", "$x", "$$$1"},
        NameCase{"malformed_dollar_is_text", "{matches: '^(.*)$', as: 'cost$-$1'}", "x", "cost$-x",
                 "cost$-$1"},
        NameCase{"unclosed_brace_is_text", "{matches: '^(.*)$', as: '${1'}", "x", "${1", "${1"},
        NameCase{"trailing_dollar_is_text", "{matches: '^(.*)$', as: 'a$'}", "x", "a$", "a$"},
        NameCase{"missing_or_unmatched_groups_are_empty",
                 "{matches: '^(a)(b)?$', as: '[$1][$2][$3]'}", "a", "[a][][]", "[$1][$2][$3]"},
        NameCase{"leading_zero_is_a_name", "{matches: '^(a)$', as: '$01|$1'}", "a", "|a", "$01|$1"},
        NameCase{"unanchored_keeps_only_the_match", "{matches: total}", "http_requests_total",
                 "total", "$0"},
        NameCase{"leftmost_first_like_go", "{matches: '(a|ab)(c|bcd)(d*)', as: '$1-$2-$3'}", "abcd",
                 "a-bcd-", "$1-$2-$3"},
        NameCase{"two_groups_with_as", R"({matches: '^(\w+)_(\w+)_total$', as: '${2}_${1}'})",
                 "app_requests_total", "requests_app", "${2}_${1}"},
        NameCase{"literal_as", "{as: cheese_ripeness}", "gouda", "cheese_ripeness",
                 "cheese_ripeness"},
        NameCase{"no_match_is_nullopt", "{matches: '^container_(.*)$'}", "node_cpu", std::nullopt,
                 "$1"},
        NameCase{"number_as_string_like_yaml_v2", "{matches: '^x$', as: 42}", "x", "42", "42"}),
    CaseName<NameCase>);

// ---- seriesFilters ----------------------------------------------------------------------

struct FilterCase {
  std::string_view name;
  std::string_view filters_yaml;
  std::string_view series;
  bool selected;
};
void PrintTo(const FilterCase& c, std::ostream* os) { *os << c.name; }

class Filters : public ::testing::TestWithParam<FilterCase> {};

TEST_P(Filters, SelectSeries) {
  const FilterCase& c = GetParam();
  const std::string yaml =
      "externalRules:\n- seriesQuery: up\n  metricsQuery: up\n"
      "  seriesFilters: " +
      std::string(c.filters_yaml) + "\n";
  Result<AdapterConfig> config = ParseAdapterConfig(yaml, "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->external_rules[0].SelectsSeries(c.series), c.selected);
}

INSTANTIATE_TEST_SUITE_P(
    Table, Filters,
    ::testing::Values(
        FilterCase{"none", "[]", "anything", true},
        FilterCase{"is_matches", "[{is: '^container_'}]", "container_cpu", true},
        FilterCase{"is_does_not_match", "[{is: '^container_'}]", "node_cpu", false},
        FilterCase{"is_is_unanchored", "[{is: 'cpu'}]", "node_cpu_seconds", true},
        FilterCase{"is_not_matches", "[{isNot: '_seconds_total$'}]", "x_seconds_total", false},
        FilterCase{"is_not_does_not_match", "[{isNot: '_seconds_total$'}]", "x_total", true},
        FilterCase{"all_must_keep", "[{is: '^container_'}, {isNot: '_total$'}]",
                   "container_memory_total", false},
        FilterCase{"all_keep", "[{is: '^container_'}, {isNot: '_total$'}]",
                   "container_memory_bytes", true},
        FilterCase{"perl_classes", R"([{is: '^\w+_\d+$'}])", "gpu_0", true},
        FilterCase{"empty_isnot_with_is", "[{is: '^a', isNot: ''}]", "ab", true}),
    CaseName<FilterCase>);

TEST(Filters, NameMatchesIsAlsoAFilter) {
  Result<AdapterConfig> config =
      ParseAdapterConfig(RuleWithName("{matches: '^container_(.*)_total$'}"), "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->external_rules[0].SelectsSeries("container_cpu_total"));
  EXPECT_FALSE(config->external_rules[0].SelectsSeries("container_cpu_bytes"));
}

// ---- resources: namespaced and the namespace label --------------------------------------

struct ResourcesCase {
  std::string_view name;
  std::string_view resources_yaml;
  std::string_view namespace_label;
  bool namespaced;
};
void PrintTo(const ResourcesCase& c, std::ostream* os) { *os << c.name; }

class Resources : public ::testing::TestWithParam<ResourcesCase> {};

TEST_P(Resources, NamespaceLabel) {
  const ResourcesCase& c = GetParam();
  const std::string yaml =
      "externalRules:\n- seriesQuery: up\n  metricsQuery: up\n"
      "  resources: " +
      std::string(c.resources_yaml) + "\n";
  Result<AdapterConfig> config = ParseAdapterConfig(yaml, "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->external_rules[0].resources.NamespaceLabel(), c.namespace_label);
  EXPECT_EQ(config->external_rules[0].resources.Namespaced(), c.namespaced);
}

INSTANTIATE_TEST_SUITE_P(
    Table, Resources,
    ::testing::Values(
        ResourcesCase{"absent_defaults", "{}", "namespace", true},
        ResourcesCase{"override", "{overrides: {kubernetes_namespace: {resource: namespace}}}",
                      "kubernetes_namespace", true},
        ResourcesCase{"override_plural_any_case",
                      "{overrides: {exported_namespace: {resource: Namespaces}}}",
                      "exported_namespace", true},
        ResourcesCase{"override_in_another_group_is_not_the_namespace",
                      "{overrides: {tenant: {group: example.com, resource: namespace}}}",
                      "namespace", true},
        ResourcesCase{"first_namespace_override_wins",
                      "{overrides: {ns_b: {resource: namespace}, ns_a: {resource: namespace}}}",
                      "ns_b", true},
        ResourcesCase{"template_resource", "{template: '<<.Resource>>'}", "namespace", true},
        ResourcesCase{"template_with_group", "{template: 'kube_<<.Group>>_<<.Resource>>'}",
                      "kube__namespace", true},
        ResourcesCase{"override_wins_over_template",
                      "{template: 'k_<<.Resource>>', overrides: {ns: {resource: namespace}}}", "ns",
                      true},
        ResourcesCase{"namespaced_false", "{namespaced: false}", "namespace", false},
        ResourcesCase{"namespaced_yaml11_no", "{namespaced: no}", "namespace", false},
        ResourcesCase{"namespaced_null_is_default", "{namespaced: ~}", "namespace", true}),
    CaseName<ResourcesCase>);

// ---- Sextant's prometheus section -------------------------------------------------------

TEST(Prometheus, AllFields) {
  Result<AdapterConfig> config = LoadAdapterConfig(kTestdata + "sextant_gpu.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const PrometheusSection& p = config->prometheus;
  EXPECT_TRUE(p.present);
  EXPECT_EQ(p.url, "https://aps-workspaces.us-west-2.amazonaws.com/workspaces/ws-0123/");
  EXPECT_EQ(p.verb, "POST");
  EXPECT_TRUE(p.sigv4.enabled);
  EXPECT_EQ(p.sigv4.region, "us-west-2");
  EXPECT_EQ(p.sigv4.service, "aps");
  EXPECT_EQ(p.tls.ca_file, "/etc/sextant/ca.pem");
  EXPECT_FALSE(p.tls.insecure_skip_verify);
  ASSERT_EQ(p.headers.size(), 1u);
  EXPECT_EQ(p.headers[0], (std::pair<std::string, std::string>{"X-Scope-OrgID", "team-inference"}));
  EXPECT_EQ(p.connect_timeout, "2s");
  EXPECT_EQ(p.request_timeout, "1m30s");
}

TEST(Prometheus, DefaultsWhenAbsent) {
  Result<AdapterConfig> config = ParseAdapterConfig("externalRules: []\n", "t.yaml");
  ASSERT_TRUE(config.ok());
  const PrometheusSection& p = config->prometheus;
  EXPECT_FALSE(p.present);
  EXPECT_EQ(p.url, "");
  EXPECT_EQ(p.verb, "GET");
  EXPECT_FALSE(p.sigv4.enabled);
  EXPECT_EQ(p.connect_timeout, "5s");
  EXPECT_EQ(p.request_timeout, "30s");
}

TEST(Prometheus, BasicAuthAndClientCertificate) {
  Result<AdapterConfig> config = ParseAdapterConfig(
      "prometheus:\n  url: https://mimir:8080/prometheus\n  verb: post\n"
      "  basicAuth: {username: sextant, passwordFile: /secrets/pw}\n"
      "  tls: {certFile: c.pem, keyFile: k.pem, insecureSkipVerify: true}\n",
      "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const PrometheusSection& p = config->prometheus;
  EXPECT_EQ(p.verb, "POST");
  EXPECT_EQ(p.basic_auth.username, "sextant");
  EXPECT_EQ(p.basic_auth.password_file, "/secrets/pw");
  EXPECT_EQ(p.tls.cert_file, "c.pem");
  EXPECT_TRUE(p.tls.insecure_skip_verify);
}

// ---- Durations --------------------------------------------------------------------------

struct DurationCase {
  std::string_view name;
  std::string_view text;
  int64_t ms;  // -1: rejected
};
void PrintTo(const DurationCase& c, std::ostream* os) { *os << c.name; }

class Duration : public ::testing::TestWithParam<DurationCase> {};

TEST_P(Duration, Parses) {
  const DurationCase& c = GetParam();
  Result<std::chrono::milliseconds> d = ParseConfigDuration(c.text);
  if (c.ms < 0) {
    EXPECT_FALSE(d.ok()) << d->count();
  } else {
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->count(), c.ms);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, Duration,
    ::testing::Values(DurationCase{"zero", "0", 0}, DurationCase{"seconds", "30s", 30000},
                      DurationCase{"millis", "250ms", 250},
                      DurationCase{"minutes_seconds", "1m30s", 90000},
                      DurationCase{"hours_minutes_millis", "1h2m3ms", 3720003},
                      DurationCase{"days_weeks_years", "1y1w1d", (365 + 7 + 1) * 86400000LL},
                      DurationCase{"empty", "", -1}, DurationCase{"no_unit", "30", -1},
                      DurationCase{"fraction", "1.5s", -1}, DurationCase{"wrong_order", "1s1m", -1},
                      DurationCase{"repeated_unit", "1s1s", -1},
                      DurationCase{"go_style_micro", "10us", -1},
                      DurationCase{"negative", "-1s", -1}, DurationCase{"space", "1 s", -1}),
    CaseName<DurationCase>);

// ---- Load errors: file, line, column and what ------------------------------------------

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
  Result<AdapterConfig> config = ParseAdapterConfig(std::string(c.yaml), "t.yaml");
  ASSERT_FALSE(config.ok()) << c.yaml;
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  const std::string message = config.status().message();
  const std::string prefix = "t.yaml:" + std::string(c.where) + ": ";
  EXPECT_EQ(message.rfind(prefix, 0), 0u) << message;
  EXPECT_NE(message.find(c.message), std::string::npos) << message;
}

// A valid rule's first lines, to append one broken key to.
#define RULE "externalRules:\n- seriesQuery: up\n  metricsQuery: up\n"

INSTANTIATE_TEST_SUITE_P(
    Table, LoadError,
    ::testing::Values(
        // The file.
        ErrorCase{"yaml_syntax", "rules:\n  - a: {b: c},\n", "2:14", "end of map not found"},
        ErrorCase{"not_a_mapping", "- rules\n", "1:1", "the file must be a mapping, not a list"},
        ErrorCase{"unknown_top_level_key", "externalRules: []\nmetrics: []\n", "2:1",
                  "unknown key \"metrics\" in the file"},
        ErrorCase{"duplicate_key", "rules: []\nrules: []\n", "2:1", "rules: duplicate key"},
        ErrorCase{"rules_not_a_list", "externalRules: {a: b}\n", "1:16",
                  "externalRules: must be a list, not a mapping"},
        ErrorCase{"resource_rules_not_a_mapping", "resourceRules: [cpu]\n", "1:16",
                  "resourceRules: must be a mapping"},
        ErrorCase{"signals_not_a_list", "signals:\n  gpu: {}\n", "2:3",
                  "signals: must be a list, not a mapping"},
        // The catalog section.
        ErrorCase{"catalog_not_a_mapping", "catalog: [gpu-utilization]\n", "1:10",
                  "catalog: must be a mapping"},
        ErrorCase{"catalog_unknown_key", "catalog:\n  gpu: {}\n", "2:3",
                  "unknown key \"gpu\" in catalog"},
        ErrorCase{"catalog_enabled_not_bool", "catalog:\n  enabled: \"yes\"\n", "2:12",
                  "catalog.enabled: must be true or false"},
        ErrorCase{"catalog_unknown_entry", "catalog:\n  disabled: [gpu-utilisation]\n", "2:14",
                  "catalog.disabled[0]: \"gpu-utilisation\" is not a catalog entry; the "
                  "catalog has: gpu-utilization, "},
        ErrorCase{"catalog_disabled_not_list", "catalog:\n  disabled: gpu-utilization\n", "2:13",
                  "catalog.disabled: must be a list"},
        ErrorCase{"catalog_buffer_negative", "catalog:\n  gpuHeadroom: {buffer: -1}\n", "2:25",
                  "catalog.gpuHeadroom.buffer: must be a whole number of GPUs"},
        ErrorCase{"catalog_buffer_fraction", "catalog:\n  gpuHeadroom: {buffer: 1.5}\n", "2:25",
                  "catalog.gpuHeadroom.buffer: must be a whole number of GPUs"},
        ErrorCase{"catalog_bad_resource", "catalog:\n  gpuHeadroom: {resource: \"nvidia gpu\"}\n",
                  "2:27", "catalog.gpuHeadroom.resource: is not a Kubernetes resource name"},
        ErrorCase{"catalog_unknown_headroom_key", "catalog:\n  gpuHeadroom: {buffr: 1}\n", "2:17",
                  "unknown key \"buffr\" in catalog.gpuHeadroom"},
        // A rule.
        ErrorCase{"rule_not_a_mapping", "externalRules:\n- up\n", "2:3",
                  "externalRules[0]: a rule must be a mapping"},
        ErrorCase{"unknown_rule_key", RULE "  metricQuery: up\n", "4:3",
                  "unknown key \"metricQuery\" in a rule"},
        ErrorCase{"fork_only_key", RULE "  labelValueReplacements: []\n", "4:3",
                  "unknown key \"labelValueReplacements\""},
        ErrorCase{"missing_series_query", "externalRules:\n- metricsQuery: up\n", "2:3",
                  "externalRules[0]: seriesQuery is required"},
        ErrorCase{"missing_metrics_query", "externalRules:\n- seriesQuery: up\n", "2:3",
                  "externalRules[0]: metricsQuery is required"},
        ErrorCase{"series_query_wrong_type", "externalRules:\n- seriesQuery: [up]\n", "2:16",
                  "externalRules[0].seriesQuery: must be a string, not a list"},
        ErrorCase{"rules_are_checked_too", "rules:\n- seriesQuery: up\n  metricsQuery: '<<.X>>'\n",
                  "3:20", "rules[0].metricsQuery: can't evaluate field X"},
        // seriesFilters.
        ErrorCase{"filters_not_a_list", RULE "  seriesFilters: {is: a}\n", "4:18",
                  "must be a list, not a mapping"},
        ErrorCase{"filter_bad_regex", RULE "  seriesFilters:\n  - is: 'gpu_(0'\n", "5:9",
                  "externalRules[0].seriesFilters[0].is: invalid regular expression \"gpu_(0\""},
        ErrorCase{"filter_bad_regex_is_not", RULE "  seriesFilters: [{isNot: '*x'}]\n", "4:27",
                  "seriesFilters[0].isNot: invalid regular expression"},
        ErrorCase{"filter_both", RULE "  seriesFilters: [{is: a, isNot: b}]\n", "4:19",
                  "cannot have both `is` and `isNot`"},
        ErrorCase{"filter_neither", RULE "  seriesFilters: [{}]\n", "4:19",
                  "needs `is` or `isNot`"},
        ErrorCase{"filter_unknown_key", RULE "  seriesFilters: [{matches: a}]\n", "4:20",
                  "unknown key \"matches\" in a series filter"},
        // name.
        ErrorCase{"name_bad_regex", RULE "  name: {matches: '(?P<x>a'}\n", "4:19",
                  "name.matches: invalid regular expression"},
        ErrorCase{"name_as_required", RULE "  name: {matches: '^(a)_(b)$'}\n", "4:19",
                  "name.as: is required because matches has 2 capture groups"},
        ErrorCase{"name_unknown_key", RULE "  name: {matches: a, to: b}\n", "4:22",
                  "unknown key \"to\" in name"},
        ErrorCase{"name_not_a_mapping", RULE "  name: queue_depth\n", "4:9",
                  "name must be a mapping, not a scalar"},
        // resources.
        ErrorCase{"namespaced_quoted", RULE "  resources: {namespaced: \"false\"}\n", "4:27",
                  "resources.namespaced: must be true or false"},
        ErrorCase{"namespaced_word", RULE "  resources: {namespaced: never}\n", "4:27",
                  "must be true or false"},
        ErrorCase{"override_not_a_mapping", RULE "  resources:\n    overrides:\n      pod: pod\n",
                  "6:12", "resources.overrides.pod: must be a mapping"},
        ErrorCase{"override_without_resource",
                  RULE "  resources:\n    overrides:\n      pod: {group: apps}\n", "6:12",
                  "resources.overrides.pod: resource is required"},
        ErrorCase{"override_unknown_key",
                  RULE "  resources:\n    overrides:\n      pod: {resource: pod, kind: Pod}\n",
                  "6:28", "unknown key \"kind\" in an override"},
        ErrorCase{"override_bad_label",
                  RULE "  resources:\n    overrides:\n      pod-name: {resource: pod}\n", "6:7",
                  "is not a valid Prometheus label name"},
        ErrorCase{"resources_unknown_key", RULE "  resources: {namespace: true}\n", "4:15",
                  "unknown key \"namespace\" in resources"},
        ErrorCase{"template_without_resource", RULE "  resources: {template: 'kube_<<.Group>>'}\n",
                  "4:25", "resources.template: must use <<.Resource>>"},
        ErrorCase{"template_unknown_field", RULE "  resources: {template: 'kube_<<.Kind>>'}\n",
                  "4:33", "can't evaluate field Kind in type schema.GroupResource"},
        ErrorCase{"namespace_label_invalid", RULE "  resources: {template: 'kube-<<.Resource>>'}\n",
                  "2:3", "the namespace label \"kube-namespace\" is not a valid"},
        // metricsQuery templates: the error's own position in the file.
        ErrorCase{"template_plain",
                  "externalRules:\n- seriesQuery: up\n  metricsQuery: sum(<<.Serie>>)\n", "3:23",
                  "externalRules[0].metricsQuery: can't evaluate field Serie"},
        ErrorCase{"template_single_quoted",
                  "externalRules:\n- seriesQuery: up\n  metricsQuery: 'sum(<<join .GroupBySlice "
                  "\",\">>)'\n",
                  "3:24", "function \"join\" not defined"},
        ErrorCase{"template_literal_block",
                  "externalRules:\n- seriesQuery: up\n  metricsQuery: |\n    sum by (x) (\n"
                  "      <<.Series>>{<<.LabelMatchers>>} <<printf \"%5d\" 1>>\n    )\n",
                  "5:48", "printf verb or flag '%5'"},
        ErrorCase{"template_escaped_falls_back_to_the_scalar",
                  "externalRules:\n- seriesQuery: up\n  metricsQuery: \"\\tsum(<<.Nope>>)\"\n",
                  "3:17", "template line 1, column 8: can't evaluate field Nope"},
        ErrorCase{"template_unclosed",
                  RULE "  name: {}\n- seriesQuery: up\n  metricsQuery: 'sum(<<.Series)'\n", "6:22",
                  "unclosed action"},
        // prometheus.
        ErrorCase{"prometheus_unknown_key", "prometheus:\n  address: http://p:9090\n", "2:3",
                  "unknown key \"address\" in prometheus"},
        ErrorCase{"prometheus_url_scheme", "prometheus:\n  url: p:9090\n", "2:8",
                  "prometheus.url: must start with http:// or https://"},
        ErrorCase{"prometheus_url_query", "prometheus:\n  url: http://p:9090/?x=1\n", "2:8",
                  "must not hold user info, a query or a fragment"},
        ErrorCase{"prometheus_verb", "prometheus:\n  verb: PUT\n", "2:9",
                  "prometheus.verb: must be GET or POST"},
        ErrorCase{"prometheus_basic_auth_without_password",
                  "prometheus:\n  basicAuth: {username: u}\n", "2:14",
                  "passwordFile is required with username"},
        ErrorCase{"prometheus_two_auths",
                  "prometheus:\n  bearerTokenFile: /t\n  sigv4: {region: us-east-1}\n", "3:10",
                  "use one of bearerTokenFile, basicAuth and sigv4"},
        ErrorCase{"prometheus_sigv4_without_region", "prometheus:\n  sigv4: {}\n", "2:10",
                  "prometheus.sigv4: region is required"},
        ErrorCase{"prometheus_cert_without_key", "prometheus:\n  tls: {certFile: c.pem}\n", "2:8",
                  "certFile and keyFile go together"},
        ErrorCase{"prometheus_tls_unknown_key", "prometheus:\n  tls: {ca: x}\n", "2:9",
                  "unknown key \"ca\" in tls"},
        ErrorCase{"prometheus_insecure_quoted", "prometheus:\n  tls: {insecureSkipVerify: 'yes'}\n",
                  "2:29", "must be true or false"},
        ErrorCase{"prometheus_reserved_header", "prometheus:\n  headers: {Authorization: x}\n",
                  "2:13", "this header is set by Sextant"},
        ErrorCase{"prometheus_amz_header", "prometheus:\n  headers:\n    X-Amz-Date: x\n", "3:5",
                  "this header is set by Sextant"},
        ErrorCase{"prometheus_duplicate_header",
                  "prometheus:\n  headers: {X-Scope-OrgID: a, x-scope-orgid: b}\n", "2:31",
                  "duplicate header"},
        ErrorCase{"prometheus_header_not_scalar", "prometheus:\n  headers: {X-A: [1]}\n", "2:18",
                  "must be a string, not a list"},
        ErrorCase{"prometheus_bad_duration", "prometheus:\n  requestTimeout: 1.5s\n", "2:19",
                  "prometheus.requestTimeout: \"1.5s\" is not a duration"},
        ErrorCase{"prometheus_zero_duration", "prometheus:\n  connectTimeout: 0\n", "2:19",
                  "must be longer than 0"}),
    CaseName<ErrorCase>);

#undef RULE

}  // namespace
}  // namespace sextant::scaling

namespace sextant::scaling {
namespace {

// Sextant's extension key on rules: how an empty result is answered.
TEST(EmptyResultPolicy, ParsesEmptyAndZeroAndRejectsOthers) {
  const std::string base =
      "externalRules:\n- seriesQuery: 'up'\n  metricsQuery: 'sum(<<.Series>>)'\n";
  auto none = ParseAdapterConfig(base, "t.yaml");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->external_rules[0].empty_result_zero);
  auto zero = ParseAdapterConfig(base + "  emptyResult: zero\n", "t.yaml");
  ASSERT_TRUE(zero.ok()) << zero.status().ToString();
  EXPECT_TRUE(zero->external_rules[0].empty_result_zero);
  auto empty = ParseAdapterConfig(base + "  emptyResult: empty\n", "t.yaml");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->external_rules[0].empty_result_zero);
  auto bad = ParseAdapterConfig(base + "  emptyResult: nothing\n", "t.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("t.yaml:4:"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("\"empty\" or \"zero\""), std::string::npos);
}

TEST(Catalog, DefaultsServeEveryEntry) {
  auto config = ParseAdapterConfig("externalRules: []\n", "t.yaml");
  ASSERT_TRUE(config.ok());
  const CatalogConfig& c = config->catalog;
  EXPECT_TRUE(c.enabled);
  EXPECT_TRUE(c.Serves("gpu-utilization"));
  EXPECT_EQ(c.gpu_resource, "nvidia.com/gpu");
  EXPECT_EQ(c.KubeStateResource(), "nvidia_com_gpu");
  EXPECT_EQ(c.gpu_buffer, 0);
  // `catalog: []` is what earlier versions accepted: the defaults too.
  for (const char* empty :
       {"catalog:\n", "catalog: {}\n", "catalog: []\n", "catalog: [ ]\n", "catalog:\n  []\n"}) {
    auto e = ParseAdapterConfig(empty, "t.yaml");
    ASSERT_TRUE(e.ok()) << empty << ": " << e.status().ToString();
    EXPECT_TRUE(e->catalog.enabled) << empty;
    EXPECT_TRUE(e->catalog.disabled.empty()) << empty;
    EXPECT_EQ(e->catalog.gpu_resource, "nvidia.com/gpu") << empty;
    EXPECT_EQ(e->catalog.gpu_buffer, 0) << empty;
    for (const CatalogEntry& entry : Catalog()) {
      EXPECT_TRUE(e->catalog.Serves(std::string(entry.name))) << empty << " " << entry.name;
    }
  }
}

TEST(Catalog, DisablesEntriesByNameAndSetsTheHeadroom) {
  auto config = ParseAdapterConfig(
      "catalog:\n"
      "  disabled: [TGI-Batch-Size, gpu-utilization]\n"
      "  gpuHeadroom:\n"
      "    resource: aws.amazon.com/neuroncore\n"
      "    buffer: 4\n",
      "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const CatalogConfig& c = config->catalog;
  EXPECT_FALSE(c.Serves("tgi-batch-size"));
  EXPECT_FALSE(c.Serves("GPU-UTILIZATION"));
  EXPECT_TRUE(c.Serves("gpu-tensor-active"));
  EXPECT_EQ(c.KubeStateResource(), "aws_amazon_com_neuroncore");
  EXPECT_EQ(c.gpu_buffer, 4);
}

TEST(Catalog, EnabledFalseTurnsEveryEntryOff) {
  auto config = ParseAdapterConfig("catalog:\n  enabled: false\n", "t.yaml");
  ASSERT_TRUE(config.ok());
  for (const CatalogEntry& e : Catalog()) EXPECT_FALSE(config->catalog.Serves(std::string(e.name)));
}

}  // namespace
}  // namespace sextant::scaling

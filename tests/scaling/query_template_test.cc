// QueryTemplate: Go text/template semantics with prometheus-adapter's `<<` `>>` delimiters.
// Tables, one named case per row: rendering of every supported construct (outputs as Go
// 1.19's text/template produces them for the same data), prometheus-adapter's own
// BuildExternal expectations (pkg/naming/metrics_query_test.go), resources.template data,
// load-time errors with their offsets, and execution-time errors.
#include "scaling/query_template.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sextant::scaling {
namespace {

template <typename Case>
std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return std::string(info.param.name);
}

// What prometheus-adapter passes for a custom-metrics style query over two pods.
TemplateValues PodValues() {
  TemplateValues v;
  v.series = "http_requests_total";
  v.label_matchers = R"(namespace="prod",pod=~"web-1|web-2")";
  v.label_values_by_name = {{"namespace", "prod"}, {"pod", "web-1|web-2"}};
  v.group_by = "pod";
  v.group_by_slice = {"pod", "container"};
  return v;
}

// What it passes for an external metric: no group-by at all (BuildExternal).
TemplateValues ExternalValues() {
  TemplateValues v;
  v.series = "queue_depth";
  v.label_matchers = R"(topic="orders",namespace="prod")";
  v.label_values_by_name = {{"namespace", "prod"}, {"topic", "orders"}};
  return v;
}

// ---- Rendering ----------------------------------------------------------------------

struct RenderCase {
  std::string_view name;
  std::string_view text;
  std::string_view want;
  bool external = false;  // ExternalValues() rather than PodValues()
};
void PrintTo(const RenderCase& c, std::ostream* os) { *os << c.name; }

class Render : public ::testing::TestWithParam<RenderCase> {};

TEST_P(Render, MatchesGo) {
  const RenderCase& c = GetParam();
  Result<QueryTemplate> t = QueryTemplate::Parse(c.text);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  Result<std::string> out = t->Render(c.external ? ExternalValues() : PodValues());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, c.want);
  EXPECT_EQ(t->text(), c.text);
}

constexpr std::string_view kDocsQuery =
    R"(sum(rate(<<.Series>>{<<.LabelMatchers>>,container!="POD"}[2m])) by (<<.GroupBy>>))";
constexpr std::string_view kKafkaLabels =
    R"(<< range $key, $value := .LabelValuesByName >><< if ne $key "namespace" >>)"
    R"(<< $key >>="<< $value >>",<< end >><< end >>)";

INSTANTIATE_TEST_SUITE_P(
    Table, Render,
    ::testing::Values(
        RenderCase{"empty", "", ""}, RenderCase{"text_only", "up == 1", "up == 1"},
        RenderCase{"series", "<<.Series>>", "http_requests_total"},
        RenderCase{"docs_metrics_query", kDocsQuery,
                   R"(sum(rate(http_requests_total{namespace="prod",pod=~"web-1|web-2",)"
                   R"(container!="POD"}[2m])) by (pod))"},
        RenderCase{"promql_comparison_operators", "<<.Series>> >= 0 < 5 > 1",
                   "http_requests_total >= 0 < 5 > 1"},
        // fmt's %v of each value type.
        RenderCase{"slice_prints_like_go", "<<.GroupBySlice>>", "[pod container]"},
        RenderCase{"map_prints_like_go_sorted", "<<.LabelValuesByName>>",
                   "map[namespace:prod pod:web-1|web-2]"},
        RenderCase{"dot_prints_the_struct", "<<.>>",
                   R"({http_requests_total namespace="prod",pod=~"web-1|web-2" )"
                   R"(map[namespace:prod pod:web-1|web-2] pod [pod container]})"},
        RenderCase{"int_and_bool_literals", "<<-3>> <<42>> <<true>> <<false>>", "-3 42 true false"},
        RenderCase{"string_literals", R"(<<"a\tb\u00e9\x41\101">>|<<`raw\n`>>)",
                   "a\tb\u00e9AA|raw\\n"},
        RenderCase{"delimiter_inside_string", R"(<<">>">>)", ">>"},
        // Fields and maps.
        RenderCase{"map_key_as_field", "<<.LabelValuesByName.pod>>", "web-1|web-2"},
        RenderCase{"missing_map_key_field_prints_no_value", "<<.LabelValuesByName.node>>",
                   "<no value>"},
        RenderCase{"index_map", R"(<<index .LabelValuesByName "namespace">>)", "prod"},
        RenderCase{"index_missing_key_is_empty", R"([<<index .LabelValuesByName "node">>])", "[]"},
        RenderCase{"index_slice", "<<index .GroupBySlice 1>>", "container"},
        RenderCase{"index_string_gives_byte", "<<index .Series 0>>", "104"},
        RenderCase{"parenthesized_field", "<<(.LabelValuesByName).pod>>", "web-1|web-2"},
        // Control structures.
        RenderCase{"if_else_if_else",
                   R"(<<if eq .GroupBy "node">>n<<else if eq .GroupBy "pod">>)"
                   R"(p<<else>>x<<end>>)",
                   "p"},
        RenderCase{"if_missing_is_false", "<<if .LabelValuesByName.node>>y<<else>>n<<end>>", "n"},
        RenderCase{"if_declares_variable", "<<if $p := .LabelValuesByName.pod>><<$p>><<end>>",
                   "web-1|web-2"},
        RenderCase{"with_sets_dot", R"(<<with .LabelValuesByName.pod>>pod=~"<<.>>"<<end>>)",
                   R"(pod=~"web-1|web-2")"},
        RenderCase{"with_else", "<<with .LabelValuesByName.node>><<.>><<else>>none<<end>>", "none"},
        RenderCase{"range_slice", "<<range .GroupBySlice>>[<<.>>]<<end>>", "[pod][container]"},
        RenderCase{"range_index_and_value_joins",
                   "<<range $i, $v := .GroupBySlice>><<if $i>>,<<end>><<$v>><<end>>",
                   "pod,container"},
        RenderCase{"range_map_in_key_order",
                   "<<range $k, $v := .LabelValuesByName>><<$k>>=<<$v>>;<<end>>",
                   "namespace=prod;pod=web-1|web-2;"},
        RenderCase{"range_map_one_variable_is_the_value",
                   "<<range $v := .LabelValuesByName>><<$v>> <<end>>", "prod web-1|web-2 "},
        RenderCase{"range_root_variable", "<<range .GroupBySlice>><<$.Series>>/<<.>> <<end>>",
                   "http_requests_total/pod http_requests_total/container "},
        RenderCase{"range_break_continue",
                   R"(<<range .GroupBySlice>><<if eq . "pod">><<continue>><<end>>)"
                   R"(<<.>><<break>><<end>>)",
                   "container"},
        RenderCase{"kafka_lag_labels_except_namespace", kKafkaLabels, R"(pod="web-1|web-2",)"},
        // Variables and pipelines.
        RenderCase{"declare_and_assign", R"(<<$s := .Series>><<$s>>:<<$s = "x">><<$s>>)",
                   "http_requests_total:x"},
        RenderCase{"pipeline_value_is_last_argument", R"(<<.Series | printf "%s:rate">>)",
                   "http_requests_total:rate"},
        RenderCase{"parenthesized_call", R"(<<printf "%s-%s" (index .GroupBySlice 1) .GroupBy>>)",
                   "container-pod"},
        // Functions.
        RenderCase{"len", "<<len .GroupBySlice>> <<len .LabelValuesByName>> <<len .Series>>",
                   "2 2 19"},
        RenderCase{"and_or_return_the_deciding_value",
                   R"(<<and .GroupBy .Series>>|<<or .LabelValuesByName.node "any">>|<<and 0 "x">>)",
                   "http_requests_total|any|0"},
        RenderCase{"and_missing_prints_no_value", "<<and .LabelValuesByName.node 1>>",
                   "<no value>"},
        RenderCase{"not", "<<not .GroupBy>> <<not 0>>", "false true"},
        RenderCase{"eq_any_of", R"(<<eq .GroupBy "node" "pod">> <<ne .GroupBy "pod">>)",
                   "true false"},
        RenderCase{"eq_missing_is_false", R"(<<eq .LabelValuesByName.node "x">>)", "false"},
        RenderCase{"ordering", R"(<<lt 1 2>> <<gt "b" "a">> <<le 2 2>> <<ge 1 2>>)",
                   "true true true false"},
        RenderCase{"printf_verbs",
                   R"(<<printf "%s|%d|%v|%q|%%" .Series 42 .GroupBySlice .GroupBy>>)",
                   R"(http_requests_total|42|[pod container]|"pod"|%)"},
        RenderCase{"printf_q_of_slice_and_map",
                   R"(<<printf "%q %q" .GroupBySlice .LabelValuesByName>>)",
                   R"(["pod" "container"] map["namespace":"prod" "pod":"web-1|web-2"])"},
        RenderCase{"printf_q_escapes", R"(<<printf "%q" "a\"b\\c\n\x01é">>)",
                   R"("a\"b\\c\n\x01é")"},
        RenderCase{"printf_q_of_int_is_a_rune", R"(<<printf "%q" 65>>)", "'A'"},
        RenderCase{"printf_wrong_type", R"(<<printf "%d|%s" .Series 7>>)",
                   "%!d(string=http_requests_total)|%!s(int=7)"},
        RenderCase{"printf_missing_and_extra", R"(<<printf "%s %s" "a">>|<<printf "%s" "a" 1>>)",
                   "a %!s(MISSING)|a%!(EXTRA int=1)"},
        RenderCase{"printf_nil",
                   R"(<<printf "%v|%s" .LabelValuesByName.node .LabelValuesByName.node>>)",
                   "<nil>|%!s(<nil>)"},
        RenderCase{"print_spaces_between_non_strings", R"(<<print "a" 1 2 "b">>)", "a1 2b"},
        RenderCase{"println", R"(<<println "a" 1>>)", "a 1\n"},
        // Trim markers and comments.
        RenderCase{"trim_markers", "sum(\n  <<- .Series ->>\n)", "sum(http_requests_total)"},
        RenderCase{"minus_without_space_is_a_number", "a <<-1>>", "a -1"},
        RenderCase{"comment", "a<</* note */>>b", "ab"},
        RenderCase{"comment_with_trim_markers", "a \n<<- /* note\n spans lines */ ->>\n b", "ab"},
        // External rules: GroupBy "" and GroupBySlice [] (prometheus-adapter BuildExternal).
        RenderCase{"external_group_by_is_empty",
                   "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
                   R"(sum(queue_depth{topic="orders",namespace="prod"}) by ())", true},
        RenderCase{"external_group_by_slice_is_empty", "<<.GroupBySlice>>", "[]", true},
        RenderCase{"range_else_on_empty", "<<range .GroupBySlice>>x<<else>>none<<end>>", "none",
                   true},
        RenderCase{"if_empty_slice", "<<if .GroupBySlice>>by<<end>>.", ".", true}),
    CaseName<RenderCase>);

// ---- prometheus-adapter's own expectations (pkg/naming/metrics_query_test.go) ----------

struct UpstreamCase {
  std::string_view name;
  std::string_view text;
  TemplateValues values;
  std::string_view want;
};
void PrintTo(const UpstreamCase& c, std::ostream* os) { *os << c.name; }

class Upstream : public ::testing::TestWithParam<UpstreamCase> {};

TEST_P(Upstream, BuildExternal) {
  const UpstreamCase& c = GetParam();
  Result<QueryTemplate> t = QueryTemplate::Parse(c.text);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  Result<std::string> out = t->Render(c.values);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, c.want);
}

TemplateValues With(std::string series, std::map<std::string, std::string> by_name,
                    std::string group_by, std::vector<std::string> slice) {
  TemplateValues v;
  v.series = std::move(series);
  v.label_values_by_name = std::move(by_name);
  v.group_by = std::move(group_by);
  v.group_by_slice = std::move(slice);
  return v;
}

INSTANTIATE_TEST_SUITE_P(
    Table, Upstream,
    ::testing::Values(
        UpstreamCase{"series", "series <<.Series>>", With("foo", {}, "", {}), "series foo"},
        UpstreamCase{"single_group_by_value", "<<.GroupBy>>", With("", {}, "foo", {}), "foo"},
        UpstreamCase{"multiple_group_by_slice_values", "<<.GroupBySlice>>",
                     With("", {}, "", {"foo", "bar"}), "[foo bar]"},
        UpstreamCase{"group_by_slice_with_namespace",
                     R"(<<index .LabelValuesByName "namespaces">> <<.GroupBySlice>>)",
                     With("", {{"namespaces", "default"}}, "", {"foo", "bar"}),
                     "default [foo bar]"},
        UpstreamCase{"label_values_by_name", "<<.LabelValuesByName>>",
                     With("", {{"foo", "bar"}}, "", {}), "map[foo:bar]"},
        UpstreamCase{"label_values_by_name_joined", "<<.LabelValuesByName>>",
                     With("", {{"foo", "bar|baz"}}, "", {}), "map[foo:bar|baz]"}),
    CaseName<UpstreamCase>);

// ---- resources.template: schema.GroupResource -----------------------------------------

struct GroupResourceCase {
  std::string_view name;
  std::string_view text;
  GroupResourceValues values;
  std::string_view want;
};
void PrintTo(const GroupResourceCase& c, std::ostream* os) { *os << c.name; }

class GroupResourceTemplate : public ::testing::TestWithParam<GroupResourceCase> {};

TEST_P(GroupResourceTemplate, Renders) {
  const GroupResourceCase& c = GetParam();
  Result<QueryTemplate> t = QueryTemplate::Parse(c.text, TemplateData::kGroupResource);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  Result<std::string> out = t->Render(c.values);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Table, GroupResourceTemplate,
    ::testing::Values(
        GroupResourceCase{"resource", "<<.Resource>>", {"", "namespace"}, "namespace"},
        GroupResourceCase{"group_and_resource",
                          "kube_<<.Group>>_<<.Resource>>",
                          {"apps", "deployment"},
                          "kube_apps_deployment"},
        GroupResourceCase{"core_group_is_empty",
                          "kube_<<.Group>>_<<.Resource>>",
                          {"", "namespace"},
                          "kube__namespace"},
        GroupResourceCase{"dot_is_a_stringer", "<<.>>", {"apps", "deployment"}, "deployment.apps"},
        GroupResourceCase{"dot_core_group", "<<.>>", {"", "pod"}, "pod"}),
    CaseName<GroupResourceCase>);

// ---- Load-time errors -----------------------------------------------------------------

struct ParseErrorCase {
  std::string_view name;
  std::string_view text;
  std::size_t offset;
  std::string_view message;  // a substring of the error
  TemplateData data = TemplateData::kMetricsQuery;
};
void PrintTo(const ParseErrorCase& c, std::ostream* os) { *os << c.name; }

class ParseError : public ::testing::TestWithParam<ParseErrorCase> {};

TEST_P(ParseError, NamesTheConstructAndOffset) {
  const ParseErrorCase& c = GetParam();
  TemplateSyntaxError error;
  Result<QueryTemplate> t = QueryTemplate::Parse(c.text, c.data, &error);
  ASSERT_FALSE(t.ok()) << "parsed: " << c.text;
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(error.offset, c.offset) << error.message;
  EXPECT_NE(error.message.find(c.message), std::string::npos) << error.message;
  EXPECT_NE(t.status().message().find("offset " + std::to_string(c.offset) + " "),
            std::string::npos)
      << t.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseError,
    ::testing::Values(
        // Functions prometheus-adapter does not have either (it registers none).
        ParseErrorCase{"join_not_defined", R"(<<join .GroupBySlice ",">>)", 2,
                       R"(function "join" not defined)"},
        ParseErrorCase{"sprig_default_not_defined", R"(<<.GroupBy | default "pod">>)", 13,
                       R"(function "default" not defined)"},
        ParseErrorCase{"go_html_not_supported", "<<html .Series>>", 2,
                       R"(function "html" is not supported)"},
        ParseErrorCase{"go_slice_not_supported", "<<slice .GroupBySlice 1>>", 2,
                       R"(function "slice" is not supported)"},
        ParseErrorCase{"define", R"(<<define "x">>y<<end>>)", 2, "<<define>> is not supported"},
        ParseErrorCase{"template", R"(<<template "x">>)", 2, "<<template>> is not supported"},
        // Fields of the data, checked at load.
        ParseErrorCase{"unknown_field", "<<.Serie>>", 2,
                       "can't evaluate field Serie in type naming.queryTemplateArgs"},
        ParseErrorCase{"field_case_hint", "sum(<<.series>>)", 6, "did you mean .Series?"},
        ParseErrorCase{"field_of_a_string", "<<.Series.Name>>", 2,
                       "can't evaluate field Name in type string"},
        ParseErrorCase{"field_of_a_range_element", "<<range .GroupBySlice>><<.Name>><<end>>", 25,
                       "can't evaluate field Name in type string"},
        ParseErrorCase{"metrics_field_in_resource_template", "<<.Series>>", 2,
                       "can't evaluate field Series in type schema.GroupResource",
                       TemplateData::kGroupResource},
        ParseErrorCase{"range_over_string", "<<range .Series>><<end>>", 8,
                       "range can't iterate over a value of type string"},
        // Structure.
        ParseErrorCase{"unclosed_action", "sum(<<.Series)", 4, "unclosed action"},
        ParseErrorCase{"if_without_end", "<<if .GroupBy>>x", 2, "<<if>> has no matching <<end>>"},
        ParseErrorCase{"unexpected_end", "x<<end>>", 1, "unexpected <<end>>"},
        ParseErrorCase{"unexpected_else", "<<else>>", 0, "unexpected <<else>>"},
        ParseErrorCase{"two_elses", "<<if 1>>a<<else>>b<<else>>c<<end>>", 18,
                       "unexpected <<else>>"},
        ParseErrorCase{"else_if_after_range", "<<range .GroupBySlice>><<else if 1>><<end>>", 30,
                       "<<else if>> is only allowed after <<if>>"},
        ParseErrorCase{"empty_action", "<<>>", 0, "missing value for command"},
        ParseErrorCase{"if_without_value", "<<if>>x<<end>>", 4, "missing value for if"},
        ParseErrorCase{"break_outside_range", "<<break>>", 2, "<<break>> outside <<range>>"},
        ParseErrorCase{"undefined_variable", "<<$x>>", 2, R"(undefined variable "$x")"},
        ParseErrorCase{"variable_out_of_scope", "<<range $i, $v := .GroupBySlice>><<end>><<$v>>",
                       42, R"(undefined variable "$v")"},
        ParseErrorCase{"two_variables_outside_range", "<<$a, $b := .GroupBy>>", 4,
                       "too many declarations"},
        ParseErrorCase{"argument_to_non_function", "<<.Series .GroupBy>>", 10,
                       "can't give argument to non-function"},
        ParseErrorCase{"pipe_into_non_function", "<<.Series | .GroupBy>>", 12,
                       "can't give argument to non-function"},
        ParseErrorCase{"nil_command", "<<nil>>", 2, "nil is not a command"},
        ParseErrorCase{"unclosed_paren", "<<(len .Series>>", 2, "unclosed left paren"},
        ParseErrorCase{"dot_chain", "<<..Series>>", 3, "unexpected . after term"},
        // Lexical.
        ParseErrorCase{"unterminated_string", R"(<<"abc>>)", 2, "unterminated quoted string"},
        ParseErrorCase{"bad_escape", R"(<<"\q">>)", 3, "invalid escape"},
        ParseErrorCase{"unclosed_comment", "<</* x >>", 0, "unclosed comment"},
        ParseErrorCase{"comment_then_text", "<</* x */ y>>", 7,
                       "comment ends before closing delimiter"},
        ParseErrorCase{"bad_character", "<<.Series; .GroupBy>>", 9, "unexpected character ';'"},
        ParseErrorCase{"float_literal", "<<eq 1.5 .Series>>", 5, "number 1.5 is not supported"},
        ParseErrorCase{"hex_literal", "<<index .GroupBySlice 0x1>>", 22,
                       "number 0x1 is not supported"},
        ParseErrorCase{"char_constant", "<<'a'>>", 2, "character constants are not supported"},
        // Calls.
        ParseErrorCase{"len_arity", "<<len .Series .GroupBy>>", 2,
                       "wrong number of args for len: want 1 got 2"},
        ParseErrorCase{"len_of_int", "<<len 3>>", 2, "len of type int"},
        ParseErrorCase{"eq_without_alternative", "<<eq .Series>>", 2,
                       "missing argument for comparison"},
        ParseErrorCase{"eq_string_and_int", "<<eq .Series 1>>", 2,
                       "incompatible types for comparison"},
        ParseErrorCase{"eq_on_a_list", R"(<<eq .GroupBySlice "pod">>)", 2,
                       "incompatible types for comparison: []string"},
        ParseErrorCase{"lt_on_a_bool", "<<lt true false>>", 2, "invalid type for comparison: bool"},
        ParseErrorCase{"index_list_with_string", R"(<<index .GroupBySlice "a">>)", 2,
                       "index has type string; should be int"},
        ParseErrorCase{"index_map_with_int", "<<index .LabelValuesByName 0>>", 2,
                       "should be string"},
        ParseErrorCase{"printf_flag", R"(<<printf "%-5s" .Series>>)", 9,
                       "printf verb or flag '%-' is not supported"},
        ParseErrorCase{"printf_verb_x", R"(<<printf "%x" .Series>>)", 9,
                       "printf verb or flag '%x' is not supported"}),
    CaseName<ParseErrorCase>);

TEST(ParseError, ReportsLineAndColumnWithinTheTemplate) {
  TemplateSyntaxError error;
  Result<QueryTemplate> t =
      QueryTemplate::Parse("sum(\n  <<.Nope>>)", TemplateData::kMetricsQuery, &error);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(error.offset, 9u);
  EXPECT_EQ(error.line, 2);
  EXPECT_EQ(error.column, 5);
  EXPECT_EQ(t.status().message().rfind("offset 9 (line 2, column 5): ", 0), 0u)
      << t.status().message();
}

// ---- Execution-time errors (Go fails these at execution too) ----------------------------

struct RenderErrorCase {
  std::string_view name;
  std::string_view text;
  std::string_view message;
};
void PrintTo(const RenderErrorCase& c, std::ostream* os) { *os << c.name; }

class RenderError : public ::testing::TestWithParam<RenderErrorCase> {};

TEST_P(RenderError, FailsWithGoMessage) {
  const RenderErrorCase& c = GetParam();
  Result<QueryTemplate> t = QueryTemplate::Parse(c.text);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  Result<std::string> out = t->Render(PodValues());
  ASSERT_FALSE(out.ok()) << *out;
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find(c.message), std::string::npos) << out.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Table, RenderError,
    ::testing::Values(
        RenderErrorCase{"index_out_of_range", "<<index .GroupBySlice 5>>",
                        "error calling index: index out of range: 5"},
        RenderErrorCase{"index_of_missing", "<<index .LabelValuesByName.node 0>>",
                        "error calling index: index of untyped nil"},
        RenderErrorCase{"index_of_missing_without_keys", "<<index .LabelValuesByName.node>>",
                        "error calling index: index of untyped nil"},
        RenderErrorCase{"len_of_missing", "<<len .LabelValuesByName.node>>",
                        "error calling len: len of nil pointer"},
        RenderErrorCase{"lt_on_missing", R"(<<lt .LabelValuesByName.node "a">>)",
                        "error calling lt: invalid type for comparison"},
        RenderErrorCase{"printf_dynamic_bad_verb", R"(<<printf .LabelValuesByName.fmt 1>>)",
                        "error calling printf: wrong type for value; expected string"}),
    CaseName<RenderErrorCase>);

// ---- API ------------------------------------------------------------------------------

TEST(QueryTemplateApi, DefaultTemplateRendersNothing) {
  QueryTemplate t;
  Result<std::string> out = t.Render(PodValues());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "");
}

TEST(QueryTemplateApi, WrongDataIsAnInternalError) {
  Result<QueryTemplate> t = QueryTemplate::Parse("<<.Resource>>", TemplateData::kGroupResource);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->Render(PodValues()).status().code(), StatusCode::kInternal);
}

TEST(QueryTemplateApi, CopiesShareTheParsedFormAndRenderConcurrently) {
  Result<QueryTemplate> parsed =
      QueryTemplate::Parse(std::string(kKafkaLabels) + std::string(kDocsQuery));
  ASSERT_TRUE(parsed.ok());
  const QueryTemplate copy = *parsed;
  const std::string want = *parsed->Render(PodValues());
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      const TemplateValues values = PodValues();
      for (int k = 0; k < 500; ++k) {
        Result<std::string> out = copy.Render(values);
        if (!out.ok() || *out != want) ++mismatches[i];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace sextant::scaling

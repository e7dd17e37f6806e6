// PromQL quoting, regex escaping, names, rendering and the vector selector parser: tables
// (one named case per row), Prometheus' own unquote vectors from ../shared/conformance, a
// random round-trip property (the injection guarantee), and, when promtool is installed,
// real Prometheus parsing and evaluating what we render.
#include "query/promql.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace sextant::query {

// Readable failure messages for matchers compared inside vectors.
void PrintTo(const LabelMatcher& m, std::ostream* os) { *os << m.String(); }

namespace {

using namespace std::literals;
using Op = LabelMatcher::Op;

constexpr Op kAllOps[] = {Op::kEqual, Op::kNotEqual, Op::kRegexMatch, Op::kRegexNoMatch};

std::string Hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xF]);
  }
  return out;
}

template <typename Case>
std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return std::string(info.param.name);
}

// Table rows print as their name when a case fails.
template <typename Case>
requires requires(const Case& c) { std::string_view(c.name); }
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// ---- QuotePromqlString ----------------------------------------------------------------

struct QuoteCase {
  std::string_view name;
  std::string_view value;
  std::string_view literal;
};

class Quote : public ::testing::TestWithParam<QuoteCase> {};

TEST_P(Quote, RendersAndDecodesBack) {
  const QuoteCase& c = GetParam();
  EXPECT_EQ(QuotePromqlString(c.value), c.literal);
  Result<std::string> back = UnquotePromqlString(c.literal);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(Hex(*back), Hex(c.value));
}

INSTANTIATE_TEST_SUITE_P(
    Table, Quote,
    ::testing::Values(QuoteCase{"empty", ""sv, R"("")"sv},
                      QuoteCase{"plain", "abc"sv, R"("abc")"sv},
                      QuoteCase{"double_quote", R"(a"b)"sv, R"("a\"b")"sv},
                      QuoteCase{"backslash", R"(a\b)"sv, R"("a\\b")"sv},
                      QuoteCase{"single_quote_and_backtick_kept", "it's `x`"sv, "\"it's `x`\""sv},
                      QuoteCase{"named_controls", "\a\b\f\n\r\t\v"sv, R"("\a\b\f\n\r\t\v")"sv},
                      QuoteCase{"nul", "\0"sv, R"("\x00")"sv},
                      QuoteCase{"other_controls", "\x01\x1b\x1f"sv, R"("\x01\x1b\x1f")"sv},
                      QuoteCase{"del", "\x7f"sv, R"("\x7f")"sv},
                      QuoteCase{"utf8_kept", "h\xc3\xa9llo \xe6\x97\xa5 \xf0\x9f\x98\x80"sv,
                                "\"h\xc3\xa9llo \xe6\x97\xa5 \xf0\x9f\x98\x80\""sv},
                      QuoteCase{"replacement_char_escaped",
                                "a\xef\xbf\xbd"
                                "b"sv,
                                R"("a\uFFFDb")"sv},
                      QuoteCase{"invalid_byte", "\xff"sv, R"("\xff")"sv},
                      QuoteCase{"lone_continuation", "\x80"sv, R"("\x80")"sv},
                      QuoteCase{"truncated_sequence", "\xe6\x97"sv, R"("\xe6\x97")"sv},
                      QuoteCase{"truncated_then_ascii",
                                "\xe6"
                                "a"sv,
                                R"("\xe6a")"sv},
                      QuoteCase{"overlong", "\xc0\xaf"sv, R"("\xc0\xaf")"sv},
                      QuoteCase{"surrogate_bytes", "\xed\xa0\x80"sv, R"("\xed\xa0\x80")"sv},
                      QuoteCase{"above_max_rune", "\xf4\x90\x80\x80"sv, R"("\xf4\x90\x80\x80")"sv},
                      QuoteCase{"injection", R"("} or vector(1) or {a=")"sv,
                                R"("\"} or vector(1) or {a=\"")"sv},
                      QuoteCase{"punctuation_kept", "{}(),=~!|.*#$"sv, R"("{}(),=~!|.*#$")"sv}),
    CaseName<QuoteCase>);

// ---- UnquotePromqlString: cases beyond the conformance file ----------------------------

struct UnquoteCase {
  std::string_view name;
  std::string_view literal;
  bool ok;
  std::string_view value;
};

class Unquote : public ::testing::TestWithParam<UnquoteCase> {};

TEST_P(Unquote, MatchesStrutil) {
  const UnquoteCase& c = GetParam();
  Result<std::string> got = UnquotePromqlString(c.literal);
  ASSERT_EQ(got.ok(), c.ok) << got.status().ToString();
  if (c.ok) {
    EXPECT_EQ(Hex(*got), Hex(c.value));
  } else {
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(got.status().message(), "invalid syntax");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, Unquote,
    ::testing::Values(
        UnquoteCase{"surrogate_escape_is_fffd", R"("\uD800")"sv, true, "\xef\xbf\xbd"sv},
        UnquoteCase{"raw_invalid_kept_when_trivial", "\"\xff\""sv, true, "\xff"sv},
        UnquoteCase{"raw_invalid_replaced_with_escape", "\"\xff\\n\""sv, true, "\xef\xbf\xbd\n"sv},
        UnquoteCase{"raw_cr_allowed", "\"a\rb\""sv, true, "a\rb"sv},
        UnquoteCase{"hex_mixed_case", R"("\xAb\xcD")"sv, true, "\xab\xcd"sv},
        UnquoteCase{"octal_nul", R"("\000")"sv, true, "\0"sv},
        UnquoteCase{"octal_too_big", R"("\400")"sv, false, ""sv},
        UnquoteCase{"u_max", R"("\U0010FFFF")"sv, true, "\xf4\x8f\xbf\xbf"sv},
        UnquoteCase{"u_above_max", R"("\U00110000")"sv, false, ""sv},
        UnquoteCase{"u_short", R"("\u12")"sv, false, ""sv},
        UnquoteCase{"x_not_hex", R"("\xg0")"sv, false, ""sv},
        UnquoteCase{"trailing_backslash", R"("a\")"sv, false, ""sv},
        UnquoteCase{"mismatched_quotes", R"("abc')"sv, false, ""sv},
        UnquoteCase{"unknown_quote_char", "|a|"sv, false, ""sv},
        UnquoteCase{"unescaped_quote_inside", R"("a"b")"sv, false, ""sv},
        UnquoteCase{"single_quote_escape_in_single", R"('\'')"sv, true, "'"sv},
        UnquoteCase{"raw_string_keeps_backslashes", R"(`\n\"`)"sv, true, R"(\n\")"sv},
        UnquoteCase{"raw_string_keeps_invalid_utf8", "`\xff`"sv, true, "\xff"sv}),
    CaseName<UnquoteCase>);

// ---- UnquotePromqlString: Prometheus' quote_test.go vectors ------------------------------

struct ConformanceRow {
  std::string name;
  std::string literal;
  bool ok = false;
  std::string value;
};

std::string ConformancePath() {
  return std::string(SEXTANT_CONFORMANCE_DIR) + "/promql_unquote.tsv";
}

bool DecodeHex(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  for (size_t i = 0; i < hex.size(); i += 2) {
    unsigned v = 0;
    if (std::sscanf(std::string(hex.substr(i, 2)).c_str(), "%2x", &v) != 1) return false;
    out->push_back(static_cast<char>(v));
  }
  return true;
}

// Columns: literal_json, ok (1/0), value_hex, value_json, source. Rows that cannot be read
// become rows with an empty name, which the test reports.
std::vector<ConformanceRow> LoadConformanceRows() {
  std::vector<ConformanceRow> rows;
  std::ifstream in(ConformancePath());
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string field;
    while (std::getline(ss, field, '\t')) f.push_back(field);
    if (line.back() == '\t') f.push_back("");
    ConformanceRow row;
    try {
      if (f.size() != 5) throw std::runtime_error("want 5 columns");
      row.literal = nlohmann::json::parse(f[0]).get<std::string>();
      row.ok = f[1] == "1";
      if (!DecodeHex(f[2], &row.value)) throw std::runtime_error("bad hex");
      row.name = "line" + std::to_string(line_no) + "_" + SanitizeLabelName(f[4]);
    } catch (const std::exception& e) {
      row.name = "line" + std::to_string(line_no) + "_unreadable";
      row.literal = e.what();
      row.value = "<unreadable>";
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

TEST(ConformanceFile, HasRows) {
  std::vector<ConformanceRow> rows = LoadConformanceRows();
  EXPECT_GE(rows.size(), 60u) << ConformancePath();
}

class ConformanceUnquote : public ::testing::TestWithParam<ConformanceRow> {};

TEST_P(ConformanceUnquote, MatchesPrometheus) {
  const ConformanceRow& row = GetParam();
  ASSERT_NE(row.value, "<unreadable>") << row.literal;
  Result<std::string> got = UnquotePromqlString(row.literal);
  ASSERT_EQ(got.ok(), row.ok) << "literal " << row.literal << ": " << got.status().ToString();
  if (row.ok) {
    EXPECT_EQ(Hex(*got), Hex(row.value)) << row.literal;
  } else {
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(got.status().message(), "invalid syntax");
  }
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ConformanceUnquote);
INSTANTIATE_TEST_SUITE_P(Tsv, ConformanceUnquote, ::testing::ValuesIn(LoadConformanceRows()),
                         CaseName<ConformanceRow>);

// ---- QuoteRegexMeta, JoinRegexAlternatives -----------------------------------------------

struct RegexCase {
  std::string_view name;
  std::string_view in;
  std::string_view out;
};

class RegexMeta : public ::testing::TestWithParam<RegexCase> {};

TEST_P(RegexMeta, EscapesLikeRe2) { EXPECT_EQ(QuoteRegexMeta(GetParam().in), GetParam().out); }

INSTANTIATE_TEST_SUITE_P(
    Table, RegexMeta,
    ::testing::Values(RegexCase{"empty", ""sv, ""sv},
                      RegexCase{"word_chars_kept", "abc_XYZ_09"sv, "abc_XYZ_09"sv},
                      RegexCase{"re2_doc_example", "1.5-2.0?"sv, R"(1\.5\-2\.0\?)"sv},
                      RegexCase{"all_meta", R"(.+*?()|[]{}^$\)"sv,
                                R"(\.\+\*\?\(\)\|\[\]\{\}\^\$\\)"sv},
                      RegexCase{"space_slash_quote", "a b/\"c'"sv, R"(a\ b\/\"c\')"sv},
                      RegexCase{"nul", "a\0b"sv, R"(a\x00b)"sv},
                      RegexCase{"newline", "\n"sv, "\\\n"sv},
                      RegexCase{"utf8_kept", "\xc3\xa9"sv, "\xc3\xa9"sv},
                      RegexCase{"high_bytes_kept", "\xff\x80"sv, "\xff\x80"sv},
                      RegexCase{"flags_group", "(?i)x"sv, R"(\(\?i\)x)"sv}),
    CaseName<RegexCase>);

TEST(JoinRegexAlternatives, Cases) {
  EXPECT_EQ(JoinRegexAlternatives({}), "");
  EXPECT_EQ(JoinRegexAlternatives({"a"}), "a");
  EXPECT_EQ(JoinRegexAlternatives({"a.b", "c|d"}), R"(a\.b|c\|d)");
  EXPECT_EQ(JoinRegexAlternatives({"a", ""}), "a|");
}

// ---- names -------------------------------------------------------------------------------

struct NameCase {
  std::string_view name;
  std::string_view in;
  bool valid_label;
  bool valid_metric;
  std::string_view sanitized;
};

class Names : public ::testing::TestWithParam<NameCase> {};

TEST_P(Names, ValidateAndSanitize) {
  const NameCase& c = GetParam();
  EXPECT_EQ(IsValidLabelName(c.in), c.valid_label);
  EXPECT_EQ(IsValidMetricName(c.in), c.valid_metric);
  EXPECT_EQ(SanitizeLabelName(c.in), c.sanitized);
  EXPECT_TRUE(IsValidLabelName(SanitizeLabelName(c.in)));
}

INSTANTIATE_TEST_SUITE_P(
    Table, Names,
    ::testing::Values(NameCase{"simple", "app"sv, true, true, "app"sv},
                      NameCase{"underscores_digits", "_a_1"sv, true, true, "_a_1"sv},
                      NameCase{"dunder_name", "__name__"sv, true, true, "__name__"sv},
                      NameCase{"empty", ""sv, false, false, "_"sv},
                      NameCase{"k8s_recommended", "app.kubernetes.io/name"sv, false, false,
                               "app_kubernetes_io_name"sv},
                      NameCase{"dash", "pod-template-hash"sv, false, false, "pod_template_hash"sv},
                      NameCase{"leading_digit", "9lives"sv, false, false, "_9lives"sv},
                      NameCase{"colon", "job:rate"sv, false, true, "job_rate"sv},
                      NameCase{"leading_colon", ":x"sv, false, true, "_x"sv},
                      NameCase{"utf8_char_is_one", "h\xc3\xa9llo"sv, false, false, "h_llo"sv},
                      NameCase{"invalid_byte_is_one",
                               "a\xff"
                               "b"sv,
                               false, false, "a_b"sv},
                      NameCase{"nul", "a\0b"sv, false, false, "a_b"sv},
                      NameCase{"injection", R"(a="x"} or vector(1) or {b)"sv, false, false,
                               "a__x___or_vector_1__or__b"sv}),
    CaseName<NameCase>);

// ---- rendering ---------------------------------------------------------------------------

struct RenderCase {
  std::string_view name;
  std::string_view metric;
  std::vector<LabelMatcher> matchers;
  std::string_view want;
};

class Render : public ::testing::TestWithParam<RenderCase> {};

TEST_P(Render, Selector) {
  const RenderCase& c = GetParam();
  EXPECT_EQ(RenderSelector(c.metric, c.matchers), c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Table, Render,
    ::testing::Values(
        RenderCase{"equal", "m", {{"a", Op::kEqual, "x"}}, R"(m{a="x"})"},
        RenderCase{"not_equal", "m", {{"a", Op::kNotEqual, "x"}}, R"(m{a!="x"})"},
        RenderCase{"regex", "m", {{"a", Op::kRegexMatch, "x|y"}}, R"(m{a=~"x|y"})"},
        RenderCase{"regex_no_match", "m", {{"a", Op::kRegexNoMatch, "x"}}, R"(m{a!~"x"})"},
        RenderCase{"several",
                   "up",
                   {{"a", Op::kEqual, "x"}, {"b", Op::kRegexNoMatch, "y|z"}},
                   R"(up{a="x",b!~"y|z"})"},
        RenderCase{"no_matchers", "m", {}, "m{}"},
        RenderCase{"no_metric", "", {{"a", Op::kEqual, "x"}}, R"({a="x"})"},
        RenderCase{"colon_metric", "job:rate5m", {}, "job:rate5m{}"},
        RenderCase{"keyword_metric", "or", {{"a", Op::kEqual, "x"}}, R"({__name__="or",a="x"})"},
        RenderCase{"keyword_metric_any_case", "SUM", {}, R"({__name__="SUM"})"},
        RenderCase{"number_word_metric", "Inf", {}, R"({__name__="Inf"})"},
        RenderCase{"invalid_metric", "app.requests", {}, R"({__name__="app.requests"})"},
        RenderCase{"injection_metric",
                   R"(m{a="b"} or vector(1) or m)",
                   {},
                   R"({__name__="m{a=\"b\"} or vector(1) or m"})"},
        RenderCase{"regex_value_escaped",
                   "m",
                   {{"a", Op::kRegexMatch, QuoteRegexMeta(R"(a.b\c)")}},
                   R"(m{a=~"a\\.b\\\\c"})"},
        RenderCase{"invalid_label_sanitized",
                   "m",
                   {{"app.kubernetes.io/name", Op::kEqual, "web"}},
                   R"(m{app_kubernetes_io_name="web"})"},
        RenderCase{"injection_label_sanitized",
                   "m",
                   {{R"(a="x"} or vector(1) or {b)", Op::kEqual, "v"}},
                   R"(m{a__x___or_vector_1__or__b="v"})"},
        RenderCase{"injection_value",
                   "m",
                   {{"a", Op::kEqual, R"("} or vector(1) or {a=")"}},
                   R"(m{a="\"} or vector(1) or {a=\""})"}),
    CaseName<RenderCase>);

TEST(RenderMatchers, CommaSeparatedWithoutBraces) {
  EXPECT_EQ(RenderMatchers({}), "");
  EXPECT_EQ(RenderMatchers({{"a", Op::kEqual, "x"}, {"b", Op::kRegexNoMatch, "y|z"}}),
            R"(a="x",b!~"y|z")");
  EXPECT_EQ((LabelMatcher{"job", Op::kNotEqual, "a\nb"}.String()), R"(job!="a\nb")");
}

// ---- ParseVectorSelector -----------------------------------------------------------------

struct ParseCase {
  std::string_view name;
  std::string_view in;
  std::string_view metric;
  std::vector<LabelMatcher> matchers;
};

class ParseOk : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParseOk, Accepts) {
  const ParseCase& c = GetParam();
  Result<ParsedSelector> got = ParseVectorSelector(c.in);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->metric_name, c.metric);
  EXPECT_EQ(got->matchers, c.matchers);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseOk,
    ::testing::Values(
        ParseCase{"bare_name", "m", "m", {}}, ParseCase{"empty_braces", "m{}", "m", {}},
        ParseCase{"one", R"(m{a="b"})", "m", {{"a", Op::kEqual, "b"}}},
        ParseCase{"all_ops",
                  R"(m{a="1",b!="2",c=~"3",d!~"4"})",
                  "m",
                  {{"a", Op::kEqual, "1"},
                   {"b", Op::kNotEqual, "2"},
                   {"c", Op::kRegexMatch, "3"},
                   {"d", Op::kRegexNoMatch, "4"}}},
        ParseCase{"name_matcher_only", R"({__name__="x"})", "", {{"__name__", Op::kEqual, "x"}}},
        ParseCase{"no_metric_two",
                  R"({a="b",c="d"})",
                  "",
                  {{"a", Op::kEqual, "b"}, {"c", Op::kEqual, "d"}}},
        ParseCase{"whitespace",
                  " \t\n m \r{ a = \"b\" ,\n c !~ 'd' , } \n",
                  "m",
                  {{"a", Op::kEqual, "b"}, {"c", Op::kRegexNoMatch, "d"}}},
        ParseCase{"trailing_comma", R"(m{a="b",})", "m", {{"a", Op::kEqual, "b"}}},
        ParseCase{"single_quotes", R"(m{a='it\'s "x"'})", "m", {{"a", Op::kEqual, R"(it's "x")"}}},
        ParseCase{"backticks", R"(m{a=`x\y"'`})", "m", {{"a", Op::kEqual, R"(x\y"')"}}},
        ParseCase{"backtick_newline", "m{a=`x\ny`}", "m", {{"a", Op::kEqual, "x\ny"}}},
        ParseCase{"escapes",
                  R"(m{a="\x41\u00e9\101\n\\\""})",
                  "m",
                  {{"a", Op::kEqual,
                    "A\xc3\xa9"
                    "A\n\\\""}}},
        ParseCase{"colon_metric", R"(job:rate:5m{a="b"})", "job:rate:5m", {{"a", Op::kEqual, "b"}}},
        ParseCase{"keyword_label_names",
                  R"(m{or="x",on="y"})",
                  "m",
                  {{"or", Op::kEqual, "x"}, {"on", Op::kEqual, "y"}}},
        ParseCase{"underscores", R"(_m{_a="b"})", "_m", {{"_a", Op::kEqual, "b"}}},
        ParseCase{"structure_inside_string",
                  R"x(m{a="}{,\"} or vector(1)"})x",
                  "m",
                  {{"a", Op::kEqual, R"x(}{,"} or vector(1))x"}}},
        ParseCase{"raw_utf8", "m{a=\"\xe6\x97\xa5\"}", "m", {{"a", Op::kEqual, "\xe6\x97\xa5"}}},
        ParseCase{"hex_escape_invalid_utf8", R"(m{a="\xff"})", "m", {{"a", Op::kEqual, "\xff"}}},
        ParseCase{"empty_value", R"(m{a=""})", "m", {{"a", Op::kEqual, ""}}}),
    CaseName<ParseCase>);

struct RejectCase {
  std::string_view name;
  std::string_view in;
};

class ParseError : public ::testing::TestWithParam<RejectCase> {};

TEST_P(ParseError, Rejects) {
  Result<ParsedSelector> got = ParseVectorSelector(GetParam().in);
  ASSERT_FALSE(got.ok()) << "accepted: " << GetParam().in;
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseError,
    ::testing::Values(
        RejectCase{"empty", ""sv}, RejectCase{"only_space", " \n"sv},
        RejectCase{"empty_braces_no_name", "{}"sv}, RejectCase{"unterminated_brace", "m{"sv},
        RejectCase{"unterminated_after_matcher", R"(m{a="b")"sv},
        RejectCase{"unterminated_string", R"(m{a="b})"sv},
        RejectCase{"extra_brace", R"(m{a="b"}})"sv},
        RejectCase{"or_vector", R"(m{a="b"} or vector(1))"sv},
        RejectCase{"or_selector", R"(m{a="b"} or {c="d"})"sv},
        RejectCase{"range", R"(m{a="b"}[5m])"sv}, RejectCase{"offset", R"(m{a="b"} offset 5m)"sv},
        RejectCase{"trailing_comment", R"(m{a="b"} # c)"sv},
        RejectCase{"comment_inside", "m{a=\"b\" # c\n}"sv}, RejectCase{"lone_comma", "m{,}"sv},
        RejectCase{"leading_comma", R"(m{,a="b"})"sv},
        RejectCase{"double_comma", R"(m{a="b",,})"sv}, RejectCase{"name_only", "m{a}"sv},
        RejectCase{"no_value", "m{a=}"sv}, RejectCase{"missing_comma", R"(m{a="b" c="d"})"sv},
        RejectCase{"unquoted_value", "m{a=b}"sv}, RejectCase{"double_equal", R"(m{a=="b"})"sv},
        RejectCase{"split_regex_op", R"(m{a= ~"b"})"sv}, RejectCase{"bang_alone", R"(m{a!"b"})"sv},
        RejectCase{"less_than", R"(m{a<"b"})"sv},
        RejectCase{"quoted_label_name", R"(m{"a"="b"})"sv},
        RejectCase{"quoted_metric_name", R"({"m"})"sv},
        RejectCase{"label_leading_digit", R"(m{1a="b"})"sv},
        RejectCase{"label_with_colon", R"(m{a:b="c"})"sv},
        RejectCase{"metric_leading_digit", R"(1m{a="b"})"sv},
        RejectCase{"name_set_twice", R"(m{__name__="x"})"sv},
        RejectCase{"keyword_metric", R"(or{a="b"})"sv},
        RejectCase{"keyword_metric_upper", R"(SUM{a="b"})"sv}, RejectCase{"inf", "inf"sv},
        RejectCase{"two_names", "m n"sv}, RejectCase{"name_after", R"(m{a="b"} m)"sv},
        RejectCase{"nested_braces", R"(m{{a="b"}})"sv}, RejectCase{"call", "sum(m)"sv},
        RejectCase{"unknown_escape", R"(m{a="\q"})"sv},
        RejectCase{"regex_escape_in_string", R"(m{a="\."})"sv},
        RejectCase{"single_escape_in_double", R"(m{a="\'"})"sv},
        RejectCase{"double_escape_in_single", R"(m{a='\"'})"sv},
        RejectCase{"raw_newline", "m{a=\"b\nc\"}"sv},
        RejectCase{"surrogate_escape", R"(m{a="\uD800"})"sv},
        RejectCase{"escape_above_max", R"(m{a="\U00110000"})"sv},
        RejectCase{"octal_too_big", R"(m{a="\400"})"sv}, RejectCase{"short_hex", R"(m{a="\x4"})"sv},
        RejectCase{"raw_invalid_utf8", "m{a=\"\xff\"}"sv},
        RejectCase{"raw_replacement_char", "m{a=\"\xef\xbf\xbd\"}"sv},
        RejectCase{"raw_invalid_utf8_backtick", "m{a=`\xff`}"sv},
        RejectCase{"backtick_inside_backticks", "m{a=`x`y`}"sv},
        RejectCase{"trailing_nul", "m{a=\"b\"}\0"sv}, RejectCase{"name_then_nul", "m\0"sv}),
    CaseName<RejectCase>);

// ---- properties: round trip and the injection guarantee ---------------------------------

// Random bytes biased towards what breaks quoting: quotes, backslashes, braces, newlines,
// escapes-looking text, invalid and valid UTF-8 (including U+FFFD).
std::string RandomValue(std::mt19937& rng) {
  static constexpr std::string_view kSpecial = "\"'`\\{}()[],=~!|.*+?^$# \n\r\t\0x0u1U"sv;
  static constexpr std::string_view kUtf8[] = {"\xc3\xa9"sv,         "\xe6\x97\xa5"sv,
                                               "\xf0\x9f\x98\x80"sv, "\xef\xbf\xbd"sv,
                                               "\xe2\x80\xa8"sv,     "\xc2\x85"sv};
  static constexpr std::string_view kChunks[] = {R"("} or vector(1) or {a=")"sv, "\\x"sv, "\\u"sv,
                                                 "\\\""sv, "\\\\"sv};
  std::string s;
  const unsigned len = rng() % 24;
  for (unsigned i = 0; i < len; ++i) {
    switch (rng() % 8) {
      case 0:
      case 1:
      case 2:
        s.push_back(kSpecial[rng() % kSpecial.size()]);
        break;
      case 3:
      case 4:
        s.push_back(static_cast<char>(rng() & 0xFF));
        break;
      case 5:
        s.append(kUtf8[rng() % std::size(kUtf8)]);
        break;
      case 6:
        s.append(kChunks[rng() % std::size(kChunks)]);
        break;
      default:
        s.push_back(static_cast<char>('a' + rng() % 26));
        break;
    }
  }
  return s;
}

// Undoes QuoteRegexMeta, failing on any metacharacter left unescaped.
bool UnquoteRegexMeta(std::string_view re, std::string* out) {
  for (size_t i = 0; i < re.size(); ++i) {
    const char c = re[i];
    const bool word =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (word || static_cast<unsigned char>(c) >= 0x80) {
      out->push_back(c);
    } else if (c != '\\' || i + 1 == re.size()) {
      return false;
    } else if (re.substr(i + 1, 3) == "x00") {
      out->push_back('\0');
      i += 3;
    } else {
      out->push_back(re[++i]);
    }
  }
  return true;
}

TEST(RoundTrip, RandomBytesSurviveQuoteRenderAndParse) {
  std::mt19937 rng(20240611);
  constexpr int kIterations = 5000;
  for (int i = 0; i < kIterations; ++i) {
    const std::string s = RandomValue(rng);
    SCOPED_TRACE("value hex " + Hex(s));
    Result<std::string> back = UnquotePromqlString(QuotePromqlString(s));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ASSERT_EQ(Hex(*back), Hex(s));

    for (Op op : kAllOps) {
      const std::string text = RenderSelector("m", {{"l", op, s}});
      Result<ParsedSelector> parsed = ParseVectorSelector(text);
      ASSERT_TRUE(parsed.ok()) << parsed.status().ToString() << " in " << text;
      ASSERT_EQ(parsed->metric_name, "m");
      ASSERT_EQ(parsed->matchers.size(), 1u) << text;
      ASSERT_EQ(parsed->matchers[0].name, "l");
      ASSERT_EQ(parsed->matchers[0].op, op);
      ASSERT_EQ(Hex(parsed->matchers[0].value), Hex(s));
    }

    std::string unescaped;
    ASSERT_TRUE(UnquoteRegexMeta(QuoteRegexMeta(s), &unescaped)) << QuoteRegexMeta(s);
    ASSERT_EQ(Hex(unescaped), Hex(s));
  }
}

TEST(RoundTrip, RandomSelectorsWithRandomNames) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const std::string metric = rng() % 2 ? RandomValue(rng) : "m";
    std::vector<LabelMatcher> matchers;
    const unsigned n = rng() % 5 + (metric.empty() ? 1 : 0);
    for (unsigned j = 0; j < n; ++j) {
      matchers.push_back({RandomValue(rng), kAllOps[rng() % 4], RandomValue(rng)});
    }
    const std::string text = RenderSelector(metric, matchers);
    SCOPED_TRACE("selector " + text);
    Result<ParsedSelector> parsed = ParseVectorSelector(text);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    std::vector<LabelMatcher> want;
    if (parsed->metric_name.empty() && !metric.empty()) {
      want.push_back({"__name__", Op::kEqual, metric});
    } else {
      ASSERT_EQ(parsed->metric_name, metric);
    }
    for (const LabelMatcher& m : matchers) {
      want.push_back({SanitizeLabelName(m.name), m.op, m.value});
    }
    ASSERT_EQ(parsed->matchers, want);
  }
}

struct InjectionCase {
  std::string_view name;
  std::string_view value;
};

class Injection : public ::testing::TestWithParam<InjectionCase> {};

TEST_P(Injection, ValueStaysOneMatcher) {
  const std::string_view value = GetParam().value;
  for (Op op : kAllOps) {
    for (const std::string& v : {std::string(value), QuoteRegexMeta(value)}) {
      const std::string text = RenderSelector("m", {{"job", Op::kEqual, "api"}, {"l", op, v}});
      Result<ParsedSelector> parsed = ParseVectorSelector(text);
      ASSERT_TRUE(parsed.ok()) << parsed.status().ToString() << " in " << text;
      ASSERT_EQ(parsed->matchers.size(), 2u) << text;
      EXPECT_EQ(parsed->matchers[1], (LabelMatcher{"l", op, v})) << text;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, Injection,
    ::testing::Values(InjectionCase{"close_and_or", R"("} or vector(1) or {a=")"sv},
                      InjectionCase{"single_quote_close", R"('} or vector(1) or {a=')"sv},
                      InjectionCase{"backtick_close", "`} or vector(1) or {a=`"sv},
                      InjectionCase{"escaped_quote", R"(\"} or vector(1) or {a=\")"sv},
                      InjectionCase{"trailing_backslash", R"(a\)"sv},
                      InjectionCase{"newline_comment", "x\"}\n# c\n{a=\""sv},
                      InjectionCase{"nul_then_close", "\0\"}"sv},
                      InjectionCase{"invalid_utf8_then_close", "\xff\"} or {a=\""sv},
                      InjectionCase{"regex_everything", ".*|.+"sv},
                      InjectionCase{"replacement_char", "\xef\xbf\xbd\"}"sv}),
    CaseName<InjectionCase>);

// ---- real Prometheus: promtool parses and evaluates what we render ------------------------

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult RunCommand(const std::string& command) {
  CommandResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool HavePromtool() { return RunCommand("command -v promtool").exit_code == 0; }

// A YAML double-quoted scalar. Everything outside printable ASCII is written as \u / \U so
// the file is plain ASCII whatever the text holds. REQUIRES: `s` is valid UTF-8 (rendered
// PromQL always is).
std::string YamlQuote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    uint32_t r = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (size_t j = 1; j < len && i + j < s.size(); ++j) {
      r = (r << 6) | (static_cast<unsigned char>(s[i + j]) & 0x3F);
    }
    char buf[16];
    std::snprintf(buf, sizeof buf, r < 0x10000 ? "\\u%04X" : "\\U%08X", r);
    out += buf;
    i += len;
  }
  return out + "\"";
}

std::string WriteTempFile(std::string_view stem, const std::string& text) {
  const std::string path = ::testing::TempDir() + "sextant_promql_" + std::string(stem) + "_" +
                           std::to_string(getpid()) + ".yml";
  std::ofstream(path) << text;
  return path;
}

// Values for promtool: the injection classics and every kind of character the quoter treats
// specially. Valid UTF-8 only (Go's regexp rejects anything else), distinct and non-empty
// (an empty value means "label absent" to Prometheus).
const std::vector<std::string>& AdversarialValues() {
  static const std::vector<std::string> v = {R"("} or vector(1) or {a=")",
                                             R"('} or {a=')",
                                             "`} or {a=`",
                                             R"(a\"b\\c)",
                                             "line1\nline2\r\t",
                                             "\x01\x7f"s,
                                             "nul\0x"s,
                                             "\xef\xbf\xbd",
                                             "h\xc3\xa9 \xe6\x97\xa5 "
                                             "\xf0\x9f\x98\x80",
                                             "\xe2\x80\xa8\xc2\x85\xef\xbb\xbf",
                                             "# not a comment",
                                             R"(\u0041\x41)",
                                             ".*",
                                             "a|b",
                                             "(?i)X",
                                             "[a-z]+$",
                                             "{{}}",
                                             "plain-value.1"};
  return v;
}

TEST(Promtool, CheckRulesParsesRenderedSelectors) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool not installed";
  std::vector<std::string> exprs;
  for (const std::string& v : AdversarialValues()) {
    exprs.push_back(RenderSelector("m", {{"l", Op::kEqual, v}, {"k", Op::kNotEqual, v}}));
    exprs.push_back(RenderSelector("m", {{"l", Op::kRegexMatch, QuoteRegexMeta(v)},
                                         {"k", Op::kRegexNoMatch, QuoteRegexMeta(v)}}));
    exprs.push_back(RenderSelector(v, {{v, Op::kEqual, v}}));
  }
  exprs.push_back(RenderSelector("m", {{"l", Op::kEqual, "\xff\xfe\0"s}}));  // \xHH bytes
  exprs.push_back(RenderSelector("or", {{"l", Op::kEqual, "x"}}));
  exprs.push_back(
      RenderSelector("m", {{"l", Op::kRegexMatch, JoinRegexAlternatives(AdversarialValues())}}));
  std::string yaml = "groups:\n  - name: sextant\n    rules:\n";
  for (size_t i = 0; i < exprs.size(); ++i) {
    yaml += "      - record: sextant:promql_test_" + std::to_string(i) + "\n";
    yaml += "        expr: " + YamlQuote(exprs[i]) + "\n";
  }
  const std::string path = WriteTempFile("rules", yaml);
  CommandResult r = RunCommand("promtool check rules " + path);
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n" << yaml;
  EXPECT_NE(r.output.find("SUCCESS: " + std::to_string(exprs.size()) + " rules found"),
            std::string::npos)
      << r.output;

  // Control: the same harness rejects a selector built by pasting the value raw.
  const std::string bad =
      "groups:\n  - name: sextant\n    rules:\n"
      "      - record: sextant:bad\n        expr: " +
      YamlQuote("m{l=\"" + AdversarialValues()[0] + "\"}") + "\n";
  const std::string bad_path = WriteTempFile("bad_rules", bad);
  EXPECT_NE(RunCommand("promtool check rules " + bad_path).exit_code, 0);
  std::remove(path.c_str());
  std::remove(bad_path.c_str());
}

// Prometheus stores one series per adversarial value and evaluates our selectors against
// them: each value matches itself and nothing else, with every operator.
std::string RulesTestYaml(bool break_one_expectation) {
  const std::vector<std::string>& values = AdversarialValues();
  const size_t n = values.size();
  std::string yaml = "evaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n";
  for (const std::string& v : values) {
    yaml += "      - series: " + YamlQuote(RenderSelector("m", {{"l", Op::kEqual, v}})) +
            "\n        values: \"1\"\n";
  }
  yaml += "    promql_expr_test:\n";
  const auto expect = [&](const std::string& selector, size_t count) {
    yaml += "      - expr: " + YamlQuote("count(" + selector + ")") +
            "\n        eval_time: 0m\n        exp_samples:\n          - labels: \"{}\"\n"
            "            value: " +
            std::to_string(count) + "\n";
  };
  for (size_t i = 0; i < n; ++i) {
    const std::string& v = values[i];
    expect(RenderSelector("m", {{"l", Op::kEqual, v}}), break_one_expectation ? 2 : 1);
    break_one_expectation = false;
    expect(RenderSelector("m", {{"l", Op::kNotEqual, v}}), n - 1);
    expect(RenderSelector("m", {{"l", Op::kRegexMatch, QuoteRegexMeta(v)}}), 1);
    expect(RenderSelector("m", {{"l", Op::kRegexNoMatch, QuoteRegexMeta(v)}}), n - 1);
    const std::string& w = values[(i + 1) % n];
    expect(RenderSelector("m", {{"l", Op::kRegexMatch, JoinRegexAlternatives({v, w})}}), 2);
  }
  expect(RenderSelector("m", {{"l", Op::kRegexMatch, JoinRegexAlternatives(values)}}), n);
  return yaml;
}

TEST(Promtool, TestRulesEvaluatesRenderedSelectors) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool not installed";
  const std::string yaml = RulesTestYaml(false);
  const std::string path = WriteTempFile("unit", yaml);
  CommandResult r = RunCommand("promtool test rules " + path);
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n" << yaml;
  EXPECT_NE(r.output.find("SUCCESS"), std::string::npos) << r.output;

  // Control: a wrong expectation is noticed, so the pass above means something.
  const std::string bad_path = WriteTempFile("bad_unit", RulesTestYaml(true));
  EXPECT_NE(RunCommand("promtool test rules " + bad_path).exit_code, 0);
  std::remove(path.c_str());
  std::remove(bad_path.c_str());
}

}  // namespace
}  // namespace sextant::query

// Label selectors: upstream conformance vectors (read at run time from
// SEXTANT_CONFORMANCE_DIR, one named case per row) plus our own tables for error positions,
// validation texts, regex metacharacters, integer edges and the equality-only parser.
#include "apiserver/label_selector.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstddef>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/label_validation.h"
#include "apiserver/selector_lexer.h"

#ifndef SEXTANT_CONFORMANCE_DIR
#error "SEXTANT_CONFORMANCE_DIR must name the conformance vector directory"
#endif

namespace sextant::apiserver {
namespace {

using Json = nlohmann::json;
using selector_internal::BinaryOperatorFromToken;
using selector_internal::ScannedToken;
using selector_internal::ScanSelector;
using selector_internal::SelectorLexer;
using selector_internal::Token;
using selector_internal::TokenName;

// ----- Conformance files --------------------------------------------------------------------

struct TsvRow {
  std::string file;
  int line = 0;
  std::vector<std::string> fields;

  const std::string& field(std::size_t i) const {
    static const std::string kMissing;
    return i < fields.size() ? fields[i] : kMissing;
  }
};

void PrintTo(const TsvRow& row, std::ostream* os) {
  *os << row.file << ":" << row.line << ": " << row.field(0) << " | " << row.field(1);
}

std::vector<std::string> SplitTabs(const std::string& line) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  for (std::size_t tab = line.find('\t'); tab != std::string::npos; tab = line.find('\t', start)) {
    fields.push_back(line.substr(start, tab - start));
    start = tab + 1;
  }
  fields.push_back(line.substr(start));
  return fields;
}

// The data rows of a conformance file (comment lines start with '#').
std::vector<TsvRow> LoadTsv(const std::string& name) {
  std::ifstream in(std::string(SEXTANT_CONFORMANCE_DIR) + "/" + name);
  std::vector<TsvRow> rows;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    rows.push_back({name, number, SplitTabs(line)});
  }
  return rows;
}

// A JSON string literal from a conformance field.
std::string JsonString(const std::string& field) { return Json::parse(field).get<std::string>(); }

// "k=v,k2=v2" (plain text; "" is no labels; "y=" is y with an empty value).
Labels PlainLabels(const std::string& text) {
  Labels labels;
  std::stringstream pairs(text);
  std::string pair;
  while (std::getline(pairs, pair, ',')) {
    const std::size_t equals = pair.find('=');
    labels[pair.substr(0, equals)] = equals == std::string::npos ? "" : pair.substr(equals + 1);
  }
  return labels;
}

std::optional<SelectorOperator> OperatorNamed(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(SelectorOperator::kLessThan); ++i) {
    const auto op = static_cast<SelectorOperator>(i);
    if (SelectorOperatorString(op) == name) return op;
  }
  return std::nullopt;
}

// [key, operator, [values]] rows as requirements (through NewRequirement, so validated).
std::vector<Requirement> RequirementsFromJson(const Json& list) {
  std::vector<Requirement> requirements;
  for (const Json& item : list) {
    const std::optional<SelectorOperator> op = OperatorNamed(item[1].get<std::string>());
    EXPECT_TRUE(op.has_value()) << "unknown operator " << item[1];
    Result<Requirement> requirement =
        NewRequirement(item[0].get<std::string>(), op.value_or(SelectorOperator::kExists),
                       item[2].get<std::vector<std::string>>());
    EXPECT_TRUE(requirement.ok()) << requirement.status().ToString();
    if (requirement.ok()) requirements.push_back(*requirement);
  }
  return requirements;
}

// A test name from free text: letters and digits kept, every other run becomes one '_'.
std::string Identifier(std::string_view text, std::size_t max_length = 40) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max_length) break;
    if (std::isalnum(static_cast<unsigned char>(c))) {
      out += c;
    } else if (out.empty() || out.back() != '_') {
      out += '_';
    }
  }
  return out;
}

std::string RowName(const testing::TestParamInfo<TsvRow>& info) {
  return "line" + std::to_string(info.param.line) + "_" +
         Identifier(info.param.field(0) + "_" + info.param.field(1));
}

std::string TokenNames(const std::vector<ScannedToken>& tokens) {
  std::string out;
  for (const ScannedToken& token : tokens) {
    if (!out.empty()) out += ' ';
    out += TokenName(token.token);
  }
  return out;
}

class SelectorLexConformance : public testing::TestWithParam<TsvRow> {};

TEST_P(SelectorLexConformance, Row) {
  const TsvRow& row = GetParam();
  const std::string kind = row.field(0);
  const std::string input = JsonString(row.field(1));
  const std::string& expected = row.field(2);
  if (kind == "lex1") {
    const ScannedToken token = SelectorLexer(input).Next();
    EXPECT_EQ(TokenName(token.token), expected);
    EXPECT_EQ(token.literal, input);
  } else if (kind == "seq") {
    std::vector<ScannedToken> tokens = ScanSelector(input);
    tokens.pop_back();  // the end of string is not listed
    EXPECT_EQ(TokenNames(tokens), expected);
  } else if (kind == "scan") {
    EXPECT_EQ(TokenNames(ScanSelector(input)), expected);
  } else if (kind == "op") {
    Result<SelectorOperator> op = BinaryOperatorFromToken(ScanSelector(input).front());
    EXPECT_EQ(op.ok() ? "ok" : "error: " + op.status().message(), expected);
  } else {
    ADD_FAILURE() << "unknown kind " << kind;
  }
}

INSTANTIATE_TEST_SUITE_P(Upstream, SelectorLexConformance,
                         testing::ValuesIn(LoadTsv("selector_lex.tsv")), RowName);

class SelectorParseConformance : public testing::TestWithParam<TsvRow> {};

TEST_P(SelectorParseConformance, Row) {
  const TsvRow& row = GetParam();
  Result<LabelSelector> selector = LabelSelector::Parse(JsonString(row.field(0)));
  ASSERT_EQ(selector.ok(), row.field(1) == "1") << selector.status().ToString();
  if (!selector.ok()) {
    EXPECT_EQ(selector.status().code(), StatusCode::kInvalidArgument);
    return;
  }
  if (const Json restring = Json::parse(row.field(2)); !restring.is_null()) {
    EXPECT_EQ(selector->String(), restring.get<std::string>());
  }
  if (const Json requirements = Json::parse(row.field(3)); !requirements.is_null()) {
    EXPECT_EQ(selector->requirements(), RequirementsFromJson(requirements));
  }
}

INSTANTIATE_TEST_SUITE_P(Upstream, SelectorParseConformance,
                         testing::ValuesIn(LoadTsv("selector_parse.tsv")), RowName);

class SelectorMatchConformance : public testing::TestWithParam<TsvRow> {};

TEST_P(SelectorMatchConformance, Row) {
  const TsvRow& row = GetParam();
  Result<LabelSelector> selector = LabelSelector::Parse(JsonString(row.field(0)));
  ASSERT_TRUE(selector.ok()) << selector.status().ToString();
  EXPECT_EQ(selector->Matches(PlainLabels(row.field(1))), row.field(2) == "1");
}

INSTANTIATE_TEST_SUITE_P(Upstream, SelectorMatchConformance,
                         testing::ValuesIn(LoadTsv("selector_match.tsv")), RowName);

class SelectorToStringConformance : public testing::TestWithParam<TsvRow> {};

TEST_P(SelectorToStringConformance, Row) {
  const TsvRow& row = GetParam();
  const std::string kind = row.field(0);
  const Json input = Json::parse(row.field(1));
  const std::string& expected = row.field(2);
  if (kind == "Selector.String") {
    EXPECT_EQ(LabelSelector::FromRequirements(RequirementsFromJson(input)).String(), expected);
  } else if (kind == "Requirement.String") {
    const std::vector<Requirement> requirements = RequirementsFromJson(input);
    ASSERT_EQ(requirements.size(), 1u);
    EXPECT_EQ(requirements.front().String(), expected);
  } else if (kind == "ValidatedSetSelector(Set).String") {
    Result<LabelSelector> selector = LabelSelector::FromSet(input.get<Labels>());
    ASSERT_TRUE(selector.ok()) << selector.status().ToString();
    EXPECT_EQ(selector->String(), expected);
  } else if (kind == "Set.String") {
    EXPECT_EQ(LabelsString(input.get<Labels>()), expected);
  } else {
    ADD_FAILURE() << "unknown kind " << kind;
  }
}

INSTANTIATE_TEST_SUITE_P(Upstream, SelectorToStringConformance,
                         testing::ValuesIn(LoadTsv("selector_tostring.tsv")), RowName);

class LabelsConvertConformance : public testing::TestWithParam<TsvRow> {};

TEST_P(LabelsConvertConformance, Row) {
  const TsvRow& row = GetParam();
  Result<Labels> labels = LabelSelector::ParseEqualityMap(JsonString(row.field(0)));
  ASSERT_EQ(labels.ok(), row.field(1) == "1") << labels.status().ToString();
  if (labels.ok()) {
    EXPECT_EQ(*labels, PlainLabels(row.field(2)));
  } else {
    EXPECT_EQ(labels.status().code(), StatusCode::kInvalidArgument);
  }
}

INSTANTIATE_TEST_SUITE_P(Upstream, LabelsConvertConformance,
                         testing::ValuesIn(LoadTsv("labels_convert.tsv")), RowName);

TEST(ConformanceFiles, EveryFileHasRows) {
  for (const char* name : {"selector_lex.tsv", "selector_parse.tsv", "selector_match.tsv",
                           "selector_tostring.tsv", "labels_convert.tsv"}) {
    EXPECT_FALSE(LoadTsv(name).empty()) << SEXTANT_CONFORMANCE_DIR << "/" << name;
  }
}

// ----- Our own tables -------------------------------------------------------------------------

struct TextCase {
  std::string name;
  std::string input;
  std::string expected;  // a message, a canonical string, or "" when only validity counts
  bool valid = true;
};

void PrintTo(const TextCase& c, std::ostream* os) { *os << c.name << ": " << c.input; }

std::string CaseName(const testing::TestParamInfo<TextCase>& info) { return info.param.name; }

// Upstream's validation details, to keep the expected messages readable.
const std::string kNameFormat =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const std::string kValueFormat =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const std::string kSubdomainFormat =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const std::string kInteger = "for 'Gt', 'Lt' operators, the value must be an integer";
const std::string kUnable = "unable to parse requirement: ";
const std::string kBinaryOps = "expected: in, notin, =, ==, !=, gt, lt";
const std::string k64 = std::string(64, 'a');

class SelectorErrorMessage : public testing::TestWithParam<TextCase> {};

TEST_P(SelectorErrorMessage, SaysWhereTheInputWentWrong) {
  Result<LabelSelector> selector = LabelSelector::Parse(GetParam().input);
  ASSERT_FALSE(selector.ok()) << selector->String();
  EXPECT_EQ(selector.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(selector.status().message(), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Table, SelectorErrorMessage,
    testing::Values(
        TextCase{"LeadingComma", ",x",
                 "found ',', expected: !, identifier, or 'end of string' (at position 0)"},
        TextCase{"OpenParAlone", "(",
                 "found '(', expected: !, identifier, or 'end of string' (at position 0)"},
        TextCase{"DoubleComma", "x,,y",
                 "found ',', expected: identifier after ',' (at position 2)"},
        TextCase{"TrailingComma", "a in (xyz),",
                 "found '', expected: identifier after ',' (at position 11, the end of the "
                 "selector)"},
        TextCase{"MissingOperator", "x (y)",
                 kUnable + "found '(', " + kBinaryOps + " (at position 2)"},
        TextCase{"MisspelledOperator", "x nott in (y)",
                 kUnable + "found 'nott', " + kBinaryOps + " (at position 2)"},
        TextCase{"ValueAfterNegatedKey", "!x=a",
                 "found '=', expected: ',' or 'end of string' (at position 2)"},
        TextCase{"ChainedEquals", "x==a==b",
                 "found '==', expected: ',' or 'end of string' (at position 4)"},
        TextCase{"TwoRequirementsUnseparated", "a in (xyz)b notin ()",
                 "found 'b', expected: ',' or 'end of string' (at position 10)"},
        TextCase{"OrBetweenRequirements", "x=a||y=b",
                 kUnable + "values[0][x]: Invalid value: \"a||y\": " + kValueFormat +
                     " (at position 2)"},
        TextCase{"SpaceInsideSet", "a in (xyz abc)",
                 kUnable + "found 'abc', expected: ',' or ')' (at position 10)"},
        TextCase{"UnclosedSet", "x in (a",
                 kUnable + "found '', expected: ',' or ')' (at position 7, the end of the "
                           "selector)"},
        TextCase{"SetNeverOpened", "a notin(",
                 kUnable + "found '', expected: ',', ')' or identifier (at position 8, the end "
                           "of the selector)"},
        TextCase{"SetWithoutParens", "x in y", kUnable + "found 'y' expected: '(' (at position 5)"},
        TextCase{"OperatorInsideSet", "x in (a,=)",
                 kUnable + "found '=', expected: ',', or identifier (at position 8)"},
        TextCase{"OperatorAsValue", "x=!y",
                 kUnable + "found '!', expected: identifier (at position 2)"},
        TextCase{"NegationWithoutKey", "!",
                 kUnable + "found '', expected: identifier (at position "
                           "1, the end of the selector)"},
        TextCase{"NonIntegerBound", "x<a",
                 kUnable + "values[0]: Invalid value: \"a\": " + kInteger + " (at position 2)"},
        TextCase{"EmptyBound", "x>",
                 kUnable + "values[0]: Invalid value: \"\": " + kInteger +
                     " (at position 2, the end of the selector)"},
        TextCase{"BoundOutOfInt64", "x>9223372036854775808",
                 kUnable + "values[0]: Invalid value: \"9223372036854775808\": " + kInteger +
                     " (at position 2)"},
        TextCase{
            "NegativeBoundIsNoLabelValue", "x>-1",
            kUnable + "values[0][x]: Invalid value: \"-1\": " + kValueFormat + " (at position 2)"},
        TextCase{"BoundWithBothProblems", "x > a|b",
                 kUnable + "[values[0]: Invalid value: \"a|b\": " + kInteger +
                     ", values[0][x]: Invalid value: \"a|b\": " + kValueFormat +
                     "] (at position 4)"},
        TextCase{
            "PipeInValue", "x=a|b",
            kUnable + "values[0][x]: Invalid value: \"a|b\": " + kValueFormat + " (at position 2)"},
        TextCase{
            "StarInSetValue", "x in (a, b*)",
            kUnable + "values[1][x]: Invalid value: \"b*\": " + kValueFormat + " (at position 9)"},
        TextCase{
            "PipeInKey", "x|y=a",
            kUnable + "key: Invalid value: \"x|y\": name part " + kNameFormat + " (at position 0)"},
        TextCase{"QuoteInKeyIsEscaped", "a\"b",
                 kUnable + "key: Invalid value: \"a\\\"b\": name part " + kNameFormat +
                     " (at position 0)"},
        TextCase{"EmptyName", "example.com/",
                 kUnable +
                     "key: Invalid value: \"example.com/\": name part must be non-empty; "
                     "name part " +
                     kNameFormat + " (at position 0)"},
        TextCase{"EmptyPrefix", "x, /y",
                 kUnable + "key: Invalid value: \"/y\": prefix part must be non-empty "
                           "(at position 3)"},
        TextCase{"UpperCasePrefix", "Example.com/y",
                 kUnable + "key: Invalid value: \"Example.com/y\": prefix part " +
                     kSubdomainFormat + " (at position 0)"},
        TextCase{"TwoSlashes", "a/b/c",
                 kUnable + "key: Invalid value: \"a/b/c\": a qualified name " + kNameFormat +
                     " with an optional DNS subdomain prefix and '/' (e.g. "
                     "'example.com/MyName') (at position 0)"},
        TextCase{"LongName", k64,
                 kUnable + "key: Invalid value: \"" + k64 +
                     "\": name part must be no more than 63 characters (at position 0)"},
        TextCase{"LongValue", "x=" + k64,
                 kUnable + "values[0][x]: Invalid value: \"" + k64 +
                     "\": must be no more than 63 characters (at position 2)"},
        TextCase{"NulSeparatesWords", std::string("x\0y", 3),
                 kUnable + "found 'y', " + kBinaryOps + " (at position 2)"},
        TextCase{"InvalidUtf8IsReplaced", "x \xff\xC3\xA9",
                 kUnable + "found '\xEF\xBF\xBD\xC3\xA9', " + kBinaryOps + " (at position 2)"},
        TextCase{"InvalidUtf8InValueIsEscaped", "x=\xff",
                 kUnable + "values[0][x]: Invalid value: \"\\xff\": " + kValueFormat +
                     " (at position 2)"},
        TextCase{"NulStartingATokenEndsTheInput", std::string("x, \0y", 5),
                 "found '', expected: identifier after ',' (at position 3)"}),
    CaseName);

// Only [A-Za-z0-9_.-] make a label value, so regex metacharacters other than '.' are
// rejected, and '.' matches only itself.
class SelectorRegexMetacharacter : public testing::TestWithParam<TextCase> {};

TEST_P(SelectorRegexMetacharacter, ValidOnlyWhereApimachineryAllows) {
  Result<LabelSelector> selector = LabelSelector::Parse(GetParam().input);
  ASSERT_EQ(selector.ok(), GetParam().valid) << selector.status().ToString();
  if (selector.ok()) {
    EXPECT_EQ(selector->String(), GetParam().expected);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, SelectorRegexMetacharacter,
    testing::Values(
        TextCase{"Dot", "x=a.b", "x=a.b"},
        TextCase{"Dots", "x in (a.b.c, 10.0.0.1)", "x in (10.0.0.1,a.b.c)"},
        TextCase{"DotUnderscoreDash", "x!=a_b-c.d", "x!=a_b-c.d"},
        TextCase{"DotInKeyPrefix", "a.b/c.d=e.f", "a.b/c.d=e.f"},
        TextCase{"LeadingDot", "x=.a", "", false}, TextCase{"TrailingDot", "x=a.", "", false},
        TextCase{"DotStar", "x=.*", "", false}, TextCase{"Pipe", "x=x|y", "", false},
        TextCase{"PipeInSet", "x in (a,x|y)", "", false},
        TextCase{"PipeInNotIn", "x notin (x|y)", "", false}, TextCase{"Star", "x=*", "", false},
        TextCase{"TrailingStar", "x=a*", "", false}, TextCase{"Plus", "x=a+b", "", false},
        TextCase{"Question", "x=a?", "", false}, TextCase{"Caret", "x=^a", "", false},
        TextCase{"Dollar", "x=a$", "", false}, TextCase{"Brackets", "x=[a]", "", false},
        TextCase{"Braces", "x=a{2}", "", false}, TextCase{"Backslash", "x=a\\.b", "", false},
        TextCase{"Parens", "x=(a)", "", false}, TextCase{"PipeInKey", "a|b", "", false}),
    CaseName);

TEST(SelectorRegexMetacharacter, DotMatchesOnlyADot) {
  Result<LabelSelector> selector = LabelSelector::Parse("x in (a.b)");
  ASSERT_TRUE(selector.ok());
  EXPECT_TRUE(selector->Matches({{"x", "a.b"}}));
  EXPECT_FALSE(selector->Matches({{"x", "axb"}}));
  EXPECT_FALSE(selector->Matches({{"x", "a.bc"}}));
}

struct MatchCase {
  std::string name;
  std::string selector;
  Labels labels;
  bool matches;
};

void PrintTo(const MatchCase& c, std::ostream* os) { *os << c.name << ": " << c.selector; }

class SelectorMatch : public testing::TestWithParam<MatchCase> {};

TEST_P(SelectorMatch, Matches) {
  Result<LabelSelector> selector = LabelSelector::Parse(GetParam().selector);
  ASSERT_TRUE(selector.ok()) << selector.status().ToString();
  EXPECT_EQ(selector->Matches(GetParam().labels), GetParam().matches);
}

INSTANTIATE_TEST_SUITE_P(
    Table, SelectorMatch,
    testing::Values(
        MatchCase{"EverythingMatchesNoLabels", "", {}, true},
        MatchCase{"NotEqualsMissingKey", "x!=a", {}, true},
        MatchCase{"NotInMissingKey", "x notin (a)", {{"y", "a"}}, true},
        MatchCase{"InMissingKey", "x in (a)", {}, false},
        MatchCase{"EmptyValueEquals", "x=", {{"x", ""}}, true},
        MatchCase{"EmptyValueNeedsKey", "x=", {}, false},
        MatchCase{"EmptySetValue", "x in ()", {{"x", ""}}, true},
        MatchCase{"DoubleEquals", "x==a", {{"x", "a"}}, true},
        MatchCase{"KeywordsAsKeyAndValue", "in in (notin)", {{"in", "notin"}}, true},
        MatchCase{"GreaterThanMax", "x>9223372036854775806", {{"x", "9223372036854775807"}}, true},
        MatchCase{
            "NothingAboveMax", "x>9223372036854775807", {{"x", "9223372036854775807"}}, false},
        MatchCase{"LabelOutOfInt64", "x<1", {{"x", "-9223372036854775809"}}, false},
        MatchCase{"NegativeLabel", "x<1", {{"x", "-5"}}, true},
        MatchCase{"PlusSignedLabel", "x>4", {{"x", "+5"}}, true},
        MatchCase{"LeadingZeros", "x>0010", {{"x", "011"}}, true},
        MatchCase{"GreaterIsStrict", "x>5", {{"x", "5"}}, false},
        MatchCase{"DecimalLabel", "x>4", {{"x", "5.0"}}, false},
        MatchCase{"SpacedLabel", "x>4", {{"x", " 5"}}, false},
        MatchCase{"HexLabel", "x>4", {{"x", "0x10"}}, false},
        MatchCase{"UnderscoreLabel", "x>4", {{"x", "1_000"}}, false},
        MatchCase{"GreaterNeedsKey", "x>4", {}, false},
        MatchCase{
            "AllRequirements", "a,b!=c,d in (e),!f", {{"a", ""}, {"b", "x"}, {"d", "e"}}, true},
        MatchCase{"OneRequirementFails",
                  "a,b!=c,d in (e),!f",
                  {{"a", ""}, {"b", "x"}, {"d", "e"}, {"f", "1"}},
                  false}),
    [](const testing::TestParamInfo<MatchCase>& info) { return info.param.name; });

class SelectorCanonical : public testing::TestWithParam<TextCase> {};

TEST_P(SelectorCanonical, StringIsCanonicalAndReparses) {
  Result<LabelSelector> selector = LabelSelector::Parse(GetParam().input);
  ASSERT_TRUE(selector.ok()) << selector.status().ToString();
  EXPECT_EQ(selector->String(), GetParam().expected);
  Result<LabelSelector> again = LabelSelector::Parse(selector->String());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *selector);
}

INSTANTIATE_TEST_SUITE_P(
    Table, SelectorCanonical,
    testing::Values(
        TextCase{"SortedByKey", "z=1,a=2,m", "a=2,m,z=1"},
        TextCase{"SameKeyKeepsInputOrder", "b,a!=1,a", "a!=1,a,b"},
        TextCase{"ValuesSortedAndDeduplicated", "x notin (c, a,b ,a)", "x notin (a,b,c)"},
        TextCase{"EmptyValues", "x in (,a,,),y in ( )", "x in (,a),y in ()"},
        TextCase{"KeywordKeys", "notin,in=in,!in", "in=in,!in,notin"},
        TextCase{"EvenCommaRunBeforeClose", "x in (a,,,,)", "x in (,a)"},
        TextCase{"WhitespaceKinds", " \tx\r\n>\n7 , !y ", "x>7,!y"},
        TextCase{"OnlyWhitespace", " \t\r\n", ""},
        TextCase{"PrefixedKey", "example.com/app in (web,api)", "example.com/app in (api,web)"},
        TextCase{"NulStartingATokenEndsTheInput", std::string("x \0!garbage(", 12), "x"},
        TextCase{"NulEndingATokenIsSkipped", std::string("x,\0y=\0a", 7), "x,y=a"}),
    CaseName);

TEST(LabelSelector, DeterministicWhateverTheInputOrder) {
  Result<LabelSelector> a = LabelSelector::Parse("x=a,a=x");
  Result<LabelSelector> b = LabelSelector::Parse("a=x,x=a");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(a->String(), "a=x,x=a");
}

TEST(LabelSelector, EverythingAndDefaultMatchAll) {
  for (const LabelSelector& selector : {LabelSelector::Everything(), LabelSelector()}) {
    EXPECT_TRUE(selector.Empty());
    EXPECT_EQ(selector.String(), "");
    EXPECT_TRUE(selector.Matches({}));
    EXPECT_TRUE(selector.Matches({{"a", "b"}}));
  }
  Result<LabelSelector> parsed = LabelSelector::Parse("x");
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->Empty());
}

TEST(SelectorOperatorString, AsSelectionOperator) {
  EXPECT_EQ(SelectorOperatorString(SelectorOperator::kDoesNotExist), "!");
  EXPECT_EQ(SelectorOperatorString(SelectorOperator::kEquals), "=");
  EXPECT_EQ(SelectorOperatorString(SelectorOperator::kDoubleEquals), "==");
  EXPECT_EQ(SelectorOperatorString(SelectorOperator::kIn), "in");
  EXPECT_EQ(SelectorOperatorString(SelectorOperator::kNotEquals), "!=");
  EXPECT_EQ(SelectorOperatorString(SelectorOperator::kNotIn), "notin");
  EXPECT_EQ(SelectorOperatorString(SelectorOperator::kExists), "exists");
  EXPECT_EQ(SelectorOperatorString(SelectorOperator::kGreaterThan), "gt");
  EXPECT_EQ(SelectorOperatorString(SelectorOperator::kLessThan), "lt");
}

// ----- NewRequirement, FromSet, Requirement::String -------------------------------------------

struct RequirementCase {
  std::string name;
  std::string key;
  SelectorOperator op;
  std::vector<std::string> values;
  std::string expected;  // String() when valid, else the error message
  bool valid = true;
};

void PrintTo(const RequirementCase& c, std::ostream* os) { *os << c.name; }

class NewRequirementTable : public testing::TestWithParam<RequirementCase> {};

TEST_P(NewRequirementTable, ValidatesLikeApimachinery) {
  const RequirementCase& c = GetParam();
  Result<Requirement> requirement = NewRequirement(c.key, c.op, c.values);
  ASSERT_EQ(requirement.ok(), c.valid) << requirement.status().ToString();
  EXPECT_EQ(requirement.ok() ? requirement->String() : requirement.status().message(), c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Table, NewRequirementTable,
    testing::Values(
        RequirementCase{
            "SortsAndDeduplicates", "x", SelectorOperator::kIn, {"b", "a", "b"}, "x in (a,b)"},
        RequirementCase{"EmptySet",
                        "x",
                        SelectorOperator::kIn,
                        {},
                        "values: Invalid value: []: for 'in', 'notin' operators, values set "
                        "can't be empty",
                        false},
        RequirementCase{"TwoExactValues",
                        "x",
                        SelectorOperator::kEquals,
                        {"a", "b"},
                        "values: Invalid value: [\"a\",\"b\"]: exact-match compatibility requires "
                        "one single value",
                        false},
        RequirementCase{"ExistsWithValue",
                        "x",
                        SelectorOperator::kExists,
                        {"a"},
                        "values: Invalid value: [\"a\"]: values set must be empty for exists and "
                        "does not exist",
                        false},
        RequirementCase{"TwoBounds",
                        "x",
                        SelectorOperator::kLessThan,
                        {"1", "2"},
                        "values: Invalid value: [\"1\",\"2\"]: for 'Gt', 'Lt' operators, exactly "
                        "one value is required",
                        false},
        RequirementCase{"EverythingWrong",
                        "",
                        SelectorOperator::kGreaterThan,
                        {"x"},
                        "[key: Invalid value: \"\": name part must be non-empty; name part " +
                            kNameFormat + ", values[0]: Invalid value: \"x\": " + kInteger + "]",
                        false}),
    [](const testing::TestParamInfo<RequirementCase>& info) { return info.param.name; });

TEST(Requirement, StringSortsHandBuiltValuesAndKeepsDuplicates) {
  const Requirement requirement{"x", SelectorOperator::kNotIn, {"b", "a", "b"}};
  EXPECT_EQ(requirement.String(), "x notin (a,b,b)");
}

TEST(LabelSelector, FromSetValidatesEveryLabel) {
  Result<LabelSelector> selector = LabelSelector::FromSet({{"a", "b|c"}, {"x|y", "z"}});
  ASSERT_FALSE(selector.ok());
  EXPECT_EQ(selector.status().message(), "[values[0][a]: Invalid value: \"b|c\": " + kValueFormat +
                                             ", key: Invalid value: \"x|y\": name part " +
                                             kNameFormat + "]");
  Result<LabelSelector> valid = LabelSelector::FromSet({{"b", "2"}, {"a", "1"}});
  ASSERT_TRUE(valid.ok());
  EXPECT_TRUE(valid->Matches({{"a", "1"}, {"b", "2"}, {"c", "3"}}));
  EXPECT_FALSE(valid->Matches({{"a", "1"}}));
}

TEST(LabelSelector, FromRequirementsSortsStablyByKey) {
  const LabelSelector selector =
      LabelSelector::FromRequirements({{"z", SelectorOperator::kExists, {}},
                                       {"a", SelectorOperator::kEquals, {"1"}},
                                       {"z", SelectorOperator::kNotEquals, {"2"}}});
  EXPECT_EQ(selector.String(), "a=1,z,z!=2");
}

// ----- ParseEqualityMap (ConvertSelectorToLabelsMap) ------------------------------------------

class EqualityMapError : public testing::TestWithParam<TextCase> {};

TEST_P(EqualityMapError, SaysWhere) {
  Result<Labels> labels = LabelSelector::ParseEqualityMap(GetParam().input);
  ASSERT_FALSE(labels.ok());
  EXPECT_EQ(labels.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(labels.status().message(), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Table, EqualityMapError,
    testing::Values(TextCase{"BareKey", "x=a,y", "invalid selector: [y] (at position 4)"},
                    TextCase{"DoubleEquals", "x==y", "invalid selector: [x  y] (at position 0)"},
                    TextCase{"TrailingComma", "x=a,",
                             "invalid selector: [] (at position 4, the end of the selector)"},
                    TextCase{"InvalidValue", "x=a, y = $z",
                             "[y]: Invalid value: \"$z\": " + kValueFormat + " (at position 9)"},
                    TextCase{"InvalidKey", "x y=a",
                             "key: Invalid value: \"x y\": name part " + kNameFormat +
                                 " (at position 0)"}),
    CaseName);

TEST(EqualityMap, TrimsUnicodeSpaceAndKeepsTheLastValue) {
  Result<Labels> labels =
      LabelSelector::ParseEqualityMap("\xC2\xA0x = a\xE3\x80\x80,\v y=b\f, x = c ");
  ASSERT_TRUE(labels.ok()) << labels.status().ToString();
  EXPECT_EQ(*labels, (Labels{{"x", "c"}, {"y", "b"}}));
}

// ----- label_validation.h --------------------------------------------------------------------

TEST(GoQuote, EscapesLikeGo) {
  EXPECT_EQ(GoQuote("plain"), "\"plain\"");
  EXPECT_EQ(GoQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(GoQuote("\t\n\x01\x7f"), "\"\\t\\n\\x01\\x7f\"");
  EXPECT_EQ(GoQuote("\xff"
                    "a"),
            "\"\\xffa\"");
  EXPECT_EQ(GoQuote("\xC3\xA9"), "\"\xC3\xA9\"");             // é stays
  EXPECT_EQ(GoQuote("\xC2\xA0"), "\"\\u00a0\"");              // no-break space
  EXPECT_EQ(GoQuote("\xED\xA0\x80"), "\"\\xed\\xa0\\x80\"");  // a surrogate is not UTF-8
}

TEST(ToValidUtf8, ReplacesEachInvalidByte) {
  EXPECT_EQ(ToValidUtf8("a\xC3\xA9" "b"), "a\xC3\xA9" "b");
  EXPECT_EQ(ToValidUtf8("\xff\xC3"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(ToValidUtf8("\xE2\x80z"), "\xEF\xBF\xBD\xEF\xBF\xBDz");
}

TEST(LabelValidation, LengthLimits) {
  EXPECT_TRUE(LabelValueErrors(std::string(63, 'a')).empty());
  EXPECT_TRUE(LabelValueErrors("").empty());
  EXPECT_TRUE(QualifiedNameErrors(std::string(253, 'a') + "/" + std::string(63, 'b')).empty());
  EXPECT_EQ(QualifiedNameErrors(std::string(254, 'a') + "/b"),
            std::vector<std::string>{"prefix part must be no more than 253 characters"});
  EXPECT_TRUE(DnsSubdomainErrors("a-1.b.c").empty());
  EXPECT_FALSE(DnsSubdomainErrors("a..b").empty());
  EXPECT_FALSE(DnsSubdomainErrors("a_b").empty());
}

}  // namespace
}  // namespace sextant::apiserver

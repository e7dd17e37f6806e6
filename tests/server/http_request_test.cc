// Table-driven tests of the request decoding rules the HTTPS listener applies (Go's net/url
// behaviour: url.PathUnescape for the path, url.ParseQuery for the query) and of the header
// and query accessors.
#include "server/http_request.h"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace sextant::server {
namespace {

struct PathCase {
  const char* name;
  const char* target;
  std::optional<std::string> path;  // nullopt: InvalidArgument
};

void PrintTo(const PathCase& c, std::ostream* os) { *os << c.name; }

const PathCase kPathCases[] = {
    {"plain", "/apis/external.metrics.k8s.io", "/apis/external.metrics.k8s.io"},
    {"query_removed", "/apis?labelSelector=a", "/apis"},
    {"escaped_space", "/a%20b?x=%zz", "/a b"},
    {"escaped_slash_decoded", "/a%2Fb", "/a/b"},
    {"plus_stays_plus", "/a+b", "/a+b"},
    {"lower_case_hex", "/%e2%9c%93", "/\xe2\x9c\x93"},
    {"root", "/", "/"},
    {"absolute_form", "https://sextant:6443/apis/x?y=1", "/apis/x"},
    {"absolute_form_no_path", "http://sextant", "/"},
    {"invalid_hex", "/a%zz", std::nullopt},
    {"truncated_escape", "/a%4", std::nullopt},
    {"lone_percent", "/a%", std::nullopt},
    {"not_absolute", "apis", std::nullopt},
    {"asterisk", "*", std::nullopt},
    {"empty", "", std::nullopt},
};

class DecodeRequestPathTest : public testing::TestWithParam<PathCase> {};

TEST_P(DecodeRequestPathTest, DecodesLikeGo) {
  const PathCase& c = GetParam();
  Result<std::string> path = DecodeRequestPath(c.target);
  if (c.path) {
    ASSERT_TRUE(path.ok()) << path.status().ToString();
    EXPECT_EQ(*path, *c.path);
  } else {
    ASSERT_FALSE(path.ok()) << *path;
    EXPECT_EQ(path.status().code(), StatusCode::kInvalidArgument);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, DecodeRequestPathTest, testing::ValuesIn(kPathCases),
                         [](const auto& info) { return std::string(info.param.name); });

struct QueryCase {
  const char* name;
  const char* raw;
  QueryParams want;
};

void PrintTo(const QueryCase& c, std::ostream* os) { *os << c.name; }

const QueryCase kQueryCases[] = {
    {"empty", "", {}},
    {"one_pair", "labelSelector=a%3Db", {{"labelSelector", "a=b"}}},
    {"plus_is_space", "labelSelector=model_name+in+(a,b)",
     {{"labelSelector", "model_name in (a,b)"}}},
    {"escaped_plus", "labelSelector=a%2Bb", {{"labelSelector", "a+b"}}},
    {"repeated_keeps_order", "a=1&a=2", {{"a", "1"}, {"a", "2"}}},
    {"bad_escape_skips_pair", "x=%zz&labelSelector=ok", {{"labelSelector", "ok"}}},
    {"bad_escape_in_key", "%g=1&b=2", {{"b", "2"}}},
    {"semicolon_skips_pair", "a=1;b=2&c=3", {{"c", "3"}}},
    {"key_without_value", "flag&x=", {{"flag", ""}, {"x", ""}}},
    {"empty_key", "=v", {{"", "v"}}},
    {"empty_pairs", "&&a=1&", {{"a", "1"}}},
    {"value_with_equals", "labelSelector=tier==gold", {{"labelSelector", "tier==gold"}}},
    {"trailing_percent", "a=b%", {}},
};

class ParseQueryTest : public testing::TestWithParam<QueryCase> {};

TEST_P(ParseQueryTest, ParsesLikeGo) {
  EXPECT_EQ(ParseQuery(GetParam().raw), GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(Cases, ParseQueryTest, testing::ValuesIn(kQueryCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(RawQuery, IsWhatFollowsTheFirstQuestionMark) {
  EXPECT_EQ(RawQuery("/p?a=1?b"), "a=1?b");
  EXPECT_EQ(RawQuery("/p"), "");
  EXPECT_EQ(RawQuery("/p?"), "");
}

TEST(HttpRequest, HeadersAreCaseInsensitiveAndKeepOrder) {
  HttpRequest request;
  request.headers = {{"X-Remote-Group", "a"}, {"Accept", "*/*"}, {"x-remote-group", "b"},
                     {"X-REMOTE-USER", "u"}};
  EXPECT_EQ(request.HeaderValues("x-remote-group"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(request.Header("X-Remote-User"), "u");
  EXPECT_EQ(request.Header("Missing"), "");
  EXPECT_EQ(request.HeaderNames(),
            (std::vector<std::string>{"X-Remote-Group", "Accept", "X-REMOTE-USER"}));
}

TEST(HttpRequest, QueryValueIsTheFirstOne) {
  HttpRequest request;
  request.query = ParseQuery("labelSelector=&labelSelector=b");
  EXPECT_EQ(request.QueryValue("labelSelector"), std::optional<std::string>(""));
  EXPECT_EQ(request.QueryValue("other"), std::nullopt);
}

}  // namespace
}  // namespace sextant::server

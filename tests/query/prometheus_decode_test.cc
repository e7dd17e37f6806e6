// Decoding of Prometheus HTTP API responses: one named case per row (success shapes,
// timestamps, sample values, error envelopes and HTTP codes, malformed documents, series),
// the upstream JSON vectors read from ../shared/conformance/prometheus_api_notes.md, and a
// fixed-seed mutation test that only checks nothing crashes or throws.
#include "query/prometheus_decode.h"

#include <gtest/gtest.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#ifndef SEXTANT_CONFORMANCE_DIR
#define SEXTANT_CONFORMANCE_DIR "../shared/conformance"  // from /work/main, ad hoc builds
#endif

namespace sextant::query {
namespace {

// ---------------------------------------------------------------------------------------------
// Rendering results as one line of text, so that table rows can state what they expect.

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return error == std::errc() ? std::string(buffer, end) : "?";
}

std::string FormatSample(const Sample& sample) {
  return FormatValue(sample.value) + "@" + std::to_string(sample.timestamp_ms);
}

std::string FormatLabels(const LabelSet& labels) {
  std::string out = "{";
  for (const auto& [name, value] : labels) {
    if (out.size() > 1) out += ",";
    out += name + "=\"" + value + "\"";
  }
  return out + "}";
}

std::string FormatList(const std::vector<std::string>& list) {
  std::string out = "[";
  for (const std::string& item : list) out += (out.size() > 1 ? ",\"" : "\"") + item + "\"";
  return out + "]";
}

// "vector: {job="a"} 1@1000, ...", "matrix: {job="a"} [1@1000 2@2000], ...", "scalar: 1@1000",
// "string: "text"@1000", then " warnings=[...]", " infos=[...]", " skipped_histograms=N".
std::string Render(const QueryResult& result) {
  std::string out;
  switch (result.type) {
    case QueryResult::Type::kVector:
      out = "vector:";
      for (const InstantSeries& s : result.vector) {
        out +=
            (out.size() > 7 ? ", " : " ") + FormatLabels(s.labels) + " " + FormatSample(s.sample);
      }
      break;
    case QueryResult::Type::kMatrix:
      out = "matrix:";
      for (const RangeSeries& s : result.matrix) {
        out += (out.size() > 7 ? ", " : " ") + FormatLabels(s.labels) + " [";
        for (size_t i = 0; i < s.samples.size(); ++i) {
          out += (i ? " " : "") + FormatSample(s.samples[i]);
        }
        out += "]";
      }
      break;
    case QueryResult::Type::kScalar:
      out = "scalar: " + FormatSample(result.scalar);
      break;
    case QueryResult::Type::kString:
      out = "string: \"" + result.string_value + "\"@" + std::to_string(result.string_timestamp_ms);
      break;
  }
  if (!result.warnings.empty()) out += " warnings=" + FormatList(result.warnings);
  if (!result.infos.empty()) out += " infos=" + FormatList(result.infos);
  if (result.skipped_histograms != 0) {
    out += " skipped_histograms=" + std::to_string(result.skipped_histograms);
  }
  return out;
}

std::string RenderSeries(const std::vector<LabelSet>& series) {
  std::string out = "series:";
  for (const LabelSet& labels : series) out += " " + FormatLabels(labels);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Building bodies.

std::string Success(const std::string& data) {
  return R"({"status":"success","data":)" + data + "}";
}
std::string Data(const std::string& type, const std::string& result) {
  return Success(R"({"resultType":")" + type + R"(","result":)" + result + "}");
}
std::string VectorOf(const std::string& result) { return Data("vector", result); }
std::string MatrixOf(const std::string& result) { return Data("matrix", result); }
std::string ScalarOf(const std::string& point) { return Data("scalar", point); }
std::string ErrorOf(const std::string& type, const std::string& text) {
  return R"({"status":"error","errorType":")" + type + R"(","error":")" + text + R"("})";
}

// ---------------------------------------------------------------------------------------------
// Success responses.

struct DecodeCase {
  std::string name;
  std::string body;
  std::string want;  // Render() of the result
};
void PrintTo(const DecodeCase& row, std::ostream* os) { *os << row.name; }

class DecodeQuery : public ::testing::TestWithParam<DecodeCase> {};

TEST_P(DecodeQuery, Decodes) {
  const DecodeCase& c = GetParam();
  Result<QueryResult> got = DecodeQueryResponse(200, c.body);
  ASSERT_TRUE(got.ok()) << got.status().ToString() << "\n" << c.body;
  EXPECT_EQ(Render(*got), c.want) << c.body;
}

const DecodeCase kDecodeCases[] = {
    {"vector_two_series",
     VectorOf(R"([{"metric":{"__name__":"up","job":"a"},"value":[1435781451.781,"1"]},)"
              R"({"metric":{"job":"b"},"value":[1435781451,"0.5"]}])"),
     R"(vector: {__name__="up",job="a"} 1@1435781451781, {job="b"} 0.5@1435781451000)"},
    {"vector_empty", VectorOf("[]"), "vector:"},
    {"vector_null_result", VectorOf("null"), "vector:"},
    {"vector_absent_result", Success(R"({"resultType":"vector"})"), "vector:"},
    {"vector_empty_metric", VectorOf(R"([{"metric":{},"value":[1,"2"]}])"), "vector: {} 2@1000"},
    {"vector_nan_and_infinities",
     VectorOf(R"([{"metric":{"a":"1"},"value":[0,"NaN"]},{"metric":{"a":"2"},"value":[0,"+Inf"]},)"
              R"({"metric":{"a":"3"},"value":[0,"-Inf"]}])"),
     R"(vector: {a="1"} NaN@0, {a="2"} +Inf@0, {a="3"} -Inf@0)"},
    {"vector_histogram_skipped",
     VectorOf(R"([{"metric":{"a":"1"},"histogram":[1,{"count":"10","sum":"20"}]},)"
              R"({"metric":{"a":"2"},"value":[1,"3"]}])"),
     R"(vector: {a="2"} 3@1000 skipped_histograms=1)"},
    {"vector_value_wins_over_histogram",
     VectorOf(R"([{"metric":{},"value":[1,"3"],"histogram":[1,{"count":"1","sum":"1"}]}])"),
     "vector: {} 3@1000"},
    {"vector_label_escapes", VectorOf(R"([{"metric":{"path":"a\"b\\c\u00e9\n"},"value":[1,"1"]}])"),
     "vector: {path=\"a\"b\\c\xc3\xa9\n\"} 1@1000"},
    {"matrix_two_series",
     MatrixOf(R"([{"metric":{"job":"a"},"values":[[1,"1"],[1.5,"2"],[2,"3"]]},)"
              R"({"metric":{"job":"b"},"values":[[1,"4"]]}])"),
     R"(matrix: {job="a"} [1@1000 2@1500 3@2000], {job="b"} [4@1000])"},
    {"matrix_empty", MatrixOf("[]"), "matrix:"},
    {"matrix_values_and_histograms",
     MatrixOf(R"([{"metric":{"a":"1"},"values":[[1,"1"]],)"
              R"("histograms":[[2,{"count":"1","sum":"1"}],[3,{"count":"2","sum":"2"}]]}])"),
     R"(matrix: {a="1"} [1@1000] skipped_histograms=2)"},
    {"matrix_histograms_only_series_dropped",
     MatrixOf(R"([{"metric":{"a":"1"},"histograms":[[2,{"count":"1","sum":"1"}]]}])"),
     "matrix: skipped_histograms=1"},
    {"matrix_empty_values_series_dropped", MatrixOf(R"([{"metric":{"a":"1"},"values":[]}])"),
     "matrix:"},
    {"scalar", ScalarOf(R"([1435781451.781,"42"])"), "scalar: 42@1435781451781"},
    {"scalar_nan", ScalarOf(R"([1,"NaN"])"), "scalar: NaN@1000"},
    {"scalar_go_float_timestamp", ScalarOf(R"([1.01,"1"])"), "scalar: 1@1010"},
    {"string", Data("string", R"([1435781451.781,"hello"])"), R"(string: "hello"@1435781451781)"},
    {"string_empty", Data("string", R"([0,""])"), R"(string: ""@0)"},
    {"warnings_and_infos",
     R"({"status":"success","data":{"resultType":"vector","result":[]},)"
     R"("warnings":["w1","w2"],"infos":["i1"]})",
     R"(vector: warnings=["w1","w2"] infos=["i1"])"},
    {"null_warnings",
     R"({"status":"success","data":{"resultType":"scalar","result":[1,"1"]},)"
     R"("warnings":null})",
     "scalar: 1@1000"},
    {"unknown_members_ignored",
     R"({"status":"success","data":{"resultType":"scalar","result":[1,"1"],)"
     R"("stats":{"timings":{"evalTotalTime":0.1}}},"extra":[1,2,{"x":null}]})",
     "scalar: 1@1000"},
    {"whitespace_around_document",
     " \n\t{ \"status\" : \"success\" , \"data\" : { \"resultType\" : \"scalar\" , "
     "\"result\" : [ 1 , \"1\" ] } } \r\n",
     "scalar: 1@1000"},
    {"repeated_key_last_wins",
     R"({"status":"success","data":{"resultType":"scalar","result":[1,"1"]},)"
     R"("data":{"resultType":"scalar","result":[2,"2"]}})",
     "scalar: 2@2000"},
};

INSTANTIATE_TEST_SUITE_P(Table, DecodeQuery, ::testing::ValuesIn(kDecodeCases),
                         [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// Timestamps: unix seconds (JSON number) -> exact milliseconds.

struct TimestampCase {
  std::string name;
  std::string seconds;  // the JSON number text
  bool ok;
  int64_t want_ms;
};
void PrintTo(const TimestampCase& row, std::ostream* os) { *os << row.name; }

class DecodeTimestamp : public ::testing::TestWithParam<TimestampCase> {};

TEST_P(DecodeTimestamp, ConvertsExactly) {
  const TimestampCase& c = GetParam();
  Result<QueryResult> got = DecodeQueryResponse(200, ScalarOf("[" + c.seconds + ",\"1\"]"));
  ASSERT_EQ(got.ok(), c.ok) << c.seconds << ": " << got.status().ToString();
  if (c.ok) {
    EXPECT_EQ(got->scalar.timestamp_ms, c.want_ms) << c.seconds;
  } else {
    EXPECT_EQ(got.status().code(), StatusCode::kInternal);
  }
}

const TimestampCase kTimestampCases[] = {
    {"integer", "1435781451", true, 1435781451000},
    {"millis_fraction", "1435781451.781", true, 1435781451781},
    {"trailing_zero_fraction", "1.010", true, 1010},
    {"short_fraction", "1.01", true, 1010},
    {"one_milli", "0.001", true, 1},
    {"negative_milli", "-0.001", true, -1},
    {"negative_integer", "-5", true, -5000},
    {"zero", "0", true, 0},
    {"negative_zero", "-0", true, 0},
    {"zero_fraction", "0.000", true, 0},
    {"exponent", "1e3", true, 1000000},
    {"upper_exponent_with_sign", "1.5E+2", true, 150000},
    {"negative_exponent", "1435781451781e-3", true, 1435781451781},
    {"sub_milli_rounds_down", "0.0004", true, 0},
    {"sub_milli_half_rounds_away", "0.0005", true, 1},
    {"sub_milli_negative_half_rounds_away", "-0.0005", true, -1},
    {"micro_fraction_rounds", "1435781451.7815", true, 1435781451782},
    {"no_binary_float_error", "1435781451.785", true, 1435781451785},
    {"beyond_double_precision", "12345678123456.555", true, 12345678123456555},
    {"tiny", "1e-400", true, 0},
    {"int64_max_millis", "9223372036854775.807", true, 9223372036854775807},
    {"int64_min_millis", "-9223372036854775.808", true, INT64_MIN},
    {"long_fraction_digits", "1." + std::string(5000, '9'), true, 2000},
    {"leading_zeros_in_fraction", "0." + std::string(5000, '0') + "1", true, 0},
    {"just_above_int64", "9223372036854775.808", false, 0},
    {"just_below_int64", "-9223372036854775.809", false, 0},
    {"large_exponent", "1e30", false, 0},
    {"largest_integer_seconds", "9223372036854775", true, 9223372036854775000},
    {"integer_seconds_overflow", "9223372036854776", false, 0},
    {"int64_max_seconds", "9223372036854775807", false, 0},
    {"uint64_seconds", "18446744073709551615", false, 0},
    {"beyond_uint64_seconds", "184467440737095516150", false, 0},
    {"double_overflow", "1e400", false, 0},
    {"many_digits", std::string(2000, '7'), false, 0},
};

INSTANTIATE_TEST_SUITE_P(Table, DecodeTimestamp, ::testing::ValuesIn(kTimestampCases),
                         [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// Sample values: strings -> double.

struct ValueCase {
  std::string name;
  std::string text;  // the JSON string's content, already escaped for JSON
  bool ok;
  std::string want;  // FormatValue() of the result
};
void PrintTo(const ValueCase& row, std::ostream* os) { *os << row.name; }

class DecodeValue : public ::testing::TestWithParam<ValueCase> {};

TEST_P(DecodeValue, ParsesOrRejects) {
  const ValueCase& c = GetParam();
  Result<QueryResult> got = DecodeQueryResponse(200, ScalarOf("[1,\"" + c.text + "\"]"));
  ASSERT_EQ(got.ok(), c.ok) << c.text << ": " << got.status().ToString();
  if (c.ok) {
    EXPECT_EQ(FormatValue(got->scalar.value), c.want) << c.text;
  } else {
    EXPECT_EQ(got.status().code(), StatusCode::kInternal);
    EXPECT_NE(got.status().message().find("data.result[1]: not a float sample value"),
              std::string::npos)
        << got.status().message();
  }
}

const ValueCase kValueCases[] = {
    {"integer", "1", true, "1"},
    {"negative_decimal", "-1.5", true, "-1.5"},
    {"plus_sign", "+2", true, "2"},
    {"go_f_format", "1234567.8", true, "1234567.8"},
    {"go_small_f_format", "0.0000012345678", true, "1.2345678e-06"},
    {"go_e_format", "1.2345678e-67", true, "1.2345678e-67"},
    {"go_two_digit_exponent", "1e-07", true, "1e-07"},
    {"upper_exponent", "2E+21", true, "2e+21"},
    {"leading_point", ".5", true, "0.5"},
    {"trailing_point", "5.", true, "5"},
    {"exact_round_trip", "0.1", true, "0.1"},
    {"max_double", "1.7976931348623157e308", true, "1.7976931348623157e+308"},
    {"subnormal", "4.9e-324", true, "5e-324"},
    {"underflow_to_zero", "1e-400", true, "0"},
    {"nan", "NaN", true, "NaN"},
    {"plus_inf", "+Inf", true, "+Inf"},
    {"minus_inf", "-Inf", true, "-Inf"},
    {"bare_inf", "Inf", true, "+Inf"},
    {"lower_case_inf", "-inf", true, "-Inf"},
    {"lower_case_nan", "nan", true, "NaN"},
    {"infinity_word", "+Infinity", true, "+Inf"},
    {"long_mantissa", std::string(400, '1') + "e-400", true, "0.1111111111111111"},
    {"empty", "", false, ""},
    {"leading_space", " 1", false, ""},
    {"trailing_space", "1 ", false, ""},
    {"word", "abc", false, ""},
    {"hex", "0x10", false, ""},
    {"hex_float", "0x1p3", false, ""},
    {"exponent_without_digits", "1e", false, ""},
    {"sign_only", "-", false, ""},
    {"point_only", ".", false, ""},
    {"double_sign", "--1", false, ""},
    {"comma_decimal", "1,5", false, ""},
    {"nan_payload", "nan(123)", false, ""},
    {"signed_nan", "+NaN", false, ""},
    {"inf_suffix", "Inf1", false, ""},
    {"underscore", "1_000", false, ""},
    {"overflow", "1e400", false, ""},
    {"long_overflow", std::string(400, '9'), false, ""},
    {"embedded_nul", "1\\u0000", false, ""},
    {"non_ascii_digit", "\xd9\xa1", false, ""},
};

INSTANTIATE_TEST_SUITE_P(Table, DecodeValue, ::testing::ValuesIn(kValueCases),
                         [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// Failures: error envelopes, HTTP codes, malformed bodies, wrong types (with their paths).

struct FailureCase {
  std::string name;
  int http_status;
  std::string body;
  StatusCode want_code;
  std::string want_in_message;
};
void PrintTo(const FailureCase& row, std::ostream* os) { *os << row.name; }

class DecodeFailure : public ::testing::TestWithParam<FailureCase> {};

TEST_P(DecodeFailure, MapsToStatus) {
  const FailureCase& c = GetParam();
  Result<QueryResult> got = DecodeQueryResponse(c.http_status, c.body);
  ASSERT_FALSE(got.ok()) << Render(*got);
  EXPECT_EQ(got.status().code(), c.want_code) << got.status().ToString();
  EXPECT_NE(got.status().message().find(c.want_in_message), std::string::npos)
      << "message: " << got.status().message() << "\nwanted: " << c.want_in_message;
}

const std::string kHtml503 =
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n"
    "<body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>";

const FailureCase kFailureCases[] = {
    // errorType and its default HTTP code (notes section 1).
    {"bad_data_400", 400, ErrorOf("bad_data", R"(invalid parameter \"query\": parse error)"),
     StatusCode::kBackendRejected, R"(invalid parameter "query": parse error)"},
    {"execution_422", 422, ErrorOf("execution", "many-to-many matching not allowed"),
     StatusCode::kBackendRejected, "many-to-many matching not allowed"},
    {"canceled_499", 499, ErrorOf("canceled", "query was canceled"), StatusCode::kUnavailable,
     "query was canceled"},
    {"timeout_503", 503, ErrorOf("timeout", "query timed out in expression evaluation"),
     StatusCode::kUnavailable, "query timed out"},
    {"internal_500", 500, ErrorOf("internal", "storage error"), StatusCode::kUnavailable,
     "storage error"},
    {"unavailable_500", 500, ErrorOf("unavailable", "not ready"), StatusCode::kUnavailable,
     "not ready"},
    {"not_found_404", 404, ErrorOf("not_found", "no such thing"), StatusCode::kInternal,
     "no such thing"},
    {"not_acceptable_406", 406, ErrorOf("not_acceptable", "cannot encode"), StatusCode::kInternal,
     "cannot encode"},
    {"error_type_named_in_message", 400, ErrorOf("bad_data", "x"), StatusCode::kBackendRejected,
     R"(HTTP 400: Prometheus error (errorType "bad_data"): x)"},
    {"unknown_error_type_400", 400, ErrorOf("mystery", "m"), StatusCode::kBackendRejected, "m"},
    {"unknown_error_type_503", 503, ErrorOf("mystery", "m"), StatusCode::kUnavailable, "m"},
    {"unknown_error_type_403", 403, ErrorOf("mystery", "m"), StatusCode::kInternal, "m"},
    {"missing_error_type_422", 422, R"({"status":"error","error":"e"})",
     StatusCode::kBackendRejected, "e"},
    {"error_envelope_with_200", 200, ErrorOf("bad_data", "odd proxy"), StatusCode::kBackendRejected,
     "odd proxy"},
    {"error_with_data", 503,
     R"({"status":"error","data":"test","errorType":"timeout","error":"message"})",
     StatusCode::kUnavailable, "message"},
    // Rate limiting: retryable whatever the body says.
    {"too_many_requests_envelope", 429, ErrorOf("execution", "rate limited"),
     StatusCode::kUnavailable, "rate limited"},
    {"too_many_requests_text", 429, "Too Many Requests\n", StatusCode::kUnavailable,
     "Too Many Requests"},
    // Bodies that are not JSON envelopes.
    {"html_503", 503, kHtml503, StatusCode::kUnavailable, "HTTP 503"},
    {"empty_502", 502, "", StatusCode::kUnavailable, "HTTP 502"},
    {"truncated_500", 500, R"({"status":"error","errorType":"internal")", StatusCode::kUnavailable,
     "not JSON"},
    {"truncated_200", 200, R"({"status":"success","data":{"resultType":"vector","result":[)",
     StatusCode::kInternal, "malformed response: not JSON"},
    {"html_200", 200, "<html><body>login</body></html>", StatusCode::kInternal,
     "malformed response"},
    {"empty_200", 200, "", StatusCode::kInternal, "malformed response"},
    {"trailing_garbage_200", 200, ScalarOf(R"([1,"1"])") + "x", StatusCode::kInternal, "not JSON"},
    {"two_documents_200", 200, ScalarOf(R"([1,"1"])") + ScalarOf(R"([1,"1"])"),
     StatusCode::kInternal, "not JSON"},
    {"unauthorized_text_401", 401, "Unauthorized", StatusCode::kInternal, "HTTP 401"},
    {"bare_nan_literal", 200, ScalarOf("[1,NaN]"), StatusCode::kInternal, "not JSON"},
    {"invalid_utf8", 200, VectorOf("[{\"metric\":{\"a\":\"\xff\xfe\"},\"value\":[1,\"1\"]}]"),
     StatusCode::kInternal, "not JSON"},
    {"snippet_is_printable", 200, "\x01\xffoops", StatusCode::kInternal, "body starts \"??oops\""},
    {"deep_nesting", 200, std::string(100, '[') + std::string(100, ']'), StatusCode::kInternal,
     "nested deeper than 64"},
    {"deep_nesting_in_data", 200, Success(std::string(70, '[') + std::string(70, ']')),
     StatusCode::kInternal, "nested deeper than 64"},
    // Envelope-level problems.
    {"success_with_500", 500, ScalarOf(R"([1,"1"])"), StatusCode::kUnavailable,
     "a success envelope with a non-2xx code"},
    {"success_with_404", 404, ScalarOf(R"([1,"1"])"), StatusCode::kInternal,
     "a success envelope with a non-2xx code"},
    {"top_level_array", 200, "[]", StatusCode::kInternal, "expected an object, got array"},
    {"no_status", 200, R"({"data":{}})", StatusCode::kInternal, R"(no string "status")"},
    {"status_not_string", 200, R"({"status":1})", StatusCode::kInternal, R"(no string "status")"},
    {"unknown_status", 200, R"({"status":"partial"})", StatusCode::kInternal,
     R"(status "partial")"},
    // Wrong types at each level, named by JSON path.
    {"data_missing", 200, R"({"status":"success"})", StatusCode::kInternal,
     "malformed response: data: missing"},
    {"data_string", 200, Success(R"("x")"), StatusCode::kInternal,
     "data: expected an object, got string"},
    {"result_type_missing", 200, Success("{}"), StatusCode::kInternal, "data.resultType: missing"},
    {"result_type_number", 200, Success(R"({"resultType":3})"), StatusCode::kInternal,
     "data.resultType: expected a string, got number"},
    {"result_type_unknown", 200, Data("histogram", "[]"), StatusCode::kInternal,
     R"(data.resultType: unknown result type "histogram")"},
    {"vector_result_object", 200, VectorOf("{}"), StatusCode::kInternal,
     "data.result: expected an array, got object"},
    {"vector_element_not_object", 200, VectorOf("[1]"), StatusCode::kInternal,
     "data.result[0]: expected an object, got number"},
    {"metric_missing", 200, VectorOf(R"([{"value":[1,"1"]}])"), StatusCode::kInternal,
     "data.result[0].metric: missing"},
    {"metric_array", 200, VectorOf(R"([{"metric":[],"value":[1,"1"]}])"), StatusCode::kInternal,
     "data.result[0].metric: expected an object of labels, got array"},
    {"label_value_number", 200, VectorOf(R"([{"metric":{"job":5},"value":[1,"1"]}])"),
     StatusCode::kInternal, R"(data.result[0].metric["job"]: expected a string, got number)"},
    {"label_value_null", 200, VectorOf(R"([{"metric":{"a":"1","b":null},"value":[1,"1"]}])"),
     StatusCode::kInternal, R"(data.result[0].metric["b"]: expected a string, got null)"},
    {"vector_value_missing", 200, VectorOf(R"([{"metric":{}}])"), StatusCode::kInternal,
     R"(data.result[0]: expected a "value" or a "histogram")"},
    {"vector_value_object", 200, VectorOf(R"([{"metric":{},"value":{}}])"), StatusCode::kInternal,
     "data.result[0].value: expected an array [timestamp, value]"},
    {"vector_value_three_elements", 200, VectorOf(R"([{"metric":{},"value":[1,"1","x"]}])"),
     StatusCode::kInternal, "data.result[0].value: expected [timestamp, value], got 3"},
    {"vector_value_empty", 200, VectorOf(R"([{"metric":{},"value":[]}])"), StatusCode::kInternal,
     "data.result[0].value: expected [timestamp, value], got 0"},
    {"timestamp_string", 200,
     VectorOf(R"([{"metric":{},"value":[1,"1"]},{"metric":{},"value":["1","1"]}])"),
     StatusCode::kInternal,
     "data.result[1].value[0]: expected a number (unix seconds), got string"},
    {"timestamp_bool", 200, ScalarOf(R"([true,"1"])"), StatusCode::kInternal,
     "data.result[0]: expected a number (unix seconds), got boolean"},
    {"timestamp_out_of_range", 200, ScalarOf(R"([1e300,"1"])"), StatusCode::kInternal,
     "data.result[0]: timestamp out of range"},
    {"sample_value_number", 200,
     VectorOf(R"([{"metric":{},"value":[1,"1"]},{"metric":{},"value":[1,"1"]},)"
              R"({"metric":{},"value":[1,"1"]},{"metric":{},"value":[1,1]}])"),
     StatusCode::kInternal,
     "malformed response: data.result[3].value[1]: expected a string, got number"},
    {"sample_value_garbage", 200, VectorOf(R"([{"metric":{},"value":[1,"one"]}])"),
     StatusCode::kInternal, "data.result[0].value[1]: not a float sample value"},
    {"vector_histogram_object", 200, VectorOf(R"([{"metric":{},"histogram":{}}])"),
     StatusCode::kInternal, "data.result[0].histogram: expected an array, got object"},
    {"matrix_neither_values_nor_histograms", 200, MatrixOf(R"([{"metric":{}}])"),
     StatusCode::kInternal, R"(data.result[0]: expected "values" or "histograms")"},
    {"matrix_values_object", 200, MatrixOf(R"([{"metric":{},"values":{}}])"), StatusCode::kInternal,
     "data.result[0].values: expected an array, got object"},
    {"matrix_point_bad_value", 200,
     MatrixOf(R"([{"metric":{},"values":[[1,"1"],[2,"2"],[3,false]]}])"), StatusCode::kInternal,
     "data.result[0].values[2][1]: expected a string, got boolean"},
    {"matrix_point_not_array", 200, MatrixOf(R"([{"metric":{},"values":["1"]}])"),
     StatusCode::kInternal, "data.result[0].values[0]: expected an array"},
    {"matrix_histograms_string", 200, MatrixOf(R"([{"metric":{},"histograms":"x"}])"),
     StatusCode::kInternal, "data.result[0].histograms: expected an array, got string"},
    {"matrix_result_string", 200, MatrixOf(R"("x")"), StatusCode::kInternal,
     "data.result: expected an array, got string"},
    {"scalar_result_missing", 200, Success(R"({"resultType":"scalar"})"), StatusCode::kInternal,
     "data.result: missing"},
    {"scalar_result_object", 200, ScalarOf("{}"), StatusCode::kInternal,
     "data.result: expected an array [timestamp, value], got object"},
    {"scalar_result_null", 200, ScalarOf("null"), StatusCode::kInternal,
     "data.result: expected an array [timestamp, value], got null"},
    {"string_value_number", 200, Data("string", "[1,2]"), StatusCode::kInternal,
     "data.result[1]: expected a string, got number"},
    {"warnings_string", 200,
     R"({"status":"success","data":{"resultType":"vector","result":[]},"warnings":"w"})",
     StatusCode::kInternal, "malformed response: warnings: expected an array, got string"},
    {"warning_number", 200,
     R"({"status":"success","data":{"resultType":"vector","result":[]},"warnings":["w",1]})",
     StatusCode::kInternal, "warnings[1]: expected a string, got number"},
    {"info_object", 200,
     R"({"status":"success","data":{"resultType":"vector","result":[]},"infos":[{}]})",
     StatusCode::kInternal, "infos[0]: expected a string, got object"},
};

INSTANTIATE_TEST_SUITE_P(Table, DecodeFailure, ::testing::ValuesIn(kFailureCases),
                         [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// The series endpoint.

struct SeriesCase {
  std::string name;
  int http_status;
  std::string body;
  StatusCode want_code;
  std::string want;  // RenderSeries() when OK, a part of the message otherwise
};
void PrintTo(const SeriesCase& row, std::ostream* os) { *os << row.name; }

class DecodeSeries : public ::testing::TestWithParam<SeriesCase> {};

TEST_P(DecodeSeries, Decodes) {
  const SeriesCase& c = GetParam();
  Result<std::vector<LabelSet>> got = DecodeSeriesResponse(c.http_status, c.body);
  ASSERT_EQ(got.status().code(), c.want_code) << got.status().ToString();
  if (got.ok()) {
    EXPECT_EQ(RenderSeries(*got), c.want);
  } else {
    EXPECT_NE(got.status().message().find(c.want), std::string::npos)
        << "message: " << got.status().message() << "\nwanted: " << c.want;
  }
}

const SeriesCase kSeriesCases[] = {
    {"api_doc_example", 200,
     Success(R"([{"__name__":"up","job":"prometheus","instance":"localhost:9090"},)"
             R"({"__name__":"up","job":"node","instance":"localhost:9091"},)"
             R"({"__name__":"process_start_time_seconds","job":"prometheus",)"
             R"("instance":"localhost:9090"}])"),
     StatusCode::kOk,
     R"(series: {__name__="up",instance="localhost:9090",job="prometheus"})"
     R"( {__name__="up",instance="localhost:9091",job="node"})"
     R"( {__name__="process_start_time_seconds",instance="localhost:9090",job="prometheus"})"},
    {"empty", 200, Success("[]"), StatusCode::kOk, "series:"},
    {"null_data", 200, Success("null"), StatusCode::kOk, "series:"},
    {"absent_data", 200, R"({"status":"success"})", StatusCode::kOk, "series:"},
    {"with_warnings", 200, R"({"status":"success","data":[{}],"warnings":["w"]})", StatusCode::kOk,
     "series: {}"},
    {"data_object", 200, Success("{}"), StatusCode::kInternal,
     "data: expected an array, got object"},
    {"element_not_object", 200, Success(R"([{},"x"])"), StatusCode::kInternal,
     "data[1]: expected an object of labels, got string"},
    {"label_value_number", 200, Success(R"([{"job":1}])"), StatusCode::kInternal,
     R"(data[0]["job"]: expected a string, got number)"},
    {"bad_data_400", 400, ErrorOf("bad_data", "no match[] parameter provided"),
     StatusCode::kBackendRejected, "no match[] parameter provided"},
    {"html_503", 503, kHtml503, StatusCode::kUnavailable, "HTTP 503"},
    {"truncated_200", 200, R"({"status":"success","data":[{"a":)", StatusCode::kInternal,
     "malformed response"},
};

INSTANTIATE_TEST_SUITE_P(Table, DecodeSeries, ::testing::ValuesIn(kSeriesCases),
                         [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// Upstream vectors, read from the conformance notes (section 1 and section 4).

std::string ReadNotes() {
  std::ifstream in(std::string(SEXTANT_CONFORMANCE_DIR) + "/prometheus_api_notes.md");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The JSON after "-> " on the line of section 4 that starts with `prefix`; "" when none.
std::string EnvelopeVector(const std::string& notes, const std::string& prefix) {
  std::istringstream lines(notes);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    const size_t arrow = line.find("-> {");
    if (arrow != std::string::npos) return line.substr(arrow + 3);
  }
  return "";
}

struct EnvelopeVectorCase {
  std::string name;
  std::string line_prefix;  // how the notes' line starts
  std::string want;         // Render() of the result
};
void PrintTo(const EnvelopeVectorCase& row, std::ostream* os) { *os << row.name; }

class UpstreamEnvelope : public ::testing::TestWithParam<EnvelopeVectorCase> {};

TEST_P(UpstreamEnvelope, Decodes) {
  const EnvelopeVectorCase& c = GetParam();
  const std::string body = EnvelopeVector(ReadNotes(), c.line_prefix);
  ASSERT_FALSE(body.empty()) << "no line starting with '" << c.line_prefix << "' in "
                             << SEXTANT_CONFORMANCE_DIR << "/prometheus_api_notes.md";
  Result<QueryResult> got = DecodeQueryResponse(200, body);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(Render(*got), c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Notes, UpstreamEnvelope,
    ::testing::Values(
        EnvelopeVectorCase{"vector", "vector foo@1000ms=1, bar@2000ms=2",
                           R"(vector: {__name__="foo"} 1@1000, {__name__="bar"} 2@2000)"},
        EnvelopeVectorCase{"matrix", "matrix ",
                           R"(matrix: {__name__="foo"} [1@1000], {__name__="bar"} [2@2000])"},
        EnvelopeVectorCase{"histogram_matrix", "histogram (matrix)",
                           "matrix: skipped_histograms=1"}),
    [](const auto& info) { return info.param.name; });

// Section 1: TestRespondError's body, sent with HTTP 503.
TEST(UpstreamRespondError, TimeoutIsUnavailable) {
  const std::string notes = ReadNotes();
  const size_t mention = notes.find("TestRespondError expects exactly");
  ASSERT_NE(mention, std::string::npos);
  const size_t start = notes.find("`{", mention);
  const size_t end = notes.find("}`", start);
  ASSERT_NE(end, std::string::npos);
  const std::string body = notes.substr(start + 1, end - start);
  Result<QueryResult> got = DecodeQueryResponse(503, body);
  ASSERT_FALSE(got.ok()) << body;
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(got.status().message().find("message"), std::string::npos);
}

// Section 4's FPoint vectors: "T:<ms>" and/or "F:<value>" before "-> [<seconds>,"<value>"]".
struct PointVector {
  std::string name;
  std::string point;  // the JSON array
  std::optional<int64_t> want_ms;
  std::optional<std::string> want_value_text;
};
void PrintTo(const PointVector& row, std::ostream* os) { *os << row.name; }

std::string TestNameFor(const std::string& description) {
  std::string name;
  for (char c : description) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      name += c;
    } else if (c == '-') {
      name += "minus";
    } else if (c == '+') {
      name += "plus";
    } else if (!name.empty() && name.back() != '_') {
      name += '_';
    }
  }
  while (!name.empty() && name.back() == '_') name.pop_back();
  return name;
}

std::vector<PointVector> PointVectors() {
  std::vector<PointVector> vectors;
  std::istringstream lines(ReadNotes());
  for (std::string line; std::getline(lines, line);) {
    size_t segment_start = 0;
    for (size_t arrow; (arrow = line.find("-> [", segment_start)) != std::string::npos;) {
      const size_t close = line.find(']', arrow);
      if (close == std::string::npos) break;
      const std::string description = line.substr(segment_start, arrow - segment_start);
      PointVector v;
      v.point = line.substr(arrow + 3, close - arrow - 2);
      std::string label;
      if (size_t t = description.find("T:"); t != std::string::npos) {
        const std::string ms =
            description.substr(t + 2, description.find_first_of(",} ", t) - t - 2);
        v.want_ms = std::strtoll(ms.c_str(), nullptr, 10);
        label += "T" + ms;
      }
      if (size_t f = description.find("F:"); f != std::string::npos) {
        v.want_value_text = description.substr(f + 2, description.find_first_of(",} ", f) - f - 2);
        label += (label.empty() ? "F" : "_F") + *v.want_value_text;
      }
      v.name = TestNameFor(label);
      if (!v.name.empty()) vectors.push_back(v);
      segment_start = close + 1;
    }
  }
  return vectors;
}

class UpstreamPoint : public ::testing::TestWithParam<PointVector> {};

TEST_P(UpstreamPoint, DecodesAsScalar) {
  const PointVector& v = GetParam();
  Result<QueryResult> got = DecodeQueryResponse(200, ScalarOf(v.point));
  ASSERT_TRUE(got.ok()) << v.point << ": " << got.status().ToString();
  if (v.want_ms) {
    EXPECT_EQ(got->scalar.timestamp_ms, *v.want_ms) << v.point;
  }
  if (v.want_value_text) {
    const double want = std::strtod(v.want_value_text->c_str(), nullptr);
    EXPECT_EQ(FormatValue(got->scalar.value), FormatValue(want)) << v.point;
  }
}

INSTANTIATE_TEST_SUITE_P(Notes, UpstreamPoint, ::testing::ValuesIn(PointVectors()),
                         [](const auto& info) { return info.param.name; });

TEST(UpstreamPointVectors, AllFoundInNotes) {
  // T: 1 10 100 1001 1010 1100 -1 12345678123456555; F: NaN +Inf -Inf and three finite.
  EXPECT_EQ(PointVectors().size(), 14u) << "prometheus_api_notes.md section 4 changed?";
}

// ---------------------------------------------------------------------------------------------
// Robustness: whatever the bytes, a value or a non-OK Status, never a crash or a throw.

const std::string kSeedBodies[] = {
    VectorOf(R"([{"metric":{"__name__":"up","job":"a"},"value":[1435781451.781,"1"]},)"
             R"({"metric":{},"value":[-0.001,"NaN"]}])"),
    MatrixOf(R"([{"metric":{"a":"b"},"values":[[1,"1"],[1.5,"+Inf"]],)"
             R"("histograms":[[2,{"count":"10","sum":"20","buckets":[[1,"-1","1","2"]]}]]}])"),
    ScalarOf(R"([12345678123456.555,"-1.5e-7"])"),
    Data("string", R"([1,"hello \"world\" \u00e9"])"),
    R"({"status":"success","data":{"resultType":"vector","result":[]},"warnings":["w"],)"
    R"("infos":["i"]})",
    ErrorOf("bad_data", "invalid parameter"),
    Success(R"([{"__name__":"up","job":"prometheus"},{"a":"b"}])"),
};

// Applies one random edit: change, insert, delete, duplicate, truncate or splice in trouble.
void Mutate(std::string& body, std::mt19937& rng) {
  using namespace std::string_literals;
  static const std::string kAlphabet = "[]{}\",:0123456789.eE-+ ntrufalsNIf\\u\xff\x80\x00"s;
  static const std::string kTrouble[] = {"1e999",       "99999999999999999999999",
                                         "\"\\ud800\"", std::string(80, '['),
                                         "null",        "\"NaN\"",
                                         "-0",          "\xc3\x28",
                                         "{}",          "[]",
                                         "1.5e-400",    "\"" + std::string(30, '9') + "\""};
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n)(rng); };
  const size_t at = pick(body.size());
  switch (pick(5)) {
    case 0:
      if (!body.empty()) body[at % body.size()] = kAlphabet[pick(kAlphabet.size() - 1)];
      break;
    case 1:
      body.insert(at, 1, kAlphabet[pick(kAlphabet.size() - 1)]);
      break;
    case 2:
      body.erase(at, pick(8));
      break;
    case 3:
      body.insert(pick(body.size()), body.substr(at, pick(16)));
      break;
    case 4:
      body.resize(at);
      break;
    default:
      body.insert(at, kTrouble[pick(std::size(kTrouble) - 1)]);
      break;
  }
}

TEST(Robustness, RandomMutationsNeverCrash) {
  std::mt19937 rng(20240821);
  const int kHttpCodes[] = {200, 400, 422, 429, 499, 500, 503};
  int ok = 0, failed = 0;
  for (int i = 0; i < 10000; ++i) {
    std::string body = kSeedBodies[i % std::size(kSeedBodies)];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) Mutate(body, rng);
    const int http_status = kHttpCodes[rng() % std::size(kHttpCodes)];
    Result<QueryResult> query = DecodeQueryResponse(http_status, body);
    Result<std::vector<LabelSet>> series = DecodeSeriesResponse(http_status, body);
    for (const Status& status : {query.status(), series.status()}) {
      if (status.ok()) {
        ++ok;
      } else {
        ++failed;
        ASSERT_FALSE(status.message().empty()) << body;
      }
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(failed, 0);
}

TEST(Robustness, VeryDeepNestingIsRejectedWithoutRecursion) {
  const std::string body = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  Result<QueryResult> got = DecodeQueryResponse(200, body);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kInternal);
  EXPECT_FALSE(DecodeSeriesResponse(200, body).ok());
}

TEST(Robustness, HugeNumbersAreErrorsNotCrashes) {
  const std::string digits(1'000'000, '9');
  EXPECT_FALSE(DecodeQueryResponse(200, ScalarOf("[" + digits + ",\"1\"]")).ok());
  EXPECT_FALSE(DecodeQueryResponse(200, ScalarOf("[1,\"" + digits + "\"]")).ok());
  Result<QueryResult> tiny =
      DecodeQueryResponse(200, ScalarOf("[0." + digits + "e-1000000,\"0." + digits + "\"]"));
  ASSERT_TRUE(tiny.ok()) << tiny.status().ToString();
  EXPECT_EQ(tiny->scalar.timestamp_ms, 0);
  EXPECT_EQ(tiny->scalar.value, 1.0);  // 0.999... rounds to 1 in a double
}

}  // namespace
}  // namespace sextant::query

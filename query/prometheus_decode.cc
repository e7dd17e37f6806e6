#include "query/prometheus_decode.h"

#include <locale.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace sextant::query {
namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Parsing: JSON text -> nlohmann::json, bounded in depth, keeping the exact text of numbers.

// Builds a json document from SAX events, like nlohmann's own DOM builder, with two
// differences:
// - Nesting deeper than kMaxJsonDepth stops the parse (nothing deeper is ever built).
// - A number with a fraction or an exponent is stored as a *binary* value holding the
//   number's text. JSON text never yields binary values, so a binary node always means "a
//   non-integer number", and its text lets timestamps convert to milliseconds exactly
//   (1435781451.781 has no exact double; 12345678123456.555 is not even the nearest one).
class BoundedDomBuilder final : public json::json_sax_t {
 public:
  explicit BoundedDomBuilder(json& root) : root_(root) {}

  bool null() override { return Add(json(nullptr)); }
  bool boolean(bool value) override { return Add(json(value)); }
  bool number_integer(json::number_integer_t value) override { return Add(json(value)); }
  bool number_unsigned(json::number_unsigned_t value) override { return Add(json(value)); }
  bool number_float(json::number_float_t /*value*/, const std::string& text) override {
    return Add(json::binary(json::binary_t::container_type(text.begin(), text.end())));
  }
  bool string(std::string& value) override { return Add(json(std::move(value))); }
  bool binary(json::binary_t& value) override { return Add(json::binary(std::move(value))); }
  bool start_object(std::size_t /*elements*/) override { return Open(json::object()); }
  bool key(std::string& key) override {
    key_ = std::move(key);
    return true;
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t /*elements*/) override { return Open(json::array()); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const json::exception& /*error*/) override {
    error_position_ = position;
    return false;
  }

  bool too_deep() const { return too_deep_; }
  std::size_t error_position() const { return error_position_; }

 private:
  // Places `value` in the innermost open container (or at the root) and returns it there.
  json& Insert(json value) {
    if (open_.empty()) {
      root_ = std::move(value);
      return root_;
    }
    json& parent = *open_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return parent.back();
    }
    json& slot = parent[key_];  // a repeated key: the last one wins, as in nlohmann
    slot = std::move(value);
    return slot;
  }
  bool Add(json value) {
    Insert(std::move(value));
    return true;
  }
  bool Open(json container) {
    if (open_.size() >= static_cast<std::size_t>(kMaxJsonDepth)) {
      too_deep_ = true;
      return false;
    }
    // Stays valid: nothing is added to the parent while this child is open.
    open_.push_back(&Insert(std::move(container)));
    return true;
  }
  bool Close() {
    open_.pop_back();
    return true;
  }

  json& root_;
  std::vector<json*> open_;  // the containers being filled, outermost first
  std::string key_;          // the key of the next member of the innermost object
  bool too_deep_ = false;
  std::size_t error_position_ = 0;
};

// Why a body is not a JSON document, for the log.
struct ParseFailure {
  std::string reason;
};

// Parses `body` as one JSON document (nothing after it but whitespace).
std::variant<json, ParseFailure> ParseJson(std::string_view body) {
  json root;
  BoundedDomBuilder builder(root);
  if (json::sax_parse(body.begin(), body.end(), &builder)) return root;
  if (builder.too_deep()) {
    return ParseFailure{"JSON nested deeper than " + std::to_string(kMaxJsonDepth)};
  }
  return ParseFailure{"not JSON (error at byte " + std::to_string(builder.error_position()) + ")"};
}

// ---------------------------------------------------------------------------------------------
// Numbers.

// A decimal number's exact value: ±digits × 10^exponent, `digits` without leading zeros
// (empty for zero).
struct Decimal {
  bool negative = false;
  std::string digits;
  int64_t exponent = 0;
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads JSON number text: -?digits(.digits)?([eE][+-]?digits)?.
std::optional<Decimal> ParseDecimal(std::string_view text) {
  constexpr int64_t kExponentCap = 1'000'000'000;  // far beyond any int64 millisecond
  Decimal decimal;
  std::size_t i = 0;
  if (i < text.size() && text[i] == '-') {
    decimal.negative = true;
    ++i;
  }
  for (; i < text.size() && IsDigit(text[i]); ++i) decimal.digits += text[i];
  if (i < text.size() && text[i] == '.') {
    for (++i; i < text.size() && IsDigit(text[i]); ++i) {
      decimal.digits += text[i];
      --decimal.exponent;
    }
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool negative_exponent = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
      negative_exponent = text[i++] == '-';
    }
    int64_t exponent = 0;
    for (; i < text.size() && IsDigit(text[i]); ++i) {
      exponent = std::min(exponent * 10 + (text[i] - '0'), kExponentCap);
    }
    decimal.exponent += negative_exponent ? -exponent : exponent;
  }
  if (i != text.size() || decimal.digits.empty()) return std::nullopt;
  decimal.digits.erase(0, decimal.digits.find_first_not_of('0'));
  return decimal;
}

// decimal × 1000, rounded to the nearest integer (ties away from zero); nullopt outside int64.
std::optional<int64_t> ThousandfoldRounded(const Decimal& decimal) {
  const auto size = static_cast<int64_t>(decimal.digits.size());
  const int64_t whole_digits = size + decimal.exponent + 3;  // digits before the ms point
  if (size == 0 || whole_digits < 0) return 0;               // below 0.1 ms
  if (whole_digits > 19) return std::nullopt;                // at least 10^19
  uint64_t magnitude = 0;                                    // stays below 10^19 + 1
  for (int64_t k = 0; k < whole_digits; ++k) {
    magnitude = magnitude * 10 + (k < size ? decimal.digits[k] - '0' : 0);
  }
  if (whole_digits < size && decimal.digits[whole_digits] >= '5') ++magnitude;
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (!decimal.negative) {
    if (magnitude > kMax) return std::nullopt;
    return static_cast<int64_t>(magnitude);
  }
  if (magnitude > kMax + 1) return std::nullopt;
  if (magnitude == kMax + 1) return std::numeric_limits<int64_t>::min();
  return -static_cast<int64_t>(magnitude);
}

// Integer seconds -> milliseconds; nullopt outside int64.
std::optional<int64_t> SecondsToMillis(int64_t seconds) {
  constexpr int64_t kLimit = std::numeric_limits<int64_t>::max() / 1000;
  if (seconds > kLimit || seconds < -kLimit) return std::nullopt;
  return seconds * 1000;
}

// The C locale, so that '.' is always the decimal point whatever the process' locale.
locale_t CLocale() {
  static const locale_t c_locale = newlocale(LC_ALL_MASK, "C", locale_t{});
  return c_locale;
}

bool EqualsIgnoringCase(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

// "NaN", "[+-]Inf", "[+-]Infinity" in any case, as Go's strconv.ParseFloat reads them.
std::optional<double> ParseSpecialValue(std::string_view text) {
  if (EqualsIgnoringCase(text, "nan")) return std::numeric_limits<double>::quiet_NaN();
  const bool negative = !text.empty() && text[0] == '-';
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) text.remove_prefix(1);
  if (EqualsIgnoringCase(text, "inf") || EqualsIgnoringCase(text, "infinity")) {
    const double inf = std::numeric_limits<double>::infinity();
    return negative ? -inf : inf;
  }
  return std::nullopt;
}

// [+-]?(digits[.digits?] | .digits)([eE][+-]?digits)?, nothing else.
bool IsDecimalFloatText(std::string_view text) {
  std::size_t i = 0;
  auto skip_digits = [&] {
    const std::size_t start = i;
    while (i < text.size() && IsDigit(text[i])) ++i;
    return i - start;
  };
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  std::size_t mantissa_digits = skip_digits();
  if (i < text.size() && text[i] == '.') {
    ++i;
    mantissa_digits += skip_digits();
  }
  if (mantissa_digits == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (skip_digits() == 0) return false;
  }
  return i == text.size();
}

// A sample value's text -> double; nullopt for anything else, or a double overflow.
std::optional<double> ParseSampleValue(const std::string& text) {
  if (std::optional<double> special = ParseSpecialValue(text)) return special;
  if (!IsDecimalFloatText(text)) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const locale_t c_locale = CLocale();
  const double value =
      c_locale ? strtod_l(text.c_str(), &end, c_locale) : strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return std::nullopt;
  if (errno == ERANGE && std::isinf(value)) return std::nullopt;
  return value;  // an underflow reads as 0 or a subnormal, as in Go
}

// ---------------------------------------------------------------------------------------------
// Decoding of parsed documents, with errors that name where they are.

// A decoding failure: where in the document (a JSON path such as "data.result[3].value[1]",
// built from the inside out while the error travels up) and what was wrong there.
struct FieldError {
  std::string path;
  std::string problem;

  // Prepends the path of the value that holds the failing one.
  FieldError&& Within(std::string_view parent) && {
    std::string joined(parent);
    if (!path.empty() && path[0] != '[') joined += '.';
    path = joined + path;
    return std::move(*this);
  }
};
using MaybeError = std::optional<FieldError>;

std::string IndexPath(std::size_t index) { return "[" + std::to_string(index) + "]"; }

std::string KeyPath(const std::string& key) {
  return "[" + json(key).dump(-1, ' ', false, json::error_handler_t::replace) + "]";
}

std::string_view TypeName(const json& node) {
  if (node.is_binary()) return "number";  // see BoundedDomBuilder
  return node.type_name();
}

FieldError TypeMismatch(std::string_view expected, const json& node) {
  return {"", "expected " + std::string(expected) + ", got " + std::string(TypeName(node))};
}

FieldError Missing(std::string_view key) { return {std::string(key), "missing"}; }

// The member `key` of an object; nullptr when absent.
const json* Member(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

bool IsAbsent(const json* node) { return node == nullptr || node->is_null(); }

// Calls `decode_element(element)` on each element of an array; absent or null reads as empty.
template <typename DecodeElement>
MaybeError ForEachElement(const json* list, DecodeElement&& decode_element) {
  if (IsAbsent(list)) return std::nullopt;
  if (!list->is_array()) return TypeMismatch("an array", *list);
  for (std::size_t i = 0; i < list->size(); ++i) {
    if (MaybeError error = decode_element((*list)[i])) {
      return std::move(*error).Within(IndexPath(i));
    }
  }
  return std::nullopt;
}

MaybeError DecodeString(const json& node, std::string& out) {
  if (!node.is_string()) return TypeMismatch("a string", node);
  out = node.get_ref<const std::string&>();
  return std::nullopt;
}

MaybeError DecodeTimestamp(const json& node, int64_t& out_ms) {
  std::optional<int64_t> ms;
  if (node.is_number_unsigned()) {
    const auto seconds = node.get<uint64_t>();
    if (seconds <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      ms = SecondsToMillis(static_cast<int64_t>(seconds));
    }
  } else if (node.is_number_integer()) {
    ms = SecondsToMillis(node.get<int64_t>());
  } else if (node.is_binary()) {
    const auto& bytes = node.get_binary();
    const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    if (std::optional<Decimal> decimal = ParseDecimal(text)) {
      ms = ThousandfoldRounded(*decimal);
    }
  } else {
    return TypeMismatch("a number (unix seconds)", node);
  }
  if (!ms) return FieldError{"", "timestamp out of range"};
  out_ms = *ms;
  return std::nullopt;
}

MaybeError DecodeSampleValue(const json& node, double& out) {
  if (!node.is_string()) return TypeMismatch("a string", node);
  std::optional<double> value = ParseSampleValue(node.get_ref<const std::string&>());
  if (!value) return FieldError{"", "not a float sample value"};
  out = *value;
  return std::nullopt;
}

// [<unix seconds>, <second element>], the second element decoded by `decode_second`.
template <typename DecodeSecond>
MaybeError DecodePoint(const json& node, int64_t& timestamp_ms, DecodeSecond&& decode_second) {
  if (!node.is_array()) return TypeMismatch("an array [timestamp, value]", node);
  if (node.size() != 2) {
    return FieldError{
        "", "expected [timestamp, value], got " + std::to_string(node.size()) + " elements"};
  }
  if (MaybeError error = DecodeTimestamp(node[0], timestamp_ms)) {
    return std::move(*error).Within("[0]");
  }
  if (MaybeError error = decode_second(node[1])) return std::move(*error).Within("[1]");
  return std::nullopt;
}

MaybeError DecodeSample(const json& node, Sample& out) {
  return DecodePoint(node, out.timestamp_ms,
                     [&](const json& value) { return DecodeSampleValue(value, out.value); });
}

MaybeError DecodeLabels(const json& node, LabelSet& out) {
  if (!node.is_object()) return TypeMismatch("an object of labels", node);
  for (const auto& [name, value] : node.items()) {
    if (MaybeError error = DecodeString(value, out[name])) {
      return std::move(*error).Within(KeyPath(name));
    }
  }
  return std::nullopt;
}

// The "metric" member of a series.
MaybeError DecodeSeriesLabels(const json& series, LabelSet& out) {
  const json* metric = Member(series, "metric");
  if (metric == nullptr) return Missing("metric");
  if (MaybeError error = DecodeLabels(*metric, out)) return std::move(*error).Within("metric");
  return std::nullopt;
}

// One element of a vector result: a float sample, or a native histogram that is skipped.
MaybeError DecodeInstantSeries(const json& node, QueryResult& out) {
  if (!node.is_object()) return TypeMismatch("an object", node);
  InstantSeries series;
  if (MaybeError error = DecodeSeriesLabels(node, series.labels)) return error;
  const json* value = Member(node, "value");
  const json* histogram = Member(node, "histogram");
  if (!IsAbsent(value)) {
    if (MaybeError error = DecodeSample(*value, series.sample)) {
      return std::move(*error).Within("value");
    }
    out.vector.push_back(std::move(series));
  } else if (!IsAbsent(histogram)) {
    if (!histogram->is_array()) return TypeMismatch("an array", *histogram).Within("histogram");
    ++out.skipped_histograms;
  } else {
    return FieldError{"", "expected a \"value\" or a \"histogram\""};
  }
  return std::nullopt;
}

// One element of a matrix result: float samples kept, native histogram points counted.
MaybeError DecodeRangeSeries(const json& node, QueryResult& out) {
  if (!node.is_object()) return TypeMismatch("an object", node);
  RangeSeries series;
  if (MaybeError error = DecodeSeriesLabels(node, series.labels)) return error;
  const json* values = Member(node, "values");
  const json* histograms = Member(node, "histograms");
  if (IsAbsent(values) && IsAbsent(histograms)) {
    return FieldError{"", "expected \"values\" or \"histograms\""};
  }
  MaybeError error = ForEachElement(values, [&](const json& point) {
    return DecodeSample(point, series.samples.emplace_back());
  });
  if (error) return std::move(*error).Within("values");
  if (!IsAbsent(histograms)) {
    if (!histograms->is_array()) {
      return TypeMismatch("an array", *histograms).Within("histograms");
    }
    out.skipped_histograms += static_cast<int64_t>(histograms->size());
  }
  if (!series.samples.empty()) out.matrix.push_back(std::move(series));
  return std::nullopt;
}

MaybeError DecodeResult(std::string_view result_type, const json* result, QueryResult& out) {
  using Type = QueryResult::Type;
  if (result_type == "vector") {
    out.type = Type::kVector;
    return ForEachElement(result, [&](const json& e) { return DecodeInstantSeries(e, out); });
  }
  if (result_type == "matrix") {
    out.type = Type::kMatrix;
    return ForEachElement(result, [&](const json& e) { return DecodeRangeSeries(e, out); });
  }
  if (result == nullptr) return FieldError{"", "missing"};
  if (result_type == "scalar") {
    out.type = Type::kScalar;
    return DecodeSample(*result, out.scalar);
  }
  out.type = Type::kString;
  return DecodePoint(*result, out.string_timestamp_ms,
                     [&](const json& value) { return DecodeString(value, out.string_value); });
}

// The "data" member of a query or query_range response.
MaybeError DecodeQueryData(const json* data, QueryResult& out) {
  if (data == nullptr) return FieldError{"", "missing"};
  if (!data->is_object()) return TypeMismatch("an object", *data);
  const json* result_type = Member(*data, "resultType");
  if (result_type == nullptr) return Missing("resultType");
  if (!result_type->is_string()) {
    return TypeMismatch("a string", *result_type).Within("resultType");
  }
  const auto& type = result_type->get_ref<const std::string&>();
  if (type != "vector" && type != "matrix" && type != "scalar" && type != "string") {
    return FieldError{"resultType", "unknown result type " + json(type).dump()};
  }
  if (MaybeError error = DecodeResult(type, Member(*data, "result"), out)) {
    return std::move(*error).Within("result");
  }
  return std::nullopt;
}

MaybeError DecodeStringList(const json& envelope, const char* key, std::vector<std::string>& out) {
  MaybeError error = ForEachElement(Member(envelope, key), [&](const json& element) {
    return DecodeString(element, out.emplace_back());
  });
  if (error) return std::move(*error).Within(key);
  return std::nullopt;
}

Status Malformed(const FieldError& error) {
  return InternalError("malformed response: " + error.path + ": " + error.problem);
}

// ---------------------------------------------------------------------------------------------
// The envelope and HTTP status.

bool IsSuccessCode(int http_status) { return http_status >= 200 && http_status <= 299; }
bool IsServerErrorCode(int http_status) { return http_status >= 500 && http_status <= 599; }

// Up to 64 bytes of a body for the log: printable ASCII kept, anything else shown as '?'.
std::string Snippet(std::string_view body) {
  constexpr std::size_t kMaxBytes = 64;
  std::string out = "\"";
  for (char c : body.substr(0, kMaxBytes)) out += (c >= ' ' && c <= '~') ? c : '?';
  out += body.size() > kMaxBytes ? "\"..." : "\"";
  return out;
}

std::string HttpPrefix(int http_status) { return "HTTP " + std::to_string(http_status) + ": "; }

// A body that is not a JSON envelope; `reason` says why.
Status NotAnEnvelope(int http_status, std::string_view body, const std::string& reason) {
  std::string message =
      HttpPrefix(http_status) + "malformed response: " + reason + "; body starts " + Snippet(body);
  if (http_status == 429 || IsServerErrorCode(http_status)) {
    return UnavailableError(std::move(message));
  }
  return InternalError(std::move(message));
}

std::optional<StatusCode> CodeForErrorType(std::string_view error_type) {
  if (error_type == "bad_data" || error_type == "execution") {
    return StatusCode::kBackendRejected;
  }
  if (error_type == "timeout" || error_type == "canceled" || error_type == "unavailable" ||
      error_type == "internal") {
    return StatusCode::kUnavailable;
  }
  return std::nullopt;
}

// For an error envelope whose errorType says nothing we know.
StatusCode CodeForHttpStatus(int http_status) {
  if (http_status == 400 || http_status == 422) return StatusCode::kBackendRejected;
  if (http_status == 429 || IsServerErrorCode(http_status)) return StatusCode::kUnavailable;
  return StatusCode::kInternal;
}

// The string member `key` of the envelope, or "" when absent or not a string.
std::string StringMember(const json& envelope, const char* key) {
  const json* member = Member(envelope, key);
  return member != nullptr && member->is_string() ? member->get<std::string>() : "";
}

// An envelope with "status": "error".
Status EnvelopeError(int http_status, const json& envelope) {
  const std::string error_type = StringMember(envelope, "errorType");
  const std::string message = HttpPrefix(http_status) + "Prometheus error (errorType " +
                              json(error_type).dump() + "): " + StringMember(envelope, "error");
  StatusCode code = CodeForErrorType(error_type).value_or(CodeForHttpStatus(http_status));
  if (http_status == 429) code = StatusCode::kUnavailable;
  return Status(code, message);
}

// Parses the body and checks it is a success envelope; returns it, or the failure's Status.
std::variant<json, Status> ReadSuccessEnvelope(int http_status, std::string_view body) {
  std::variant<json, ParseFailure> parsed = ParseJson(body);
  if (auto* failure = std::get_if<ParseFailure>(&parsed)) {
    return NotAnEnvelope(http_status, body, failure->reason);
  }
  json& envelope = std::get<json>(parsed);
  if (!envelope.is_object()) {
    return NotAnEnvelope(http_status, body,
                         "expected an object, got " + std::string(TypeName(envelope)));
  }
  const json* status = Member(envelope, "status");
  if (status == nullptr || !status->is_string()) {
    return NotAnEnvelope(http_status, body, "no string \"status\"");
  }
  const auto& status_text = status->get_ref<const std::string&>();
  if (status_text == "error") return EnvelopeError(http_status, envelope);
  if (status_text != "success") {
    return NotAnEnvelope(http_status, body, "status " + json(status_text).dump());
  }
  if (!IsSuccessCode(http_status)) {
    return NotAnEnvelope(http_status, body, "a success envelope with a non-2xx code");
  }
  return std::move(envelope);
}

Result<QueryResult> DecodeQuery(int http_status, std::string_view body) {
  std::variant<json, Status> envelope = ReadSuccessEnvelope(http_status, body);
  if (auto* status = std::get_if<Status>(&envelope)) return std::move(*status);
  const json& root = std::get<json>(envelope);
  QueryResult result;
  if (MaybeError error = DecodeStringList(root, "warnings", result.warnings)) {
    return Malformed(*error);
  }
  if (MaybeError error = DecodeStringList(root, "infos", result.infos)) {
    return Malformed(*error);
  }
  if (MaybeError error = DecodeQueryData(Member(root, "data"), result)) {
    return Malformed(std::move(*error).Within("data"));
  }
  return result;
}

Result<std::vector<LabelSet>> DecodeSeries(int http_status, std::string_view body) {
  std::variant<json, Status> envelope = ReadSuccessEnvelope(http_status, body);
  if (auto* status = std::get_if<Status>(&envelope)) return std::move(*status);
  std::vector<LabelSet> series;
  MaybeError error = ForEachElement(
      Member(std::get<json>(envelope), "data"),
      [&](const json& labels) { return DecodeLabels(labels, series.emplace_back()); });
  if (error) return Malformed(std::move(*error).Within("data"));
  return series;
}

}  // namespace

Result<QueryResult> DecodeQueryResponse(int http_status, std::string_view body) {
  try {
    return DecodeQuery(http_status, body);
  } catch (const std::exception& e) {  // bad_alloc, or a nlohmann error we did not foresee
    return InternalError(std::string("decoding a query response failed: ") + e.what());
  }
}

Result<std::vector<LabelSet>> DecodeSeriesResponse(int http_status, std::string_view body) {
  try {
    return DecodeSeries(http_status, body);
  } catch (const std::exception& e) {
    return InternalError(std::string("decoding a series response failed: ") + e.what());
  }
}

}  // namespace sextant::query

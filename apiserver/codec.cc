#include "apiserver/codec.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <nlohmann/json.hpp>

#include "apiserver/proto/external_metrics.pb.h"
#include "apiserver/proto/k8s_meta.pb.h"
#include "apiserver/proto/k8s_runtime.pb.h"

namespace sextant::apiserver {
namespace {

namespace emv1 = ::k8s::io::metrics::pkg::apis::external_metrics::v1beta1;
namespace metav1 = ::k8s::io::apimachinery::pkg::apis::meta::v1;
namespace runtime = ::k8s::io::apimachinery::pkg::runtime;

constexpr char kProtobufMagic[4] = {'k', '8', 's', '\0'};

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return s;
}

struct MediaRange {
  std::string type;  // lowercased "type/subtype"
  double q = 1.0;
  bool has_conversion = false;  // as=..., g=..., v=... parameters
  size_t order = 0;
};

std::vector<MediaRange> ParseAccept(std::string_view accept) {
  std::vector<MediaRange> ranges;
  size_t order = 0;
  size_t start = 0;
  while (start <= accept.size()) {
    size_t comma = accept.find(',', start);
    if (comma == std::string_view::npos) comma = accept.size();
    std::string_view part = accept.substr(start, comma - start);
    start = comma + 1;
    size_t semi = part.find(';');
    MediaRange range;
    range.type = Lower(Trim(part.substr(0, semi)));
    range.order = order++;
    while (semi != std::string_view::npos) {
      size_t next = part.find(';', semi + 1);
      std::string param = Trim(part.substr(semi + 1, next == std::string_view::npos
                                                         ? std::string_view::npos
                                                         : next - semi - 1));
      semi = next;
      size_t eq = param.find('=');
      std::string key = Lower(Trim(param.substr(0, eq)));
      std::string value = eq == std::string::npos ? "" : Trim(param.substr(eq + 1));
      if (key == "q") {
        char* end = nullptr;
        double q = std::strtod(value.c_str(), &end);
        range.q = (end && *end == '\0' && q >= 0 && q <= 1) ? q : 0;
      } else if (key == "as" || key == "g" || key == "v") {
        range.has_conversion = true;
      }
    }
    if (!range.type.empty()) ranges.push_back(std::move(range));
    if (comma == accept.size()) break;
  }
  std::stable_sort(ranges.begin(), ranges.end(),
                   [](const MediaRange& a, const MediaRange& b) { return a.q > b.q; });
  return ranges;
}

void FillProtoItem(const ExternalMetricValue& in, emv1::ExternalMetricValue* out) {
  out->set_metricname(in.metric_name);
  for (const auto& [k, v] : in.metric_labels) (*out->mutable_metriclabels())[k] = v;
  auto since_epoch = in.timestamp.time_since_epoch();
  auto secs = std::chrono::floor<std::chrono::seconds>(since_epoch);
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - secs);
  out->mutable_timestamp()->set_seconds(secs.count());
  out->mutable_timestamp()->set_nanos(static_cast<int32_t>(nanos.count()));
  if (in.window_seconds) out->set_window(*in.window_seconds);
  out->mutable_value()->set_string(in.value.String());
}

std::string WrapInUnknown(std::string_view api_version, std::string_view kind,
                          const std::string& raw) {
  runtime::Unknown unknown;
  unknown.mutable_typemeta()->set_apiversion(std::string(api_version));
  unknown.mutable_typemeta()->set_kind(std::string(kind));
  unknown.set_raw(raw);
  std::string out(kProtobufMagic, sizeof kProtobufMagic);
  unknown.AppendToString(&out);
  return out;
}

}  // namespace

Result<MediaType> NegotiateMediaType(std::string_view accept, bool protobuf_allowed) {
  if (Trim(accept).empty()) return MediaType::kJson;
  for (const MediaRange& range : ParseAccept(accept)) {
    if (range.q <= 0 || range.has_conversion) continue;
    if (range.type == kJsonContentType || range.type == "application/*" ||
        range.type == "*/*") {
      return MediaType::kJson;
    }
    if (range.type == kProtobufContentType && protobuf_allowed) {
      return MediaType::kProtobuf;
    }
  }
  return InvalidArgumentError(
      "only the following media types are accepted: application/json" +
      std::string(protobuf_allowed ? ", application/vnd.kubernetes.protobuf" : ""));
}

std::string_view ContentTypeOf(MediaType type) {
  return type == MediaType::kProtobuf ? kProtobufContentType : kJsonContentType;
}

std::string FormatRfc3339(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(
      std::chrono::floor<std::chrono::seconds>(t));
  std::tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string EncodeMetricValueList(const std::vector<ExternalMetricValue>& items,
                                  MediaType type) {
  if (type == MediaType::kProtobuf) {
    emv1::ExternalMetricValueList list;
    list.mutable_metadata();
    for (const ExternalMetricValue& item : items) FillProtoItem(item, list.add_items());
    return WrapInUnknown(kGroupVersion, "ExternalMetricValueList",
                         list.SerializeAsString());
  }
  nlohmann::ordered_json doc;
  doc["kind"] = "ExternalMetricValueList";
  doc["apiVersion"] = kGroupVersion;
  doc["metadata"] = nlohmann::ordered_json::object();
  doc["items"] = nlohmann::ordered_json::array();
  for (const ExternalMetricValue& item : items) {
    nlohmann::ordered_json j;
    j["metricName"] = item.metric_name;
    j["metricLabels"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : item.metric_labels) j["metricLabels"][k] = v;
    j["timestamp"] = FormatRfc3339(item.timestamp);
    if (item.window_seconds) j["window"] = *item.window_seconds;
    j["value"] = item.value.String();
    doc["items"].push_back(std::move(j));
  }
  // Invalid UTF-8 in labels is replaced, never a reason to fail the answer.
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string EncodeStatus(const ApiError& error, MediaType type) {
  if (type == MediaType::kProtobuf) {
    metav1::Status status;
    status.mutable_metadata();
    status.set_status("Failure");
    status.set_message(error.message);
    status.set_reason(error.reason);
    status.set_code(error.code);
    return WrapInUnknown("v1", "Status", status.SerializeAsString());
  }
  nlohmann::ordered_json doc;
  doc["kind"] = "Status";
  doc["apiVersion"] = "v1";
  doc["metadata"] = nlohmann::ordered_json::object();
  doc["status"] = "Failure";
  doc["message"] = error.message;
  doc["reason"] = error.reason;
  doc["code"] = error.code;
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sextant::apiserver

// Content negotiation (table), JSON shape and the Kubernetes protobuf envelope, decoded back
// with the generated messages.
#include "apiserver/codec.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "apiserver/proto/external_metrics.pb.h"
#include "apiserver/proto/k8s_meta.pb.h"
#include "apiserver/proto/k8s_runtime.pb.h"

namespace sextant::apiserver {
namespace {

struct NegotiationCase {
  const char* name;
  const char* accept;
  bool protobuf_allowed;
  bool ok;
  MediaType want;
};

class Negotiation : public ::testing::TestWithParam<NegotiationCase> {};

TEST_P(Negotiation, PicksTheRightType) {
  const NegotiationCase& c = GetParam();
  Result<MediaType> got = NegotiateMediaType(c.accept, c.protobuf_allowed);
  ASSERT_EQ(got.ok(), c.ok) << c.accept;
  if (c.ok) {
    EXPECT_EQ(*got, c.want) << c.accept;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, Negotiation,
    ::testing::Values(
        NegotiationCase{"empty", "", true, true, MediaType::kJson},
        NegotiationCase{"json", "application/json", true, true, MediaType::kJson},
        NegotiationCase{"any", "*/*", true, true, MediaType::kJson},
        NegotiationCase{"hpa_controller", "application/vnd.kubernetes.protobuf, */*", true,
                        true, MediaType::kProtobuf},
        NegotiationCase{"protobuf_not_for_discovery",
                        "application/vnd.kubernetes.protobuf, */*", false, true,
                        MediaType::kJson},
        NegotiationCase{"protobuf_only_discovery", "application/vnd.kubernetes.protobuf",
                        false, false, MediaType::kJson},
        NegotiationCase{"q_prefers_json",
                        "application/vnd.kubernetes.protobuf;q=0.5, application/json", true,
                        true, MediaType::kJson},
        NegotiationCase{"q_zero_excluded", "application/json;q=0, application/vnd.kubernetes.protobuf",
                        true, true, MediaType::kProtobuf},
        NegotiationCase{"aggregated_discovery_falls_back",
                        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                        "application/json",
                        false, true, MediaType::kJson},
        NegotiationCase{"only_aggregated_discovery",
                        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
                        false, false, MediaType::kJson},
        NegotiationCase{"html", "text/html", true, false, MediaType::kJson},
        NegotiationCase{"case_insensitive", "Application/JSON", true, true, MediaType::kJson}),
    [](const auto& info) { return std::string(info.param.name); });

ExternalMetricValue Sample() {
  ExternalMetricValue v;
  v.metric_name = "vllm-requests-waiting";
  v.metric_labels = {{"model_name", "llama"}, {"namespace", "default"}};
  v.timestamp = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764405330250));
  v.window_seconds = 120;
  v.value = *Quantity::FromDouble(12.5);
  return v;
}

TEST(EncodeMetricValueList, JsonShape) {
  auto doc = nlohmann::json::parse(EncodeMetricValueList({Sample()}, MediaType::kJson));
  EXPECT_EQ(doc["kind"], "ExternalMetricValueList");
  EXPECT_EQ(doc["apiVersion"], "external.metrics.k8s.io/v1beta1");
  EXPECT_TRUE(doc["metadata"].is_object());
  ASSERT_EQ(doc["items"].size(), 1u);
  const auto& item = doc["items"][0];
  EXPECT_EQ(item["metricName"], "vllm-requests-waiting");
  EXPECT_EQ(item["metricLabels"]["model_name"], "llama");
  EXPECT_EQ(item["timestamp"], "2025-11-29T08:35:30Z");
  EXPECT_EQ(item["window"], 120);
  EXPECT_EQ(item["value"], "12500m");
}

TEST(EncodeMetricValueList, EmptyListHasEmptyItems) {
  auto doc = nlohmann::json::parse(EncodeMetricValueList({}, MediaType::kJson));
  EXPECT_TRUE(doc["items"].is_array());
  EXPECT_TRUE(doc["items"].empty());
}

TEST(EncodeMetricValueList, ProtobufEnvelope) {
  std::string bytes = EncodeMetricValueList({Sample()}, MediaType::kProtobuf);
  ASSERT_GE(bytes.size(), 4u);
  EXPECT_EQ(bytes.substr(0, 4), std::string("k8s\0", 4));
  k8s::io::apimachinery::pkg::runtime::Unknown unknown;
  ASSERT_TRUE(unknown.ParseFromString(bytes.substr(4)));
  EXPECT_EQ(unknown.typemeta().apiversion(), "external.metrics.k8s.io/v1beta1");
  EXPECT_EQ(unknown.typemeta().kind(), "ExternalMetricValueList");
  k8s::io::metrics::pkg::apis::external_metrics::v1beta1::ExternalMetricValueList list;
  ASSERT_TRUE(list.ParseFromString(unknown.raw()));
  ASSERT_EQ(list.items_size(), 1);
  const auto& item = list.items(0);
  EXPECT_EQ(item.metricname(), "vllm-requests-waiting");
  EXPECT_EQ(item.metriclabels().at("model_name"), "llama");
  EXPECT_EQ(item.timestamp().seconds(), 1764405330);
  EXPECT_EQ(item.timestamp().nanos(), 250000000);
  EXPECT_EQ(item.window(), 120);
  EXPECT_EQ(item.value().string(), "12500m");
}

TEST(EncodeStatus, JsonAndProtobufCarryTheSameFields) {
  ApiError error = NotFound("the server could not find the metric \"x\"");
  auto doc = nlohmann::json::parse(EncodeStatus(error, MediaType::kJson));
  EXPECT_EQ(doc["kind"], "Status");
  EXPECT_EQ(doc["apiVersion"], "v1");
  EXPECT_EQ(doc["status"], "Failure");
  EXPECT_EQ(doc["reason"], "NotFound");
  EXPECT_EQ(doc["code"], 404);
  EXPECT_EQ(doc["message"], error.message);

  std::string bytes = EncodeStatus(error, MediaType::kProtobuf);
  k8s::io::apimachinery::pkg::runtime::Unknown unknown;
  ASSERT_TRUE(unknown.ParseFromString(bytes.substr(4)));
  EXPECT_EQ(unknown.typemeta().kind(), "Status");
  k8s::io::apimachinery::pkg::apis::meta::v1::Status status;
  ASSERT_TRUE(status.ParseFromString(unknown.raw()));
  EXPECT_EQ(status.code(), 404);
  EXPECT_EQ(status.reason(), "NotFound");
  EXPECT_EQ(status.status(), "Failure");
}

TEST(EncodeStatus, InvalidUtf8IsReplacedNotFatal) {
  ApiError error = BadRequest(std::string("bad \xff value"));
  EXPECT_NO_THROW(nlohmann::json::parse(EncodeStatus(error, MediaType::kJson)));
}

}  // namespace
}  // namespace sextant::apiserver

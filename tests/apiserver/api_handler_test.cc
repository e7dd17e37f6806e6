// Routing, check order and error mapping of the API handler, with a recording provider.
#include "apiserver/api_handler.h"
#include "apiserver/label_validation.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace sextant::apiserver {
namespace {

// Records what it was asked and answers from a script: the real providers live in scaling/.
class ScriptedProvider : public ExternalMetricsProvider {
 public:
  std::vector<ExternalMetricInfo> ListExternalMetrics() override {
    return {{"queue-depth", true}, {"cluster-gpus", false}};
  }
  Result<std::vector<ExternalMetricValue>> GetExternalMetric(
      const ExternalMetricRequest& request) override {
    ++calls;
    last_selector = request.selector.String();
    last_namespace = request.namespace_name;
    if (!answer.ok()) return answer;
    return std::vector<ExternalMetricValue>{value};
  }
  bool Ready() const override { return true; }

  Status answer;
  ExternalMetricValue value{"queue-depth", {{"model", "llama"}}, {}, std::nullopt,
                            Quantity::FromInt(3, Quantity::Format::kDecimalSI)};
  int calls = 0;
  std::string last_selector, last_namespace;
};

class DenyAll : public Authorizer {
 public:
  AuthorizationDecision Authorize(const AuthorizationAttributes&) override {
    return {false, "nope"};
  }
};

class ApiHandlerTest : public ::testing::Test {
 protected:
  ApiResponse Get(const std::string& path, std::optional<std::string> selector = {},
                  std::string accept = "", std::string method = "GET") {
    ApiRequest r{method, path, selector, accept, UserInfo{"alice", {}, {}}};
    return handler.Handle(r);
  }
  static nlohmann::json Json(const ApiResponse& r) { return nlohmann::json::parse(r.body); }

  ScriptedProvider provider;
  AlwaysAllowAuthorizer allow;
  ApiHandler handler{provider, allow, {}};
  const std::string metric = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/";
};

TEST_F(ApiHandlerTest, DiscoveryDocuments) {
  auto list = Json(Get("/apis"));
  EXPECT_EQ(list["kind"], "APIGroupList");
  EXPECT_EQ(list["groups"][0]["name"], "external.metrics.k8s.io");
  EXPECT_EQ(list["groups"][0]["preferredVersion"]["groupVersion"],
            "external.metrics.k8s.io/v1beta1");
  auto group = Json(Get("/apis/external.metrics.k8s.io/"));
  EXPECT_EQ(group["kind"], "APIGroup");
  EXPECT_EQ(group["versions"][0]["version"], "v1beta1");
  auto resources = Json(Get("/apis/external.metrics.k8s.io/v1beta1"));
  EXPECT_EQ(resources["kind"], "APIResourceList");
  EXPECT_EQ(resources["groupVersion"], "external.metrics.k8s.io/v1beta1");
  ASSERT_EQ(resources["resources"].size(), 2u);
  EXPECT_EQ(resources["resources"][0],
            nlohmann::json::parse(R"({"name":"queue-depth","singularName":"",
              "namespaced":true,"kind":"ExternalMetricValueList","verbs":["get"]})"));
  EXPECT_EQ(resources["resources"][1]["namespaced"], false);
}

TEST_F(ApiHandlerTest, MetricValueAndRoute) {
  ApiResponse r = Get(metric + "queue-depth", "model=llama");
  ASSERT_EQ(r.code, 200) << r.body;
  EXPECT_EQ(r.route,
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}");
  EXPECT_EQ(Json(r)["items"][0]["value"], "3");
  EXPECT_EQ(provider.last_selector, "model=llama");
  EXPECT_EQ(provider.last_namespace, "default");
}

TEST_F(ApiHandlerTest, UnauthenticatedIs401BeforeAnythingElse) {
  ApiRequest r{"POST", metric + "queue-depth", "x in (", "", std::nullopt};
  ApiResponse out = handler.Handle(r);
  EXPECT_EQ(out.code, 401);
  EXPECT_EQ(Json(out)["reason"], "Unauthorized");
  EXPECT_EQ(provider.calls, 0);
}

TEST_F(ApiHandlerTest, BadSelectorIs400EvenForAnUnknownMetric) {
  provider.answer = NotFoundError("no such metric");
  ApiResponse r = Get(metric + "no-such-metric", "x in (a");
  EXPECT_EQ(r.code, 400);
  EXPECT_EQ(Json(r)["reason"], "BadRequest");
  EXPECT_NE(Json(r)["message"].get<std::string>().find("labelSelector"), std::string::npos);
  EXPECT_EQ(provider.calls, 0);
}

struct ErrorCase {
  const char* name;
  Status provider_status;
  int code;
  const char* reason;
};

class ProviderErrors : public ApiHandlerTest,
                       public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(ProviderErrors, MapToStatusWithoutLeakingDetails) {
  provider.answer = GetParam().provider_status;
  ApiResponse r = Get(metric + "queue-depth");
  EXPECT_EQ(r.code, GetParam().code);
  auto doc = Json(r);
  EXPECT_EQ(doc["kind"], "Status");
  EXPECT_EQ(doc["status"], "Failure");
  EXPECT_EQ(doc["reason"], GetParam().reason);
  EXPECT_EQ(doc["code"], GetParam().code);
  EXPECT_EQ(doc["message"].get<std::string>().find("SECRET"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ProviderErrors,
    ::testing::Values(
        ErrorCase{"not_found", NotFoundError("metric x not found"), 404, "NotFound"},
        ErrorCase{"unavailable", UnavailableError("dial tcp SECRET:9090 refused"), 503,
                  "ServiceUnavailable"},
        ErrorCase{"deadline", DeadlineExceededError("SECRET query timed out"), 503,
                  "ServiceUnavailable"},
        ErrorCase{"rejected", BackendRejectedError("parse error SECRET"), 500,
                  "InternalError"},
        ErrorCase{"internal", ::sextant::InternalError("SECRET stack"), 500, "InternalError"},
        ErrorCase{"bad_selector", InvalidArgumentError("gt is not supported"), 400,
                  "BadRequest"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(ApiHandlerTest, OtherMethodsAre405) {
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH"}) {
    ApiResponse r = Get(metric + "queue-depth", {}, "", method);
    EXPECT_EQ(r.code, 405) << method;
    EXPECT_EQ(Json(r)["reason"], "MethodNotAllowed");
  }
}

TEST_F(ApiHandlerTest, InvalidNamespaceIs400) {
  ApiResponse r = Get("/apis/external.metrics.k8s.io/v1beta1/namespaces/Bad_NS/queue-depth");
  EXPECT_EQ(r.code, 400);
  EXPECT_EQ(provider.calls, 0);
}

TEST(NamespaceName, Rfc1123Label) {
  for (const char* ok : {"a", "default", "kube-system", "ns-1", "0abc",
                         "a23456789012345678901234567890123456789012345678901234567890123"}) {
    EXPECT_TRUE(IsValidNamespaceName(ok)) << ok;
  }
  for (const char* bad : {"", "-a", "a-", "Default", "a_b", "a.b", "a b", "x\"}",
                          "a234567890123456789012345678901234567890123456789012345678901234"}) {
    EXPECT_FALSE(IsValidNamespaceName(bad)) << bad;
  }
}

TEST_F(ApiHandlerTest, UnknownPathsAre404) {
  EXPECT_EQ(Get("/apis/other.group").code, 404);
  EXPECT_EQ(Get("/apis/external.metrics.k8s.io/v1beta1/queue-depth").code, 404);
}

TEST_F(ApiHandlerTest, NotAcceptable) {
  ApiResponse r = Get(metric + "queue-depth", {}, "text/html");
  EXPECT_EQ(r.code, 406);
  EXPECT_EQ(provider.calls, 0);
}

TEST_F(ApiHandlerTest, ProtobufErrorsAreProtobufStatus) {
  ApiResponse r = Get(metric + "queue-depth", "x in (", "application/vnd.kubernetes.protobuf");
  EXPECT_EQ(r.code, 400);
  EXPECT_EQ(r.content_type, "application/vnd.kubernetes.protobuf");
  EXPECT_EQ(r.body.substr(0, 4), std::string("k8s\0", 4));
}

TEST(ApiHandlerAuthz, DeniedIs403) {
  ScriptedProvider provider;
  DenyAll deny;
  ApiHandler handler(provider, deny, {});
  ApiResponse r = handler.Handle(
      {"GET", "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/queue-depth", {}, "",
       UserInfo{"bob", {}, {}}});
  EXPECT_EQ(r.code, 403);
  EXPECT_EQ(provider.calls, 0);
}

}  // namespace
}  // namespace sextant::apiserver

// KedaScaler: KEDA's external scaler gRPC service (externalscaler.ExternalScaler, see
// server/proto/externalscaler.proto) over an apiserver::ExternalMetricsProvider.
//
// Trigger metadata (ScaledObjectRef.scalerMetadata):
//   metric            required; any name the provider serves (catalog, signal or rule)
//   selector          Default: "" (everything). A Kubernetes label selector.
//   target            required for GetMetricSpec; a number > 0 (targetSizeFloat)
//   activationTarget  Default: 0. IsActive is value > activationTarget.
// The ScaledObject's namespace is the request namespace (INVALID_ARGUMENT unless a valid
// namespace name).
// Value: the metric's items summed (several series → their sum). A metric that exists but
// has no series matching the selector is a genuine empty answer and counts as 0 (KEDA needs a
// number). Errors never become 0: unknown metric → NOT_FOUND, bad selector or metadata →
// INVALID_ARGUMENT, backend down/timing out → UNAVAILABLE (or DEADLINE_EXCEEDED).
// GetMetricSpec checks the metric exists (discovery; a metric not discovered yet is asked for
// once). Deadline: the gRPC call's deadline, capped to 10 s (10 s when the client sets none).
// StreamIsActive polls every 500 ms, sends the first state at once and then every change, and
// ends when the client cancels or Shutdown() is called; a failed poll keeps the last state
// (the stream is not ended: KEDA would reconnect anyway).
// StreamMetricSpec answers UNIMPLEMENTED (KEDA then uses GetMetricSpec).
// Thread safety: calls are served concurrently; the provider must allow that (it does).
#ifndef SEXTANT_SERVER_KEDA_SCALER_H_
#define SEXTANT_SERVER_KEDA_SCALER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "apiserver/provider.h"
#include "server/proto/externalscaler.grpc.pb.h"

namespace sextant::server {

class KedaScaler final : public externalscaler::ExternalScaler::Service {
 public:
  explicit KedaScaler(apiserver::ExternalMetricsProvider& provider,
                      std::chrono::milliseconds poll_interval = std::chrono::milliseconds(500))
      : provider_(provider), poll_interval_(poll_interval) {}

  grpc::Status IsActive(grpc::ServerContext* context, const externalscaler::ScaledObjectRef* ref,
                        externalscaler::IsActiveResponse* response) override;
  grpc::Status StreamIsActive(
      grpc::ServerContext* context, const externalscaler::ScaledObjectRef* ref,
      grpc::ServerWriter<externalscaler::IsActiveResponse>* writer) override;
  grpc::Status GetMetricSpec(grpc::ServerContext* context,
                             const externalscaler::ScaledObjectRef* ref,
                             externalscaler::GetMetricSpecResponse* response) override;
  grpc::Status GetMetrics(grpc::ServerContext* context,
                          const externalscaler::GetMetricsRequest* request,
                          externalscaler::GetMetricsResponse* response) override;
  grpc::Status StreamMetricSpec(
      grpc::ServerContext* context, const externalscaler::ScaledObjectRef* ref,
      grpc::ServerWriter<externalscaler::GetMetricSpecResponse>* writer) override;

  // Ends every StreamIsActive call (call before grpc::Server::Shutdown).
  void Shutdown();

 private:
  apiserver::ExternalMetricsProvider& provider_;
  const std::chrono::milliseconds poll_interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool shutting_down_ = false;
};

}  // namespace sextant::server

#endif  // SEXTANT_SERVER_KEDA_SCALER_H_

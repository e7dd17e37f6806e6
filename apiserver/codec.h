// Codec: content negotiation and the bytes of every API answer (JSON and Kubernetes
// protobuf).
//
// Protobuf answers follow k8s.io/apimachinery's protobuf serializer: the 4-byte magic
// "k8s\0", then a runtime.Unknown whose typeMeta names apiVersion/kind and whose raw field
// holds the object's own message (apiserver/proto/*.proto mirror the upstream field numbers).
// Discovery documents are JSON only, as client-go requests them.
// Thread safety: pure functions.
// Errors: NegotiateMediaType() returns NotAcceptable-worthy InvalidArgument when the Accept
// header admits nothing Sextant can write.
#ifndef SEXTANT_APISERVER_CODEC_H_
#define SEXTANT_APISERVER_CODEC_H_

#include <string>
#include <string_view>
#include <vector>

#include "apiserver/api_error.h"
#include "apiserver/provider.h"
#include "common/result.h"

namespace sextant::apiserver {

enum class MediaType { kJson, kProtobuf };

inline constexpr std::string_view kJsonContentType = "application/json";
inline constexpr std::string_view kProtobufContentType =
    "application/vnd.kubernetes.protobuf";
inline constexpr std::string_view kGroupVersion =
    "external.metrics.k8s.io/v1beta1";

// Picks the answer's media type from an Accept header: the acceptable range with the highest
// q (earliest on ties) that Sextant can write. Empty header = JSON. Ranges carrying
// conversion parameters (`as=`, e.g. aggregated discovery or Table) are not served.
// `protobuf_allowed` is false for documents that exist only as JSON.
Result<MediaType> NegotiateMediaType(std::string_view accept, bool protobuf_allowed);

std::string_view ContentTypeOf(MediaType type);

std::string EncodeMetricValueList(const std::vector<ExternalMetricValue>& items,
                                  MediaType type);
std::string EncodeStatus(const ApiError& error, MediaType type);

// RFC 3339 in UTC with whole seconds, as metav1.Time marshals to JSON.
std::string FormatRfc3339(std::chrono::system_clock::time_point t);

}  // namespace sextant::apiserver

#endif  // SEXTANT_APISERVER_CODEC_H_

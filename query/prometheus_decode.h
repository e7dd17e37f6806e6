// Decoding of Prometheus HTTP API responses (the JSON envelope of /api/v1/query,
// /api/v1/query_range and /api/v1/series) into query/prometheus_types.h.
//
// What is read (../shared/conformance/prometheus_api_notes.md, sections 1, 3 and 4):
// - The envelope {"status","data","errorType","error","warnings","infos"}. Warnings and infos
//   are collected in order; an absent or null list counts as empty.
// - Timestamps: JSON numbers in unix seconds, converted to milliseconds exactly from the
//   number's decimal text (no binary floating point on the way), rounded to the nearest
//   millisecond, ties away from zero. Outside int64 milliseconds is an error.
// - Sample values: JSON strings, "NaN", "+Inf", "-Inf" (and the spellings Go's ParseFloat
//   accepts for them, any case: "Inf", "inf", "Infinity") or a decimal number with an optional
//   exponent, read with strtod in the C locale. No whitespace, hex or other text is accepted;
//   a number that overflows a double is an error, one that underflows reads as 0 or subnormal.
// - Native histogram samples are not decoded: they are counted in
//   QueryResult::skipped_histograms (only the list that holds them is checked).
// - A null or absent result list of a vector or matrix, and a null or absent `data` of the
//   series endpoint, read as empty (Go's omitempty / nil slices).
//
// How failures map to Status codes (the message is for the log only; callers must not show
// it to API clients, DESIGN.md convention 4):
// - HTTP 429, whatever the body                                   -> Unavailable
// - envelope "error" with errorType bad_data or execution         -> BackendRejected
// - envelope "error" with errorType timeout, canceled,
//   unavailable or internal                                       -> Unavailable
// - envelope "error" with another or no errorType: by HTTP code,
//   400/422 -> BackendRejected, 5xx -> Unavailable, else          -> Internal
// - body that is not a JSON envelope: HTTP 5xx -> Unavailable, else -> Internal
//   ("malformed response", with a printable snippet of the body)
// - envelope "success" with a non-2xx HTTP code: 5xx -> Unavailable, else -> Internal
// - a missing field or a wrong type inside a success envelope -> Internal, naming the JSON
//   path, e.g. "malformed response: data.result[3].value[1]: expected a string, got number"
// Prometheus' error text is part of the message for envelope errors.
//
// Robustness: never throws and never crashes, whatever the body (any bytes, invalid UTF-8,
// huge numbers). JSON nesting deeper than kMaxJsonDepth is rejected as malformed before any
// value is built, so memory and stack stay bounded by the body's size.
//
// Thread safety: pure functions; safe to call concurrently.
#ifndef SEXTANT_QUERY_PROMETHEUS_DECODE_H_
#define SEXTANT_QUERY_PROMETHEUS_DECODE_H_

#include <string_view>
#include <vector>

#include "common/result.h"
#include "query/prometheus_types.h"

namespace sextant::query {

// Deepest array/object nesting accepted in a response body. Prometheus' deepest is 9 (a
// histogram bucket of a matrix: envelope, data, result, series, histograms, point,
// histogram, buckets, bucket); the rest is headroom for other backends' extras.
inline constexpr int kMaxJsonDepth = 64;

// Decodes a response of /api/v1/query or /api/v1/query_range.
// `http_status` is the HTTP status code the backend answered with; `body` the raw body.
Result<QueryResult> DecodeQueryResponse(int http_status, std::string_view body);

// Decodes a response of /api/v1/series: the label sets of the matching series, in the order
// the backend sent them. Warnings and infos are dropped.
Result<std::vector<LabelSet>> DecodeSeriesResponse(int http_status, std::string_view body);

}  // namespace sextant::query

#endif  // SEXTANT_QUERY_PROMETHEUS_DECODE_H_

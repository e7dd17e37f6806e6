// Plain result types of the Prometheus HTTP API (/api/v1/query, /api/v1/query_range,
// /api/v1/series), as decoded by query/prometheus_decode.h.
//
// These carry no Kubernetes notion; they are what the backend said, converted exactly:
// timestamps in integer milliseconds since the Unix epoch (the API's unix seconds with up to a
// millisecond fraction), sample values as doubles (NaN and ±Inf included).
//
// Ownership: value types; copies are independent.
// Thread safety: plain data; safe to share between threads while nobody writes.
// Errors: none here (decoding reports them).
#ifndef SEXTANT_QUERY_PROMETHEUS_TYPES_H_
#define SEXTANT_QUERY_PROMETHEUS_TYPES_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sextant::query {

// One float sample.
struct Sample {
  int64_t timestamp_ms = 0;  // milliseconds since the Unix epoch; may be negative
  double value = 0;          // may be NaN, +Inf or -Inf
};

// Label name -> label value, sorted by name (a Prometheus series' identity).
using LabelSet = std::map<std::string, std::string>;

// One series of an instant vector: its labels and its single sample.
struct InstantSeries {
  LabelSet labels;
  Sample sample;
};

// One series of a range vector (matrix): its labels and its float samples in time order.
struct RangeSeries {
  LabelSet labels;
  std::vector<Sample> samples;
};

// The `data` of a query or query_range response, plus the envelope's annotations.
// Only the member named by `type` is filled; the others stay empty / zero.
struct QueryResult {
  enum class Type { kVector, kScalar, kMatrix, kString };

  Type type = Type::kVector;
  std::vector<InstantSeries> vector;  // kVector
  std::vector<RangeSeries> matrix;    // kMatrix
  Sample scalar;                      // kScalar
  std::string string_value;           // kString
  int64_t string_timestamp_ms = 0;    // kString
  std::vector<std::string> warnings;  // envelope "warnings", in order
  std::vector<std::string> infos;     // envelope "infos", in order
  // Native histogram samples ("histogram" in a vector, each point of "histograms" in a
  // matrix) that were left out: Sextant reads float samples only. A vector series with only a
  // histogram, or a matrix series with only histogram points, does not appear at all.
  int64_t skipped_histograms = 0;
};

}  // namespace sextant::query

#endif  // SEXTANT_QUERY_PROMETHEUS_TYPES_H_

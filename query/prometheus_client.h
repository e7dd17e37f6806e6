// PrometheusClient: the three Prometheus HTTP API calls Sextant makes (instant query, range
// query, series), as a small interface so that caches, coalescing and the scaling layer can
// be tested against a fake and run against HttpPrometheusClient
// (query/http_prometheus_client.h) or any other backend speaking the Prometheus API
// (Thanos, Mimir, VictoriaMetrics, Amazon Managed Service for Prometheus).
//
// Results are what the backend answered, decoded (query/prometheus_types.h): timestamps in
// milliseconds, float samples only, warnings and infos carried along.
//
// Deadlines: every call takes the caller's deadline on the steady clock. An implementation
// sends no request once the deadline has passed, asks the backend to give up by then (the
// API's `timeout` parameter) and stops waiting for the answer when it passes.
//
// Errors (the message is for the log only, never for API clients; it never holds a
// credential):
// - InvalidArgument: the call itself is wrong (empty expression, no matcher, step <= 0,
//   end before start).
// - DeadlineExceeded: the deadline passed before or while the request was made.
// - Unavailable: the backend cannot be reached, the connection or TLS failed, it timed out,
//   it answered 429 or 5xx, or it reported a timeout / cancellation / internal error.
// - BackendRejected: the backend refused the query itself (bad_data, execution).
// - Internal: an answer that is not the Prometheus API (e.g. a 404 page, malformed JSON).
//
// Ownership: the caller owns the client; results are values.
// Thread safety: implementations are called concurrently from many threads and must be safe
// for that without external locking.
#ifndef SEXTANT_QUERY_PROMETHEUS_CLIENT_H_
#define SEXTANT_QUERY_PROMETHEUS_CLIENT_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "query/prometheus_types.h"

namespace sextant::query {

class PrometheusClient {
 public:
  using SystemTime = std::chrono::system_clock::time_point;
  using Deadline = std::chrono::steady_clock::time_point;

  virtual ~PrometheusClient() = default;

  // GET|POST /api/v1/query: evaluates `expr` at `time` (std::nullopt: the backend's now).
  // REQUIRES: !expr.empty().
  virtual Result<QueryResult> Query(const std::string& expr, std::optional<SystemTime> time,
                                    Deadline deadline) = 0;

  // GET|POST /api/v1/query_range: evaluates `expr` at start, start + step, ... <= end.
  // The result is always a matrix.
  // REQUIRES: !expr.empty(), start <= end, step > 0.
  virtual Result<QueryResult> QueryRange(const std::string& expr, SystemTime start,
                                         SystemTime end, std::chrono::milliseconds step,
                                         Deadline deadline) = 0;

  // GET|POST /api/v1/series: the label sets of the series matching any of `match` (series
  // selectors such as `up{job="x"}`) with samples between start and end.
  // REQUIRES: !match.empty(), start <= end.
  virtual Result<std::vector<LabelSet>> Series(const std::vector<std::string>& match,
                                               SystemTime start, SystemTime end,
                                               Deadline deadline) = 0;
};

}  // namespace sextant::query

#endif  // SEXTANT_QUERY_PROMETHEUS_CLIENT_H_

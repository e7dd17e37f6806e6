// HttpPrometheusClient: PrometheusClient over HTTP(S) with cpp-httplib, for Prometheus and
// the backends that speak its API (Thanos, Mimir, VictoriaMetrics, Amazon Managed Service
// for Prometheus).
//
// What goes on the wire:
// - <url path prefix>/api/v1/{query,query_range,series}; parameters percent-encoded (RFC
//   3986 unreserved characters kept), in the query string for GET and as an
//   application/x-www-form-urlencoded body for POST. GET switches to POST by itself when the
//   encoded parameters exceed Options::max_get_query_bytes.
// - Times as unix seconds with a millisecond fraction ("1700000000.123"); `step` and
//   `timeout` as durations in whole seconds or milliseconds ("30s", "2500ms"), single-unit
//   forms that both Go's time.ParseDuration and Prometheus' model.ParseDuration accept
//   (Prometheus 2.42 rejects a fractional "2.5s" with bad_data).
// - `timeout` (query and query_range) = min(request_timeout, deadline - now), rounded down
//   to the millisecond. The connection waits no longer than that either.
// - Authentication: at most one of a bearer token file, basic auth, or AWS SigV4. SigV4
//   signs every request (Host, Content-Type, the extra headers, the query and the body)
//   with the credentials read from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
//   AWS_SESSION_TOKEN at Create (query/sigv4.h). The token and password files are re-read
//   whenever their inode, size or times change, so rotated secrets apply without a restart;
//   if a re-read fails or yields nothing, the last good value stays in use (and a warning is
//   logged, naming the file only).
// - TLS for https URLs: the chain is verified against ca_file (or the system roots) and the
//   certificate must name the URL's host (DNS name, or IP address SAN for an IP literal),
//   both checked by OpenSSL during the handshake, unless insecure_skip_tls_verify. Optional
//   client certificate. ca_file is read once, at Create.
//
// Connections: a bounded pool of keep-alive connections. A cpp-httplib client serves one
// request at a time, so each request checks one out (or opens a new one) and gives it back
// afterwards; at most max_idle_connections are kept idle. A request that fails quickly on a
// reused connection (the backend closed it while idle) is retried once on a new connection.
//
// Errors: as in query/prometheus_client.h. Messages name the URL and endpoint and never
// hold a credential; they leave the query out, though Prometheus' error text in them may
// quote it (log only). A deadline that runs out while waiting gives
// DeadlineExceeded; request_timeout running out first gives Unavailable.
//
// REQUIRES: the process ignores SIGPIPE (OpenSSL writes to sockets without MSG_NOSIGNAL);
// server/main.cc does.
//
// Ownership: Create returns the owned client; it keeps copies of its options.
// Thread safety: all methods are safe to call concurrently; the pool, the secret files and
// the counters are internally synchronized.
#ifndef SEXTANT_QUERY_HTTP_PROMETHEUS_CLIENT_H_
#define SEXTANT_QUERY_HTTP_PROMETHEUS_CLIENT_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "query/prometheus_client.h"
#include "query/sigv4.h"

namespace httplib {
class Client;
}  // namespace httplib

namespace sextant::query {

class SecretFile;  // defined in the .cc: a file re-read when it changes
struct TlsTrust;   // defined in the .cc: the CA store and the name to verify

class HttpPrometheusClient : public PrometheusClient {
 public:
  struct SigV4Options {
    bool enabled = false;  // Default: false
    std::string region;    // REQUIRED when enabled, e.g. "us-west-2"
    std::string service = "aps";  // Default: "aps"
  };

  struct Options {
    // "http://host[:port][/prefix]" or "https://...", e.g. "http://prometheus:9090" or
    // "https://mimir.example/prometheus". No user info, query or fragment.
    // Default: "" (REQUIRED).
    std::string url;
    // "GET" or "POST". Default: "GET".
    std::string verb = "GET";
    // With verb GET, requests whose encoded parameters are longer than this go out as POST
    // (long PromQL would exceed proxies' URL limits). 0 never switches. Default: 4096.
    std::size_t max_get_query_bytes = 4096;
    // File holding a bearer token, sent as "Authorization: Bearer <token>" (surrounding
    // white space trimmed). Default: "" (none).
    std::string bearer_token_file;
    // Basic auth user name; the password comes from basic_auth_password_file (trimmed).
    // Default: "" (no basic auth).
    std::string basic_auth_username;
    std::string basic_auth_password_file;  // Default: "" (REQUIRED with the user name)
    // PEM CA bundle to verify the server with (https only). Default: "" (system roots).
    std::string ca_file;
    // PEM client certificate and key (https only; both or neither). Default: "" (none).
    std::string cert_file;
    std::string key_file;
    // Skips verification of the server's certificate chain and name. Default: false.
    bool insecure_skip_tls_verify = false;
    // Extra headers on every request, e.g. {"X-Scope-OrgID", "tenant-1"}. Not allowed:
    // Host, Authorization, Content-Type, Content-Length, Connection, Transfer-Encoding and
    // X-Amz-*. Default: none.
    std::vector<std::pair<std::string, std::string>> headers;
    // AWS SigV4 signing (Amazon Managed Service for Prometheus). Default: disabled.
    SigV4Options sigv4;
    // Time allowed to establish a connection (TCP and TLS). Default: 5s.
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
    // Longest time a request may take, and the largest `timeout` sent. Default: 30s.
    std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
    // Idle keep-alive connections kept for reuse; 0 closes each after its request.
    // Default: 16.
    int max_idle_connections = 16;
  };

  // Validates `options` (InvalidArgument naming the field on error), reads the secret files
  // once and, with SigV4, the AWS credentials from the environment. Opens no connection.
  static Result<std::unique_ptr<HttpPrometheusClient>> Create(Options options);

  ~HttpPrometheusClient() override;
  HttpPrometheusClient(const HttpPrometheusClient&) = delete;
  HttpPrometheusClient& operator=(const HttpPrometheusClient&) = delete;

  Result<QueryResult> Query(const std::string& expr, std::optional<SystemTime> time,
                            Deadline deadline) override;
  Result<QueryResult> QueryRange(const std::string& expr, SystemTime start, SystemTime end,
                                 std::chrono::milliseconds step, Deadline deadline) override;
  Result<std::vector<LabelSet>> Series(const std::vector<std::string>& match,
                                       SystemTime start, SystemTime end,
                                       Deadline deadline) override;

  // Counters since Create, for self-metrics. Monotonic; read with relaxed ordering.
  uint64_t requests_total() const { return requests_.load(std::memory_order_relaxed); }
  uint64_t post_requests_total() const { return posts_.load(std::memory_order_relaxed); }
  // Calls that ended with a non-OK Status (whatever the code).
  uint64_t failed_requests_total() const {
    return failures_.load(std::memory_order_relaxed);
  }
  // Warnings the backend attached to successful query results.
  uint64_t warnings_total() const { return warnings_.load(std::memory_order_relaxed); }
  // Connections idle in the pool right now (tests and debugging).
  std::size_t idle_connections() const;

 private:
  using Params = std::vector<std::pair<std::string, std::string>>;
  struct Response {
    int status = 0;
    std::string body;
  };

  explicit HttpPrometheusClient(Options options);

  // Sends one call to `api_path` (retrying once on a stale keep-alive connection) and
  // returns the HTTP status and body, or the transport failure as a Status.
  Result<Response> Send(const char* api_path, const Params& params, bool has_timeout_param,
                        Deadline deadline);
  // Host, Content-Type, the extra headers and the authentication headers of one request.
  Result<std::vector<std::pair<std::string, std::string>>> RequestHeaders(
      const std::string& method, const std::string& path, const Params& params,
      const std::string& body);
  std::unique_ptr<httplib::Client> NewConnection() const;
  // An idle connection, or a new one; `reused` tells whether its socket is already open.
  std::unique_ptr<httplib::Client> CheckOut(bool& reused);
  // Keeps `connection` for reuse unless the pool is full.
  void GiveBack(std::unique_ptr<httplib::Client> connection);
  // Counts a failed call when `status` is not OK; returns it.
  Status Count(Status status);

  const Options options_;
  // Parsed from options_.url at Create.
  std::string scheme_host_port_;  // "https://host:port", as cpp-httplib takes it
  std::string host_header_;       // "host[:port]" (port omitted when the scheme's default)
  std::string path_prefix_;       // "" or "/prefix" without a trailing '/'
  std::string url_for_log_;       // "scheme://host[:port][/prefix]", for messages
  std::unique_ptr<SecretFile> bearer_token_;
  std::unique_ptr<SecretFile> basic_password_;
  std::unique_ptr<TlsTrust> trust_;  // https with verification only
  AwsCredentials aws_credentials_;  // only with SigV4; never logged

  mutable std::mutex pool_mu_;
  std::vector<std::unique_ptr<httplib::Client>> idle_;  // GUARDED_BY(pool_mu_)

  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> posts_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> warnings_{0};
};

}  // namespace sextant::query

#endif  // SEXTANT_QUERY_HTTP_PROMETHEUS_CLIENT_H_

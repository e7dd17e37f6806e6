// ServerOptions: every command-line flag of `sextant serve` (the default command), their
// defaults, and the parser.
//
// Flags are written `--name=value` or `--name value`; lists are comma-separated and a list
// flag may also be repeated. Durations take Go's units (500ms, 30s, 1m, 1h).
// Thread safety: a value type.
// Errors: ParseServerOptions() returns InvalidArgument naming the flag for an unknown flag, a
// missing or malformed value.
#ifndef SEXTANT_SERVER_OPTIONS_H_
#define SEXTANT_SERVER_OPTIONS_H_

#include <chrono>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "apiserver/authenticator.h"
#include "common/result.h"

namespace sextant::server {

struct PrometheusFlags {
  std::optional<std::string> url;                 // --prometheus-url
  std::optional<std::string> verb;                // --prometheus-verb GET|POST
  std::optional<std::string> token_file;          // --prometheus-token-file
  std::optional<std::string> basic_auth_username; // --prometheus-basic-auth-username
  std::optional<std::string> basic_auth_password_file;  // --prometheus-basic-auth-password-file
  std::optional<std::string> ca_file;             // --prometheus-ca-file
  std::optional<std::string> client_cert_file;    // --prometheus-client-tls-cert-file
  std::optional<std::string> client_key_file;     // --prometheus-client-tls-key-file
  std::optional<bool> insecure_skip_tls_verify;   // --prometheus-insecure-skip-tls-verify
  std::vector<std::pair<std::string, std::string>> headers;  // --prometheus-header K=V
  std::optional<std::string> sigv4_region;        // --prometheus-sigv4-region (enables SigV4)
  std::optional<std::chrono::milliseconds> connect_timeout;  // --prometheus-connect-timeout
  std::optional<std::chrono::milliseconds> request_timeout;  // --prometheus-request-timeout
};

struct ServerOptions {
  // Default: 0.0.0.0.
  std::string bind_address = "0.0.0.0";
  // Default: 6443. 0 picks a free port (logged at start).
  int secure_port = 6443;
  // Default: empty (a self-signed certificate is generated into cert_dir).
  std::string tls_cert_file;
  std::string tls_private_key_file;
  // Default: apiserver.local.config/certificates (as k8s.io/apiserver).
  std::string cert_dir = "apiserver.local.config/certificates";
  // Default: empty. Extra DNS names / IPs for the generated certificate.
  std::vector<std::string> tls_sni_names;
  // Default: sextant. With the pod's namespace, gives the generated certificate the
  // Service's DNS names (<name>.<namespace>.svc, ...).
  std::string service_name = "sextant";

  apiserver::AuthenticatorOptions authentication;
  // Default: /healthz,/readyz,/livez. Paths answered without authentication.
  std::vector<std::string> always_allow_paths{"/healthz", "/readyz", "/livez"};

  // Default: 16. Threads computing responses (a metric request may wait on the backend);
  // idle keep-alive connections hold none, so this bounds concurrent requests, not clients.
  int max_workers = 16;
  // Default: 0 (= the number of usable CPUs). Threads running the connections' I/O.
  int io_threads = 0;
  // Default: 30s. An idle keep-alive connection is closed after this.
  std::chrono::seconds keep_alive_timeout{30};
  // Default: 10s. Reading a request (headers and body) must finish within this.
  std::chrono::seconds read_timeout{10};
  // Default: 10s. Writing a response must finish within this.
  std::chrono::seconds write_timeout{10};
  // Default: 30s. How long one metric request may take end to end.
  std::chrono::milliseconds request_timeout{30000};
  // Default: 0s. After SIGTERM, /readyz fails for this long before the listener closes, so
  // endpoints drop the pod first.
  std::chrono::milliseconds shutdown_delay{0};
  // Default: 20s. After the listener closes, in-flight requests get this long to finish.
  std::chrono::milliseconds shutdown_timeout{20000};

  // Default: empty. A static table of metrics (scaling/static_provider.h); exclusive with
  // --config.
  std::string static_metrics_file;
  // Default: empty. A prometheus-adapter style configuration (scaling/adapter_config.h).
  std::string config_file;

  // Prometheus connection flags, named as prometheus-adapter names them where it has them.
  // Each one that is set overrides the `prometheus:` section of --config.
  PrometheusFlags prometheus;
  // Result cache in front of Prometheus (query/cached_prometheus_client.h).
  // Default: 5s. Answers are reused this long; 0 turns the cache off.
  std::chrono::milliseconds cache_ttl{5000};
  // Default: 5m. A query asked for within this long is refreshed before it expires.
  std::chrono::milliseconds cache_keep_warm{300000};
  // Default: 2m. When Prometheus fails, the last good answer is served up to this age.
  std::chrono::milliseconds max_staleness{120000};
  // Default: 256Mi. Bound of the accounted bytes of the result cache and the signals' window
  // store together (half each when signals are configured); a Kubernetes quantity.
  int64_t cache_memory_limit_bytes = int64_t{256} << 20;
  // Default: 1m. How often series discovery runs.
  std::chrono::milliseconds metrics_relist_interval{60000};
  // Default: 0 (= the relist interval). How far back series discovery looks.
  std::chrono::milliseconds metrics_max_age{0};
  // KEDA external scaler (server/keda_scaler.h, server/grpc_server.h).
  // Default: 0 (off). The gRPC port (the manifests use 9443).
  int grpc_port = 0;
  // Default: empty (= the HTTPS serving pair: --tls-cert-file/--tls-private-key-file or the
  // self-signed one in --cert-dir).
  std::string grpc_tls_cert_file;
  std::string grpc_tls_private_key_file;
  // Default: empty (no client certificates). Set: client certificates are required and
  // verified against this bundle.
  std::string grpc_client_ca_file;
  // Default: false. true serves plaintext gRPC (KEDA without TLS metadata, or a mesh).
  bool grpc_insecure = false;
  // Default: 0. Log verbosity.
  int verbosity = 0;
  bool show_help = false;
};

Result<ServerOptions> ParseServerOptions(const std::vector<std::string>& args);
std::string ServerUsage();

// "500ms", "30s", "1m30s", "2h" → milliseconds; InvalidArgument otherwise.
Result<std::chrono::milliseconds> ParseDuration(const std::string& text);

}  // namespace sextant::server

#endif  // SEXTANT_SERVER_OPTIONS_H_

// HttpServer: the HTTPS listener. Wires cpp-httplib to TLS, authentication, the API handler,
// health endpoints and self-metrics.
//
// Every request goes through one entry point (Dispatch): health paths and
// --always-allow-paths skip authentication; everything else is authenticated, then /metrics
// is answered here and /apis... by ApiHandler; anything else is 404. Unauthenticated
// requests get 401 with a metav1.Status.
// Concurrency: a bounded pool of `max_workers` threads; each connection holds a worker while
// it is served or idle in keep-alive (up to `keep_alive_timeout`), so idle clients starve
// nobody as long as the pool is larger than the idle connections.
// Lifecycle: Bind() → Serve() (blocks); from another thread BeginShutdown() (readyz fails),
// Stop() (the listener closes) and WaitForDrain() (every request already dispatched has had
// its response written). cpp-httplib keeps idle keep-alive connections until their timeout,
// so the process exits after WaitForDrain() instead of waiting for Serve() to return.
// Ownership: borrows everything passed to the constructor; they must outlive the server.
// Thread safety: Serve() on one thread; BeginShutdown()/Stop() from any thread.
#ifndef SEXTANT_SERVER_HTTP_SERVER_H_
#define SEXTANT_SERVER_HTTP_SERVER_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "apiserver/api_handler.h"
#include "apiserver/authenticator.h"
#include "apiserver/provider.h"
#include "common/result.h"
#include "server/options.h"
#include "server/self_metrics.h"
#include "server/tls.h"

namespace httplib {
class SSLServer;
struct Request;
struct Response;
}  // namespace httplib

namespace sextant::server {

class HttpServer {
 public:
  HttpServer(const ServerOptions& options, const TlsContext& tls,
             const apiserver::Authenticator& authenticator,
             const apiserver::ApiHandler& api, apiserver::ExternalMetricsProvider& provider,
             SelfMetrics& metrics);
  ~HttpServer();

  // Binds the listener; returns the port (useful with --secure-port=0).
  Result<int> Bind();
  void Serve();
  void BeginShutdown() { shutting_down_.store(true); }
  void Stop();
  // True when no request is in flight; false when `deadline` came first.
  bool WaitForDrain(std::chrono::steady_clock::time_point deadline) const;
  int InFlight() const { return in_flight_.load(); }

 private:
  void Dispatch(const httplib::Request& req, httplib::Response& res);
  bool IsAlwaysAllowed(const std::string& path) const;
  std::optional<apiserver::UserInfo> Authenticate(const httplib::Request& req) const;

  const ServerOptions& options_;
  const TlsContext& tls_;
  const apiserver::Authenticator& authenticator_;
  const apiserver::ApiHandler& api_;
  apiserver::ExternalMetricsProvider& provider_;
  SelfMetrics& metrics_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<int> in_flight_{0};
};

}  // namespace sextant::server

#endif  // SEXTANT_SERVER_HTTP_SERVER_H_

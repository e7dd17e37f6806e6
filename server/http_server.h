// HttpServer: Sextant's HTTPS API endpoint. Answers the requests an HttpsListener reads:
// authentication, the API handler, health endpoints and self-metrics.
//
// Every request goes through one entry point (OnRequest): health paths that are in
// --always-allow-paths are answered at once on the I/O thread (they never block); everything
// else runs Dispatch() on a pool of at most --max-workers threads, since a metric request may
// wait on the provider (and so on Prometheus) for seconds. Dispatch authenticates (unless the
// path is always allowed), then /metrics is answered here and /apis... by ApiHandler;
// anything else is 404. Unauthenticated requests get 401 with a metav1.Status.
// Idle keep-alive connections hold no thread (see https_listener.h), so the pool only has to
// cover the requests being computed at the same time. The pool runs about one request per
// CPU at once and more only when some are blocked (worker_pool.h), so a burst of cheap
// requests costs no thread wake-up per request. The worker writes the response itself.
// Lifecycle: Bind() → Serve() (blocks); from another thread BeginShutdown() (readyz fails),
// Stop() (the listener closes; idle keep-alive connections are closed, busy ones once their
// response is out) and WaitForDrain() (every request already read has had its response
// written). Serve() returns once every connection has closed.
// Self-metrics: a request is in flight from the moment it has been read until its response
// has been written; its duration is the time taken to compute the response (as before the
// event-driven listener: queueing for a worker and writing are not included); routes are
// templates.
// Ownership: borrows everything passed to the constructor; they must outlive the server.
// Thread safety: Bind() and Serve() on one thread; BeginShutdown(), Stop(), WaitForDrain()
// and InFlight() from any thread.
#ifndef SEXTANT_SERVER_HTTP_SERVER_H_
#define SEXTANT_SERVER_HTTP_SERVER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "apiserver/api_handler.h"
#include "apiserver/authenticator.h"
#include "apiserver/provider.h"
#include "common/result.h"
#include "server/http_request.h"
#include "server/https_listener.h"
#include "server/options.h"
#include "server/self_metrics.h"
#include "server/tls.h"
#include "server/worker_pool.h"

namespace sextant::server {

class HttpServer : private HttpHandler {
 public:
  HttpServer(const ServerOptions& options, const TlsContext& tls,
             const apiserver::Authenticator& authenticator,
             const apiserver::ApiHandler& api, apiserver::ExternalMetricsProvider& provider,
             SelfMetrics& metrics);
  ~HttpServer() override;

  // Binds the listener; returns the port (useful with --secure-port=0).
  Result<int> Bind();
  void Serve();
  void BeginShutdown() { shutting_down_.store(true); }
  void Stop();
  // True when no request is in flight; false when `deadline` came first.
  bool WaitForDrain(std::chrono::steady_clock::time_point deadline) const;
  int InFlight() const { return in_flight_.load(); }

 private:
  // HttpHandler
  void OnRequest(HttpRequest request, Responder responder) override;
  void OnRequestDone() override;

  HttpResponse Dispatch(const HttpRequest& request) const;
  HttpResponse Health(const std::string& path) const;
  bool IsAlwaysAllowed(const std::string& path) const;
  std::optional<apiserver::UserInfo> Authenticate(const HttpRequest& request) const;

  const ServerOptions& options_;
  const TlsContext& tls_;
  const apiserver::Authenticator& authenticator_;
  const apiserver::ApiHandler& api_;
  apiserver::ExternalMetricsProvider& provider_;
  SelfMetrics& metrics_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<int> in_flight_{0};
  mutable std::mutex drain_mu_;
  mutable std::condition_variable drained_;
  // The pool is declared after the listener so that it is destroyed first: its last jobs
  // still hand their responses to the listener's connections.
  HttpsListener listener_;
  WorkerPool pool_;
};

}  // namespace sextant::server

#endif  // SEXTANT_SERVER_HTTP_SERVER_H_

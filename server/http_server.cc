#include "server/http_server.h"

#include <sched.h>

#include <algorithm>
#include <set>
#include <thread>

#include "apiserver/codec.h"
#include "common/log.h"

namespace sextant::server {
namespace {

const std::set<std::string> kHealthPaths{"/livez", "/readyz", "/healthz"};

std::string RouteForMetrics(const std::string& path, const std::string& api_route) {
  if (!api_route.empty()) return api_route;
  if (kHealthPaths.count(path) || path == "/metrics") return path;
  return "other";
}

HttpResponse StatusResponse(const apiserver::ApiError& error) {
  return {error.code, std::string(apiserver::kJsonContentType),
          apiserver::EncodeStatus(error, apiserver::MediaType::kJson)};
}

// The CPUs this process may run on (its affinity mask), at least 1.
int UsableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

HttpsListenerOptions ListenerOptions(const ServerOptions& options) {
  HttpsListenerOptions out;
  out.bind_address = options.bind_address;
  out.port = options.secure_port;
  out.io_threads = options.io_threads > 0 ? options.io_threads : UsableCpus();
  out.handshake_timeout = options.read_timeout;
  out.keep_alive_timeout = options.keep_alive_timeout;
  out.read_timeout = options.read_timeout;
  out.write_timeout = options.write_timeout;
  return out;
}

}  // namespace

HttpServer::HttpServer(const ServerOptions& options, const TlsContext& tls,
                       const apiserver::Authenticator& authenticator,
                       const apiserver::ApiHandler& api,
                       apiserver::ExternalMetricsProvider& provider, SelfMetrics& metrics)
    : options_(options),
      tls_(tls),
      authenticator_(authenticator),
      api_(api),
      provider_(provider),
      metrics_(metrics),
      listener_(ListenerOptions(options), tls, *this),
      pool_({.max_threads = options.max_workers, .max_running = UsableCpus()}) {}

HttpServer::~HttpServer() = default;

Result<int> HttpServer::Bind() { return listener_.Bind(); }

void HttpServer::Serve() { listener_.Serve(); }

void HttpServer::Stop() { listener_.Stop(); }

bool HttpServer::WaitForDrain(std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock<std::mutex> lock(drain_mu_);
  return drained_.wait_until(lock, deadline, [this] { return in_flight_.load() == 0; });
}

void HttpServer::OnRequest(HttpRequest request, Responder responder) {
  const auto start = std::chrono::steady_clock::now();
  in_flight_.fetch_add(1);
  metrics_.in_flight().Increment();
  if (kHealthPaths.count(request.path) && IsAlwaysAllowed(request.path)) {
    HttpResponse response = Health(request.path);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    metrics_.ObserveRequest(request.method, request.path, response.status, seconds);
    responder.Send(std::move(response));
    return;
  }
  pool_.Submit([this, start, request = std::move(request),
                responder = std::make_shared<Responder>(std::move(responder))] {
    HttpResponse response;
    try {
      response = Dispatch(request);
    } catch (const std::exception& error) {  // a bug: answer 500, keep the process
      SEXTANT_LOG(ERROR) << request.method << " " << request.path
                         << ": unexpected exception: " << error.what();
      response = StatusResponse(apiserver::InternalError());
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    SEXTANT_VLOG(4) << request.method << " " << request.path << " " << response.status << " "
                    << static_cast<int>(seconds * 1e6) << "us";
    responder->Send(std::move(response));
  });
}

void HttpServer::OnRequestDone() {
  metrics_.in_flight().Decrement();
  if (in_flight_.fetch_sub(1) == 1) {
    std::lock_guard<std::mutex> lock(drain_mu_);  // no lost wake-up in WaitForDrain()
    drained_.notify_all();
  }
}

HttpResponse HttpServer::Health(const std::string& path) const {
  const bool healthy = path != "/readyz" || (provider_.Ready() && !shutting_down_.load());
  return {healthy ? 200 : 503, "text/plain; charset=utf-8", healthy ? "ok" : "not ready"};
}

bool HttpServer::IsAlwaysAllowed(const std::string& path) const {
  return std::find(options_.always_allow_paths.begin(), options_.always_allow_paths.end(),
                   path) != options_.always_allow_paths.end();
}

std::optional<apiserver::UserInfo> HttpServer::Authenticate(const HttpRequest& request) const {
  return authenticator_.Authenticate(
      tls_.PeerOf(request.ssl),
      [&request](const std::string& name) { return request.HeaderValues(name); },
      [&request] { return request.HeaderNames(); });
}

HttpResponse HttpServer::Dispatch(const HttpRequest& request) const {
  const auto start = std::chrono::steady_clock::now();
  const std::string& path = request.path;
  HttpResponse response;
  std::string api_route;

  std::optional<apiserver::UserInfo> user;
  const bool always_allowed = IsAlwaysAllowed(path);
  if (!always_allowed) user = Authenticate(request);
  const bool allowed = user.has_value() || always_allowed;
  if (apiserver::ApiHandler::Serves(path)) {
    apiserver::ApiRequest api_request;
    api_request.method = request.method;
    api_request.path = path;
    api_request.label_selector = request.QueryValue("labelSelector");
    api_request.accept = request.Header("Accept");
    api_request.user = user;
    if (!user && allowed) api_request.user = apiserver::UserInfo{"system:anonymous", {}, {}};
    apiserver::ApiResponse out = api_.Handle(api_request);
    response = {out.code, std::move(out.content_type), std::move(out.body)};
    api_route = std::move(out.route);
  } else if (!allowed) {
    response = StatusResponse(apiserver::Unauthorized());
  } else if (path == "/metrics" && request.method == "GET") {
    response = {200, "text/plain; version=0.0.4; charset=utf-8", metrics_.Render()};
  } else if (kHealthPaths.count(path)) {
    response = Health(path);  // authenticated: a health path not in --always-allow-paths
  } else if (path == "/metrics") {
    response = StatusResponse(apiserver::MethodNotAllowed(request.method));
  } else {
    response = StatusResponse(
        apiserver::NotFound("the server could not find the requested resource"));
  }
  if (response.status == 401) {
    SEXTANT_VLOG(1) << "unauthenticated " << request.method << " " << path << " from "
                    << request.remote_address;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics_.ObserveRequest(request.method, RouteForMetrics(path, api_route), response.status,
                          seconds);
  return response;
}

}  // namespace sextant::server

#include "server/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
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

// Set by Dispatch() on the connection's thread and cleared by the logger, which cpp-httplib
// calls on the same thread once the response has been written: a request is in flight from
// dispatch until its bytes are out.
thread_local bool t_request_in_flight = false;

void WriteStatus(httplib::Response& res, const apiserver::ApiError& error) {
  res.status = error.code;
  res.set_content(apiserver::EncodeStatus(error, apiserver::MediaType::kJson),
                  std::string(apiserver::kJsonContentType));
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
      metrics_(metrics) {
  server_ = std::make_unique<httplib::SSLServer>(
      [this](SSL_CTX& ctx) { return tls_.Configure(ctx); });
  const int workers = options_.max_workers;
  server_->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  server_->set_keep_alive_max_count(1000000);
  server_->set_keep_alive_timeout(options_.keep_alive_timeout.count());
  server_->set_read_timeout(options_.read_timeout.count(), 0);
  server_->set_write_timeout(options_.write_timeout.count(), 0);
  server_->set_tcp_nodelay(true);
  server_->set_payload_max_length(1 << 20);
  server_->set_logger([this](const httplib::Request& req, const httplib::Response&) {
    FlushWrites(req.ssl);  // the response is complete: send it
    if (!t_request_in_flight) return;
    t_request_in_flight = false;
    metrics_.in_flight().Decrement();
    in_flight_.fetch_sub(1);
  });
  server_->set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response& res) {
        Dispatch(req, res);
        return httplib::Server::HandlerResponse::Handled;
      });
}

HttpServer::~HttpServer() = default;

Result<int> HttpServer::Bind() {
  if (!server_->is_valid()) {
    return InternalError("the TLS listener could not be set up (see the log)");
  }
  int port = options_.secure_port;
  if (port == 0) {
    port = server_->bind_to_any_port(options_.bind_address.c_str());
    if (port < 0) port = 0;
  } else if (!server_->bind_to_port(options_.bind_address.c_str(), port)) {
    port = 0;
  }
  if (port <= 0) {
    return UnavailableError("cannot listen on " + options_.bind_address + ":" +
                            std::to_string(options_.secure_port));
  }
  return port;
}

void HttpServer::Serve() { server_->listen_after_bind(); }

void HttpServer::Stop() { server_->stop(); }

bool HttpServer::WaitForDrain(std::chrono::steady_clock::time_point deadline) const {
  while (in_flight_.load() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

bool HttpServer::IsAlwaysAllowed(const std::string& path) const {
  return std::find(options_.always_allow_paths.begin(), options_.always_allow_paths.end(),
                   path) != options_.always_allow_paths.end();
}

std::optional<apiserver::UserInfo> HttpServer::Authenticate(
    const httplib::Request& req) const {
  auto header_values = [&req](const std::string& name) {
    std::vector<std::string> values;
    auto range = req.headers.equal_range(name);  // case-insensitive multimap
    for (auto it = range.first; it != range.second; ++it) values.push_back(it->second);
    return values;
  };
  auto header_names = [&req]() {
    std::vector<std::string> names;
    for (auto it = req.headers.begin(); it != req.headers.end();
         it = req.headers.upper_bound(it->first)) {
      names.push_back(it->first);
    }
    return names;
  };
  return authenticator_.Authenticate(tls_.PeerOf(req.ssl), header_values, header_names);
}

void HttpServer::Dispatch(const httplib::Request& req, httplib::Response& res) {
  const auto start = std::chrono::steady_clock::now();
  if (!t_request_in_flight) {
    t_request_in_flight = true;
    in_flight_.fetch_add(1);
    metrics_.in_flight().Increment();
  }
  std::string api_route;
  const std::string& path = req.path;

  if (kHealthPaths.count(path) && IsAlwaysAllowed(path)) {
    bool healthy = path != "/readyz" || (provider_.Ready() && !shutting_down_.load());
    res.status = healthy ? 200 : 503;
    res.set_content(healthy ? "ok" : "not ready", "text/plain; charset=utf-8");
  } else {
    std::optional<apiserver::UserInfo> user;
    if (!IsAlwaysAllowed(path)) user = Authenticate(req);
    const bool allowed = user.has_value() || IsAlwaysAllowed(path);
    if (apiserver::ApiHandler::Serves(path)) {
      apiserver::ApiRequest api_request;
      api_request.method = req.method;
      api_request.path = path;
      if (req.has_param("labelSelector")) {
        api_request.label_selector = req.get_param_value("labelSelector");
      }
      api_request.accept = req.get_header_value("Accept");
      api_request.user = user;
      if (!user && allowed) api_request.user = apiserver::UserInfo{"system:anonymous", {}, {}};
      apiserver::ApiResponse out = api_.Handle(api_request);
      res.status = out.code;
      res.set_content(std::move(out.body), out.content_type);
      api_route = out.route;
    } else if (!allowed) {
      WriteStatus(res, apiserver::Unauthorized());
    } else if (path == "/metrics" && req.method == "GET") {
      res.set_content(metrics_.Render(), "text/plain; version=0.0.4; charset=utf-8");
    } else if (kHealthPaths.count(path) || path == "/metrics") {
      WriteStatus(res, apiserver::MethodNotAllowed(req.method));
    } else {
      WriteStatus(res, apiserver::NotFound("the server could not find the requested resource"));
    }
    if (res.status == 401) {
      SEXTANT_VLOG(1) << "unauthenticated " << req.method << " " << path << " from "
                      << req.remote_addr;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics_.ObserveRequest(req.method, RouteForMetrics(path, api_route), res.status, seconds);
  SEXTANT_VLOG(4) << req.method << " " << path << " " << res.status << " "
                  << static_cast<int>(seconds * 1e6) << "us";
}

}  // namespace sextant::server

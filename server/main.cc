// sextant: the external metrics API server's entry point. Parses flags, builds the provider,
// TLS, authentication and the listener, then serves until SIGTERM/SIGINT.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <iostream>
#include <thread>

#include "apiserver/api_handler.h"
#include "apiserver/authenticator.h"
#include "apiserver/authorizer.h"
#include "common/log.h"
#include "scaling/catalog_docs.h"
#include "server/grpc_server.h"
#include "server/http_server.h"
#include "server/options.h"
#include "server/provider_factory.h"
#include "server/self_metrics.h"
#include "server/tls.h"
#include "server/validate_command.h"

namespace sextant::server {
namespace {

// DNS names of the in-cluster Service, when running in a pod.
std::vector<std::string> ServiceDnsNames(const std::string& service) {
  std::ifstream in("/var/run/secrets/kubernetes.io/serviceaccount/namespace");
  std::string ns;
  if (!(in >> ns) || ns.empty() || service.empty()) return {};
  return {service, service + "." + ns, service + "." + ns + ".svc",
          service + "." + ns + ".svc.cluster.local"};
}

// Cache, Prometheus client, rule provider and window store counters on /metrics, read at
// scrape time.
void ExportBackendMetrics(const ProviderBundle& bundle, SelfMetrics& metrics) {
  if (bundle.cache) {
    const query::CachingPrometheusClient* cache = bundle.cache.get();
    metrics.AddSource([cache] {
      const auto s = cache->stats();
      return std::vector<prometheus::MetricFamily>{
          SelfMetrics::Counter("sextant_cache_hits_total", "Answers served fresh from the cache.", s.hits),
          SelfMetrics::Counter("sextant_cache_misses_total", "Requests that led a backend fetch.", s.misses),
          SelfMetrics::Counter("sextant_cache_coalesced_waits_total",
                               "Requests that waited for another request's fetch.", s.coalesced_waits),
          SelfMetrics::Counter("sextant_cache_stale_answers_total",
                               "Answers older than the TTL served because the backend failed.",
                               s.stale_answers),
          SelfMetrics::Counter("sextant_cache_refreshes_total", "Background refreshes started.",
                               s.refreshes),
          SelfMetrics::Counter("sextant_cache_refresh_failures_total",
                               "Background refreshes that failed.", s.refresh_failures),
          SelfMetrics::Counter("sextant_cache_evictions_total", "Entries dropped for memory.",
                               s.evictions),
          SelfMetrics::Gauge("sextant_cache_bytes", "Accounted bytes held by the cache.", s.bytes),
          SelfMetrics::Gauge("sextant_cache_entries", "Entries held by the cache.", s.entries)};
    });
  }
  if (bundle.client) {
    const query::HttpPrometheusClient* client = bundle.client.get();
    metrics.AddSource([client] {
      return std::vector<prometheus::MetricFamily>{
          SelfMetrics::Counter("sextant_prometheus_requests_total",
                               "HTTP requests sent to Prometheus.", client->requests_total()),
          SelfMetrics::Counter("sextant_prometheus_failed_requests_total",
                               "Prometheus calls that failed.", client->failed_requests_total()),
          SelfMetrics::Counter("sextant_prometheus_warnings_total",
                               "Warnings Prometheus attached to answers (partial responses).",
                               client->warnings_total())};
    });
  }
  if (bundle.rules) {
    const scaling::ExternalRuleProvider* rules = bundle.rules;
    metrics.AddSource([rules] {
      return std::vector<prometheus::MetricFamily>{SelfMetrics::Counter(
          "sextant_non_finite_samples_dropped_total",
          "NaN or infinite samples left out of answers.", rules->non_finite_samples_dropped())};
    });
  }
  if (bundle.window_store && bundle.signals) {
    const scaling::WindowStore* store = bundle.window_store.get();
    const scaling::SignalProvider* signals = bundle.signals;
    metrics.AddSource([store, signals] {
      const auto s = store->stats();
      return std::vector<prometheus::MetricFamily>{
          SelfMetrics::Gauge("sextant_window_store_series", "Series held by the window store.",
                             s.series),
          SelfMetrics::Gauge("sextant_window_store_samples", "Samples held by the window store.",
                             s.samples),
          SelfMetrics::Gauge("sextant_window_store_bytes",
                             "Accounted bytes held by the window store.", s.bytes),
          SelfMetrics::Gauge("sextant_window_store_subscriptions",
                             "Series selectors the window store keeps up to date.",
                             s.subscriptions),
          SelfMetrics::Counter("sextant_window_store_full_fetches_total",
                               "Whole-window fetches of a selector.", s.full_fetches),
          SelfMetrics::Counter("sextant_window_store_incremental_fetches_total",
                               "Fetches of only the samples since the last refresh.",
                               s.incremental_fetches),
          SelfMetrics::Counter("sextant_window_store_fetched_samples_total",
                               "Samples received from Prometheus.", s.fetched_samples),
          SelfMetrics::Counter("sextant_window_store_evictions_total",
                               "Selectors dropped for memory or idleness.", s.evictions),
          SelfMetrics::Counter("sextant_signal_non_finite_values_dropped_total",
                               "NaN or infinite signal values left out of answers.",
                               signals->non_finite_values_dropped())};
    });
  }
  if (bundle.catalog) {
    const scaling::CatalogProvider* catalog = bundle.catalog;
    metrics.AddSource([catalog] {
      const size_t listed = catalog->listed_entries();
      return std::vector<prometheus::MetricFamily>{
          SelfMetrics::Gauge("sextant_catalog_entries",
                             "Built-in catalog entries the config leaves on.",
                             static_cast<double>(catalog->entries().size())),
          SelfMetrics::Gauge("sextant_catalog_listed_entries",
                             "Catalog entries whose series discovery last found.",
                             static_cast<double>(listed)),
          SelfMetrics::Counter("sextant_catalog_non_finite_values_dropped_total",
                               "NaN or infinite catalog values left out of answers.",
                               catalog->non_finite_values_dropped())};
    });
  }
}

int Run(const ServerOptions& options) {
  log::SetVerbosity(options.verbosity);
  // Signals are taken by one thread (sigwait) so that shutdown runs outside a handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto bundle = BuildProvider(options);
  if (!bundle.ok()) {
    SEXTANT_LOG(ERROR) << bundle.status().message();
    return 1;
  }
  apiserver::ExternalMetricsProvider& provider = *bundle->provider;
  TlsOptions tls_options{options.tls_cert_file,
                         options.tls_private_key_file,
                         options.cert_dir,
                         options.tls_sni_names,
                         options.authentication.client_ca_file,
                         options.authentication.request_header.client_ca_file};
  for (const std::string& name : ServiceDnsNames(options.service_name)) {
    tls_options.extra_names.push_back(name);
  }
  auto tls = TlsContext::Create(tls_options);
  if (!tls.ok()) {
    SEXTANT_LOG(ERROR) << tls.status().message();
    return 1;
  }
  if (options.authentication.client_ca_file.empty() &&
      options.authentication.request_header.client_ca_file.empty()) {
    SEXTANT_LOG(WARNING) << "neither --client-ca-file nor --requestheader-client-ca-file is "
                            "set: every API request will be answered 401";
  }
  apiserver::Authenticator authenticator(options.authentication);
  apiserver::AlwaysAllowAuthorizer authorizer;
  apiserver::ApiHandler api(provider, authorizer, {options.request_timeout});
  SelfMetrics metrics;
  ExportBackendMetrics(*bundle, metrics);
  HttpServer server(options, **tls, authenticator, api, provider, metrics);
  auto port = server.Bind();
  if (!port.ok()) {
    SEXTANT_LOG(ERROR) << port.status().message();
    return 1;
  }
  SEXTANT_LOG(INFO) << "serving securely on " << options.bind_address << ":" << *port;

  // KEDA external scaler (gRPC); TLS by default with the HTTPS serving pair.
  std::unique_ptr<GrpcServer> grpc_server;
  if (options.grpc_port != 0) {
    GrpcServerOptions grpc_options;
    grpc_options.bind_address = options.bind_address;
    grpc_options.port = options.grpc_port;
    grpc_options.insecure = options.grpc_insecure;
    grpc_options.client_ca_file = options.grpc_client_ca_file;
    if (!options.grpc_tls_cert_file.empty()) {
      grpc_options.cert_file = options.grpc_tls_cert_file;
      grpc_options.key_file = options.grpc_tls_private_key_file;
    } else if (!options.tls_cert_file.empty()) {
      grpc_options.cert_file = options.tls_cert_file;
      grpc_options.key_file = options.tls_private_key_file;
    } else {
      grpc_options.cert_file = options.cert_dir + "/apiserver.crt";
      grpc_options.key_file = options.cert_dir + "/apiserver.key";
    }
    grpc_server = std::make_unique<GrpcServer>(grpc_options, provider);
    auto grpc_port = grpc_server->Start();
    if (!grpc_port.ok()) {
      SEXTANT_LOG(ERROR) << grpc_port.status().message();
      return 1;
    }
    SEXTANT_LOG(INFO) << "serving KEDA external scaler (gRPC) on " << options.bind_address << ":"
                      << *grpc_port << (options.grpc_insecure ? " (plaintext)" : " (TLS)");
  }

  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    SEXTANT_LOG(INFO) << "received signal " << sig << ", shutting down";
    server.BeginShutdown();
    // KEDA's streams end and gRPC stops before the HTTPS drain.
    if (grpc_server) grpc_server->Shutdown(std::chrono::seconds(5));
    std::this_thread::sleep_for(options.shutdown_delay);
    server.Stop();
    if (server.WaitForDrain(std::chrono::steady_clock::now() + options.shutdown_timeout)) {
      SEXTANT_LOG(INFO) << "drained; exiting";
    } else {
      SEXTANT_LOG(WARNING) << "shutdown timeout reached with " << server.InFlight()
                           << " requests in flight; exiting";
    }
    // Idle keep-alive connections would hold Serve() until their timeout: leave now.
    std::_Exit(0);
  });
  server.Serve();
  signal_thread.join();
  return 0;
}

}  // namespace
}  // namespace sextant::server

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "validate") {
    return sextant::server::RunValidate({args.begin() + 1, args.end()}, std::cout, std::cerr);
  }
  if (!args.empty() && args[0] == "catalog") {  // the README's catalog tables
    if (args.size() > 1) {
      std::cerr << "sextant catalog: takes no arguments (got \"" << args[1]
                << "\"); it prints the built-in catalog's tables in Markdown\n";
      return 2;
    }
    std::cout << sextant::scaling::CatalogMarkdown();
    return 0;
  }
  if (!args.empty() && args[0] == "serve") args.erase(args.begin());
  auto options = sextant::server::ParseServerOptions(args);
  if (!options.ok()) {
    std::cerr << "sextant: " << options.status().message() << "\n";
    return 2;
  }
  if (options->show_help) {
    std::cout << sextant::server::ServerUsage();
    return 0;
  }
  return sextant::server::Run(*options);
}

// BuildProvider: the metrics source chosen by the flags, with what it needs to live.
//
//   --static-metrics FILE  → scaling::StaticProvider (no backend)
//   --config FILE          → scaling::ExternalRuleProvider over the result cache
//                            (--cache-*) over an HttpPrometheusClient whose settings come
//                            from the file's `prometheus:` section, each overridden by the
//                            --prometheus-* flag when given; with `signals:`, both behind a
//                            scaling::CompositeProvider with a scaling::SignalProvider over a
//                            scaling::WindowStore (ttl --cache-ttl, memory limit
//                            --cache-memory-limit, stale answers up to --max-staleness). The
//                            store calls the HTTP client directly: its queries carry an
//                            explicit evaluation time and would never hit the result cache.
//                            The built-in catalog (scaling/catalog_provider.h) joins them
//                            unless the file's `catalog:` turns every entry off; it reads
//                            through the same window store (so the store, and the memory
//                            split, exist whenever signals or catalog entries do).
//   --prometheus-url only  → the catalog alone, as with an empty config file
//   neither                → an empty StaticProvider (and a warning)
// Ownership: the bundle owns the client and the provider; the provider is destroyed first
// (it stops its discovery thread, which uses the client).
// Thread safety: BuildProvider runs once at start.
// Errors: InvalidArgument naming the file or flag that is wrong.
#ifndef SEXTANT_SERVER_PROVIDER_FACTORY_H_
#define SEXTANT_SERVER_PROVIDER_FACTORY_H_

#include <memory>

#include "apiserver/provider.h"
#include "common/result.h"
#include "query/cached_prometheus_client.h"
#include "query/http_prometheus_client.h"
#include "scaling/adapter_config.h"
#include "scaling/catalog_provider.h"
#include "scaling/external_rule_provider.h"
#include "scaling/signal_provider.h"
#include "scaling/window_store.h"
#include "server/options.h"

namespace sextant::server {

// Members are destroyed bottom-up: the provider (discovery thread), then the window store,
// then the cache (refresher threads), then the HTTP client.
struct ProviderBundle {
  std::unique_ptr<query::HttpPrometheusClient> client;      // null without --config
  std::unique_ptr<query::CachingPrometheusClient> cache;    // in front of client
  std::unique_ptr<scaling::WindowStore> window_store;       // null without signals
  std::unique_ptr<apiserver::ExternalMetricsProvider> provider;
  scaling::ExternalRuleProvider* rules = nullptr;           // part of provider: the rules
  scaling::SignalProvider* signals = nullptr;               // part of provider: the signals
  scaling::CatalogProvider* catalog = nullptr;              // part of provider: the catalog
};

Result<ProviderBundle> BuildProvider(const ServerOptions& options);

// The client settings of `section` with every --prometheus-* flag that is set applied on top.
Result<query::HttpPrometheusClient::Options> PrometheusClientOptions(
    const scaling::PrometheusSection& section, const PrometheusFlags& flags);

}  // namespace sextant::server

#endif  // SEXTANT_SERVER_PROVIDER_FACTORY_H_

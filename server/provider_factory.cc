#include "server/provider_factory.h"

#include <algorithm>

#include "common/log.h"
#include "scaling/catalog.h"
#include "scaling/composite_provider.h"
#include "scaling/external_rule_provider.h"
#include "scaling/static_provider.h"

namespace sextant::server {
namespace {

template <typename T>
void Override(const std::optional<T>& flag, T* field) {
  if (flag) *field = *flag;
}

Result<std::chrono::milliseconds> SectionDuration(const std::string& text, const char* key) {
  auto d = scaling::ParseConfigDuration(text);
  if (!d.ok()) return InvalidArgumentError(std::string("prometheus.") + key + ": " +
                                           d.status().message());
  return *d;
}

// The result cache in front of `client`, or null when --cache-ttl=0 turns it off.
Result<std::unique_ptr<query::CachingPrometheusClient>> BuildCache(
    const ServerOptions& options, query::PrometheusClient& client, std::size_t memory_limit) {
  if (options.cache_ttl.count() == 0) {
    SEXTANT_LOG(INFO) << "--cache-ttl=0: every request queries Prometheus";
    return std::unique_ptr<query::CachingPrometheusClient>();
  }
  query::CachingPrometheusClient::Options cache_options;
  cache_options.ttl = options.cache_ttl;
  cache_options.keep_warm = options.cache_keep_warm;
  cache_options.max_staleness = options.max_staleness;
  cache_options.memory_limit_bytes = memory_limit;
  return query::CachingPrometheusClient::Create(client, RealClock(), cache_options);
}

}  // namespace

Result<query::HttpPrometheusClient::Options> PrometheusClientOptions(
    const scaling::PrometheusSection& section, const PrometheusFlags& flags) {
  query::HttpPrometheusClient::Options o;
  o.url = section.url;
  o.verb = section.verb;
  o.bearer_token_file = section.bearer_token_file;
  o.basic_auth_username = section.basic_auth.username;
  o.basic_auth_password_file = section.basic_auth.password_file;
  o.ca_file = section.tls.ca_file;
  o.cert_file = section.tls.cert_file;
  o.key_file = section.tls.key_file;
  o.insecure_skip_tls_verify = section.tls.insecure_skip_verify;
  o.headers = section.headers;
  o.sigv4.enabled = section.sigv4.enabled;
  o.sigv4.region = section.sigv4.region;
  o.sigv4.service = section.sigv4.service;
  auto connect = SectionDuration(section.connect_timeout, "connectTimeout");
  if (!connect.ok()) return connect.status();
  o.connect_timeout = *connect;
  auto request = SectionDuration(section.request_timeout, "requestTimeout");
  if (!request.ok()) return request.status();
  o.request_timeout = *request;

  Override(flags.url, &o.url);
  Override(flags.verb, &o.verb);
  Override(flags.token_file, &o.bearer_token_file);
  Override(flags.basic_auth_username, &o.basic_auth_username);
  Override(flags.basic_auth_password_file, &o.basic_auth_password_file);
  Override(flags.ca_file, &o.ca_file);
  Override(flags.client_cert_file, &o.cert_file);
  Override(flags.client_key_file, &o.key_file);
  Override(flags.insecure_skip_tls_verify, &o.insecure_skip_tls_verify);
  for (const auto& header : flags.headers) o.headers.push_back(header);
  if (flags.sigv4_region) {
    o.sigv4.enabled = true;
    o.sigv4.region = *flags.sigv4_region;
  }
  Override(flags.connect_timeout, &o.connect_timeout);
  Override(flags.request_timeout, &o.request_timeout);
  if (o.url.empty()) {
    return InvalidArgumentError("no Prometheus URL: set --prometheus-url or prometheus.url "
                                "in the config file");
  }
  return o;
}

Result<ProviderBundle> BuildProvider(const ServerOptions& options) {
  ProviderBundle bundle;
  if (!options.static_metrics_file.empty()) {
    auto provider = scaling::StaticProvider::Load(options.static_metrics_file);
    if (!provider.ok()) return provider.status();
    bundle.provider = std::move(*provider);
    return bundle;
  }
  if (options.config_file.empty() && !options.prometheus.url) {
    SEXTANT_LOG(WARNING) << "no metrics source configured (--config, --prometheus-url or "
                            "--static-metrics): serving an empty metric list";
    bundle.provider = std::make_unique<scaling::StaticProvider>(
        std::vector<scaling::StaticProvider::Metric>{});
    return bundle;
  }
  // Without a file (only --prometheus-url): no rules, no signals, the whole catalog.
  auto config = options.config_file.empty() ? Result<scaling::AdapterConfig>(
                                                  scaling::AdapterConfig{})
                                            : scaling::LoadAdapterConfig(options.config_file);
  if (!config.ok()) return config.status();
  if (std::string notice = scaling::IgnoredRulesNotice(*config); !notice.empty()) {
    SEXTANT_LOG(INFO) << notice;
  }
  auto client_options = PrometheusClientOptions(config->prometheus, options.prometheus);
  if (!client_options.ok()) return client_options.status();
  auto client = query::HttpPrometheusClient::Create(*client_options);
  if (!client.ok()) return client.status();
  bundle.client = std::move(*client);
  // --cache-memory-limit bounds the result cache and the window store together: when the
  // store is needed (signals or catalog entries), each gets half.
  const bool catalog_on = std::any_of(
      scaling::Catalog().begin(), scaling::Catalog().end(),
      [&](const scaling::CatalogEntry& e) { return config->catalog.Serves(std::string(e.name)); });
  const bool needs_store = !config->signals.empty() || catalog_on;
  const auto memory_limit = static_cast<std::size_t>(options.cache_memory_limit_bytes);
  const std::size_t cache_share = needs_store ? memory_limit / 2 : memory_limit;
  auto cache = BuildCache(options, *bundle.client, cache_share);
  if (!cache.ok()) return cache.status();
  bundle.cache = std::move(*cache);
  query::PrometheusClient* backend =
      bundle.cache ? static_cast<query::PrometheusClient*>(bundle.cache.get())
                   : bundle.client.get();
  scaling::ExternalRuleProviderOptions provider_options;
  provider_options.relist_interval = options.metrics_relist_interval;
  provider_options.metrics_max_age = options.metrics_max_age;
  auto provider = std::make_unique<scaling::ExternalRuleProvider>(
      std::move(config->external_rules), *backend, provider_options);
  provider->Start();
  bundle.rules = provider.get();
  if (!options.config_file.empty()) {
    SEXTANT_LOG(INFO) << "serving external rules from " << options.config_file
                      << " against Prometheus at " << client_options->url;
  }
  if (!needs_store) {
    bundle.provider = std::move(provider);
    return bundle;
  }
  scaling::WindowStoreOptions store_options;
  store_options.ttl = options.cache_ttl;
  store_options.max_staleness = options.max_staleness;
  store_options.memory_limit_bytes = memory_limit - cache_share;
  auto store = scaling::WindowStore::Create(*bundle.client, RealClock(), store_options);
  if (!store.ok()) return store.status();
  bundle.window_store = std::move(*store);
  auto signals = std::make_unique<scaling::SignalProvider>(std::move(config->signals),
                                                           *bundle.window_store);
  bundle.signals = signals.get();
  std::unique_ptr<scaling::CatalogProvider> catalog;
  if (catalog_on) {
    catalog = std::make_unique<scaling::CatalogProvider>(
        config->catalog, *backend, *bundle.window_store, options.metrics_relist_interval);
    catalog->Start();
    bundle.catalog = catalog.get();
  }
  bundle.provider = std::make_unique<scaling::CompositeProvider>(
      std::move(signals), std::move(provider), std::move(catalog));
  return bundle;
}

}  // namespace sextant::server

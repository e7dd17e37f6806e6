// AdapterConfig: Sextant's configuration file. It is a superset of prometheus-adapter's
// (pkg/config/config.go), so an adapter config file loads unchanged:
//
//   externalRules:                  # served (external.metrics.k8s.io). Default: none.
//   - seriesQuery: '{__name__=~"^vllm:.*",namespace!=""}'   # REQUIRED: a series selector
//     seriesFilters:                # Default: none. Each entry has exactly one of:
//     - is: '^vllm:num_requests_.*$'    #   keep series whose name matches (RE2 = Go regexp)
//     - isNot: '_created$'              #   drop series whose name matches
//     resources:
//       overrides:                  # Default: none. Prometheus label -> Kubernetes resource.
//         kubernetes_namespace: {resource: namespace}   # group Default: "" (core)
//       template: '<<.Resource>>'   # Default: "" (none). Label for a group-resource;
//                                   # .Group and .Resource; must use .Resource.
//       namespaced: true            # Default: true. false: the request's namespace is not
//                                   # added to the query.
//     name:
//       matches: '^vllm:(.*)$'      # Default: "" (= ".*"). Unanchored; also a filter.
//       as: '${1}'                  # Default: "$0", or "$1" when `matches` has exactly one
//                                   # capture group; REQUIRED with two or more.
//     metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'   # REQUIRED: a QueryTemplate
//     emptyResult: empty            # Sextant: `empty` (Default: an empty list, the HPA holds)
//                                   # or `zero` (one item of value 0).
//   rules: [...]                    # custom.metrics.k8s.io rules: the same schema, checked
//                                   # the same way, counted and not served. Default: none.
//   resourceRules: {...}            # metrics.k8s.io (cpu/memory): accepted as any mapping,
//                                   # counted and not served. Default: none.
//   prometheus: {...}               # Sextant: how to reach Prometheus; see PrometheusSection.
//   signals: [...]                  # Sextant: windowed statistics computed in-process; see
//                                   # scaling/signal_config.h. Default: none.
//   catalog: {...}                  # Sextant: turns built-in catalog entries off, sets the GPU
//                                   # headroom; see scaling/catalog_config.h. Default: all on.
//
// `$1`, `${name}` in `as` expand like Go's Regexp.Expand: `$1x` names the group "1x" (empty
// output); write `${1}x`. `$$` is a literal `$`.
//
// Strictness (prometheus-adapter uses yaml.UnmarshalStrict too): an unknown or duplicate
// key, a mapping or list where a scalar belongs, a bad regex or template, a missing
// required field all fail the load with InvalidArgument "file:line:col: what". A scalar
// where a string belongs is taken as its text, as Go's yaml.v2 does.
//
// Ownership: plain values; compiled regexes are shared, immutable RE2 objects.
// Thread safety: immutable after loading; all const methods are safe concurrently.
// Errors: LoadAdapterConfig/ParseAdapterConfig return InvalidArgument; nothing throws.
#ifndef SEXTANT_SCALING_ADAPTER_CONFIG_H_
#define SEXTANT_SCALING_ADAPTER_CONFIG_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "scaling/catalog_config.h"
#include "scaling/query_template.h"
#include "scaling/signal_config.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace sextant::scaling {

// One `seriesFilters` entry.
struct SeriesFilter {
  bool keep_matching = true;  // true for `is`, false for `isNot`
  std::string pattern;
  std::shared_ptr<const re2::RE2> regex;  // REQUIRED: compiled `pattern`
  // Whether a series named `series_name` passes this filter (unanchored search).
  bool Keep(std::string_view series_name) const;
};

struct NameMapping {
  std::string matches;                    // Default: "" (treated as ".*")
  std::string as;                         // the resolved template: never empty after loading
  std::shared_ptr<const re2::RE2> regex;  // REQUIRED: compiled `matches` (or ".*")
  // The API metric name for a series name: the leftmost match of `regex` expanded through
  // `as`; nullopt when the name does not match.
  std::optional<std::string> MetricNameFor(const std::string& series_name) const;
};

struct GroupResource {
  std::string group;     // Default: "" (the core group)
  std::string resource;  // REQUIRED, e.g. "namespace" or "deployments"
};

struct ResourceMapping {
  struct Override {
    std::string label;  // a Prometheus label name
    GroupResource target;
  };
  std::vector<Override> overrides;              // file order. Default: none
  std::string template_text;                    // Default: "" (no template)
  std::optional<QueryTemplate> label_template;  // compiled template_text
  std::optional<bool> namespaced;               // Default: unset, which means true

  bool Namespaced() const { return namespaced.value_or(true); }
  // The Prometheus label that carries the namespace: the first override whose resource is
  // namespace(s) in the core group; else `template` applied to {group "", resource
  // "namespace"}; else "namespace". prometheus-adapter fails the query in the last case
  // (issue #282); Sextant documents and uses the conventional label.
  std::string NamespaceLabel() const;
};

struct ExternalRule {
  std::string series_query;                  // REQUIRED
  std::vector<SeriesFilter> series_filters;  // Default: none
  ResourceMapping resources;
  NameMapping name;
  QueryTemplate metrics_query;     // REQUIRED
  std::string metrics_query_text;  // its source text
  std::string where;               // "file:line:col" of the rule, for messages
  // Sextant extension `emptyResult: zero`: an empty query result answers one item of value
  // 0 instead of an empty list. Default: false (`emptyResult: empty`; the HPA holds).
  bool empty_result_zero = false;
  // The rule's discovery filter: every series filter keeps the name and name.matches
  // matches it (prometheus-adapter appends `matches` as an `is` filter).
  bool SelectsSeries(std::string_view series_name) const;
};

// Sextant's own `prometheus:` section: how to reach the backend. The fields mirror
// query::HttpPrometheusClient::Options; a flag given on the command line wins over the file.
struct PrometheusSection {
  bool present = false;  // the file has a `prometheus:` section
  // "http(s)://host[:port][/prefix]". Default: "" (then --prometheus-url is required).
  std::string url;
  // "GET" or "POST". Default: "GET".
  std::string verb = "GET";
  // File with a bearer token. Default: "" (none).
  std::string bearer_token_file;
  struct BasicAuth {
    std::string username;       // Default: "" (no basic auth)
    std::string password_file;  // Default: "" (REQUIRED with username)
  } basic_auth;
  struct Tls {
    std::string ca_file;                // Default: "" (system roots)
    std::string cert_file;              // Default: "" (no client certificate; both or neither)
    std::string key_file;               // Default: ""
    bool insecure_skip_verify = false;  // Default: false
  } tls;
  // Extra request headers in file order, e.g. X-Scope-OrgID. Not allowed: Host,
  // Authorization, Content-Type, Content-Length, Connection, Transfer-Encoding, X-Amz-*.
  // Default: none.
  std::vector<std::pair<std::string, std::string>> headers;
  struct SigV4 {
    bool enabled = false;         // Default: false (true when the `sigv4:` key is present)
    std::string region;           // REQUIRED when enabled, e.g. "us-west-2"
    std::string service = "aps";  // Default: "aps"
  } sigv4;
  // Durations in Prometheus' syntax ("5s", "1m30s", "500ms"); see ParseConfigDuration.
  std::string connect_timeout = "5s";   // Default: "5s"
  std::string request_timeout = "30s";  // Default: "30s"
};

struct AdapterConfig {
  std::string source;  // the file name given to the loader
  std::vector<ExternalRule> external_rules;
  std::size_t ignored_rules = 0;           // entries of `rules`
  std::size_t ignored_resource_rules = 0;  // keys of `resourceRules` other than `window`
  PrometheusSection prometheus;
  std::vector<SignalSpec> signals;  // file order. Default: none
  CatalogConfig catalog;            // Default: every entry on
};

// Reads and parses `path`.
Result<AdapterConfig> LoadAdapterConfig(const std::string& path);
// Parses `yaml`; `source_name` prefixes every error position.
Result<AdapterConfig> ParseAdapterConfig(const std::string& yaml, const std::string& source_name);

// The line to log at start when rules or resourceRules were ignored, or "" when none were:
// Sextant serves external.metrics.k8s.io only.
std::string IgnoredRulesNotice(const AdapterConfig& config);

// A Prometheus duration: units y w d h m s ms, each at most once, largest first, e.g.
// "1h30m", "250ms", or "0". InvalidArgument otherwise.
Result<std::chrono::milliseconds> ParseConfigDuration(std::string_view text);

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_ADAPTER_CONFIG_H_

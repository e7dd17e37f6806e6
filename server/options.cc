#include "server/options.h"

#include "apiserver/quantity.h"

#include <cctype>
#include <functional>
#include <map>
#include <sstream>

namespace sextant::server {
namespace {

struct Flag {
  std::string name;
  std::string help;
  bool is_bool;
  std::function<Status(const std::string&)> set;
};

std::vector<std::string> SplitList(const std::string& value) {
  std::vector<std::string> out;
  std::stringstream in(value);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t b = item.find_first_not_of(" \t");
    size_t e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

Status SetInt(const std::string& flag, const std::string& value, int min, int max,
              int* out) {
  try {
    size_t used = 0;
    long v = std::stol(value, &used);
    if (used != value.size() || v < min || v > max) throw std::out_of_range("range");
    *out = static_cast<int>(v);
    return OkStatus();
  } catch (const std::exception&) {
    return InvalidArgumentError("--" + flag + ": want an integer between " +
                                std::to_string(min) + " and " + std::to_string(max) +
                                ", got \"" + value + "\"");
  }
}

template <typename D>
Status SetDuration(const std::string& flag, const std::string& value, D* out) {
  Result<std::chrono::milliseconds> d = ParseDuration(value);
  if (!d.ok()) return InvalidArgumentError("--" + flag + ": " + d.status().message());
  *out = std::chrono::duration_cast<D>(*d);
  return OkStatus();
}

// Lists given twice accumulate; the first use replaces the default.
Status SetList(const std::string& value, std::vector<std::string>* out, bool* touched) {
  if (!*touched) out->clear();
  *touched = true;
  for (std::string& item : SplitList(value)) out->push_back(std::move(item));
  return OkStatus();
}

std::vector<Flag> Flags(ServerOptions& o, std::map<std::string, bool>& touched) {
  auto str = [](std::string* field) {
    return [field](const std::string& v) { *field = v; return OkStatus(); };
  };
  auto list = [&touched](const std::string& name, std::vector<std::string>* field) {
    return [&touched, name, field](const std::string& v) {
      return SetList(v, field, &touched[name]);
    };
  };
  auto opt = [](std::optional<std::string>* field) {
    return [field](const std::string& v) { *field = v; return OkStatus(); };
  };
  auto& rh = o.authentication.request_header;
  return {
      {"bind-address", "IP address to listen on (default 0.0.0.0)", false,
       str(&o.bind_address)},
      {"secure-port", "HTTPS port (default 6443; 0 picks a free one)", false,
       [&o](const std::string& v) { return SetInt("secure-port", v, 0, 65535, &o.secure_port); }},
      {"tls-cert-file", "serving certificate (PEM, chain allowed)", false, str(&o.tls_cert_file)},
      {"tls-private-key-file", "serving key (PEM)", false, str(&o.tls_private_key_file)},
      {"cert-dir", "where a self-signed certificate is generated and reused "
       "(default apiserver.local.config/certificates)", false, str(&o.cert_dir)},
      {"tls-sni-names", "extra DNS names or IPs for the generated certificate", false,
       list("tls-sni-names", &o.tls_sni_names)},
      {"service-name", "Service name for the generated certificate's DNS names "
       "(default sextant)", false, str(&o.service_name)},
      {"client-ca-file", "CA bundle for client certificates (user = CN, groups = O)", false,
       str(&o.authentication.client_ca_file)},
      {"requestheader-client-ca-file", "CA bundle for the front-proxy client certificate",
       false, str(&rh.client_ca_file)},
      {"requestheader-allowed-names", "front-proxy common names allowed (empty = any)",
       false, list("requestheader-allowed-names", &rh.allowed_names)},
      {"requestheader-username-headers", "user name headers (default X-Remote-User)", false,
       list("requestheader-username-headers", &rh.username_headers)},
      {"requestheader-group-headers", "group headers (default X-Remote-Group)", false,
       list("requestheader-group-headers", &rh.group_headers)},
      {"requestheader-extra-headers-prefix", "extra header prefixes (default X-Remote-Extra-)",
       false, list("requestheader-extra-headers-prefix", &rh.extra_headers_prefixes)},
      {"always-allow-paths", "paths served without authentication "
       "(default /healthz,/readyz,/livez)", false,
       list("always-allow-paths", &o.always_allow_paths)},
      {"max-workers", "threads computing responses, i.e. concurrent requests (default 16)",
       false,
       [&o](const std::string& v) { return SetInt("max-workers", v, 1, 4096, &o.max_workers); }},
      {"io-threads", "threads running connection I/O (default 0 = number of usable CPUs)",
       false,
       [&o](const std::string& v) { return SetInt("io-threads", v, 0, 256, &o.io_threads); }},
      {"keep-alive-timeout", "idle keep-alive connections are closed after this (default 30s)",
       false, [&o](const std::string& v) {
         return SetDuration("keep-alive-timeout", v, &o.keep_alive_timeout); }},
      {"read-timeout", "time to read a request (default 10s)", false,
       [&o](const std::string& v) { return SetDuration("read-timeout", v, &o.read_timeout); }},
      {"write-timeout", "time to write a response (default 10s)", false,
       [&o](const std::string& v) { return SetDuration("write-timeout", v, &o.write_timeout); }},
      {"request-timeout", "time one metric request may take (default 30s)", false,
       [&o](const std::string& v) {
         return SetDuration("request-timeout", v, &o.request_timeout); }},
      {"shutdown-delay-duration", "after SIGTERM, fail /readyz this long before closing the "
       "listener (default 0s)", false, [&o](const std::string& v) {
         return SetDuration("shutdown-delay-duration", v, &o.shutdown_delay); }},
      {"shutdown-timeout", "after the listener closes, in-flight requests get this long "
       "(default 20s)", false, [&o](const std::string& v) {
         return SetDuration("shutdown-timeout", v, &o.shutdown_timeout); }},
      {"static-metrics", "serve a static table of metrics from this YAML file", false,
       str(&o.static_metrics_file)},
      {"config", "prometheus-adapter style configuration file (externalRules, prometheus:, "
                 "signals:, catalog:)",
       false, str(&o.config_file)},
      {"prometheus-url", "Prometheus URL, may carry a path prefix (e.g. https://mimir/prometheus); "
                         "alone, without --config, serves the built-in catalog",
       false, opt(&o.prometheus.url)},
      {"prometheus-verb", "GET or POST (default GET; long queries switch to POST)", false,
       opt(&o.prometheus.verb)},
      {"prometheus-token-file", "bearer token file, re-read when it changes", false,
       opt(&o.prometheus.token_file)},
      {"prometheus-basic-auth-username", "basic auth user", false,
       opt(&o.prometheus.basic_auth_username)},
      {"prometheus-basic-auth-password-file", "basic auth password file", false,
       opt(&o.prometheus.basic_auth_password_file)},
      {"prometheus-ca-file", "CA bundle to verify Prometheus with", false,
       opt(&o.prometheus.ca_file)},
      {"prometheus-client-tls-cert-file", "client certificate for Prometheus", false,
       opt(&o.prometheus.client_cert_file)},
      {"prometheus-client-tls-key-file", "client key for Prometheus", false,
       opt(&o.prometheus.client_key_file)},
      {"prometheus-insecure-skip-tls-verify", "do not verify Prometheus' certificate", true,
       [&o](const std::string& v) {
         if (v != "" && v != "true" && v != "false") {
           return InvalidArgumentError("--prometheus-insecure-skip-tls-verify: want true or false");
         }
         o.prometheus.insecure_skip_tls_verify = v != "false";
         return OkStatus();
       }},
      {"prometheus-header", "extra header K=V on every Prometheus request (repeatable), e.g. "
       "X-Scope-OrgID=tenant", false, [&o](const std::string& v) {
         size_t eq = v.find('=');
         if (eq == std::string::npos || eq == 0) {
           return InvalidArgumentError("--prometheus-header: want K=V, got \"" + v + "\"");
         }
         o.prometheus.headers.emplace_back(v.substr(0, eq), v.substr(eq + 1));
         return OkStatus();
       }},
      {"prometheus-sigv4-region", "sign requests with AWS SigV4 for this region (Amazon "
       "Managed Service for Prometheus; credentials from AWS_* variables)", false,
       opt(&o.prometheus.sigv4_region)},
      {"prometheus-connect-timeout", "connect timeout (default 5s)", false,
       [&o](const std::string& v) {
         std::chrono::milliseconds d;
         SEXTANT_RETURN_IF_ERROR(SetDuration("prometheus-connect-timeout", v, &d));
         o.prometheus.connect_timeout = d;
         return OkStatus();
       }},
      {"prometheus-request-timeout", "request timeout (default 30s)", false,
       [&o](const std::string& v) {
         std::chrono::milliseconds d;
         SEXTANT_RETURN_IF_ERROR(SetDuration("prometheus-request-timeout", v, &d));
         o.prometheus.request_timeout = d;
         return OkStatus();
       }},
      {"cache-ttl", "answers from Prometheus are reused this long; 0 turns the cache off "
       "(default 5s)", false,
       [&o](const std::string& v) { return SetDuration("cache-ttl", v, &o.cache_ttl); }},
      {"cache-keep-warm", "a query asked for within this long is refreshed before it expires "
       "(default 5m)", false,
       [&o](const std::string& v) { return SetDuration("cache-keep-warm", v, &o.cache_keep_warm); }},
      {"max-staleness", "when Prometheus fails, the last good answer is served up to this age "
       "(default 2m)", false,
       [&o](const std::string& v) { return SetDuration("max-staleness", v, &o.max_staleness); }},
      {"cache-memory-limit", "bound of the result cache and the window store (signals, catalog) "
       "together, a quantity such as 256Mi (default 256Mi)", false, [&o](const std::string& v) {
         auto q = apiserver::Quantity::Parse(v);
         if (!q.ok() || q->Sign() <= 0) {
           return InvalidArgumentError("--cache-memory-limit: want a positive quantity such as "
                                       "256Mi, got \"" + v + "\"");
         }
         o.cache_memory_limit_bytes = q->Value();
         return OkStatus();
       }},
      {"metrics-relist-interval", "how often series discovery runs (default 1m)", false,
       [&o](const std::string& v) {
         return SetDuration("metrics-relist-interval", v, &o.metrics_relist_interval); }},
      {"metrics-max-age", "how far back series discovery looks (default: the relist "
       "interval)", false, [&o](const std::string& v) {
         return SetDuration("metrics-max-age", v, &o.metrics_max_age); }},
      {"grpc-port", "KEDA external scaler gRPC port (default 0 = off; the manifests use 9443)",
       false, [&o](const std::string& v) { return SetInt("grpc-port", v, 0, 65535, &o.grpc_port); }},
      {"grpc-tls-cert-file", "gRPC serving certificate (PEM; default: the HTTPS serving "
       "certificate)", false, str(&o.grpc_tls_cert_file)},
      {"grpc-tls-private-key-file", "gRPC serving key (PEM; default: the HTTPS serving key)",
       false, str(&o.grpc_tls_private_key_file)},
      {"grpc-client-ca-file", "require gRPC client certificates signed by this CA bundle "
       "(default: none required)", false, str(&o.grpc_client_ca_file)},
      {"grpc-insecure", "serve gRPC in plaintext instead of TLS (default false)", true,
       [&o](const std::string& v) {
         if (v != "" && v != "true" && v != "false") {
           return InvalidArgumentError("--grpc-insecure: want true or false");
         }
         o.grpc_insecure = v != "false";
         return OkStatus();
       }},
      {"v", "log verbosity (default 0)", false,
       [&o](const std::string& v) { return SetInt("v", v, 0, 10, &o.verbosity); }},
      {"help", "print this help", true,
       [&o](const std::string&) { o.show_help = true; return OkStatus(); }},
  };
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  if (text.empty()) return InvalidArgumentError("empty duration");
  if (text == "0") return std::chrono::milliseconds(0);
  double total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) ||
                               text[i] == '.')) {
      ++i;
    }
    if (start == i) return InvalidArgumentError("invalid duration \"" + text + "\"");
    double number = 0;
    try {
      number = std::stod(text.substr(start, i - start));
    } catch (const std::exception&) {
      return InvalidArgumentError("invalid duration \"" + text + "\"");
    }
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string unit = text.substr(unit_start, i - unit_start);
    double scale = unit == "ms" ? 1 : unit == "s" ? 1e3 : unit == "m" ? 6e4
                 : unit == "h" ? 3.6e6 : -1;
    if (scale < 0) {
      return InvalidArgumentError("invalid duration \"" + text +
                                  "\": units are ms, s, m, h");
    }
    total_ms += number * scale;
  }
  if (total_ms > 1e12) return InvalidArgumentError("duration \"" + text + "\" is too long");
  return std::chrono::milliseconds(static_cast<int64_t>(total_ms + 0.5));
}

Result<ServerOptions> ParseServerOptions(const std::vector<std::string>& args) {
  ServerOptions options;
  std::map<std::string, bool> touched;
  std::vector<Flag> flags = Flags(options, touched);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0 && arg.rfind("-", 0) != 0) {
      return InvalidArgumentError("unexpected argument \"" + arg + "\"");
    }
    std::string body = arg.substr(arg.rfind("--", 0) == 0 ? 2 : 1);
    std::string name = body, value;
    bool has_value = false;
    if (size_t eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    const Flag* flag = nullptr;
    for (const Flag& f : flags) {
      if (f.name == name) flag = &f;
    }
    if (!flag) return InvalidArgumentError("unknown flag --" + name + " (see --help)");
    if (!has_value && !flag->is_bool) {
      if (i + 1 >= args.size()) return InvalidArgumentError("--" + name + " needs a value");
      value = args[++i];
    }
    SEXTANT_RETURN_IF_ERROR(flag->set(value));
  }
  if (!options.static_metrics_file.empty() && !options.config_file.empty()) {
    return InvalidArgumentError("--static-metrics and --config cannot be used together");
  }
  if (options.cache_ttl.count() < 0) {
    return InvalidArgumentError("--cache-ttl must not be negative");
  }
  if (options.metrics_relist_interval.count() < 1000) {
    return InvalidArgumentError("--metrics-relist-interval must be at least 1s");
  }
  if (options.tls_cert_file.empty() != options.tls_private_key_file.empty()) {
    return InvalidArgumentError(
        "--tls-cert-file and --tls-private-key-file must be given together");
  }
  if (options.grpc_tls_cert_file.empty() != options.grpc_tls_private_key_file.empty()) {
    return InvalidArgumentError(
        "--grpc-tls-cert-file and --grpc-tls-private-key-file must be given together");
  }
  return options;
}

std::string ServerUsage() {
  ServerOptions scratch;
  std::map<std::string, bool> touched;
  std::ostringstream out;
  out << "Usage: sextant [serve] [flags]\n"
         "       sextant validate --config FILE [--namespace NS] [--selector SEL] "
         "[--prometheus-url URL]\n"
         "       sextant catalog    (prints the built-in catalog's tables in Markdown)\n\n"
         "Sextant serves external.metrics.k8s.io/v1beta1 as an aggregated API server.\n\n"
         "Flags:\n";
  for (const Flag& f : Flags(scratch, touched)) {
    out << "  --" << f.name << (f.is_bool ? "" : " VALUE") << "\n      " << f.help << "\n";
  }
  return out.str();
}

}  // namespace sextant::server

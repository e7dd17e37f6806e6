#include "bench_client.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sextant::bench {

bool ParseTarget(const std::string& url, Target* target) {
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    target->https = true;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    return false;
  }
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  target->path = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = authority.rfind(':');
  if (colon == std::string::npos || authority.back() == ']') {
    target->host = authority;
    target->port = target->https ? 443 : 80;
  } else {
    target->host = authority.substr(0, colon);
    try {
      target->port = std::stoi(authority.substr(colon + 1));
    } catch (...) {
      return false;
    }
  }
  if (target->host.size() > 1 && target->host.front() == '[' && target->host.back() == ']') {
    target->host = target->host.substr(1, target->host.size() - 2);
  }
  return !target->host.empty() && target->port > 0 && target->port < 65536;
}

bool AddHeader(const std::string& value, httplib::Headers* headers) {
  size_t colon = value.find(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string name = value.substr(0, colon);
  size_t start = value.find_first_not_of(" \t", colon + 1);
  headers->emplace(name, start == std::string::npos ? "" : value.substr(start));
  return true;
}

void ParseClientFlags(
    int argc, char** argv, ClientFlags* flags,
    const std::function<bool(const std::string& name, const std::string& value)>& other,
    void (*usage)(const std::string& problem)) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (arg.rfind("--", 0) != 0) return usage("unexpected argument " + arg);
    size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    if (arg == "--insecure") {
      flags->insecure = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc) return usage("missing value for " + arg);
      value = argv[++i];
    }
    try {
      if (arg == "--cert") {
        flags->cert = value;
      } else if (arg == "--key") {
        flags->key = value;
      } else if (arg == "--ca") {
        flags->ca = value;
      } else if (arg == "--header") {
        if (!AddHeader(value, &flags->headers)) return usage("--header wants \"K: V\"");
      } else if (arg == "--expect-status") {
        flags->expect_status = std::stoi(value);
      } else if (!other(arg, value)) {
        return usage("unknown flag " + arg);
      }
    } catch (const std::exception&) {
      return usage("malformed value for " + arg + ": " + value);
    }
  }
}

void ErrorReporter::Report(const std::string& what) {
  if (reported_.fetch_add(1, std::memory_order_relaxed) >= kMaxReported) return;
  std::lock_guard<std::mutex> lock(mu_);
  std::fprintf(stderr, "%s: error: %s\n", program_, what.c_str());
}

std::unique_ptr<httplib::ClientImpl> MakeClient(const ClientFlags& flags, const Target& target,
                                                std::atomic<long>& tcp_connects,
                                                const char* program) {
  std::unique_ptr<httplib::ClientImpl> client;
  if (target.https) {
    auto ssl = flags.cert.empty() ? std::make_unique<httplib::SSLClient>(target.host, target.port)
                                  : std::make_unique<httplib::SSLClient>(target.host, target.port,
                                                                         flags.cert, flags.key);
    if (!ssl->is_valid()) return nullptr;
    // httplib's own verification loads the CA file lazily on each connection's thread, and
    // OpenSSL 3.0 has been seen failing such concurrent first loads (SSLLoadingCerts). So
    // the CA is loaded here, on the main thread, and OpenSSL verifies chain and address
    // during the handshake (a failure surfaces as an SSLConnection error).
    ssl->enable_server_certificate_verification(false);
    if (!flags.insecure) {
      SSL_CTX* ctx = ssl->ssl_context();
      if (SSL_CTX_load_verify_locations(ctx, flags.ca.c_str(), nullptr) != 1) {
        std::fprintf(stderr, "%s: cannot load --ca %s\n", program, flags.ca.c_str());
        return nullptr;
      }
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
      if (X509_VERIFY_PARAM_set1_ip_asc(param, target.host.c_str()) != 1 &&
          X509_VERIFY_PARAM_set1_host(param, target.host.c_str(), 0) != 1) {
        return nullptr;
      }
    }
    client = std::move(ssl);
  } else {
    client = std::make_unique<httplib::ClientImpl>(target.host, target.port);
  }
  client->set_keep_alive(true);
  client->set_tcp_nodelay(true);
  client->set_url_encode(false);  // paths and queries are sent as given
  // Called once per socket the client opens (httplib's client has no other socket options
  // by default, so this changes nothing else).
  client->set_socket_options(
      [&tcp_connects](socket_t) { tcp_connects.fetch_add(1, std::memory_order_relaxed); });
  client->set_connection_timeout(5, 0);
  client->set_read_timeout(10, 0);
  client->set_write_timeout(10, 0);
  client->set_default_headers(flags.headers);
  return client;
}

bool MakeClients(const ClientFlags& flags, const Target& target, int count,
                 std::atomic<long>& tcp_connects, const char* program,
                 std::vector<std::unique_ptr<httplib::ClientImpl>>* clients,
                 std::vector<SSL_CTX*>* ssl_contexts) {
  for (int i = 0; i < count; ++i) {
    auto client = MakeClient(flags, target, tcp_connects, program);
    if (!client) {
      std::fprintf(stderr, "%s: cannot set up the TLS client (--cert %s, --key %s, --ca %s)\n",
                   program, flags.cert.c_str(), flags.key.c_str(), flags.ca.c_str());
      return false;
    }
    if (target.https) {
      ssl_contexts->push_back(static_cast<httplib::SSLClient&>(*client).ssl_context());
    }
    clients->push_back(std::move(client));
  }
  return true;
}

long CountHandshakes(const std::vector<SSL_CTX*>& ssl_contexts) {
  long handshakes = 0;
  for (SSL_CTX* ctx : ssl_contexts) handshakes += SSL_CTX_sess_connect(ctx);
  return handshakes;
}

double PercentileUs(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1000.0;
}

double MaxUs(const std::vector<int64_t>& sorted) {
  return sorted.empty() ? 0.0 : static_cast<double>(sorted.back()) / 1000.0;
}

}  // namespace sextant::bench

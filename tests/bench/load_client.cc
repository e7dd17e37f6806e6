// sextant_load_client: a small closed-loop HTTP(S) load generator on cpp-httplib, used by
// hack/bench-api.sh to drive Sextant and the nginx reference with the same client, and by
// hack/bench-query.sh to drive Sextant (https) and Prometheus (plain http) alike.
//
// Contract:
//   sextant_load_client --url (https|http)://127.0.0.1:PORT/path[?query] [--connections N]
//       [--duration S] [--warmup S] [--cert FILE --key FILE] (--ca FILE | --insecure)
//       [--header "K: V"]... [--expect-status CODE]
// - The URL's path and query string are sent exactly as given: percent-encode them first
//   (e.g. /api/v1/query?query=sum%28up%29). TLS flags are ignored for http:// URLs.
// - One thread per connection, each owning one keep-alive httplib client (SSLClient for
//   https, Client for http) that sends GET requests back to back (closed loop: a connection
//   has at most one request in flight). Defaults: 32 connections, 10 s measured after 2 s of
//   warm-up, expected status 200. --ca verifies the server's certificate chain against that
//   CA only, and its subject alternative names against the URL's host (IP or DNS name);
//   --insecure skips verification; one of them is required for https.
// - Requests issued during warm-up are not recorded. A request is measured when it starts
//   inside the measured window; threads stop issuing at its end. Latency is the duration of
//   one httplib Get() (request written, whole response read) on std::chrono::steady_clock.
// - Any status other than --expect-status, or a transport error, counts as an error (the
//   first few are described on stderr). After a transport error the thread waits 1 ms, and
//   httplib reconnects on the next request.
// - Sends Accept: */*, Host, User-Agent and the --header values; no Accept-Encoding unless
//   given with --header, so servers answer uncompressed.
// - Output: one JSON line on stdout:
//   {"requests":..,"errors":..,"seconds":..,"rps":..,"p50_us":..,"p90_us":..,"p99_us":..,
//    "max_us":..,"connections":..,"handshakes":..,"warmup_errors":..,"tcp_connects":..}
//   requests counts successful measured requests; seconds runs from the window's start to
//   the end of the last measured request; rps = requests / seconds; percentiles are
//   nearest-rank over successful measured requests; errors are those of the measured window. handshakes is the number of TLS
//   handshakes the clients started over the whole run (warm-up included): with working
//   keep-alive it equals connections (always 0 for http). tcp_connects is the number of
//   TCP connections the clients opened over the whole run, for http and https alike: with
//   working keep-alive it also equals connections.
// - Exit status: 0 when at least one request succeeded and no errors occurred, 1 when there
//   were errors or no successes, 2 for bad flags.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string url;
  int connections = 32;
  double duration_s = 10;
  double warmup_s = 2;
  std::string cert;
  std::string key;
  std::string ca;
  bool insecure = false;
  httplib::Headers headers;
  int expect_status = 200;
};

struct Target {
  bool https = false;
  std::string host;
  int port = 0;
  std::string path;
};

struct ThreadResult {
  std::vector<int64_t> latencies_ns;  // successful measured requests
  uint64_t errors = 0;                // measured window
  uint64_t warmup_errors = 0;
  Clock::time_point last_end{};
  long handshakes = 0;
};

[[noreturn]] void Usage(const std::string& problem) {
  std::fprintf(stderr,
               "sextant_load_client: %s\n"
               "usage: sextant_load_client --url (https|http)://HOST:PORT/PATH[?QUERY] "
               "[--connections N] "
               "[--duration S] [--warmup S] [--cert FILE --key FILE] (--ca FILE | --insecure) "
               "[--header \"K: V\"]... [--expect-status CODE]\n",
               problem.c_str());
  std::exit(2);
}

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
  if (colon == std::string::npos) {
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

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (arg.rfind("--", 0) != 0) Usage("unexpected argument " + arg);
    size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    if (arg == "--insecure") {
      flags.insecure = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc) Usage("missing value for " + arg);
      value = argv[++i];
    }
    try {
      if (arg == "--url") {
        flags.url = value;
      } else if (arg == "--connections") {
        flags.connections = std::stoi(value);
      } else if (arg == "--duration") {
        flags.duration_s = std::stod(value);
      } else if (arg == "--warmup") {
        flags.warmup_s = std::stod(value);
      } else if (arg == "--cert") {
        flags.cert = value;
      } else if (arg == "--key") {
        flags.key = value;
      } else if (arg == "--ca") {
        flags.ca = value;
      } else if (arg == "--header") {
        size_t colon = value.find(':');
        if (colon == std::string::npos || colon == 0) Usage("--header wants \"K: V\"");
        std::string name = value.substr(0, colon);
        size_t start = value.find_first_not_of(" \t", colon + 1);
        flags.headers.emplace(name, start == std::string::npos ? "" : value.substr(start));
      } else if (arg == "--expect-status") {
        flags.expect_status = std::stoi(value);
      } else {
        Usage("unknown flag " + arg);
      }
    } catch (const std::exception&) {
      Usage("malformed value for " + arg + ": " + value);
    }
  }
  if (flags.url.empty()) Usage("--url is required");
  if (flags.connections < 1) Usage("--connections must be at least 1");
  if (!(flags.duration_s > 0)) Usage("--duration must be positive");
  if (!(flags.warmup_s >= 0)) Usage("--warmup must not be negative");
  if (flags.cert.empty() != flags.key.empty()) Usage("--cert and --key go together");
  return flags;
}

// Describes the first few errors on stderr, across all threads.
class ErrorReporter {
 public:
  void Report(const std::string& what) {
    if (reported_.fetch_add(1, std::memory_order_relaxed) >= kMaxReported) return;
    std::lock_guard<std::mutex> lock(mu_);
    std::fprintf(stderr, "sextant_load_client: error: %s\n", what.c_str());
  }

 private:
  static constexpr int kMaxReported = 5;
  std::atomic<int> reported_{0};
  std::mutex mu_;
};

std::unique_ptr<httplib::ClientImpl> MakeClient(const Flags& flags, const Target& target,
                                                std::atomic<long>& tcp_connects) {
  std::unique_ptr<httplib::ClientImpl> client;
  if (target.https) {
    auto ssl = flags.cert.empty()
                   ? std::make_unique<httplib::SSLClient>(target.host, target.port)
                   : std::make_unique<httplib::SSLClient>(target.host, target.port, flags.cert,
                                                          flags.key);
    if (!ssl->is_valid()) return nullptr;
    // httplib's own verification loads the CA file lazily on each connection's thread, and
    // OpenSSL 3.0 has been seen failing such concurrent first loads (SSLLoadingCerts). So
    // the CA is loaded here, on the main thread, and OpenSSL verifies chain and address
    // during the handshake (a failure surfaces as an SSLConnection error).
    ssl->enable_server_certificate_verification(false);
    if (!flags.insecure) {
      SSL_CTX* ctx = ssl->ssl_context();
      if (SSL_CTX_load_verify_locations(ctx, flags.ca.c_str(), nullptr) != 1) {
        std::fprintf(stderr, "sextant_load_client: cannot load --ca %s\n", flags.ca.c_str());
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
  client->set_url_encode(false);  // the URL's path and query are sent as given
  // Called once per socket the client opens (httplib's client has no other socket options
  // by default, so this changes nothing else).
  client->set_socket_options([&tcp_connects](socket_t) {
    tcp_connects.fetch_add(1, std::memory_order_relaxed);
  });
  client->set_connection_timeout(5, 0);
  client->set_read_timeout(10, 0);
  client->set_write_timeout(10, 0);
  client->set_default_headers(flags.headers);
  return client;
}

void RunConnection(const Flags& flags, const Target& target, httplib::ClientImpl& client,
                   Clock::time_point measure_start, Clock::time_point measure_end,
                   ErrorReporter& reporter, ThreadResult& result) {
  result.latencies_ns.reserve(1 << 16);
  for (;;) {
    Clock::time_point start = Clock::now();
    if (start >= measure_end) break;
    bool measured = start >= measure_start;
    httplib::Result response = client.Get(target.path);
    Clock::time_point end = Clock::now();
    std::string problem;
    if (!response) {
      problem = "transport: " + httplib::to_string(response.error());
    } else if (response->status != flags.expect_status) {
      problem = "status " + std::to_string(response->status) + ": " + response->body.substr(0, 200);
      std::replace(problem.begin(), problem.end(), '\n', ' ');
    }
    if (!problem.empty()) {
      (measured ? result.errors : result.warmup_errors)++;
      reporter.Report(problem);
      if (!response) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    if (measured) {
      result.latencies_ns.push_back(
          std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
      result.last_end = std::max(result.last_end, end);
    }
  }
}

// Nearest-rank percentile of sorted values, in microseconds.
double PercentileUs(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags = ParseFlags(argc, argv);
  Target target;
  if (!ParseTarget(flags.url, &target)) Usage("cannot parse --url " + flags.url);
  if (target.https && flags.ca.empty() && !flags.insecure) Usage("https wants --ca or --insecure");

  std::atomic<long> tcp_connects{0};  // outlives the clients, whose callbacks count into it
  std::vector<std::unique_ptr<httplib::ClientImpl>> clients;
  std::vector<SSL_CTX*> ssl_contexts;
  for (int i = 0; i < flags.connections; ++i) {
    auto client = MakeClient(flags, target, tcp_connects);
    if (!client) {
      std::fprintf(stderr,
                   "sextant_load_client: cannot set up the TLS client (--cert %s, --key %s, "
                   "--ca %s)\n",
                   flags.cert.c_str(), flags.key.c_str(), flags.ca.c_str());
      return 2;
    }
    if (target.https) {
      ssl_contexts.push_back(static_cast<httplib::SSLClient&>(*client).ssl_context());
    }
    clients.push_back(std::move(client));
  }

  using Seconds = std::chrono::duration<double>;
  Clock::time_point begin = Clock::now();
  Clock::time_point measure_start =
      begin + std::chrono::duration_cast<Clock::duration>(Seconds(flags.warmup_s));
  Clock::time_point measure_end =
      measure_start + std::chrono::duration_cast<Clock::duration>(Seconds(flags.duration_s));

  ErrorReporter reporter;
  std::vector<ThreadResult> results(flags.connections);
  std::vector<std::thread> threads;
  threads.reserve(flags.connections);
  for (int i = 0; i < flags.connections; ++i) {
    threads.emplace_back([&, i] {
      RunConnection(flags, target, *clients[i], measure_start, measure_end, reporter,
                    results[i]);
    });
  }
  for (std::thread& thread : threads) thread.join();

  long handshakes = 0;
  for (SSL_CTX* ctx : ssl_contexts) handshakes += SSL_CTX_sess_connect(ctx);

  std::vector<int64_t> all;
  uint64_t errors = 0;
  uint64_t warmup_errors = 0;
  Clock::time_point last_end = measure_end;
  size_t total = 0;
  for (const ThreadResult& r : results) total += r.latencies_ns.size();
  all.reserve(total);
  for (ThreadResult& r : results) {
    all.insert(all.end(), r.latencies_ns.begin(), r.latencies_ns.end());
    errors += r.errors;
    warmup_errors += r.warmup_errors;
    last_end = std::max(last_end, r.last_end);
  }
  std::sort(all.begin(), all.end());
  // The window runs until the last measured request finished (threads stop issuing at
  // measure_end, so this exceeds the nominal duration by at most one request).
  double seconds = Seconds(last_end - measure_start).count();
  double rps = seconds > 0 ? static_cast<double>(all.size()) / seconds : 0;
  std::printf(
      "{\"requests\":%zu,\"errors\":%" PRIu64
      ",\"seconds\":%.3f,\"rps\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
      "\"max_us\":%.1f,\"connections\":%d,\"handshakes\":%ld,\"warmup_errors\":%" PRIu64
      ",\"tcp_connects\":%ld}\n",
      all.size(), errors, seconds, rps, PercentileUs(all, 0.50), PercentileUs(all, 0.90),
      PercentileUs(all, 0.99), all.empty() ? 0.0 : static_cast<double>(all.back()) / 1000.0,
      flags.connections, handshakes, warmup_errors, tcp_connects.load());
  std::fflush(stdout);
  return (errors == 0 && warmup_errors == 0 && !all.empty()) ? 0 : 1;
}

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

#include "bench_client.h"

namespace {

using sextant::bench::AddHeader;
using sextant::bench::Clock;
using sextant::bench::CountHandshakes;
using sextant::bench::ErrorReporter;
using sextant::bench::MakeClients;
using sextant::bench::MaxUs;
using sextant::bench::ParseTarget;
using sextant::bench::PercentileUs;
using sextant::bench::Target;

struct Flags : sextant::bench::ClientFlags {
  std::string url;
  int connections = 32;
  double duration_s = 10;
  double warmup_s = 2;
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

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  sextant::bench::ParseClientFlags(
      argc, argv, &flags,
      [&flags](const std::string& arg, const std::string& value) {
        if (arg == "--url") {
          flags.url = value;
        } else if (arg == "--connections") {
          flags.connections = std::stoi(value);
        } else if (arg == "--duration") {
          flags.duration_s = std::stod(value);
        } else if (arg == "--warmup") {
          flags.warmup_s = std::stod(value);
        } else {
          return false;
        }
        return true;
      },
      Usage);
  if (flags.url.empty()) Usage("--url is required");
  if (flags.connections < 1) Usage("--connections must be at least 1");
  if (!(flags.duration_s > 0)) Usage("--duration must be positive");
  if (!(flags.warmup_s >= 0)) Usage("--warmup must not be negative");
  if (flags.cert.empty() != flags.key.empty()) Usage("--cert and --key go together");
  return flags;
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

}  // namespace

int main(int argc, char** argv) {
  Flags flags = ParseFlags(argc, argv);
  Target target;
  if (!ParseTarget(flags.url, &target)) Usage("cannot parse --url " + flags.url);
  if (target.https && flags.ca.empty() && !flags.insecure) Usage("https wants --ca or --insecure");

  std::atomic<long> tcp_connects{0};  // outlives the clients, whose callbacks count into it
  std::vector<std::unique_ptr<httplib::ClientImpl>> clients;
  std::vector<SSL_CTX*> ssl_contexts;
  if (!MakeClients(flags, target, flags.connections, tcp_connects, "sextant_load_client",
                   &clients, &ssl_contexts)) {
    return 2;
  }

  using Seconds = std::chrono::duration<double>;
  Clock::time_point begin = Clock::now();
  Clock::time_point measure_start =
      begin + std::chrono::duration_cast<Clock::duration>(Seconds(flags.warmup_s));
  Clock::time_point measure_end =
      measure_start + std::chrono::duration_cast<Clock::duration>(Seconds(flags.duration_s));

  ErrorReporter reporter("sextant_load_client");
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

  long handshakes = CountHandshakes(ssl_contexts);

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
      PercentileUs(all, 0.99), MaxUs(all),
      flags.connections, handshakes, warmup_errors, tcp_connects.load());
  std::fflush(stdout);
  return (errors == 0 && warmup_errors == 0 && !all.empty()) ? 0 : 1;
}

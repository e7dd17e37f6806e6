// sextant_poller_client: simulates a fleet of HPA controllers polling external metrics, on
// cpp-httplib; hack/bench-pollers.sh runs it against Sextant with the result cache on and off.
//
// Contract:
//   sextant_poller_client (--url URL)... [--url-file FILE] [--pollers N] [--period S]
//       [--duration S] [--threads T] [--seed N] [--cert FILE --key FILE]
//       (--ca FILE | --insecure) [--header "K: V"]... [--expect-status CODE]
// - URLs: every --url, then the lines of --url-file (blank lines and lines starting with '#'
//   skipped). All must share one scheme, host and port ((https|http)://HOST:PORT); path and
//   query string are sent exactly as given (percent-encode them first). TLS flags are ignored
//   for http:// URLs.
// - Pollers: N (default 1000) independent pollers; poller i polls URL i mod (number of URLs)
//   (round-robin), so min(N, URLs) distinct URLs are polled. Each poller issues one GET every
//   --period seconds (default 15, the HPA's sync period) at due times phase + k * period
//   after the start, where phase is uniform in [0, period) (std::mt19937_64 seeded with --seed,
//   default 1), for every due time before --duration (default 60 s). A late poll keeps the
//   schedule: the next one is still due at the next multiple of the period.
// - Threads: T worker threads (default 16), each owning one keep-alive httplib client
//   (SSLClient for https) that serves the shared, time-ordered queue of due polls: a worker
//   takes the earliest poll, waits until it is due, sends it, and takes the next. So at most T
//   polls are in flight, on at most T connections. slip is how late a poll started (start
//   minus due time): a large slip means T is too small for the rate (N / period).
// - Latency is the duration of one httplib Get() (request written, whole response read) on
//   std::chrono::steady_clock. Any status other than --expect-status (default 200), or a
//   transport error, counts as an error (the first few are described on stderr); httplib
//   reconnects on the next poll.
// - Sends Accept: */*, Host, User-Agent and the --header values (e.g. the HPA's
//   "Accept: application/vnd.kubernetes.protobuf, */*").
// - Output: one JSON line on stdout:
//   {"polls":..,"errors":..,"pollers":..,"urls":..,"threads":..,"period_s":..,
//    "duration_s":..,"seconds":..,"rounds":..,"polls_per_s":..,"p50_us":..,"p90_us":..,
//    "p99_us":..,"max_us":..,"slip_p50_us":..,"slip_p99_us":..,"slip_max_us":..,
//    "handshakes":..,"tcp_connects":..}
//   polls counts successful polls, errors failed ones; urls is the number of distinct URLs
//   polled; seconds runs from the start to the end of the last poll; rounds = (polls +
//   errors) / pollers; polls_per_s = polls / seconds; percentiles are nearest-rank (latency
//   over successful polls, slip over all). handshakes: TLS handshakes started (with working
//   keep-alive, one per thread that polled; 0 for http); tcp_connects: TCP connections opened.
// - Exit status: 0 when at least one poll succeeded and none failed, 1 otherwise, 2 for bad
//   flags.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::vector<std::string> urls;
  std::string url_file;
  int pollers = 1000;
  double period_s = 15;
  double duration_s = 60;
  int threads = 16;
  uint64_t seed = 1;
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

// One due poll in the shared queue.
struct Due {
  Clock::time_point when;
  int poller;
  bool operator>(const Due& other) const { return when > other.when; }
};

struct ThreadResult {
  std::vector<int64_t> latencies_ns;  // successful polls
  std::vector<int64_t> slips_ns;      // all polls
  uint64_t errors = 0;
  Clock::time_point last_end{};
};

[[noreturn]] void Usage(const std::string& problem) {
  std::fprintf(stderr,
               "sextant_poller_client: %s\n"
               "usage: sextant_poller_client (--url URL)... [--url-file FILE] [--pollers N] "
               "[--period S] [--duration S] [--threads T] [--seed N] "
               "[--cert FILE --key FILE] (--ca FILE | --insecure) [--header \"K: V\"]... "
               "[--expect-status CODE]\n",
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
        flags.urls.push_back(value);
      } else if (arg == "--url-file") {
        flags.url_file = value;
      } else if (arg == "--pollers") {
        flags.pollers = std::stoi(value);
      } else if (arg == "--period") {
        flags.period_s = std::stod(value);
      } else if (arg == "--duration") {
        flags.duration_s = std::stod(value);
      } else if (arg == "--threads") {
        flags.threads = std::stoi(value);
      } else if (arg == "--seed") {
        flags.seed = std::stoull(value);
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
  if (!flags.url_file.empty()) {
    std::ifstream in(flags.url_file);
    if (!in) Usage("cannot read --url-file " + flags.url_file);
    std::string line;
    while (std::getline(in, line)) {
      size_t start = line.find_first_not_of(" \t\r");
      if (start == std::string::npos || line[start] == '#') continue;
      size_t end = line.find_last_not_of(" \t\r");
      flags.urls.push_back(line.substr(start, end - start + 1));
    }
  }
  if (flags.urls.empty()) Usage("--url or --url-file is required");
  if (flags.pollers < 1) Usage("--pollers must be at least 1");
  if (flags.threads < 1) Usage("--threads must be at least 1");
  if (!(flags.period_s > 0)) Usage("--period must be positive");
  if (!(flags.duration_s > 0)) Usage("--duration must be positive");
  if (flags.cert.empty() != flags.key.empty()) Usage("--cert and --key go together");
  return flags;
}

// Describes the first few errors on stderr, across all threads.
class ErrorReporter {
 public:
  void Report(const std::string& what) {
    if (reported_.fetch_add(1, std::memory_order_relaxed) >= kMaxReported) return;
    std::lock_guard<std::mutex> lock(mu_);
    std::fprintf(stderr, "sextant_poller_client: error: %s\n", what.c_str());
  }

 private:
  static constexpr int kMaxReported = 5;
  std::atomic<int> reported_{0};
  std::mutex mu_;
};

// The same client set-up as sextant_load_client (see load_client.cc for why the CA is loaded
// here rather than through httplib's own verification).
std::unique_ptr<httplib::ClientImpl> MakeClient(const Flags& flags, const Target& target,
                                                std::atomic<long>& tcp_connects) {
  std::unique_ptr<httplib::ClientImpl> client;
  if (target.https) {
    auto ssl = flags.cert.empty()
                   ? std::make_unique<httplib::SSLClient>(target.host, target.port)
                   : std::make_unique<httplib::SSLClient>(target.host, target.port, flags.cert,
                                                          flags.key);
    if (!ssl->is_valid()) return nullptr;
    ssl->enable_server_certificate_verification(false);
    if (!flags.insecure) {
      SSL_CTX* ctx = ssl->ssl_context();
      if (SSL_CTX_load_verify_locations(ctx, flags.ca.c_str(), nullptr) != 1) {
        std::fprintf(stderr, "sextant_poller_client: cannot load --ca %s\n", flags.ca.c_str());
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
  client->set_socket_options([&tcp_connects](socket_t) {
    tcp_connects.fetch_add(1, std::memory_order_relaxed);
  });
  client->set_connection_timeout(5, 0);
  client->set_read_timeout(10, 0);
  client->set_write_timeout(10, 0);
  client->set_default_headers(flags.headers);
  return client;
}

// The time-ordered queue of due polls, shared by the workers.
class Schedule {
 public:
  Schedule(Clock::duration period, Clock::time_point end) : period_(period), end_(end) {}

  void Add(Due due) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push(due);
  }

  // Blocks until the earliest poll is due and takes it; false when none is left. One idle
  // worker (the leader) sleeps until the earliest due time; the others wait to be woken, so
  // a due poll wakes one thread rather than all of them.
  bool Take(Due* due) {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (queue_.empty()) {
        lock.unlock();
        changed_.notify_all();  // the other idle workers end too
        return false;
      }
      if (leader_) {
        changed_.wait(lock);
        continue;
      }
      Clock::time_point when = queue_.top().when;
      if (Clock::now() >= when) break;
      leader_ = true;
      timer_.wait_until(lock, when);
      leader_ = false;
    }
    *due = queue_.top();
    queue_.pop();
    // The next poll of the same poller, on its fixed schedule; it is due no earlier than any
    // poll in the queue (each poller has one entry, all within one period of this one).
    Clock::time_point next = due->when + period_;
    if (next < end_) queue_.push(Due{next, due->poller});
    lock.unlock();
    changed_.notify_one();  // an idle worker becomes the leader for the next poll
    return true;
  }

 private:
  const Clock::duration period_;
  const Clock::time_point end_;
  std::mutex mu_;
  std::condition_variable changed_;  // idle workers other than the leader
  std::condition_variable timer_;    // the leader
  bool leader_ = false;              // an idle worker is sleeping until the earliest poll
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> queue_;
};

void RunWorker(const Flags& flags, const std::vector<std::string>& paths, int url_count,
               httplib::ClientImpl& client, Schedule& schedule, ErrorReporter& reporter,
               ThreadResult& result) {
  Due due{};
  while (schedule.Take(&due)) {
    const std::string& path = paths[static_cast<size_t>(due.poller % url_count)];
    Clock::time_point start = Clock::now();
    httplib::Result response = client.Get(path);
    Clock::time_point end = Clock::now();
    result.slips_ns.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(start - due.when).count());
    result.last_end = std::max(result.last_end, end);
    std::string problem;
    if (!response) {
      problem = "transport: " + httplib::to_string(response.error());
    } else if (response->status != flags.expect_status) {
      problem = "status " + std::to_string(response->status) + " for " + path + ": " +
                response->body.substr(0, 200);
      std::replace(problem.begin(), problem.end(), '\n', ' ');
    }
    if (!problem.empty()) {
      result.errors++;
      reporter.Report(problem);
      continue;
    }
    result.latencies_ns.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
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
  std::vector<std::string> paths;
  for (const std::string& url : flags.urls) {
    Target t;
    if (!ParseTarget(url, &t)) Usage("cannot parse URL " + url);
    if (paths.empty()) {
      target = t;
    } else if (t.https != target.https || t.host != target.host || t.port != target.port) {
      Usage("all URLs must share one scheme, host and port: " + url);
    }
    paths.push_back(t.path);
  }
  if (target.https && flags.ca.empty() && !flags.insecure) Usage("https wants --ca or --insecure");
  const int url_count = static_cast<int>(paths.size());

  std::atomic<long> tcp_connects{0};  // outlives the clients, whose callbacks count into it
  std::vector<std::unique_ptr<httplib::ClientImpl>> clients;
  std::vector<SSL_CTX*> ssl_contexts;
  for (int i = 0; i < flags.threads; ++i) {
    auto client = MakeClient(flags, target, tcp_connects);
    if (!client) {
      std::fprintf(stderr,
                   "sextant_poller_client: cannot set up the TLS client (--cert %s, --key %s, "
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
  const Clock::duration period =
      std::chrono::duration_cast<Clock::duration>(Seconds(flags.period_s));
  Clock::time_point begin = Clock::now();
  Clock::time_point end =
      begin + std::chrono::duration_cast<Clock::duration>(Seconds(flags.duration_s));
  Schedule schedule(period, end);
  std::mt19937_64 rng(flags.seed);
  std::uniform_real_distribution<double> phase(0.0, flags.period_s);
  for (int i = 0; i < flags.pollers; ++i) {
    Clock::time_point first =
        begin + std::chrono::duration_cast<Clock::duration>(Seconds(phase(rng)));
    if (first < end) schedule.Add(Due{first, i});
  }

  ErrorReporter reporter;
  std::vector<ThreadResult> results(flags.threads);
  std::vector<std::thread> threads;
  threads.reserve(flags.threads);
  for (int i = 0; i < flags.threads; ++i) {
    threads.emplace_back([&, i] {
      RunWorker(flags, paths, url_count, *clients[i], schedule, reporter, results[i]);
    });
  }
  for (std::thread& thread : threads) thread.join();

  long handshakes = 0;
  for (SSL_CTX* ctx : ssl_contexts) handshakes += SSL_CTX_sess_connect(ctx);

  std::vector<int64_t> latencies;
  std::vector<int64_t> slips;
  uint64_t errors = 0;
  Clock::time_point last_end = begin;
  for (ThreadResult& r : results) {
    latencies.insert(latencies.end(), r.latencies_ns.begin(), r.latencies_ns.end());
    slips.insert(slips.end(), r.slips_ns.begin(), r.slips_ns.end());
    errors += r.errors;
    last_end = std::max(last_end, r.last_end);
  }
  std::sort(latencies.begin(), latencies.end());
  std::sort(slips.begin(), slips.end());
  double seconds = Seconds(last_end - begin).count();
  double rounds = static_cast<double>(slips.size()) / flags.pollers;
  double rate = seconds > 0 ? static_cast<double>(latencies.size()) / seconds : 0;
  std::printf(
      "{\"polls\":%zu,\"errors\":%" PRIu64
      ",\"pollers\":%d,\"urls\":%d,\"threads\":%d,\"period_s\":%.3f,\"duration_s\":%.3f,"
      "\"seconds\":%.3f,\"rounds\":%.2f,\"polls_per_s\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,"
      "\"p99_us\":%.1f,\"max_us\":%.1f,\"slip_p50_us\":%.1f,\"slip_p99_us\":%.1f,"
      "\"slip_max_us\":%.1f,\"handshakes\":%ld,\"tcp_connects\":%ld}\n",
      latencies.size(), errors, flags.pollers, std::min(flags.pollers, url_count), flags.threads,
      flags.period_s, flags.duration_s, seconds, rounds, rate, PercentileUs(latencies, 0.50),
      PercentileUs(latencies, 0.90), PercentileUs(latencies, 0.99),
      latencies.empty() ? 0.0 : static_cast<double>(latencies.back()) / 1000.0,
      PercentileUs(slips, 0.50), PercentileUs(slips, 0.99),
      slips.empty() ? 0.0 : static_cast<double>(slips.back()) / 1000.0, handshakes,
      tcp_connects.load());
  std::fflush(stdout);
  return (errors == 0 && !latencies.empty()) ? 0 : 1;
}

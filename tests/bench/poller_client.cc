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
  std::vector<std::string> urls;
  std::string url_file;
  int pollers = 1000;
  double period_s = 15;
  double duration_s = 60;
  int threads = 16;
  uint64_t seed = 1;
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

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  sextant::bench::ParseClientFlags(
      argc, argv, &flags,
      [&flags](const std::string& arg, const std::string& value) {
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
        } else {
          return false;
        }
        return true;
      },
      Usage);
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
  if (!MakeClients(flags, target, flags.threads, tcp_connects, "sextant_poller_client",
                   &clients, &ssl_contexts)) {
    return 2;
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

  ErrorReporter reporter("sextant_poller_client");
  std::vector<ThreadResult> results(flags.threads);
  std::vector<std::thread> threads;
  threads.reserve(flags.threads);
  for (int i = 0; i < flags.threads; ++i) {
    threads.emplace_back([&, i] {
      RunWorker(flags, paths, url_count, *clients[i], schedule, reporter, results[i]);
    });
  }
  for (std::thread& thread : threads) thread.join();

  long handshakes = CountHandshakes(ssl_contexts);

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
      MaxUs(latencies),
      PercentileUs(slips, 0.50), PercentileUs(slips, 0.99),
      MaxUs(slips), handshakes,
      tcp_connects.load());
  std::fflush(stdout);
  return (errors == 0 && !latencies.empty()) ? 0 : 1;
}

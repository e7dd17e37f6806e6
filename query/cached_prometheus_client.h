// CachingPrometheusClient: a PrometheusClient decorator that answers instant queries from
// memory, so that every caller (rules, signals, validate) shares one answer per query.
//
// - Keys: Query(expr, time) by (expr, time): std::nullopt ("the backend's now") is one key
//   per expr; an explicit time is its own key. QueryRange by (expr, start, end, step) only
//   when Options::cache_range_queries (Default: false, the window store owns ranges);
//   otherwise it passes through uncached. Series always passes through uncached: callers
//   ask for moving windows (now-1h..now) that would never hit, and discovery is rare.
// - Fresh: an answer younger than ttl is served from memory ("hit").
// - Single-flight: concurrent misses on one key make one backend call, run on the first
//   caller's thread with that caller's deadline. The others wait for it until their own
//   deadline: one whose deadline passes gets DeadlineExceeded (or a usable stale answer)
//   while the call goes on for the rest. When the call failed only because the first
//   caller's deadline passed, a waiter with time left makes a new call.
// - Refresh-ahead: an answer whose age reaches refresh_ahead_fraction * ttl is fetched again
//   in the background if its key was asked for within keep_warm, so a hot key never misses.
//   Keys not asked for within keep_warm are not refreshed, and the refresher drops them once
//   older than max(ttl, max_staleness). Background threads (refresh_threads) sleep on a
//   condition variable until the next due time computed from the Clock (at most 1 s of real
//   time); Tick() runs one round synchronously, for tests with refresh_threads = 0. A failed
//   refresh is retried after retry_interval while the key stays warm. Each refresh holds a
//   refresher thread for its whole backend call: with many hot keys and a slow backend, raise
//   refresh_threads (keys whose refresh comes late simply miss, coalesced).
// - Stale-while-error: when a fetch or refresh fails, the last good answer is served while
//   its age (since it was fetched) is <= max_staleness ("stale answer"); after that the
//   backend's error is returned. For retry_interval after a failure, an expired key with a
//   usable answer is answered stale from memory without another backend call. Every error
//   is masked this way except InvalidArgument (the call itself is wrong); BackendRejected
//   is masked too, and logged: a rejected query is a config bug, but a slightly old value
//   scales better than none.
// - Answers are the backend's QueryResult unchanged: sample timestamps are the samples' real
//   times, never the time of serving.
// - Memory: each key costs EntryBytes(key, answer), an estimate of the key copies, labels,
//   samples, strings and bookkeeping. Least recently used keys are evicted so the total stays
//   <= memory_limit_bytes at all times (also for keys still being fetched); an answer larger
//   than the limit is served but not kept.
// - Time: ages and schedules come from the injected Clock only. Deadlines are on the
//   steady_clock timeline of PrometheusClient; waiting for them is the only real-time wait.
//   A refresh's backend deadline is Clock::Now() + refresh_timeout.
//
// Ownership: the caller owns `backend` and `clock`; both must outlive the cache.
// Thread safety: all methods are safe to call concurrently. One mutex guards the table; it is
// never held during a backend call or while copying an answer out. The destructor stops and
// joins the refresher threads; REQUIRES: no call is in progress when it runs.
// Errors: as in query/prometheus_client.h; Create fails with InvalidArgument on bad options.
#ifndef SEXTANT_QUERY_CACHED_PROMETHEUS_CLIENT_H_
#define SEXTANT_QUERY_CACHED_PROMETHEUS_CLIENT_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "query/prometheus_client.h"

namespace sextant::query {

class CachingPrometheusClient : public PrometheusClient {
 public:
  struct Options {
    // How long an answer is served as fresh. Default: 5s (--cache-ttl).
    std::chrono::milliseconds ttl{5000};
    // A key asked for within this long is refreshed before it expires.
    // Default: 5m (--cache-keep-warm).
    std::chrono::milliseconds keep_warm{std::chrono::minutes(5)};
    // The oldest answer served when the backend fails. Default: 2m (--max-staleness).
    std::chrono::milliseconds max_staleness{std::chrono::minutes(2)};
    // Upper bound of the accounted bytes of all keys. Default: 256 MiB (--cache-memory-limit).
    std::size_t memory_limit_bytes = std::size_t{256} << 20;
    // Refresh when age >= refresh_ahead_fraction * ttl; in (0, 1]. Default: 0.8.
    double refresh_ahead_fraction = 0.8;
    // Background refresher threads; 0 starts none (call Tick()). Default: 2.
    int refresh_threads = 2;
    // After a failed fetch: how long an expired key is answered stale without a new backend
    // call, and how long a refresh waits before it retries. Default: 1s.
    std::chrono::milliseconds retry_interval{1000};
    // Deadline of a background refresh's backend call. Default: 30s.
    std::chrono::milliseconds refresh_timeout{30000};
    // Cache QueryRange answers by (expr, start, end, step). Default: false.
    bool cache_range_queries = false;
  };

  // A snapshot of the counters (totals since creation) and gauges (bytes, entries).
  struct Stats {
    uint64_t hits = 0;              // answered fresh from memory
    uint64_t misses = 0;            // calls that led a backend fetch
    uint64_t coalesced_waits = 0;   // calls that waited for another call's fetch
    uint64_t stale_answers = 0;     // answers older than ttl, served because the backend failed
    uint64_t refreshes = 0;         // background refreshes started
    uint64_t refresh_failures = 0;  // background refreshes that failed
    uint64_t evictions = 0;         // keys dropped for memory (incl. answers larger than the limit)
    uint64_t bytes = 0;             // accounted bytes now
    uint64_t entries = 0;           // keys held now
  };

  static Result<std::unique_ptr<CachingPrometheusClient>> Create(PrometheusClient& backend,
                                                                 const Clock& clock,
                                                                 Options options);
  ~CachingPrometheusClient() override;
  CachingPrometheusClient(const CachingPrometheusClient&) = delete;
  CachingPrometheusClient& operator=(const CachingPrometheusClient&) = delete;

  Result<QueryResult> Query(const std::string& expr, std::optional<SystemTime> time,
                            Deadline deadline) override;
  Result<QueryResult> QueryRange(const std::string& expr, SystemTime start, SystemTime end,
                                 std::chrono::milliseconds step, Deadline deadline) override;
  Result<std::vector<LabelSet>> Series(const std::vector<std::string>& match, SystemTime start,
                                       SystemTime end, Deadline deadline) override;

  // Runs one refresh round on the calling thread: every due refresh of a warm key is fetched
  // (one after another) and cold keys past their usefulness are dropped.
  void Tick();

  Stats stats() const;

  // The cache key of Query(expr, time).
  static std::string QueryKey(const std::string& expr, std::optional<SystemTime> time);
  // The accounted size of a key holding `answer` (use QueryResult{} for a key being fetched).
  static std::size_t EntryBytes(std::string_view key, const QueryResult& answer);

 private:
  struct Request;
  struct Entry;
  struct Flight;
  struct RefreshJob;
  using TimePoint = std::chrono::steady_clock::time_point;

  CachingPrometheusClient(PrometheusClient& backend, const Clock& clock, Options options);

  Result<QueryResult> Lookup(std::string key, const Request& request, Deadline deadline);
  Result<QueryResult> Fetch(const Request& request, Deadline deadline);
  // The following REQUIRE mu_ held.
  std::shared_ptr<Entry> Admit(std::string key, const Request& request, TimePoint now);
  void Finish(const std::shared_ptr<Entry>& entry, const std::shared_ptr<Flight>& flight,
              Result<QueryResult> result, bool refresh);
  void Touch(Entry& entry, TimePoint now);
  void Schedule(Entry& entry, TimePoint when, bool refresh_slot);
  void Unschedule(Entry& entry);
  bool Usable(const Entry& entry, TimePoint now) const;
  void SetBytes(Entry& entry, std::size_t bytes);
  void Remove(Entry& entry, bool evicted);
  void PublishGauges();
  std::optional<RefreshJob> TakeDueRefresh(TimePoint now);
  void RunRefresh(std::unique_lock<std::mutex>& lock, RefreshJob job);
  void RefresherLoop();

  PrometheusClient& backend_;
  const Clock& clock_;
  const Options options_;
  const std::chrono::steady_clock::duration refresh_after_;  // ttl * refresh_ahead_fraction

  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Entry>> entries_;  // GUARDED_BY(mu_)
  std::list<Entry*> lru_;                      // GUARDED_BY(mu_) front: most recently used
  std::multimap<TimePoint, Entry*> schedule_;  // GUARDED_BY(mu_) next refresh/drop check
  std::size_t bytes_ = 0;                      // GUARDED_BY(mu_)
  TimePoint last_warning_{};                   // GUARDED_BY(mu_) rate limit of failure warnings
  bool stopping_ = false;                      // GUARDED_BY(mu_)
  std::condition_variable refresher_wake_;
  std::vector<std::thread> refreshers_;

  struct Counters {
    std::atomic<uint64_t> hits{0}, misses{0}, coalesced_waits{0}, stale_answers{0}, refreshes{0},
        refresh_failures{0}, evictions{0}, bytes{0}, entries{0};
  };
  Counters counters_;
};

}  // namespace sextant::query

#endif  // SEXTANT_QUERY_CACHED_PROMETHEUS_CLIENT_H_

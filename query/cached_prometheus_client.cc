#include "query/cached_prometheus_client.h"

#include <algorithm>
#include <system_error>
#include <utility>

#include "common/log.h"

namespace sextant::query {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// The longest a refresher sleeps (real time) before it looks at the schedule again, so a
// clock that moves by other means than the passage of time (a test's ManualClock) is noticed.
constexpr steady_clock::duration kMaxRefresherSleep = std::chrono::seconds(1);
// How often a waiter whose leader ran out of time makes a call of its own.
constexpr int kMaxDeadlineRetries = 3;
// At most one failure warning per this interval; the others go to --v=1.
constexpr steady_clock::duration kWarningInterval = std::chrono::seconds(1);

int64_t Millis(PrometheusClient::SystemTime t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

std::size_t StringBytes(const std::string& s) { return sizeof(std::string) + s.size(); }

std::size_t LabelSetBytes(const LabelSet& labels) {
  constexpr std::size_t kMapNodeBytes = 32;  // rb-tree node header
  std::size_t n = 0;
  for (const auto& [name, value] : labels) {
    n += kMapNodeBytes + StringBytes(name) + StringBytes(value);
  }
  return n;
}

// Copies the answer out after releasing the lock (answers can be large).
Result<QueryResult> CopyOut(std::shared_ptr<const QueryResult> answer,
                            std::unique_lock<std::mutex>& lock) {
  lock.unlock();
  return QueryResult(*answer);
}

}  // namespace

struct CachingPrometheusClient::Request {
  bool range = false;
  std::string expr;
  std::optional<SystemTime> time;  // instant queries
  SystemTime start{};              // range queries
  SystemTime end{};
  milliseconds step{0};
};

// One backend call that several Lookups may wait for. All fields GUARDED_BY(mu_).
struct CachingPrometheusClient::Flight {
  std::condition_variable done_cv;
  bool done = false;
  // The answer for every waiter: a value (fresh, or stale when `stale`) or `error`.
  std::shared_ptr<const QueryResult> answer;
  bool stale = false;
  Status error;
};

// One key. All fields GUARDED_BY(mu_) except `key` and `request`, immutable after Admit.
struct CachingPrometheusClient::Entry {
  std::string key;
  Request request;
  std::shared_ptr<const QueryResult> value;  // the last good answer; null until one came
  TimePoint fetched_at{};                    // when `value` arrived
  TimePoint last_access{};                   // the last Lookup of this key
  std::optional<TimePoint> failed_at;        // the last failed call since `value` arrived
  bool failing = false;                      // the last call failed (for logging)
  std::shared_ptr<Flight> flight;            // the call in progress, if any
  bool cached = false;                       // in entries_, lru_ and accounted in bytes_
  std::size_t bytes = 0;
  std::list<Entry*>::iterator lru_it;
  std::optional<std::multimap<TimePoint, Entry*>::iterator> sched_it;
  bool refresh_slot = false;  // the schedule slot is a refresh (else a drop check)
};

struct CachingPrometheusClient::RefreshJob {
  std::shared_ptr<Entry> entry;
  std::shared_ptr<Flight> flight;
};

Result<std::unique_ptr<CachingPrometheusClient>> CachingPrometheusClient::Create(
    PrometheusClient& backend, const Clock& clock, Options options) {
  if (options.ttl <= milliseconds::zero()) return InvalidArgumentError("cache ttl must be > 0");
  if (options.keep_warm < milliseconds::zero()) {
    return InvalidArgumentError("cache keep-warm must be >= 0");
  }
  if (options.max_staleness < milliseconds::zero()) {
    return InvalidArgumentError("max staleness must be >= 0");
  }
  if (options.memory_limit_bytes == 0) {
    return InvalidArgumentError("cache memory limit must be > 0");
  }
  if (!(options.refresh_ahead_fraction > 0 && options.refresh_ahead_fraction <= 1)) {
    return InvalidArgumentError("cache refresh-ahead fraction must be in (0, 1]");
  }
  if (options.refresh_threads < 0 || options.refresh_threads > 64) {
    return InvalidArgumentError("cache refresh threads must be in [0, 64]");
  }
  if (options.retry_interval <= milliseconds::zero() ||
      options.refresh_timeout <= milliseconds::zero()) {
    return InvalidArgumentError("cache retry interval and refresh timeout must be > 0");
  }
  std::unique_ptr<CachingPrometheusClient> cache(
      new CachingPrometheusClient(backend, clock, std::move(options)));
  try {
    for (int i = 0; i < cache->options_.refresh_threads; ++i) {
      cache->refreshers_.emplace_back([c = cache.get()] { c->RefresherLoop(); });
    }
  } catch (const std::system_error& e) {
    return InternalError(std::string("cannot start cache refresher thread: ") + e.what());
  }
  return cache;
}

CachingPrometheusClient::CachingPrometheusClient(PrometheusClient& backend, const Clock& clock,
                                                 Options options)
    : backend_(backend),
      clock_(clock),
      options_(std::move(options)),
      refresh_after_(std::max<steady_clock::duration>(
          std::chrono::nanoseconds(1), std::chrono::duration_cast<steady_clock::duration>(
                                           std::chrono::duration<double, std::nano>(options_.ttl) *
                                           options_.refresh_ahead_fraction))) {}

CachingPrometheusClient::~CachingPrometheusClient() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  refresher_wake_.notify_all();
  for (std::thread& t : refreshers_) t.join();
}

std::string CachingPrometheusClient::QueryKey(const std::string& expr,
                                              std::optional<SystemTime> time) {
  if (!time) return "q " + expr;
  return "q@" + std::to_string(Millis(*time)) + " " + expr;
}

std::size_t CachingPrometheusClient::EntryBytes(std::string_view key, const QueryResult& answer) {
  // The entry, its table / LRU / schedule nodes, the shared_ptr control blocks, and the key
  // three times (table key, Entry::key, the expression in Entry::request).
  constexpr std::size_t kNodes = 64 + 24 + 48 + 2 * 32;
  std::size_t n = sizeof(Entry) + kNodes + sizeof(std::string) + 3 * key.size();
  n += sizeof(QueryResult);
  for (const InstantSeries& s : answer.vector) n += sizeof(s) + LabelSetBytes(s.labels);
  for (const RangeSeries& s : answer.matrix) {
    n += sizeof(s) + LabelSetBytes(s.labels) + s.samples.size() * sizeof(Sample);
  }
  n += answer.string_value.size();
  for (const std::string& w : answer.warnings) n += StringBytes(w);
  for (const std::string& i : answer.infos) n += StringBytes(i);
  return n;
}

Result<QueryResult> CachingPrometheusClient::Query(const std::string& expr,
                                                   std::optional<SystemTime> time,
                                                   Deadline deadline) {
  Request request;
  request.expr = expr;
  request.time = time;
  return Lookup(QueryKey(expr, time), request, deadline);
}

Result<QueryResult> CachingPrometheusClient::QueryRange(const std::string& expr, SystemTime start,
                                                        SystemTime end, milliseconds step,
                                                        Deadline deadline) {
  if (!options_.cache_range_queries) {
    return backend_.QueryRange(expr, start, end, step, deadline);
  }
  Request request;
  request.range = true;
  request.expr = expr;
  request.start = start;
  request.end = end;
  request.step = step;
  std::string key = "r" + std::to_string(Millis(start)) + "," + std::to_string(Millis(end)) + "," +
                    std::to_string(step.count()) + " " + expr;
  return Lookup(std::move(key), request, deadline);
}

Result<std::vector<LabelSet>> CachingPrometheusClient::Series(const std::vector<std::string>& match,
                                                              SystemTime start, SystemTime end,
                                                              Deadline deadline) {
  return backend_.Series(match, start, end, deadline);
}

Result<QueryResult> CachingPrometheusClient::Fetch(const Request& request, Deadline deadline) {
  if (request.range) {
    return backend_.QueryRange(request.expr, request.start, request.end, request.step, deadline);
  }
  return backend_.Query(request.expr, request.time, deadline);
}

Result<QueryResult> CachingPrometheusClient::Lookup(std::string key, const Request& request,
                                                    Deadline deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  bool counted_wait = false;
  int retries_left = kMaxDeadlineRetries;
  for (;;) {
    const TimePoint now = clock_.Now();
    std::shared_ptr<Entry> entry;
    if (auto it = entries_.find(key); it != entries_.end()) entry = it->second;
    if (entry != nullptr) {
      Touch(*entry, now);
      if (entry->value != nullptr && now - entry->fetched_at < options_.ttl) {
        ++counters_.hits;
        return CopyOut(entry->value, lock);
      }
      if (entry->flight != nullptr) {
        if (!counted_wait) {
          ++counters_.coalesced_waits;
          counted_wait = true;
        }
        std::shared_ptr<Flight> flight = entry->flight;
        if (!flight->done_cv.wait_until(lock, deadline, [&] { return flight->done; })) {
          if (Usable(*entry, clock_.Now())) {
            ++counters_.stale_answers;
            return CopyOut(entry->value, lock);
          }
          return DeadlineExceededError(
              "deadline passed while waiting for a shared Prometheus "
              "request");
        }
        if (flight->answer != nullptr) {
          if (flight->stale) ++counters_.stale_answers;
          return CopyOut(flight->answer, lock);
        }
        // The call ran out of its leader's time, not necessarily of ours.
        if (flight->error.code() == StatusCode::kDeadlineExceeded && retries_left-- > 0) {
          continue;
        }
        return flight->error;
      }
      // Failed recently: answer from memory rather than ask a failing backend again.
      if (entry->failed_at && now - *entry->failed_at < options_.retry_interval &&
          Usable(*entry, now)) {
        ++counters_.stale_answers;
        return CopyOut(entry->value, lock);
      }
    } else {
      entry = Admit(key, request, now);
    }
    ++counters_.misses;
    auto flight = std::make_shared<Flight>();
    entry->flight = flight;
    lock.unlock();
    Result<QueryResult> result = Fetch(request, deadline);
    lock.lock();
    Finish(entry, flight, std::move(result), /*refresh=*/false);
    if (flight->answer != nullptr) {
      if (flight->stale) ++counters_.stale_answers;
      return CopyOut(flight->answer, lock);
    }
    return flight->error;
  }
}

std::shared_ptr<CachingPrometheusClient::Entry> CachingPrometheusClient::Admit(
    std::string key, const Request& request, TimePoint now) {
  auto entry = std::make_shared<Entry>();
  entry->request = request;
  entry->last_access = now;
  const std::size_t bytes = EntryBytes(key, QueryResult{});
  entry->key = std::move(key);
  // A key that alone exceeds the limit is fetched without being shared.
  if (bytes > options_.memory_limit_bytes) return entry;
  entries_.emplace(entry->key, entry);
  lru_.push_front(entry.get());
  entry->lru_it = lru_.begin();
  entry->cached = true;
  SetBytes(*entry, bytes);
  return entry;
}

void CachingPrometheusClient::Finish(const std::shared_ptr<Entry>& entry,
                                     const std::shared_ptr<Flight>& flight,
                                     Result<QueryResult> result, bool refresh) {
  const TimePoint now = clock_.Now();
  if (entry->flight == flight) entry->flight = nullptr;
  if (result.ok()) {
    auto answer = std::make_shared<const QueryResult>(std::move(result).value());
    flight->answer = answer;
    // Evicted while the call ran: keep the new answer unless the key was taken again.
    if (!entry->cached && !entries_.contains(entry->key)) {
      entries_.emplace(entry->key, entry);
      lru_.push_front(entry.get());
      entry->lru_it = lru_.begin();
      entry->cached = true;
    }
    if (entry->cached) {
      entry->value = answer;
      entry->fetched_at = now;
      entry->failed_at.reset();
      if (entry->failing) {
        SEXTANT_VLOG(1) << "Prometheus answers again for cached query: " << entry->request.expr;
        entry->failing = false;
      }
      SetBytes(*entry, EntryBytes(entry->key, *answer));
      if (entry->cached) Schedule(*entry, now + refresh_after_, /*refresh_slot=*/true);
    }
  } else {
    const Status status = result.status();
    if (refresh) ++counters_.refresh_failures;
    const bool stale = status.code() != StatusCode::kInvalidArgument && Usable(*entry, now);
    if (stale) {
      flight->answer = entry->value;
      flight->stale = true;
    } else {
      flight->error = status;
    }
    entry->failed_at = now;
    const bool first_failure = !entry->failing;
    entry->failing = true;
    if (first_failure && now - last_warning_ >= kWarningInterval) {
      last_warning_ = now;
      SEXTANT_LOG(WARNING)
          << "Prometheus " << (refresh ? "refresh" : "query") << " failed: " << status.ToString()
          << (status.code() == StatusCode::kBackendRejected
                  ? " (the backend rejects the query: check the rule that renders it)"
                  : "")
          << (stale ? "; serving the last good answer while it is within --max-staleness" : "")
          << "; query: " << entry->request.expr;
    } else {
      SEXTANT_VLOG(1) << "Prometheus " << (refresh ? "refresh" : "query")
                      << " failed: " << status.ToString() << (stale ? " (served stale)" : "")
                      << "; query: " << entry->request.expr;
    }
    if (entry->cached) {
      if (entry->value == nullptr) {
        Remove(*entry, /*evicted=*/false);
        PublishGauges();
      } else {
        Schedule(*entry, now + options_.retry_interval, /*refresh_slot=*/true);
      }
    }
  }
  flight->done = true;
  flight->done_cv.notify_all();
}

void CachingPrometheusClient::Touch(Entry& entry, TimePoint now) {
  entry.last_access = std::max(entry.last_access, now);
  if (!entry.cached) return;
  lru_.splice(lru_.begin(), lru_, entry.lru_it);
  // A key that had gone cold is warm again: put it back on the refresh schedule.
  if (entry.value != nullptr && entry.flight == nullptr && !entry.refresh_slot) {
    TimePoint when = entry.fetched_at + refresh_after_;
    if (entry.failed_at) when = std::max(when, *entry.failed_at + options_.retry_interval);
    Schedule(entry, when, /*refresh_slot=*/true);
  }
}

void CachingPrometheusClient::Schedule(Entry& entry, TimePoint when, bool refresh_slot) {
  Unschedule(entry);
  entry.sched_it = schedule_.emplace(when, &entry);
  entry.refresh_slot = refresh_slot;
  if (*entry.sched_it == schedule_.begin() && options_.refresh_threads > 0) {
    refresher_wake_.notify_one();
  }
}

void CachingPrometheusClient::Unschedule(Entry& entry) {
  if (entry.sched_it) schedule_.erase(*entry.sched_it);
  entry.sched_it.reset();
  entry.refresh_slot = false;
}

bool CachingPrometheusClient::Usable(const Entry& entry, TimePoint now) const {
  return entry.value != nullptr && now - entry.fetched_at <= options_.max_staleness;
}

void CachingPrometheusClient::SetBytes(Entry& entry, std::size_t bytes) {
  bytes_ = bytes_ - entry.bytes + bytes;
  entry.bytes = bytes;
  if (bytes > options_.memory_limit_bytes) Remove(entry, /*evicted=*/true);
  while (bytes_ > options_.memory_limit_bytes && !lru_.empty()) {
    Remove(*lru_.back(), /*evicted=*/true);
  }
  PublishGauges();
}

void CachingPrometheusClient::Remove(Entry& entry, bool evicted) {
  Unschedule(entry);
  lru_.erase(entry.lru_it);
  bytes_ -= entry.bytes;
  entry.bytes = 0;
  entry.cached = false;
  if (evicted) ++counters_.evictions;
  auto it = entries_.find(entry.key);
  entries_.erase(it);  // last: may destroy `entry`
}

void CachingPrometheusClient::PublishGauges() {
  counters_.bytes.store(bytes_, std::memory_order_relaxed);
  counters_.entries.store(entries_.size(), std::memory_order_relaxed);
}

std::optional<CachingPrometheusClient::RefreshJob> CachingPrometheusClient::TakeDueRefresh(
    TimePoint now) {
  const steady_clock::duration keep_for = std::max(options_.ttl, options_.max_staleness);
  while (!schedule_.empty() && schedule_.begin()->first <= now) {
    Entry* entry = schedule_.begin()->second;
    Unschedule(*entry);
    if (entry->flight != nullptr || entry->value == nullptr) continue;  // Finish reschedules
    if (now - entry->last_access <= options_.keep_warm) {
      auto flight = std::make_shared<Flight>();
      entry->flight = flight;
      ++counters_.refreshes;
      return RefreshJob{entries_.at(entry->key), std::move(flight)};
    }
    // Cold: not refreshed; dropped once it can serve nobody, even as a stale answer.
    if (now - entry->fetched_at > keep_for) {
      Remove(*entry, /*evicted=*/false);
      PublishGauges();
      continue;
    }
    Schedule(*entry, entry->fetched_at + keep_for + std::chrono::nanoseconds(1),
             /*refresh_slot=*/false);
  }
  return std::nullopt;
}

void CachingPrometheusClient::RunRefresh(std::unique_lock<std::mutex>& lock, RefreshJob job) {
  const Deadline deadline = clock_.Now() + options_.refresh_timeout;
  lock.unlock();
  Result<QueryResult> result = Fetch(job.entry->request, deadline);
  lock.lock();
  Finish(job.entry, job.flight, std::move(result), /*refresh=*/true);
}

void CachingPrometheusClient::Tick() {
  std::unique_lock<std::mutex> lock(mu_);
  while (std::optional<RefreshJob> job = TakeDueRefresh(clock_.Now())) {
    RunRefresh(lock, std::move(*job));
  }
}

void CachingPrometheusClient::RefresherLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    const TimePoint now = clock_.Now();
    if (std::optional<RefreshJob> job = TakeDueRefresh(now)) {
      RunRefresh(lock, std::move(*job));
      continue;
    }
    steady_clock::duration wait = kMaxRefresherSleep;
    if (!schedule_.empty()) wait = std::min(wait, schedule_.begin()->first - now);
    refresher_wake_.wait_for(lock, wait);
  }
}

CachingPrometheusClient::Stats CachingPrometheusClient::stats() const {
  Stats s;
  s.hits = counters_.hits.load(std::memory_order_relaxed);
  s.misses = counters_.misses.load(std::memory_order_relaxed);
  s.coalesced_waits = counters_.coalesced_waits.load(std::memory_order_relaxed);
  s.stale_answers = counters_.stale_answers.load(std::memory_order_relaxed);
  s.refreshes = counters_.refreshes.load(std::memory_order_relaxed);
  s.refresh_failures = counters_.refresh_failures.load(std::memory_order_relaxed);
  s.evictions = counters_.evictions.load(std::memory_order_relaxed);
  s.bytes = counters_.bytes.load(std::memory_order_relaxed);
  s.entries = counters_.entries.load(std::memory_order_relaxed);
  return s;
}

}  // namespace sextant::query

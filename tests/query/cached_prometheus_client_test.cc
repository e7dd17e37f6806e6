// Tests of CachingPrometheusClient (query/cached_prometheus_client.h).
//
// The backend here is scripted (it counts calls, blocks until released, fails on demand): the
// subject is the cache's own logic (keys, TTL, single-flight, refresh-ahead, staleness, LRU,
// memory bound), which needs exact control over what the backend does and when. The real
// HttpPrometheusClient is tested against a real Prometheus in prometheus_client_test.cc and
// the integration suite.
//
// Time is a ManualClock: TTLs, staleness and keep-warm are driven exactly, and refreshes run
// through Tick() (refresh_threads = 0). The only real-time waits are a caller's deadline
// (WaiterDeadlinePassesWhileFetchGoesOn) and the smoke test with real refresher threads;
// neither asserts a duration.
#include "query/cached_prometheus_client.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "gtest/gtest.h"

namespace sextant::query {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using std::chrono::system_clock;
using Options = CachingPrometheusClient::Options;

constexpr int64_t kSampleEpochMs = 1'600'000'000'000;  // far from any clock's reading

PrometheusClient::Deadline Far() { return steady_clock::now() + 1h; }

// Waits (really) until `done` holds; generous limit, asserted by the caller.
bool WaitUntil(const std::function<bool()>& done) {
  const auto give_up = steady_clock::now() + 30s;
  while (!done()) {
    if (steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// A PrometheusClient that answers from a script. The n-th answer for an expression is one
// series {__name__="m", expr="<expr>"} with value n and timestamp kSampleEpochMs + n * 1000
// (or, for an explicit time, that time): values tell which call answered, timestamps are the
// backend's own. An expression starting with "big" gets a 64 KiB label.
class ScriptedBackend : public PrometheusClient {
 public:
  static QueryResult Answer(const std::string& expr, int n, std::optional<SystemTime> time) {
    QueryResult r;
    r.type = QueryResult::Type::kVector;
    InstantSeries s;
    s.labels = {{"__name__", "m"}, {"expr", expr}};
    if (expr.starts_with("big")) s.labels["pad"] = std::string(64 << 10, 'x');
    s.sample.timestamp_ms =
        time ? std::chrono::duration_cast<milliseconds>(time->time_since_epoch()).count()
             : kSampleEpochMs + n * 1000;
    s.sample.value = n;
    r.vector.push_back(std::move(s));
    r.warnings.push_back("a warning");
    return r;
  }

  Result<QueryResult> Query(const std::string& expr, std::optional<SystemTime> time,
                            Deadline) override {
    int n = 0;
    Status failure;
    if (!Enter(expr, &n, &failure)) return failure;
    return Answer(expr, n, time);
  }

  Result<QueryResult> QueryRange(const std::string& expr, SystemTime, SystemTime, milliseconds,
                                 Deadline) override {
    int n = 0;
    Status failure;
    if (!Enter("range:" + expr, &n, &failure)) return failure;
    QueryResult r;
    r.type = QueryResult::Type::kMatrix;
    RangeSeries s;
    s.labels = {{"expr", expr}};
    s.samples = {{kSampleEpochMs, 1.0 * n}, {kSampleEpochMs + 1000, 1.0 * n}};
    r.matrix.push_back(std::move(s));
    return r;
  }

  Result<std::vector<LabelSet>> Series(const std::vector<std::string>& match, SystemTime,
                                       SystemTime, Deadline) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++series_calls_;
    return std::vector<LabelSet>{{{"__name__", match.at(0)}}};
  }

  void Block() {
    std::lock_guard<std::mutex> lock(mu_);
    blocked_ = true;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    blocked_ = false;
    changed_.notify_all();
  }
  // Every call fails with `s` until Succeed().
  void FailWith(Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    failure_ = std::move(s);
  }
  void Succeed() { FailWith(OkStatus()); }
  // The next call fails with `s` (before any FailWith failure).
  void FailNext(Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    next_failures_.push_back(std::move(s));
  }
  // Every n-th call fails with Unavailable; 0: never.
  void FailEvery(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_every_ = n;
  }
  bool WaitForCalls(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, 30s, [&] { return calls_ >= n; });
  }
  int calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  int calls(const std::string& expr) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = calls_by_expr_.find(expr);
    return it == calls_by_expr_.end() ? 0 : it->second;
  }
  int series_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return series_calls_;
  }

 private:
  // Counts the call, waits while blocked; false (with *failure) when the call must fail.
  bool Enter(const std::string& expr, int* n, Status* failure) {
    std::unique_lock<std::mutex> lock(mu_);
    ++calls_;
    *n = ++calls_by_expr_[expr];
    changed_.notify_all();
    changed_.wait(lock, [&] { return !blocked_; });
    if (!next_failures_.empty()) {
      *failure = next_failures_.front();
      next_failures_.pop_front();
    } else if (fail_every_ > 0 && calls_ % fail_every_ == 0) {
      *failure = UnavailableError("scripted: every n-th call fails");
    } else {
      *failure = failure_;
    }
    return failure->ok();
  }

  mutable std::mutex mu_;
  std::condition_variable changed_;
  int calls_ = 0;
  int series_calls_ = 0;
  std::map<std::string, int> calls_by_expr_;
  bool blocked_ = false;
  Status failure_;
  std::deque<Status> next_failures_;
  int fail_every_ = 0;
};

Options TestOptions() {
  Options o;
  o.refresh_threads = 0;  // tests drive refreshes with Tick()
  return o;
}

std::unique_ptr<CachingPrometheusClient> MakeCache(PrometheusClient& backend, const Clock& clock,
                                                   Options options = TestOptions()) {
  auto cache = CachingPrometheusClient::Create(backend, clock, options);
  EXPECT_TRUE(cache.ok()) << cache.status().ToString();
  return cache.ok() ? std::move(*cache) : nullptr;
}

double ValueOf(const Result<QueryResult>& r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok() || r->vector.size() != 1) return -1;
  return r->vector[0].sample.value;
}

void ExpectSameAnswer(const QueryResult& a, const QueryResult& b) {
  EXPECT_EQ(a.type, b.type);
  ASSERT_EQ(a.vector.size(), b.vector.size());
  for (std::size_t i = 0; i < a.vector.size(); ++i) {
    EXPECT_EQ(a.vector[i].labels, b.vector[i].labels);
    EXPECT_EQ(a.vector[i].sample.timestamp_ms, b.vector[i].sample.timestamp_ms);
    EXPECT_EQ(a.vector[i].sample.value, b.vector[i].sample.value);
  }
  EXPECT_EQ(a.warnings, b.warnings);
}

TEST(CachingPrometheusClientTest, FreshWithinTtlThenMissAtTtl) {
  ManualClock clock;
  ScriptedBackend backend;
  auto cache = MakeCache(backend, clock);
  EXPECT_EQ(ValueOf(cache->Query("up", std::nullopt, Far())), 1);
  clock.Advance(4999ms);
  EXPECT_EQ(ValueOf(cache->Query("up", std::nullopt, Far())), 1);
  EXPECT_EQ(backend.calls(), 1);
  clock.Advance(1ms);  // age == ttl: expired
  EXPECT_EQ(ValueOf(cache->Query("up", std::nullopt, Far())), 2);
  EXPECT_EQ(backend.calls(), 2);
  const auto s = cache->stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, CachingPrometheusClient::EntryBytes(
                         CachingPrometheusClient::QueryKey("up", std::nullopt),
                         ScriptedBackend::Answer("up", 2, std::nullopt)));
}

TEST(CachingPrometheusClientTest, ExplicitTimesAndRangesAreTheirOwnKeys) {
  ManualClock clock;
  ScriptedBackend backend;
  auto cache = MakeCache(backend, clock);
  const system_clock::time_point t1(std::chrono::seconds(1700000000));
  const system_clock::time_point t2 = t1 + 30s;
  for (int round = 0; round < 2; ++round) {
    auto now = cache->Query("up", std::nullopt, Far());
    auto at1 = cache->Query("up", t1, Far());
    auto at2 = cache->Query("up", t2, Far());
    ASSERT_TRUE(now.ok() && at1.ok() && at2.ok());
    EXPECT_EQ(at1->vector[0].sample.timestamp_ms, 1700000000000);
    EXPECT_EQ(at2->vector[0].sample.timestamp_ms, 1700000030000);
  }
  EXPECT_EQ(backend.calls("up"), 3);
  EXPECT_EQ(cache->stats().hits, 3u);

  // Ranges pass through by default...
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(cache->QueryRange("up", t1, t2, 15s, Far()).ok());
  EXPECT_EQ(backend.calls("range:up"), 2);
  // ...and are cached by (expr, start, end, step) when asked to.
  Options o = TestOptions();
  o.cache_range_queries = true;
  auto ranged = MakeCache(backend, clock, o);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(ranged->QueryRange("up", t1, t2, 15s, Far()).ok());
  EXPECT_EQ(backend.calls("range:up"), 3);
  ASSERT_TRUE(ranged->QueryRange("up", t1, t2, 30s, Far()).ok());
  ASSERT_TRUE(ranged->QueryRange("up", t1, t2 + 1s, 15s, Far()).ok());
  EXPECT_EQ(backend.calls("range:up"), 5);
  auto again = ranged->QueryRange("up", t1, t2, 15s, Far());
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->matrix.size(), 1u);
  EXPECT_EQ(again->matrix[0].samples.size(), 2u);
  EXPECT_EQ(again->matrix[0].samples[0].value, 3);
}

TEST(CachingPrometheusClientTest, SeriesPassesThroughUncached) {
  ManualClock clock;
  ScriptedBackend backend;
  auto cache = MakeCache(backend, clock);
  const system_clock::time_point t(std::chrono::seconds(1700000000));
  for (int i = 0; i < 3; ++i) {
    auto r = cache->Series({"up"}, t - 1h, t, Far());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->size(), 1u);
  }
  EXPECT_EQ(backend.series_calls(), 3);
  EXPECT_EQ(cache->stats().entries, 0u);
}

TEST(CachingPrometheusClientTest, HundredConcurrentMissesMakeOneBackendCall) {
  ManualClock clock;
  ScriptedBackend backend;
  auto cache = MakeCache(backend, clock);
  backend.Block();
  constexpr int kThreads = 100;
  std::vector<double> values(kThreads, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back(
        [&, i] { values[i] = ValueOf(cache->Query("cold", std::nullopt, Far())); });
  }
  ASSERT_TRUE(backend.WaitForCalls(1));
  ASSERT_TRUE(WaitUntil([&] { return cache->stats().coalesced_waits == kThreads - 1; }));
  backend.Release();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(backend.calls(), 1);
  for (double v : values) EXPECT_EQ(v, 1);
  const auto s = cache->stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.coalesced_waits, static_cast<uint64_t>(kThreads - 1));
  EXPECT_EQ(s.hits, 0u);
}

TEST(CachingPrometheusClientTest, WaiterDeadlinePassesWhileFetchGoesOn) {
  ManualClock clock;
  ScriptedBackend backend;
  auto cache = MakeCache(backend, clock);
  backend.Block();
  Result<QueryResult> leader = InternalError("not run");
  std::thread t([&] { leader = cache->Query("slow", std::nullopt, Far()); });
  ASSERT_TRUE(backend.WaitForCalls(1));
  auto waiter = cache->Query("slow", std::nullopt, steady_clock::now() + 50ms);
  EXPECT_EQ(waiter.status().code(), StatusCode::kDeadlineExceeded);
  // A deadline already passed gives up at once too.
  auto late = cache->Query("slow", std::nullopt, steady_clock::now() - 1s);
  EXPECT_EQ(late.status().code(), StatusCode::kDeadlineExceeded);
  backend.Release();
  t.join();
  EXPECT_EQ(ValueOf(leader), 1);
  EXPECT_EQ(ValueOf(cache->Query("slow", std::nullopt, Far())), 1);
  EXPECT_EQ(backend.calls(), 1);
  const auto s = cache->stats();
  EXPECT_EQ(s.coalesced_waits, 2u);
  EXPECT_EQ(s.hits, 1u);
}

TEST(CachingPrometheusClientTest, WaiterPastDeadlineGetsUsableStaleAnswer) {
  ManualClock clock;
  ScriptedBackend backend;
  auto cache = MakeCache(backend, clock);
  EXPECT_EQ(ValueOf(cache->Query("k", std::nullopt, Far())), 1);
  clock.Advance(10s);  // expired, within max_staleness
  backend.Block();
  std::thread t([&] { EXPECT_EQ(ValueOf(cache->Query("k", std::nullopt, Far())), 2); });
  ASSERT_TRUE(backend.WaitForCalls(2));
  EXPECT_EQ(ValueOf(cache->Query("k", std::nullopt, steady_clock::now() - 1s)), 1);
  EXPECT_EQ(cache->stats().stale_answers, 1u);
  backend.Release();
  t.join();
}

TEST(CachingPrometheusClientTest, WaiterRetriesWhenLeaderRanOutOfTime) {
  ManualClock clock;
  ScriptedBackend backend;
  auto cache = MakeCache(backend, clock);
  backend.Block();
  backend.FailNext(DeadlineExceededError("the leader's deadline"));
  Result<QueryResult> leader = InternalError("not run");
  Result<QueryResult> waiter = InternalError("not run");
  std::thread lt([&] { leader = cache->Query("k", std::nullopt, Far()); });
  ASSERT_TRUE(backend.WaitForCalls(1));
  std::thread wt([&] { waiter = cache->Query("k", std::nullopt, Far()); });
  ASSERT_TRUE(WaitUntil([&] { return cache->stats().coalesced_waits == 1; }));
  backend.Release();
  lt.join();
  wt.join();
  EXPECT_EQ(leader.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ValueOf(waiter), 2);
  EXPECT_EQ(backend.calls(), 2);
}

TEST(CachingPrometheusClientTest, RefreshAheadKeepsHotKeyFreshAcrossTenTtls) {
  ManualClock clock;
  ScriptedBackend backend;
  auto cache = MakeCache(backend, clock);  // ttl 5s, refresh at 4s
  EXPECT_EQ(ValueOf(cache->Query("hot", std::nullopt, Far())), 1);
  for (int second = 1; second <= 50; ++second) {
    clock.Advance(1s);
    cache->Tick();
    auto r = cache->Query("hot", std::nullopt, Far());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->vector[0].sample.value, backend.calls("hot")) << "at " << second << "s";
  }
  const auto s = cache->stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 50u);
  EXPECT_EQ(s.refreshes, 12u);  // at 4, 8, ..., 48 s
  EXPECT_EQ(s.refresh_failures, 0u);
  EXPECT_EQ(backend.calls(), 13);
}

TEST(CachingPrometheusClientTest, ColdKeyStopsBeingRefreshedAfterKeepWarmAndAgesOut) {
  ManualClock clock;
  ScriptedBackend backend;
  Options o = TestOptions();
  o.keep_warm = 30s;
  auto cache = MakeCache(backend, clock, o);
  EXPECT_EQ(ValueOf(cache->Query("once", std::nullopt, Far())), 1);
  for (int second = 1; second <= 148; ++second) {
    clock.Advance(1s);
    cache->Tick();
  }
  // Refreshed at 4, 8, ..., 28 s (asked for at 0 s, keep-warm 30 s), then left alone.
  EXPECT_EQ(cache->stats().refreshes, 7u);
  EXPECT_EQ(backend.calls(), 8);
  EXPECT_EQ(cache->stats().entries, 1u);  // 148 - 28 = 120 s: still a usable stale answer
  clock.Advance(1s);
  cache->Tick();
  EXPECT_EQ(cache->stats().entries, 0u);
  EXPECT_EQ(cache->stats().bytes, 0u);
  EXPECT_EQ(backend.calls(), 8);
  EXPECT_EQ(ValueOf(cache->Query("once", std::nullopt, Far())), 9);
  EXPECT_EQ(cache->stats().misses, 2u);
}

TEST(CachingPrometheusClientTest, ColdKeyAskedForAgainIsRefreshedAgain) {
  ManualClock clock;
  ScriptedBackend backend;
  Options o = TestOptions();
  o.keep_warm = 10s;
  auto cache = MakeCache(backend, clock, o);
  ASSERT_TRUE(cache->Query("k", std::nullopt, Far()).ok());
  for (int second = 1; second <= 14; ++second) {
    clock.Advance(1s);
    cache->Tick();
  }
  EXPECT_EQ(cache->stats().refreshes, 2u);                   // 4 s and 8 s; at 12 s it was cold
  ASSERT_TRUE(cache->Query("k", std::nullopt, Far()).ok());  // age 6 s: a miss, warm again
  for (int second = 1; second <= 4; ++second) {
    clock.Advance(1s);
    cache->Tick();
  }
  EXPECT_EQ(cache->stats().refreshes, 3u);
}

TEST(CachingPrometheusClientTest, StaleWhileErrorWithinMaxStalenessThenError) {
  ManualClock clock;
  ScriptedBackend backend;
  auto cache = MakeCache(backend, clock);  // ttl 5s, max staleness 2m, retry 1s
  auto first = cache->Query("k", std::nullopt, Far());
  ASSERT_TRUE(first.ok());
  backend.FailWith(UnavailableError("backend down"));

  clock.Advance(6s);
  auto stale = cache->Query("k", std::nullopt, Far());
  ASSERT_TRUE(stale.ok());
  ExpectSameAnswer(*stale, *first);
  EXPECT_EQ(backend.calls(), 2);

  clock.Advance(500ms);  // within retry_interval of the failure: from memory, no call
  ASSERT_TRUE(cache->Query("k", std::nullopt, Far()).ok());
  EXPECT_EQ(backend.calls(), 2);

  clock.Advance(113500ms);  // age exactly 120 s: still served
  stale = cache->Query("k", std::nullopt, Far());
  ASSERT_TRUE(stale.ok());
  ExpectSameAnswer(*stale, *first);
  EXPECT_EQ(cache->stats().stale_answers, 3u);

  clock.Advance(1ms);  // older than max staleness: the backend's error
  auto error = cache->Query("k", std::nullopt, Far());
  EXPECT_EQ(error.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(error.status().message(), "backend down");
  EXPECT_EQ(cache->stats().stale_answers, 3u);

  EXPECT_EQ(backend.calls(), 4);

  backend.Succeed();
  clock.Advance(1s);
  EXPECT_EQ(ValueOf(cache->Query("k", std::nullopt, Far())), 5);
}

TEST(CachingPrometheusClientTest, FailedRefreshKeepsServingAndRetries) {
  ManualClock clock;
  ScriptedBackend backend;
  auto cache = MakeCache(backend, clock);
  ASSERT_TRUE(cache->Query("k", std::nullopt, Far()).ok());
  backend.FailWith(InternalError("garbage answer"));
  clock.Advance(4s);
  cache->Tick();
  EXPECT_EQ(cache->stats().refreshes, 1u);
  EXPECT_EQ(cache->stats().refresh_failures, 1u);
  EXPECT_EQ(ValueOf(cache->Query("k", std::nullopt, Far())), 1);  // still fresh: a hit
  clock.Advance(1s);
  cache->Tick();  // the retry, 1 s later, fails again
  EXPECT_EQ(cache->stats().refresh_failures, 2u);
  EXPECT_EQ(ValueOf(cache->Query("k", std::nullopt, Far())), 1);  // expired: stale, no call
  EXPECT_EQ(backend.calls(), 3);
  EXPECT_EQ(cache->stats().stale_answers, 1u);
  backend.Succeed();
  clock.Advance(1s);
  cache->Tick();
  EXPECT_EQ(ValueOf(cache->Query("k", std::nullopt, Far())), 4);
  EXPECT_EQ(cache->stats().misses, 1u);
}

TEST(CachingPrometheusClientTest, BackendRejectedIsServedStaleInvalidArgumentIsNot) {
  ManualClock clock;
  ScriptedBackend backend;
  auto cache = MakeCache(backend, clock);
  ASSERT_TRUE(cache->Query("k", std::nullopt, Far()).ok());
  backend.FailWith(BackendRejectedError("bad_data: parse error"));
  clock.Advance(6s);
  EXPECT_EQ(ValueOf(cache->Query("k", std::nullopt, Far())), 1);
  EXPECT_EQ(cache->stats().stale_answers, 1u);
  backend.FailWith(InvalidArgumentError("empty expression"));
  clock.Advance(2s);
  EXPECT_EQ(cache->Query("k", std::nullopt, Far()).status().code(), StatusCode::kInvalidArgument);
  // A key with no good answer yet gets the backend's error and is not kept.
  backend.FailWith(BackendRejectedError("bad_data"));
  EXPECT_EQ(cache->Query("never", std::nullopt, Far()).status().code(),
            StatusCode::kBackendRejected);
  EXPECT_EQ(cache->stats().entries, 1u);
}

TEST(CachingPrometheusClientTest, TimestampsAreTheBackendsNeverRestamped) {
  ManualClock clock;
  ScriptedBackend backend;
  auto cache = MakeCache(backend, clock);
  auto first = cache->Query("k", std::nullopt, Far());
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->vector[0].sample.timestamp_ms, kSampleEpochMs + 1000);
  clock.Advance(3s);
  auto hit = cache->Query("k", std::nullopt, Far());
  ASSERT_TRUE(hit.ok());
  ExpectSameAnswer(*hit, *first);  // same sample time, not the time of serving
  clock.Advance(1s);
  cache->Tick();
  auto refreshed = cache->Query("k", std::nullopt, Far());
  ASSERT_TRUE(refreshed.ok());
  EXPECT_EQ(refreshed->vector[0].sample.timestamp_ms, kSampleEpochMs + 2000);
  backend.FailWith(UnavailableError("down"));
  clock.Advance(60s);
  auto stale = cache->Query("k", std::nullopt, Far());
  ASSERT_TRUE(stale.ok());
  ExpectSameAnswer(*stale, *refreshed);
}

TEST(CachingPrometheusClientTest, EvictsLeastRecentlyUsedFirst) {
  ManualClock clock;
  ScriptedBackend backend;
  const std::size_t one =
      CachingPrometheusClient::EntryBytes(CachingPrometheusClient::QueryKey("a", std::nullopt),
                                          ScriptedBackend::Answer("a", 1, std::nullopt));
  Options o = TestOptions();
  o.memory_limit_bytes = 3 * one + one / 2;
  auto cache = MakeCache(backend, clock, o);
  for (const char* k : {"a", "b", "c"}) ASSERT_TRUE(cache->Query(k, std::nullopt, Far()).ok());
  EXPECT_EQ(cache->stats().entries, 3u);
  EXPECT_EQ(cache->stats().bytes, 3 * one);
  clock.Advance(1s);
  ASSERT_TRUE(cache->Query("a", std::nullopt, Far()).ok());  // a is now the most recent
  ASSERT_TRUE(cache->Query("d", std::nullopt, Far()).ok());  // evicts b, the least recent
  EXPECT_EQ(cache->stats().evictions, 1u);
  EXPECT_EQ(cache->stats().entries, 3u);
  for (const char* k : {"a", "c", "d"}) ASSERT_TRUE(cache->Query(k, std::nullopt, Far()).ok());
  EXPECT_EQ(backend.calls(), 4);                             // a, c, d were hits
  ASSERT_TRUE(cache->Query("b", std::nullopt, Far()).ok());  // a miss; evicts a
  EXPECT_EQ(backend.calls("b"), 2);
  EXPECT_EQ(cache->stats().evictions, 2u);
  ASSERT_TRUE(cache->Query("c", std::nullopt, Far()).ok());
  EXPECT_EQ(backend.calls("c"), 1);
  ASSERT_TRUE(cache->Query("a", std::nullopt, Far()).ok());
  EXPECT_EQ(backend.calls("a"), 2);
}

TEST(CachingPrometheusClientTest, MemoryLimitHoldsUnderFloodOfDistinctKeys) {
  ManualClock clock;
  ScriptedBackend backend;
  Options o = TestOptions();
  o.memory_limit_bytes = 1 << 20;
  auto cache = MakeCache(backend, clock, o);
  constexpr int kKeys = 100000;
  uint64_t max_bytes = 0;
  for (int i = 0; i < kKeys; ++i) {
    const std::string expr = "flood{pod=\"pod-" + std::to_string(i) + "\"}";
    ASSERT_TRUE(cache->Query(expr, std::nullopt, Far()).ok());
    max_bytes = std::max(max_bytes, cache->stats().bytes);
    if (i % 1000 == 0) clock.Advance(10ms);
  }
  const auto s = cache->stats();
  EXPECT_LE(max_bytes, o.memory_limit_bytes);
  EXPECT_GT(s.entries, 1000u);
  EXPECT_EQ(s.evictions + s.entries, static_cast<uint64_t>(kKeys));
  EXPECT_EQ(backend.calls(), kKeys);
  // The most recent keys are the ones kept.
  const std::string last = "flood{pod=\"pod-" + std::to_string(kKeys - 1) + "\"}";
  ASSERT_TRUE(cache->Query(last, std::nullopt, Far()).ok());
  EXPECT_EQ(backend.calls(), kKeys);
}

TEST(CachingPrometheusClientTest, AnswerLargerThanLimitIsServedNotKept) {
  ManualClock clock;
  ScriptedBackend backend;
  Options o = TestOptions();
  o.memory_limit_bytes = 16 << 10;  // the answer carries a 64 KiB label
  auto cache = MakeCache(backend, clock, o);
  ASSERT_TRUE(cache->Query("small", std::nullopt, Far()).ok());
  for (int i = 1; i <= 2; ++i) {
    auto r = cache->Query("big", std::nullopt, Far());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->vector[0].labels.at("pad").size(), 64u << 10);
    EXPECT_EQ(backend.calls("big"), i);
  }
  const auto s = cache->stats();
  EXPECT_EQ(s.entries, 1u);  // only "small"
  EXPECT_LE(s.bytes, o.memory_limit_bytes);
  EXPECT_EQ(s.evictions, 2u);
  ASSERT_TRUE(cache->Query("small", std::nullopt, Far()).ok());
  EXPECT_EQ(backend.calls("small"), 1);

  // A key that alone exceeds the limit is fetched, uncoalesced and unkept.
  o.memory_limit_bytes = 64;
  auto tiny = MakeCache(backend, clock, o);
  EXPECT_EQ(ValueOf(tiny->Query("small", std::nullopt, Far())), 2);
  EXPECT_EQ(tiny->stats().entries, 0u);
  EXPECT_EQ(tiny->stats().bytes, 0u);
}

TEST(CachingPrometheusClientTest, CreateRejectsBadOptions) {
  ManualClock clock;
  ScriptedBackend backend;
  std::vector<std::function<void(Options&)>> bad = {
      [](Options& o) { o.ttl = 0ms; },
      [](Options& o) { o.keep_warm = -1ms; },
      [](Options& o) { o.max_staleness = -1ms; },
      [](Options& o) { o.memory_limit_bytes = 0; },
      [](Options& o) { o.refresh_ahead_fraction = 0; },
      [](Options& o) { o.refresh_ahead_fraction = 1.5; },
      [](Options& o) { o.refresh_threads = -1; },
      [](Options& o) { o.retry_interval = 0ms; },
      [](Options& o) { o.refresh_timeout = 0ms; },
  };
  for (std::size_t i = 0; i < bad.size(); ++i) {
    Options o;
    bad[i](o);
    auto c = CachingPrometheusClient::Create(backend, clock, o);
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << "case " << i;
  }
  EXPECT_TRUE(CachingPrometheusClient::Create(backend, clock, Options{}).ok());
}

// Many threads, few keys, a moving clock, failures, refreshes and evictions all at once:
// every answer must belong to the key asked for and the memory bound must hold.
TEST(CachingPrometheusClientTest, ConcurrentSmokeWithManualClock) {
  ManualClock clock;
  ScriptedBackend backend;
  backend.FailEvery(7);
  const std::size_t one =
      CachingPrometheusClient::EntryBytes(CachingPrometheusClient::QueryKey("key-00", std::nullopt),
                                          ScriptedBackend::Answer("key-00", 1, std::nullopt));
  Options o = TestOptions();
  o.memory_limit_bytes = 20 * one;
  o.max_staleness = 10s;
  o.keep_warm = 3s;
  o.cache_range_queries = true;
  auto cache = MakeCache(backend, clock, o);
  std::atomic<bool> done{false};
  std::atomic<bool> over_limit{false};
  std::thread ticker([&] {
    while (!done) {
      clock.Advance(100ms);
      cache->Tick();
      if (cache->stats().bytes > o.memory_limit_bytes) over_limit = true;
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> workers;
  std::atomic<int> bad_answers{0};
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&, w] {
      std::mt19937 rng(w);
      const system_clock::time_point t0(std::chrono::seconds(1700000000));
      for (int i = 0; i < 3000; ++i) {
        char key[16];
        std::snprintf(key, sizeof(key), "key-%02d", static_cast<int>(rng() % 40));
        const auto deadline = rng() % 50 == 0 ? steady_clock::now() : Far();
        Result<QueryResult> r = rng() % 10 == 0
                                    ? cache->QueryRange(key, t0, t0 + 1min, 15s, deadline)
                                    : cache->Query(key, std::nullopt, deadline);
        if (r.ok()) {
          const auto& labels = r->type == QueryResult::Type::kMatrix ? r->matrix.at(0).labels
                                                                     : r->vector.at(0).labels;
          if (labels.at("expr") != key) ++bad_answers;
        } else if (r.status().code() != StatusCode::kUnavailable &&
                   r.status().code() != StatusCode::kDeadlineExceeded) {
          ++bad_answers;
        }
      }
    });
  }
  for (std::thread& t : workers) t.join();
  done = true;
  ticker.join();
  EXPECT_EQ(bad_answers, 0);
  EXPECT_FALSE(over_limit);
  const auto s = cache->stats();
  EXPECT_LE(s.bytes, o.memory_limit_bytes);
  EXPECT_GT(s.hits, 0u);
  EXPECT_GT(s.evictions, 0u);
}

// The same with the real clock and real refresher threads (tiny TTLs), so the background
// path and the destructor's join run concurrently with callers. Asserts no timing.
TEST(CachingPrometheusClientTest, ConcurrentSmokeWithRealClockAndRefreshers) {
  ScriptedBackend backend;
  backend.FailEvery(10);
  Options o;
  o.ttl = 2ms;
  o.keep_warm = 50ms;
  o.max_staleness = 10ms;
  o.retry_interval = 1ms;
  o.refresh_threads = 2;
  o.memory_limit_bytes = 64 << 10;
  auto cache = MakeCache(backend, RealClock(), o);
  std::vector<std::thread> workers;
  std::atomic<int> bad_answers{0};
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&, w] {
      std::mt19937 rng(100 + w);
      const auto give_up = steady_clock::now() + 30s;
      // At least 2000 calls each, and on until the refreshers have done some work.
      for (int i = 0; i < 2000 || (cache->stats().refreshes < 200 && steady_clock::now() < give_up);
           ++i) {
        const std::string key = "key-" + std::to_string(rng() % 30);
        auto r = cache->Query(key, std::nullopt, Far());
        if (r.ok()) {
          if (r->vector.at(0).labels.at("expr") != key) ++bad_answers;
        } else if (r.status().code() != StatusCode::kUnavailable) {
          ++bad_answers;
        }
        if (cache->stats().bytes > o.memory_limit_bytes) ++bad_answers;
      }
    });
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(bad_answers, 0);
  EXPECT_GE(cache->stats().refreshes, 200u);
  cache.reset();  // stops and joins the refreshers
}

TEST(ManualClockTest, AdvancesBothReadings) {
  ManualClock clock;
  const auto now = clock.Now();
  const auto wall = clock.WallNow();
  EXPECT_EQ(wall, system_clock::time_point(std::chrono::seconds(1700000000)));
  clock.Advance(1500ms);
  EXPECT_EQ(clock.Now() - now, 1500ms);
  EXPECT_EQ(clock.WallNow() - wall, 1500ms);
}

}  // namespace
}  // namespace sextant::query

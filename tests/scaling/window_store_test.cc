// WindowStore (scaling/window_store.h) against a scripted Prometheus that answers range
// selectors from an in-memory sample table, driven by a ManualClock: what is fetched when
// (full window, then only new samples), that every view equals the table's samples in the
// window, sharing, dropping, eviction, stale answers, window boundaries and bytes per sample.
#include "scaling/window_store.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <atomic>
#include <cmath>
#include <mutex>
#include <thread>

#include "scaling/adapter_config.h"

namespace sextant::scaling {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int64_t kStart = 1700000000000;  // ManualClock's wall start, in ms

// A scripted Prometheus: series with samples every `step` ms (at phase `phase`), answered
// for `selector[range]` at t with Prometheus 2.x's selection [t - range, t].
class FakePrometheus : public query::PrometheusClient {
 public:
  struct Table {
    query::LabelSet labels;
    std::vector<query::Sample> samples;
    bool active = true;
    int64_t next_ts = 0;
    int64_t step = 1000;
  };

  void Add(query::LabelSet labels, int64_t first_ts, int64_t step = 1000) {
    std::lock_guard<std::mutex> lock(mu_);
    series_.push_back({std::move(labels), {}, true, first_ts, step});
  }
  // Stops (or resumes) series `i` producing samples.
  void SetActive(size_t i, bool active) {
    std::lock_guard<std::mutex> lock(mu_);
    series_[i].active = active;
  }
  // Every active series gets its samples up to now_ms.
  void ScrapeUntil(int64_t now_ms) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < series_.size(); ++i) {
      Table& s = series_[i];
      while (s.next_ts <= now_ms) {
        if (s.active) s.samples.push_back({s.next_ts, Value(i, s.next_ts)});
        s.next_ts += s.step;
      }
    }
  }
  // A sample that shows up late (out of order) in series i.
  void InsertLate(size_t i, int64_t ts, double value) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& v = series_[i].samples;
    auto pos = std::lower_bound(v.begin(), v.end(), ts, [](const query::Sample& s, int64_t t) {
      return s.timestamp_ms < t;
    });
    v.insert(pos, {ts, value});
  }
  static double Value(size_t i, int64_t ts) {
    return static_cast<double>(i) * 1000 + std::fmod(static_cast<double>(ts) / 1000.0, 97.0) + 0.25;
  }

  Result<query::QueryResult> Query(const std::string& expr, std::optional<SystemTime> time,
                                   Deadline) override {
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t t =
        time ? std::chrono::duration_cast<milliseconds>(time->time_since_epoch()).count() : 0;
    calls.push_back({expr, t});
    if (!fail.ok()) return fail;
    query::QueryResult r;
    if (answer_vector) return r;
    r.type = query::QueryResult::Type::kMatrix;
    const size_t open = expr.rfind('[');
    auto parsed = query::ParseVectorSelector(expr.substr(0, open));
    auto range = ParseConfigDuration(expr.substr(open + 1, expr.size() - open - 2));
    if (!parsed.ok() || !range.ok()) return InvalidArgumentError("bad expr " + expr);
    for (const Table& s : series_) {
      if (!Matches(*parsed, s.labels)) continue;
      query::RangeSeries rs{s.labels, {}};
      for (const query::Sample& x : s.samples) {
        if (x.timestamp_ms >= t - range->count() && x.timestamp_ms <= t) rs.samples.push_back(x);
      }
      if (!rs.samples.empty()) r.matrix.push_back(std::move(rs));
    }
    return r;
  }
  Result<query::QueryResult> QueryRange(const std::string&, SystemTime, SystemTime, milliseconds,
                                        Deadline) override {
    return UnimplementedError("range");
  }
  Result<std::vector<query::LabelSet>> Series(const std::vector<std::string>&, SystemTime,
                                              SystemTime, Deadline) override {
    return UnimplementedError("series");
  }

  // The samples of every matching series in [lo, hi], by encoded labels.
  std::map<std::string, std::vector<query::Sample>> Truth(const std::string& selector, int64_t lo,
                                                          int64_t hi) {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, std::vector<query::Sample>> out;
    auto parsed = query::ParseVectorSelector(selector);
    for (const Table& s : series_) {
      if (!Matches(*parsed, s.labels)) continue;
      std::vector<query::Sample> in;
      for (const query::Sample& x : s.samples) {
        if (x.timestamp_ms >= lo && x.timestamp_ms <= hi) in.push_back(x);
      }
      if (!in.empty()) out[EncodeLabels(s.labels)] = in;
    }
    return out;
  }

  std::vector<std::pair<std::string, int64_t>> calls;  // (expr, time ms)
  Status fail;
  bool answer_vector = false;
  milliseconds delay{0};

 private:
  static bool Matches(const query::ParsedSelector& sel, const query::LabelSet& labels) {
    auto get = [&](const std::string& name) {
      auto it = labels.find(name);
      return it == labels.end() ? std::string() : it->second;
    };
    if (!sel.metric_name.empty() && get("__name__") != sel.metric_name) return false;
    for (const query::LabelMatcher& m : sel.matchers) {
      const bool eq = get(m.name) == m.value;
      if (m.op == query::LabelMatcher::Op::kEqual && !eq) return false;
      if (m.op == query::LabelMatcher::Op::kNotEqual && eq) return false;
    }
    return true;
  }
  std::mutex mu_;
  std::vector<Table> series_;
};

query::LabelSet Up(const std::string& job, const std::string& instance) {
  return {{"__name__", "up"}, {"job", job}, {"instance", instance}};
}

class WindowStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(WindowStoreOptions{}); }
  void Make(WindowStoreOptions options) {
    auto store = WindowStore::Create(prom_, clock_, options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }
  int64_t NowMs() const {
    return std::chrono::duration_cast<milliseconds>(clock_.WallNow().time_since_epoch()).count();
  }
  void Advance(milliseconds d) {
    clock_.Advance(d);
    prom_.ScrapeUntil(NowMs());
  }
  // Reads and returns (eval time, samples by labels); checks the view against the table.
  struct Seen {
    int64_t t = 0;
    bool stale = false;
    std::map<std::string, std::vector<query::Sample>> series;
  };
  Result<Seen> ReadChecked(const std::string& selector, milliseconds window, bool check = true) {
    Seen seen;
    Status status = store_->Read(selector, window, std::chrono::steady_clock::now() + seconds(5),
                                 [&](const WindowView& view) {
                                   seen.t = view.eval_time_ms;
                                   seen.stale = view.stale;
                                   for (const SeriesWindow& s : view.series) {
                                     auto& v = seen.series[std::string(s.labels_key)];
                                     for (size_t i = 0; i < s.size; ++i) {
                                       v.push_back({s.timestamp_ms(i), s.values[i]});
                                     }
                                   }
                                 });
    if (!status.ok()) return status;
    if (check) {
      const bool v3 = store_->options().version == kernels::PrometheusVersion::kV3;
      auto truth = prom_.Truth(selector, seen.t - window.count() + (v3 ? 1 : 0), seen.t);
      EXPECT_EQ(seen.series.size(), truth.size()) << "at " << seen.t;
      for (const auto& [key, samples] : truth) {
        auto it = seen.series.find(key);
        if (it == seen.series.end()) {
          ADD_FAILURE() << "missing series " << key << " at " << seen.t;
          continue;
        }
        EXPECT_EQ(it->second.size(), samples.size()) << key << " at " << seen.t;
        for (size_t i = 0; i < std::min(samples.size(), it->second.size()); ++i) {
          EXPECT_EQ(it->second[i].timestamp_ms, samples[i].timestamp_ms) << i;
          EXPECT_EQ(it->second[i].value, samples[i].value) << i;
        }
      }
    }
    return seen;
  }

  ManualClock clock_;
  FakePrometheus prom_;
  std::unique_ptr<WindowStore> store_;
};

const std::string kSel = R"(up{job="a"})";

TEST_F(WindowStoreTest, FirstReadFetchesTheWholeWindowAtAWholeSecond) {
  prom_.Add(Up("a", "x"), kStart - 300000 + 123);
  prom_.Add(Up("a", "y"), kStart - 300000 + 456);
  prom_.Add(Up("b", "z"), kStart - 300000 + 789);
  Advance(milliseconds(700));
  auto seen = ReadChecked(kSel, seconds(120));
  ASSERT_TRUE(seen.ok()) << seen.status().ToString();
  EXPECT_EQ(seen->t, kStart - 1000);  // floor(now - 1s evaluation delay)
  ASSERT_EQ(prom_.calls.size(), 1u);
  EXPECT_EQ(prom_.calls[0].first, kSel + "[2m]");
  EXPECT_EQ(prom_.calls[0].second, kStart - 1000);
  EXPECT_EQ(seen->series.size(), 2u);
  const auto stats = store_->stats();
  EXPECT_EQ(stats.full_fetches, 1u);
  EXPECT_EQ(stats.series, 2u);
  EXPECT_EQ(stats.samples, 240u);
}

TEST_F(WindowStoreTest, WithinTheTtlNothingIsFetched) {
  prom_.Add(Up("a", "x"), kStart - 300000);
  Advance(milliseconds(100));
  ASSERT_TRUE(ReadChecked(kSel, seconds(60)).ok());
  Advance(seconds(3));
  auto seen = ReadChecked(kSel, seconds(60), /*check=*/false);
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->t, kStart - 1000);  // still the first evaluation
  EXPECT_EQ(prom_.calls.size(), 1u);
  EXPECT_EQ(store_->stats().fresh_reads, 1u);
}

TEST_F(WindowStoreTest, RefreshesFetchOnlyNewSamplesPlusTheOverlap) {
  prom_.Add(Up("a", "x"), kStart - 600000 + 250);
  Advance(milliseconds(100));
  ASSERT_TRUE(ReadChecked(kSel, seconds(300)).ok());
  const uint64_t first = store_->stats().fetched_samples;
  EXPECT_EQ(first, 300u);
  Advance(seconds(6));
  auto seen = ReadChecked(kSel, seconds(300));
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->t, kStart + 5000);
  ASSERT_EQ(prom_.calls.size(), 2u);
  EXPECT_EQ(prom_.calls[1].first, kSel + "[16s]");  // 6 s new + 10 s overlap
  const auto stats = store_->stats();
  EXPECT_EQ(stats.incremental_fetches, 1u);
  EXPECT_EQ(stats.fetched_samples - first, 16u);
  EXPECT_EQ(stats.samples, 300u);  // the window slid: old samples were trimmed
}

TEST_F(WindowStoreTest, SlidingForLongKeepsEveryViewExact) {
  prom_.Add(Up("a", "x"), kStart - 200000 + 1);
  prom_.Add(Up("a", "y"), kStart - 200000 + 999, 2500);
  Advance(milliseconds(10));
  for (int i = 0; i < 400; ++i) {
    auto seen = ReadChecked(kSel, seconds(90));
    ASSERT_TRUE(seen.ok()) << seen.status().ToString();
    if (HasFailure()) FAIL() << "iteration " << i;
    Advance(milliseconds(5000 + (i % 7) * 900));
  }
  const auto stats = store_->stats();
  EXPECT_EQ(stats.full_fetches, 1u);
  EXPECT_LE(stats.samples, 2u * 91 + 40);  // the window plus what the next read may need
}

TEST_F(WindowStoreTest, NewSeriesJoinAndStoppedSeriesLeaveAfterTheWindow) {
  prom_.Add(Up("a", "x"), kStart - 100000);
  Advance(milliseconds(10));
  ASSERT_TRUE(ReadChecked(kSel, seconds(60)).ok());
  prom_.Add(Up("a", "new"), kStart + 2000);
  Advance(seconds(10));
  auto seen = ReadChecked(kSel, seconds(60));
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->series.size(), 2u);
  EXPECT_EQ(store_->stats().full_fetches, 1u);  // no backfill fetch for the new series
  prom_.SetActive(1, false);
  for (int i = 0; i < 12; ++i) {
    Advance(seconds(6));
    ASSERT_TRUE(ReadChecked(kSel, seconds(60)).ok());
  }
  EXPECT_EQ(store_->stats().series, 1u);
  EXPECT_EQ(store_->stats().dropped_series, 1u);
}

TEST_F(WindowStoreTest, SeriesSharedBySelectorsAreHeldOnce) {
  prom_.Add(Up("a", "x"), kStart - 100000);
  Advance(milliseconds(10));
  ASSERT_TRUE(ReadChecked(kSel, seconds(60)).ok());
  ASSERT_TRUE(ReadChecked(R"(up{job="a",instance="x"})", seconds(60)).ok());
  auto stats = store_->stats();
  EXPECT_EQ(stats.subscriptions, 2u);
  EXPECT_EQ(stats.series, 1u);
  EXPECT_EQ(stats.samples, 61u);
  // The two selectors refresh at different times; both keep reading exact windows.
  for (int i = 0; i < 20; ++i) {
    Advance(seconds(4));
    ASSERT_TRUE(ReadChecked(i % 2 ? kSel : R"(up{job="a",instance="x"})", seconds(60)).ok());
  }
}

TEST_F(WindowStoreTest, ALongerWindowOrALongGapFetchesTheWholeWindow) {
  prom_.Add(Up("a", "x"), kStart - 900000);
  Advance(milliseconds(10));
  ASSERT_TRUE(ReadChecked(kSel, seconds(60)).ok());
  Advance(seconds(6));
  ASSERT_TRUE(ReadChecked(kSel, seconds(300)).ok());
  ASSERT_EQ(prom_.calls.size(), 2u);
  EXPECT_EQ(prom_.calls[1].first, kSel + "[5m]");
  // The shorter window is still served from the same subscription.
  ASSERT_TRUE(ReadChecked(kSel, seconds(60)).ok());
  Advance(seconds(400));
  ASSERT_TRUE(ReadChecked(kSel, seconds(60)).ok());
  EXPECT_EQ(prom_.calls.back().first, kSel + "[5m]");
  EXPECT_EQ(store_->stats().full_fetches, 3u);
}

TEST_F(WindowStoreTest, WindowBoundariesFollowThePrometheusVersion) {
  // Samples exactly on whole seconds: one sits on t - window.
  prom_.Add(Up("a", "x"), kStart - 100000);
  Advance(milliseconds(10));
  auto v2 = ReadChecked(kSel, seconds(30));  // checks [t - 30s, t]
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->series.begin()->second.size(), 31u);
  WindowStoreOptions options;
  options.version = kernels::PrometheusVersion::kV3;
  Make(options);
  auto v3 = ReadChecked(kSel, seconds(30));  // checks (t - 30s, t]
  ASSERT_TRUE(v3.ok());
  EXPECT_EQ(v3->series.begin()->second.size(), 30u);
}

TEST_F(WindowStoreTest, SamplesNewerThanTheEvaluationTimeAreNotRead) {
  prom_.Add(Up("a", "x"), kStart - 100000);
  Advance(milliseconds(10));
  ASSERT_TRUE(ReadChecked(kSel, seconds(30)).ok());
  // Another selector over the same series refreshes later and appends newer samples.
  Advance(seconds(3));
  ASSERT_TRUE(ReadChecked(R"(up{instance="x"})", seconds(30)).ok());
  auto again = ReadChecked(kSel, seconds(30));  // within its TTL: evaluated at its old t
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->t, kStart - 1000);
}

TEST_F(WindowStoreTest, LateSamplesWithinTheOverlapAreInsertedInOrder) {
  prom_.Add(Up("a", "x"), kStart - 100000, 2000);
  Advance(milliseconds(10));
  ASSERT_TRUE(ReadChecked(kSel, seconds(60)).ok());
  prom_.InsertLate(0, kStart - 4500, 42.5);  // ingested after the first fetch
  Advance(seconds(6));
  auto seen = ReadChecked(kSel, seconds(60));  // the check includes the late sample
  ASSERT_TRUE(seen.ok());
}

TEST_F(WindowStoreTest, FailuresServeStaleDataUpToMaxStalenessThenTheError) {
  prom_.Add(Up("a", "x"), kStart - 100000);
  Advance(milliseconds(10));
  prom_.fail = UnavailableError("down");
  auto first = ReadChecked(kSel, seconds(60));
  EXPECT_EQ(first.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store_->stats().subscriptions, 0u);  // nothing kept of a failed first fetch
  prom_.fail = OkStatus();
  ASSERT_TRUE(ReadChecked(kSel, seconds(60)).ok());
  prom_.fail = UnavailableError("down");
  Advance(seconds(60));
  auto stale = ReadChecked(kSel, seconds(60), /*check=*/false);
  ASSERT_TRUE(stale.ok());
  EXPECT_TRUE(stale->stale);
  EXPECT_EQ(stale->t, kStart - 1000);
  Advance(seconds(61));
  EXPECT_EQ(ReadChecked(kSel, seconds(60)).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store_->stats().stale_reads, 1u);
}

TEST_F(WindowStoreTest, AnAnswerThatIsNotAMatrixIsInternal) {
  prom_.answer_vector = true;
  Advance(milliseconds(10));
  EXPECT_EQ(ReadChecked(kSel, seconds(60)).status().code(), StatusCode::kInternal);
}

TEST_F(WindowStoreTest, LeastRecentlyUsedSelectorsAreEvictedOverTheLimit) {
  for (int i = 0; i < 20; ++i) prom_.Add(Up("a", "i" + std::to_string(i)), kStart - 100000);
  prom_.Add(Up("b", "x"), kStart - 100000);
  Advance(milliseconds(10));
  ASSERT_TRUE(ReadChecked(kSel, seconds(60)).ok());
  const uint64_t a_bytes = store_->stats().bytes;
  WindowStoreOptions options;
  options.memory_limit_bytes = a_bytes + 100;  // room for A, not for A and B
  Make(options);
  ASSERT_TRUE(ReadChecked(kSel, seconds(60)).ok());
  EXPECT_EQ(store_->stats().evictions, 0u);
  ASSERT_TRUE(ReadChecked(R"(up{job="b"})", seconds(60)).ok());
  const auto stats = store_->stats();
  EXPECT_EQ(stats.evictions, 1u);
  EXPECT_EQ(stats.subscriptions, 1u);
  EXPECT_EQ(stats.series, 1u);
  EXPECT_LE(stats.bytes, options.memory_limit_bytes);
}

TEST_F(WindowStoreTest, IdleSelectorsAreDropped) {
  prom_.Add(Up("a", "x"), kStart - 100000);
  prom_.Add(Up("b", "x"), kStart - 100000);
  Advance(milliseconds(10));
  ASSERT_TRUE(ReadChecked(kSel, seconds(60)).ok());
  Advance(std::chrono::minutes(11));
  ASSERT_TRUE(ReadChecked(R"(up{job="b"})", seconds(60)).ok());
  const auto stats = store_->stats();
  EXPECT_EQ(stats.subscriptions, 1u);
  EXPECT_EQ(stats.series, 1u);
}

TEST_F(WindowStoreTest, ConcurrentReadersShareOneFetch) {
  prom_.Add(Up("a", "x"), kStart - 100000);
  Advance(milliseconds(10));
  prom_.delay = milliseconds(200);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      Status s = store_->Read(kSel, seconds(60), std::chrono::steady_clock::now() + seconds(5),
                              [](const WindowView& v) { EXPECT_EQ(v.series.size(), 1u); });
      if (s.ok()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(prom_.calls.size(), 1u);
}

// The benchmark figure's bound, checked on the accounting: at one million samples (1000
// series of 1000 samples), at most 32 bytes per held sample, index included.
TEST_F(WindowStoreTest, AtMost32BytesPerSampleAtOneMillionSamples) {
  for (int i = 0; i < 1000; ++i) {
    prom_.Add({{"__name__", "vllm:num_requests_waiting"},
               {"model_name", "llama-3-8b"},
               {"namespace", "default"},
               {"pod", "vllm-llama-3-8b-" + std::to_string(i)}},
              kStart - 1200000 + 1 + i % 999);
  }
  Advance(milliseconds(10));
#ifdef __GLIBC__
  const size_t heap_before = mallinfo2().uordblks;
#endif
  ASSERT_TRUE(ReadChecked("vllm:num_requests_waiting", seconds(1000), /*check=*/false).ok());
  auto stats = store_->stats();
#ifdef __GLIBC__
  // The heap really grew by about what the store accounts (the answer is freed by now).
  const double heap_per_sample =
      static_cast<double>(mallinfo2().uordblks - heap_before) / 1000000.0;
  std::printf("window store: heap grew %.2f bytes per sample\n", heap_per_sample);
  EXPECT_LE(heap_per_sample, 32.0);
#endif
  ASSERT_EQ(stats.samples, 1000000u);
  const double per_sample = static_cast<double>(stats.bytes) / stats.samples;
  std::printf("window store: %.2f bytes per sample at %llu samples (%llu series)\n", per_sample,
              static_cast<unsigned long long>(stats.samples),
              static_cast<unsigned long long>(stats.series));
  EXPECT_LE(per_sample, 32.0);
  // Steady state after sliding: still within the bound.
  for (int i = 0; i < 10; ++i) {
    Advance(seconds(7));
    ASSERT_TRUE(ReadChecked("vllm:num_requests_waiting", seconds(1000), false).ok());
  }
  stats = store_->stats();
  EXPECT_LE(static_cast<double>(stats.bytes) / stats.samples, 32.0);
}

TEST(LabelEncoding, RoundTripsAndFindsValues) {
  const query::LabelSet labels = {{"__name__", "up"}, {"a", ""}, {"job", "x\"y"}, {"le", "+Inf"}};
  const std::string key = EncodeLabels(labels);
  EXPECT_EQ(DecodeLabels(key), labels);
  EXPECT_EQ(LabelValue(key, "job"), "x\"y");
  EXPECT_EQ(LabelValue(key, "le"), "+Inf");
  EXPECT_EQ(LabelValue(key, "a"), "");
  EXPECT_EQ(LabelValue(key, "missing"), "");
  EXPECT_EQ(LabelValue(key, "j"), "");
}

}  // namespace
}  // namespace sextant::scaling

// WindowStore: the raw samples of the series that signals read (scaling/signal_provider.h),
// held in memory and kept up to date incrementally, so that Prometheus' work per refresh grows
// with the number of new samples, not with the window length.
//
// Subscriptions. A caller reads through a subscription, keyed by a rendered series selector
// (`vllm:num_requests_waiting{namespace="default"}`) and asking for a window W:
// - first use: one instant query of the range selector `sel[W]` at the evaluation time t
//   returns every raw sample of every matching series in the window, with its real timestamp;
// - later refreshes fetch `sel[t - t_last + overlap]` at the new t: only samples newer than
//   the last refresh (plus `overlap` of samples already held, for samples ingested late),
//   merged by timestamp (duplicates are dropped, a late sample is inserted in order). A series
//   first seen in such a fetch needs no backfill: every earlier sample of a matching series
//   was in an earlier fetch of the same subscription. When the window grows (a signal with a
//   longer window reads the same selector) or the gap since the last refresh is at least the
//   window, the whole window is fetched again;
// - a subscription refreshed less than `ttl` ago is served as it is, evaluated at its own t;
//   concurrent readers of one subscription share one backend call (single flight);
// - when a refresh fails, data refreshed at most `max_staleness` ago is served (marked stale);
//   otherwise the backend's error is returned as is (the caller makes it client-safe).
// Evaluation time: t = WallNow() - evaluation_delay, floored to a whole second, so an item's
// RFC 3339 timestamp says exactly when it was evaluated. The delay lets a scrape that started
// just before t finish before its samples are read (a sample's timestamp is its scrape's
// start). Window selection follows the Prometheus in use: kV2 (e.g. Debian's 2.42) selects
// samples in [t - W, t], kV3 in (t - W, t]. Default: kV2.
//
// Several selectors, one subscription: a selector string may list selectors separated by
// newlines ("a{x=\"1\"}\nb{y=\"2\"}"; a rendered selector never holds a raw newline).
// Each is fetched at the same t in every refresh and their series are served together, so a
// reader combining several metrics sees them all evaluated at one time. A refresh fails when
// any part fails.
// Series. Samples are stored once per series (full label set) however many subscriptions
// match it, in a sliding columnar buffer: values as doubles, timestamps as int32 millisecond
// offsets from a per-series base (12 bytes per sample), live samples contiguous (when the end
// of the buffer is reached the live part moves to the front, or the buffer grows by 25%), so
// readers get plain arrays for the SIMD kernels. Samples older than every subscription's
// window (t_last - W) are trimmed; a series with no sample in a subscription's window leaves
// it, and is freed when no subscription holds it.
// Memory: every byte held is accounted (buffers, labels, index entries, subscriptions). When
// the total exceeds memory_limit_bytes, least recently used subscriptions are evicted (with
// the series only they hold); a subscription not read for idle_timeout is dropped.
//
// Ownership: borrows the client and the clock, which must outlive the store.
// Thread safety: all public methods are safe concurrently. One mutex guards everything; it is
// released during backend calls. Read's callback runs with the mutex held: it must not call
// back into the store, and the views it gets are valid only during the call.
// Errors: Read returns the backend's status (PrometheusClient's codes), Internal for an answer
// that is not a matrix, DeadlineExceeded when the deadline passes while waiting for another
// reader's fetch.
#ifndef SEXTANT_SCALING_WINDOW_STORE_H_
#define SEXTANT_SCALING_WINDOW_STORE_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "query/prometheus_client.h"
#include "scaling/kernels/window_kernels.h"

namespace sextant::scaling {

// One series' samples inside a window, oldest first: values[i] at base_ms + offsets[i].
struct SeriesWindow {
  std::string_view labels_key;  // EncodeLabels() of the series' labels
  const double* values = nullptr;
  const int32_t* offsets = nullptr;
  int64_t base_ms = 0;
  size_t size = 0;

  int64_t timestamp_ms(size_t i) const { return base_ms + offsets[i]; }
  // The value of label `name`, "" when the series has none.
  std::string_view Label(std::string_view name) const;
};

// What a Read sees: the series with at least one sample in [t - window, t] (kV3: (t - window,
// t]), in label order.
struct WindowView {
  int64_t eval_time_ms = 0;  // t, a whole second
  std::chrono::milliseconds window{0};
  std::span<const SeriesWindow> series;
  bool stale = false;  // the last refresh failed; this is older data
};

// A label set as one string: name 0xFF value 0xFF for each label, in name order (0xFF never
// occurs in UTF-8, which Prometheus requires of label names and values).
std::string EncodeLabels(const query::LabelSet& labels);
query::LabelSet DecodeLabels(std::string_view key);
std::string_view LabelValue(std::string_view key, std::string_view name);

struct WindowStoreOptions {
  // A subscription refreshed less than this long ago is not fetched again. Default: 5s
  // (--cache-ttl).
  std::chrono::milliseconds ttl{5000};
  // When a refresh fails, data this old or younger is served. Default: 2m (--max-staleness).
  std::chrono::milliseconds max_staleness{120000};
  // Bound of the accounted bytes. Default: 256 MiB (--cache-memory-limit).
  std::size_t memory_limit_bytes = std::size_t{256} << 20;
  // How far before the last refresh an incremental fetch starts. Default: 10s.
  std::chrono::milliseconds overlap{10000};
  // t = floor_seconds(WallNow() - evaluation_delay). Default: 1s.
  std::chrono::milliseconds evaluation_delay{1000};
  // A subscription not read for this long is dropped. Default: 10m.
  std::chrono::milliseconds idle_timeout{600000};
  // Window selection (and, for callers, the rate family's extrapolation). Default: kV2.
  kernels::PrometheusVersion version = kernels::PrometheusVersion::kV2;
};

class WindowStore {
 public:
  struct Stats {
    uint64_t subscriptions = 0;  // held now
    uint64_t series = 0;         // held now (each once)
    uint64_t samples = 0;        // held now
    uint64_t bytes = 0;          // accounted now
    uint64_t full_fetches = 0;   // totals since creation ...
    uint64_t incremental_fetches = 0;
    uint64_t fetched_samples = 0;  // samples received from the backend
    uint64_t fresh_reads = 0;      // reads served without a fetch
    uint64_t stale_reads = 0;      // reads served stale after a failed refresh
    uint64_t fetch_failures = 0;
    uint64_t evictions = 0;       // subscriptions evicted for memory or idleness
    uint64_t dropped_series = 0;  // series freed
  };
  using Reader = std::function<void(const WindowView&)>;

  static Result<std::unique_ptr<WindowStore>> Create(query::PrometheusClient& client,
                                                     const Clock& clock,
                                                     WindowStoreOptions options);
  ~WindowStore();
  WindowStore(const WindowStore&) = delete;
  WindowStore& operator=(const WindowStore&) = delete;

  // Brings the subscription of `selector` up to date for `window` and calls `reader` once
  // with the window's samples. REQUIRES: selector is a valid vector selector; window > 0.
  Status Read(const std::string& selector, std::chrono::milliseconds window,
              query::PrometheusClient::Deadline deadline, const Reader& reader);

  Stats stats() const;
  const WindowStoreOptions& options() const { return options_; }
  // The evaluation time a refresh starting now would use (ms since the epoch).
  int64_t EvaluationTimeMs() const;

 private:
  struct Series;
  struct Subscription;
  using TimePoint = std::chrono::steady_clock::time_point;

  WindowStore(query::PrometheusClient& client, const Clock& clock, WindowStoreOptions options);

  // Fetches every newline-separated part of `selector` with `range_suffix` at t, as one
  // matrix. `last_expr` names the last query tried (for messages). Called without mu_.
  Result<query::QueryResult> FetchParts(const std::string& selector,
                                        const std::string& range_suffix, int64_t t,
                                        query::PrometheusClient::Deadline deadline,
                                        std::string* last_expr);

  // The following REQUIRE mu_ held.
  Subscription& Subscribe(const std::string& selector, TimePoint now);
  void Apply(Subscription& sub, const query::QueryResult& answer, int64_t t,
             std::chrono::milliseconds window, TimePoint now);
  void Trim(Series& series);
  void Release(Subscription& sub, Series& series);
  void RemoveSubscription(Subscription& sub);
  void EvictAndExpire(TimePoint now);
  void Account(int64_t delta) {
    bytes_ = static_cast<uint64_t>(static_cast<int64_t>(bytes_) + delta);
  }
  void Serve(Subscription& sub, std::chrono::milliseconds window, bool stale, const Reader& reader);

  query::PrometheusClient& client_;
  const Clock& clock_;
  const WindowStoreOptions options_;

  mutable std::mutex mu_;
  std::condition_variable fetched_;                                       // a refresh finished
  std::unordered_map<std::string_view, std::unique_ptr<Series>> series_;  // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::unique_ptr<Subscription>> subs_;   // GUARDED_BY(mu_)
  std::list<Subscription*> lru_;  // GUARDED_BY(mu_) front: most recently read
  uint64_t bytes_ = 0;            // GUARDED_BY(mu_)
  uint64_t samples_ = 0;          // GUARDED_BY(mu_)
  Stats counters_;                // GUARDED_BY(mu_) the totals
};

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_WINDOW_STORE_H_

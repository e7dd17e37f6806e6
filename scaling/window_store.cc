#include "scaling/window_store.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "common/log.h"
#include "scaling/signal_config.h"

namespace sextant::scaling {
namespace {

constexpr char kSep = '\xff';
// Estimated bookkeeping of one hash-table entry (node, cached hash, bucket slot, allocator
// header), charged to each series and subscription on top of their own sizes.
constexpr size_t kIndexEntryBytes = 64;
constexpr size_t kLruNodeBytes = 32;
constexpr int64_t kMaxOffset = std::numeric_limits<int32_t>::max();

size_t StringBytes(const std::string& s) {
  return s.capacity() > 15 ? s.capacity() + 1 : 0;  // beyond the small-string buffer
}

int64_t FloorSecondMs(int64_t ms) {
  int64_t s = ms / 1000;
  if (ms % 1000 != 0 && ms < 0) --s;
  return s * 1000;
}

}  // namespace

std::string EncodeLabels(const query::LabelSet& labels) {
  size_t n = 0;
  for (const auto& [k, v] : labels) n += k.size() + v.size() + 2;
  std::string out;
  out.reserve(n);
  for (const auto& [k, v] : labels) {
    out += k;
    out += kSep;
    out += v;
    out += kSep;
  }
  return out;
}

query::LabelSet DecodeLabels(std::string_view key) {
  query::LabelSet out;
  size_t pos = 0;
  while (pos < key.size()) {
    const size_t name_end = key.find(kSep, pos);
    const size_t value_end = key.find(kSep, name_end + 1);
    if (name_end == std::string_view::npos || value_end == std::string_view::npos) break;
    out.emplace(std::string(key.substr(pos, name_end - pos)),
                std::string(key.substr(name_end + 1, value_end - name_end - 1)));
    pos = value_end + 1;
  }
  return out;
}

std::string_view LabelValue(std::string_view key, std::string_view name) {
  size_t pos = 0;
  while (pos < key.size()) {
    const size_t name_end = key.find(kSep, pos);
    const size_t value_end = key.find(kSep, name_end + 1);
    if (name_end == std::string_view::npos || value_end == std::string_view::npos) break;
    if (key.substr(pos, name_end - pos) == name) {
      return key.substr(name_end + 1, value_end - name_end - 1);
    }
    pos = value_end + 1;
  }
  return {};
}

std::string_view SeriesWindow::Label(std::string_view name) const {
  return LabelValue(labels_key, name);
}

// One series' samples: live samples are [head, head + size) of both columns.
struct WindowStore::Series {
  std::string key;
  std::unique_ptr<double[]> values;
  std::unique_ptr<int32_t[]> offsets;
  int64_t base_ms = 0;
  uint32_t head = 0;
  uint32_t size = 0;
  uint32_t capacity = 0;
  std::vector<Subscription*> subs;
  size_t accounted = 0;

  int64_t ts(size_t i) const { return base_ms + offsets[head + i]; }
  size_t Bytes() const {
    return sizeof(Series) + StringBytes(key) + size_t{capacity} * (sizeof(double) + 4) +
           subs.capacity() * sizeof(void*) + kIndexEntryBytes;
  }
  void Reallocate(uint32_t new_capacity) {
    auto v = std::make_unique_for_overwrite<double[]>(new_capacity);
    auto o = std::make_unique_for_overwrite<int32_t[]>(new_capacity);
    if (size > 0) {
      std::memcpy(v.get(), values.get() + head, size * sizeof(double));
      std::memcpy(o.get(), offsets.get() + head, size * sizeof(int32_t));
    }
    values = std::move(v);
    offsets = std::move(o);
    head = 0;
    capacity = new_capacity;
  }
  // Room for `extra` more samples after the live ones: moves the live part to the front when
  // that leaves at least a quarter of the buffer free, else grows to 125% of the need.
  void MakeRoom(size_t extra) {
    if (head + size + extra <= capacity) return;
    const size_t need = size + extra;
    if (need + capacity / 4 <= capacity) {
      std::memmove(values.get(), values.get() + head, size * sizeof(double));
      std::memmove(offsets.get(), offsets.get() + head, size * sizeof(int32_t));
      head = 0;
      return;
    }
    Reallocate(static_cast<uint32_t>(need + need / 4 + 4));
  }
  // Makes base_ms <= ts and every offset fit in int32, dropping live samples more than
  // 2^31 ms (24.8 days) older than ts. Returns the number dropped, or -1 when ts itself is
  // that much older than the newest sample (ts is then not stored).
  int64_t FitOffset(int64_t t) {
    if (size == 0) {
      base_ms = t;
      return 0;
    }
    const int64_t newest = ts(size - 1);
    if (newest - t > kMaxOffset) return -1;
    int64_t dropped = 0;
    while (size > 0 && t - ts(0) > kMaxOffset) {
      ++head;
      --size;
      ++dropped;
    }
    if (size == 0) {
      base_ms = t;
      return dropped;
    }
    const int64_t lo = std::min(t, ts(0));
    if (lo != base_ms && (lo < base_ms || std::max(newest, t) - base_ms > kMaxOffset)) {
      const int64_t shift = base_ms - lo;
      for (uint32_t i = head; i < head + size; ++i) {
        offsets[i] = static_cast<int32_t>(offsets[i] + shift);
      }
      base_ms = lo;
    }
    return dropped;
  }
};

struct WindowStore::Subscription {
  std::string selector;
  std::chrono::milliseconds window{0};
  bool initialized = false;
  int64_t last_t = 0;
  TimePoint refreshed_at{};
  TimePoint last_used{};
  std::list<Subscription*>::iterator lru;
  std::vector<Series*> series;  // in label order
  bool refreshing = false;
  int pins = 0;
  size_t accounted = 0;

  size_t Bytes() const {
    return sizeof(Subscription) + StringBytes(selector) + series.capacity() * sizeof(void*) +
           kIndexEntryBytes + kLruNodeBytes;
  }
};

Result<std::unique_ptr<WindowStore>> WindowStore::Create(query::PrometheusClient& client,
                                                         const Clock& clock,
                                                         WindowStoreOptions options) {
  using std::chrono::milliseconds;
  if (options.ttl < milliseconds(0) || options.max_staleness < milliseconds(0) ||
      options.overlap < milliseconds(0) || options.evaluation_delay < milliseconds(0) ||
      options.idle_timeout <= milliseconds(0) || options.memory_limit_bytes == 0) {
    return InvalidArgumentError(
        "window store: durations must be >= 0 (idle timeout > 0) and the memory limit > 0");
  }
  return std::unique_ptr<WindowStore>(new WindowStore(client, clock, options));
}

WindowStore::WindowStore(query::PrometheusClient& client, const Clock& clock,
                         WindowStoreOptions options)
    : client_(client), clock_(clock), options_(options) {}

WindowStore::~WindowStore() = default;

int64_t WindowStore::EvaluationTimeMs() const {
  const auto wall = clock_.WallNow() - options_.evaluation_delay;
  const int64_t ms = std::chrono::floor<std::chrono::milliseconds>(wall.time_since_epoch()).count();
  return FloorSecondMs(ms);
}

WindowStore::Stats WindowStore::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s = counters_;
  s.subscriptions = subs_.size();
  s.series = series_.size();
  s.samples = samples_;
  s.bytes = bytes_;
  return s;
}

WindowStore::Subscription& WindowStore::Subscribe(const std::string& selector, TimePoint now) {
  auto it = subs_.find(selector);
  if (it == subs_.end()) {
    auto sub = std::make_unique<Subscription>();
    sub->selector = selector;
    lru_.push_front(sub.get());
    sub->lru = lru_.begin();
    sub->accounted = sub->Bytes();
    Account(static_cast<int64_t>(sub->accounted));
    it = subs_.emplace(selector, std::move(sub)).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second->lru);
  }
  it->second->last_used = now;
  return *it->second;
}

Result<query::QueryResult> WindowStore::FetchParts(const std::string& selector,
                                                   const std::string& range_suffix, int64_t t,
                                                   query::PrometheusClient::Deadline deadline,
                                                   std::string* last_expr) {
  query::QueryResult merged;
  merged.type = query::QueryResult::Type::kMatrix;
  size_t begin = 0;
  while (begin <= selector.size()) {
    size_t end = selector.find('\n', begin);
    if (end == std::string::npos) end = selector.size();
    *last_expr = selector.substr(begin, end - begin) + range_suffix;
    Result<query::QueryResult> answer = client_.Query(
        *last_expr, query::PrometheusClient::SystemTime(std::chrono::milliseconds(t)), deadline);
    if (!answer.ok()) return answer.status();
    if (answer->type != query::QueryResult::Type::kMatrix) {
      return InternalError("window store: the answer to " + *last_expr + " is not a matrix");
    }
    for (query::RangeSeries& rs : answer->matrix) merged.matrix.push_back(std::move(rs));
    for (std::string& w : answer->warnings) merged.warnings.push_back(std::move(w));
    begin = end + 1;
  }
  return merged;
}

Status WindowStore::Read(const std::string& selector, std::chrono::milliseconds window,
                         query::PrometheusClient::Deadline deadline, const Reader& reader) {
  std::unique_lock<std::mutex> lock(mu_);
  TimePoint now = clock_.Now();
  Subscription& sub = Subscribe(selector, now);
  ++sub.pins;
  Status status;
  bool stale = false;
  auto usable = [&] {
    return sub.initialized && sub.window >= window &&
           now - sub.refreshed_at <= options_.max_staleness;
  };
  while (true) {
    if (sub.refreshing) {  // another reader is fetching: share its answer
      if (!fetched_.wait_until(lock, deadline, [&] { return !sub.refreshing; })) {
        now = clock_.Now();
        if (usable()) {
          stale = true;
          ++counters_.stale_reads;
        } else {
          status = DeadlineExceededError("window store: the deadline passed during a fetch");
        }
        break;
      }
      continue;
    }
    now = clock_.Now();
    const int64_t t = EvaluationTimeMs();
    const bool covers = sub.initialized && sub.window >= window;
    if (covers && (now - sub.refreshed_at < options_.ttl || t <= sub.last_t)) {
      ++counters_.fresh_reads;
      break;
    }
    const std::chrono::milliseconds effective = std::max(window, sub.window);
    const bool full = !covers || t - sub.last_t + options_.overlap.count() >= effective.count();
    const std::chrono::milliseconds range =
        full ? effective : std::chrono::milliseconds(t - sub.last_t + options_.overlap.count());
    const std::string suffix = "[" + FormatPromqlDuration(range) + "]";
    sub.refreshing = true;
    lock.unlock();
    std::string expr;
    Result<query::QueryResult> answer = FetchParts(selector, suffix, t, deadline, &expr);
    lock.lock();
    sub.refreshing = false;
    fetched_.notify_all();
    now = clock_.Now();
    if (answer.ok() && answer->type != query::QueryResult::Type::kMatrix) {
      answer = InternalError("window store: the answer to " + expr + " is not a matrix");
    }
    if (!answer.ok()) {
      ++counters_.fetch_failures;
      if (usable()) {
        std::string one_line = selector;
        std::replace(one_line.begin(), one_line.end(), '\n', ';');
        SEXTANT_LOG(WARNING) << "window store: refreshing " << one_line
                             << " failed: " << answer.status().ToString() << "; serving data of "
                             << sub.last_t / 1000;
        stale = true;
        ++counters_.stale_reads;
      } else {
        status = answer.status();
      }
      break;
    }
    ++(full ? counters_.full_fetches : counters_.incremental_fetches);
    Apply(sub, *answer, t, effective, now);
    break;
  }
  if (status.ok()) Serve(sub, window, stale, reader);
  --sub.pins;
  if (!sub.initialized && sub.pins == 0 && !sub.refreshing) RemoveSubscription(sub);
  EvictAndExpire(now);
  return status;
}

void WindowStore::Apply(Subscription& sub, const query::QueryResult& answer, int64_t t,
                        std::chrono::milliseconds window, TimePoint now) {
  // Members are the old ones plus those in the answer; a full answer holds every member with
  // samples in the window, so the others leave below like any series that stopped appearing.
  std::vector<Series*> members = sub.series;
  for (const query::RangeSeries& rs : answer.matrix) {
    counters_.fetched_samples += rs.samples.size();
    std::string key = EncodeLabels(rs.labels);
    auto it = series_.find(key);
    if (it == series_.end()) {
      auto s = std::make_unique<Series>();
      s->key = std::move(key);
      const std::string_view view = s->key;
      it = series_.emplace(view, std::move(s)).first;
    }
    Series& s = *it->second;
    if (std::find(s.subs.begin(), s.subs.end(), &sub) == s.subs.end()) {
      s.subs.push_back(&sub);
      members.push_back(&s);
    }
    // Merge: newer samples are appended, older ones inserted unless already held.
    const int64_t before = s.size;
    size_t newer = 0;
    for (const query::Sample& x : rs.samples) {
      if (s.size == 0 || x.timestamp_ms > s.ts(s.size - 1)) ++newer;
    }
    if (s.capacity == 0 || s.size == 0) {
      s.head = 0;
      if (s.capacity < newer) s.Reallocate(static_cast<uint32_t>(newer + newer / 4 + 4));
    } else {
      s.MakeRoom(newer);
    }
    for (const query::Sample& x : rs.samples) {
      const int64_t ts = x.timestamp_ms;
      if (s.size > 0 && ts <= s.ts(s.size - 1)) {  // within the held range
        const int32_t* first = s.offsets.get() + s.head;
        const int32_t* pos = std::partition_point(first, first + s.size,
                                                  [&](int32_t o) { return s.base_ms + o < ts; });
        if (pos != first + s.size && s.base_ms + *pos == ts) continue;  // duplicate
        const int64_t dropped = s.FitOffset(ts);
        if (dropped < 0) continue;
        s.MakeRoom(1);
        const int32_t* begin = s.offsets.get() + s.head;
        const size_t i = static_cast<size_t>(
            std::partition_point(begin, begin + s.size,
                                 [&](int32_t o) { return s.base_ms + o < ts; }) -
            begin);
        double* v = s.values.get() + s.head;
        int32_t* o = s.offsets.get() + s.head;
        std::memmove(v + i + 1, v + i, (s.size - i) * sizeof(double));
        std::memmove(o + i + 1, o + i, (s.size - i) * sizeof(int32_t));
        v[i] = x.value;
        o[i] = static_cast<int32_t>(ts - s.base_ms);
        ++s.size;
        continue;
      }
      if (s.FitOffset(ts) < 0) continue;
      s.MakeRoom(1);
      s.values[s.head + s.size] = x.value;
      s.offsets[s.head + s.size] = static_cast<int32_t>(ts - s.base_ms);
      ++s.size;
    }
    samples_ += static_cast<int64_t>(s.size) - before;
  }
  sub.window = window;
  sub.last_t = t;
  sub.initialized = true;
  sub.refreshed_at = now;
  // Members without a sample at or after the window's start stopped appearing: they leave.
  std::vector<Series*> kept;
  kept.reserve(members.size());
  const int64_t start = t - window.count();
  for (Series* s : members) {
    Trim(*s);
    if (s->size > 0 && s->ts(s->size - 1) >= start) {
      kept.push_back(s);
    } else {
      Release(sub, *s);
    }
  }
  std::sort(kept.begin(), kept.end(),
            [](const Series* a, const Series* b) { return a->key < b->key; });
  sub.series = std::move(kept);
  if (sub.series.capacity() > 2 * sub.series.size() + 8) sub.series.shrink_to_fit();
  const size_t bytes = sub.Bytes();
  Account(static_cast<int64_t>(bytes) - static_cast<int64_t>(sub.accounted));
  sub.accounted = bytes;
  for (Series* s : sub.series) {
    const size_t b = s->Bytes();
    Account(static_cast<int64_t>(b) - static_cast<int64_t>(s->accounted));
    s->accounted = b;
  }
}

// Drops samples no subscription can read again: older than min(t_last - window).
void WindowStore::Trim(Series& s) {
  int64_t keep_from = std::numeric_limits<int64_t>::max();
  for (const Subscription* sub : s.subs) {
    if (sub->initialized) keep_from = std::min(keep_from, sub->last_t - sub->window.count());
  }
  if (keep_from == std::numeric_limits<int64_t>::max()) return;
  uint32_t n = 0;
  while (n < s.size && s.ts(n) < keep_from) ++n;
  s.head += n;
  s.size -= n;
  samples_ -= n;
  if (s.size == 0) {
    s.values.reset();
    s.offsets.reset();
    s.head = s.capacity = 0;
  } else if (s.capacity >= 64 && s.size < s.capacity / 4) {
    s.Reallocate(s.size + s.size / 4 + 4);
  }
}

void WindowStore::Release(Subscription& sub, Series& s) {
  s.subs.erase(std::remove(s.subs.begin(), s.subs.end(), &sub), s.subs.end());
  if (s.subs.empty()) {
    samples_ -= s.size;
    Account(-static_cast<int64_t>(s.accounted));
    ++counters_.dropped_series;
    series_.erase(std::string_view(s.key));  // destroys s
    return;
  }
  Trim(s);
  const size_t b = s.Bytes();
  Account(static_cast<int64_t>(b) - static_cast<int64_t>(s.accounted));
  s.accounted = b;
}

void WindowStore::RemoveSubscription(Subscription& sub) {
  std::vector<Series*> members;
  members.swap(sub.series);
  for (Series* s : members) Release(sub, *s);
  lru_.erase(sub.lru);
  Account(-static_cast<int64_t>(sub.accounted));
  subs_.erase(sub.selector);  // destroys sub
}

void WindowStore::EvictAndExpire(TimePoint now) {
  // Idle subscriptions first (oldest at the back), then LRU ones while over the limit.
  for (auto it = lru_.end(); it != lru_.begin();) {
    Subscription* sub = *--it;
    if (now - sub->last_used <= options_.idle_timeout) break;
    if (sub->pins > 0 || sub->refreshing) continue;
    it = std::next(it);
    RemoveSubscription(*sub);
    ++counters_.evictions;
  }
  for (auto it = lru_.end(); bytes_ > options_.memory_limit_bytes && it != lru_.begin();) {
    Subscription* sub = *--it;
    if (sub->pins > 0 || sub->refreshing) continue;
    it = std::next(it);
    SEXTANT_VLOG(1) << "window store: evicting " << sub->selector << " (" << bytes_
                    << " bytes held, limit " << options_.memory_limit_bytes << ")";
    RemoveSubscription(*sub);
    ++counters_.evictions;
  }
}

void WindowStore::Serve(Subscription& sub, std::chrono::milliseconds window, bool stale,
                        const Reader& reader) {
  const int64_t t = sub.last_t;
  const int64_t lo = t - window.count();
  const bool open_start = options_.version == kernels::PrometheusVersion::kV3;
  std::vector<SeriesWindow> views;
  views.reserve(sub.series.size());
  for (const Series* s : sub.series) {
    const int32_t* begin = s->offsets.get() + s->head;
    const int32_t* end = begin + s->size;
    const int64_t base = s->base_ms;
    const int32_t* first = std::partition_point(
        begin, end, [&](int32_t o) { return open_start ? base + o <= lo : base + o < lo; });
    const int32_t* last =
        std::partition_point(first, end, [&](int32_t o) { return base + o <= t; });
    if (last == first) continue;
    views.push_back(SeriesWindow{s->key, s->values.get() + s->head + (first - begin), first, base,
                                 static_cast<size_t>(last - first)});
  }
  WindowView view;
  view.eval_time_ms = t;
  view.window = window;
  view.series = views;
  view.stale = stale;
  reader(view);
}

}  // namespace sextant::scaling

// Clock: where Sextant's caches, windows and schedulers read the time (DESIGN.md, convention
// 3: inject time, never read the system clock inside them).
//
// Two readings:
// - Now(): monotonic time, for ages, TTLs, staleness, schedules. Also the timeline of the
//   deadlines passed to PrometheusClient, so code may derive a backend deadline from Now().
// - WallNow(): calendar time, for values that leave the process (timestamps on the wire).
//
// Implementations:
// - SystemClock: the real clocks (steady_clock / system_clock). RealClock() returns a shared
//   instance.
// - ManualClock: for tests; time moves only when Advance() is called, so tests
//   drive TTLs, staleness and eviction exactly. Its monotonic reading starts at the real
//   steady_clock::now() of its construction (so deadlines derived from it are never in the
//   past on the real timeline) and its wall reading at 2023-11-14T22:13:20Z (1700000000 s)
//   unless given other starting points.
//
// Ownership: callers own their clocks; whoever receives a `const Clock&` must not outlive it.
// Thread safety: every method of every implementation may be called from any thread;
// ManualClock's readings and Advance() are synchronized internally.
// Errors: none.
#ifndef SEXTANT_COMMON_CLOCK_H_
#define SEXTANT_COMMON_CLOCK_H_

#include <chrono>
#include <mutex>

namespace sextant {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point Now() const = 0;
  virtual std::chrono::system_clock::time_point WallNow() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point Now() const override {
    return std::chrono::steady_clock::now();
  }
  std::chrono::system_clock::time_point WallNow() const override {
    return std::chrono::system_clock::now();
  }
};

// The process-wide real clock.
inline const Clock& RealClock() {
  static const SystemClock clock;
  return clock;
}

class ManualClock final : public Clock {
 public:
  ManualClock()
      : ManualClock(std::chrono::steady_clock::now(),
                    std::chrono::system_clock::time_point(std::chrono::seconds(1700000000))) {}
  ManualClock(std::chrono::steady_clock::time_point start,
              std::chrono::system_clock::time_point wall_start)
      : now_(start), wall_now_(wall_start) {}

  std::chrono::steady_clock::time_point Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  std::chrono::system_clock::time_point WallNow() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return wall_now_;
  }

  // Moves both readings forward by `d`.
  // REQUIRES: d >= 0 (monotonic time never goes back).
  void Advance(std::chrono::nanoseconds d) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
    wall_now_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  }

 private:
  mutable std::mutex mu_;
  std::chrono::steady_clock::time_point now_;       // GUARDED_BY(mu_)
  std::chrono::system_clock::time_point wall_now_;  // GUARDED_BY(mu_)
};

}  // namespace sextant

#endif  // SEXTANT_COMMON_CLOCK_H_

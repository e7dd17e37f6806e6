// WorkerPool: every job runs; short jobs run back to back on about max_running threads; a
// job presumed blocked lets queued ones start on other threads, never more than
// max_threads; destruction runs what is still queued.
#include "server/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace sextant::server {
namespace {

using std::chrono::milliseconds;

// A gate jobs wait at until Open().
class Gate {
 public:
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return open_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Polls `done` for up to `timeout`.
bool Eventually(const std::atomic<bool>& done, milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  return done.load();
}

TEST(WorkerPool, StartsNoThreadUntilAJobArrives) {
  WorkerPool pool({.max_threads = 4, .max_running = 2});
  EXPECT_EQ(pool.threads(), 0);
}

TEST(WorkerPool, RunsEveryJob) {
  std::atomic<int> done{0};
  {
    WorkerPool pool({.max_threads = 8, .max_running = 2});
    for (int i = 0; i < 2000; ++i) pool.Submit([&done] { done.fetch_add(1); });
  }
  EXPECT_EQ(done.load(), 2000);
}

TEST(WorkerPool, ShortJobsRunOnAboutMaxRunningThreads) {
  // A threshold far above the jobs' length: a preempted test thread is not "blocked".
  WorkerPool pool({.max_threads = 8, .max_running = 2,
                   .presumed_blocked_after = std::chrono::seconds(10)});
  std::atomic<int> done{0};
  for (int i = 0; i < 2000; ++i) pool.Submit([&done] { done.fetch_add(1); });
  while (done.load() < 2000) std::this_thread::sleep_for(milliseconds(1));
  EXPECT_LE(pool.threads(), 3);  // two running, one watching
}

TEST(WorkerPool, AQueuedJobStartsWhenTheRunningOneIsPresumedBlocked) {
  Gate gate;
  std::atomic<bool> second_ran{false};
  WorkerPool pool({.max_threads = 4, .max_running = 1,
                   .presumed_blocked_after = milliseconds(5)});
  pool.Submit([&gate] { gate.Wait(); });
  pool.Submit([&second_ran] { second_ran.store(true); });  // queued: one may run
  EXPECT_TRUE(Eventually(second_ran, milliseconds(5000)));
  gate.Open();
}

TEST(WorkerPool, NeverRunsMoreThanMaxThreadsAtOnce) {
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  {
    WorkerPool pool({.max_threads = 3, .max_running = 1,
                     .presumed_blocked_after = milliseconds(1)});
    for (int i = 0; i < 12; ++i) {
      pool.Submit([&] {
        int now = running.fetch_add(1) + 1;
        int seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(milliseconds(20));
        running.fetch_sub(1);
      });
    }
    EXPECT_LE(pool.threads(), 3);
  }
  EXPECT_LE(peak.load(), 3);
  EXPECT_GE(peak.load(), 2);  // sleeping jobs were presumed blocked and others started
}

TEST(WorkerPool, JobsMaySubmitJobs) {
  std::atomic<int> done{0};
  {
    WorkerPool pool({.max_threads = 2, .max_running = 1});
    pool.Submit([&] {
      for (int i = 0; i < 10; ++i) pool.Submit([&done] { done.fetch_add(1); });
    });
  }
  EXPECT_EQ(done.load(), 10);
}

TEST(WorkerPool, DestructionRunsQueuedJobs) {
  Gate gate;
  std::atomic<int> done{0};
  {
    WorkerPool pool({.max_threads = 1, .max_running = 1});
    pool.Submit([&] {
      gate.Wait();
      done.fetch_add(1);
    });
    for (int i = 0; i < 5; ++i) pool.Submit([&done] { done.fetch_add(1); });
    gate.Open();
  }
  EXPECT_EQ(done.load(), 6);
}

}  // namespace
}  // namespace sextant::server

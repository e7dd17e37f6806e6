// WorkerPool: every job runs, at most max_threads at once, threads start on demand, and
// destruction runs what is still queued.
#include "server/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace sextant::server {
namespace {

TEST(WorkerPool, StartsNoThreadUntilAJobArrives) {
  WorkerPool pool(4);
  EXPECT_EQ(pool.threads(), 0);
}

TEST(WorkerPool, RunsEveryJob) {
  std::atomic<int> done{0};
  {
    WorkerPool pool(3);
    for (int i = 0; i < 1000; ++i) pool.Submit([&done] { done.fetch_add(1); });
  }
  EXPECT_EQ(done.load(), 1000);
}

TEST(WorkerPool, NeverRunsMoreThanMaxThreadsAtOnce) {
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  {
    WorkerPool pool(3);
    for (int i = 0; i < 30; ++i) {
      pool.Submit([&] {
        int now = running.fetch_add(1) + 1;
        int seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        running.fetch_sub(1);
      });
    }
    EXPECT_LE(pool.threads(), 3);
  }
  EXPECT_LE(peak.load(), 3);
  EXPECT_GE(peak.load(), 2);  // blocking jobs did spread over threads
}

TEST(WorkerPool, ABlockedJobDoesNotHoldUpOthers) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<bool> second_ran{false};
  WorkerPool pool(2);
  pool.Submit([&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
  });
  pool.Submit([&] { second_ran.store(true); });
  for (int i = 0; i < 500 && !second_ran.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_TRUE(second_ran.load());
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
}

TEST(WorkerPool, JobsMaySubmitJobs) {
  std::atomic<int> done{0};
  {
    WorkerPool pool(2);
    pool.Submit([&] {
      for (int i = 0; i < 10; ++i) pool.Submit([&done] { done.fetch_add(1); });
    });
  }
  EXPECT_EQ(done.load(), 10);
}

}  // namespace
}  // namespace sextant::server

// WorkerPool: at most `max_threads` threads running submitted jobs in submission order, for
// work that may block (a metric request can wait seconds on Prometheus) and so must stay off
// the I/O threads.
//
// Policy: at most `max_running` jobs run at once unless some of them are blocked. A job that
// has run longer than `presumed_blocked_after` is presumed blocked (waiting on a backend)
// and no longer counts, so the next queued job starts on another thread, up to
// `max_threads`. Short CPU-bound jobs therefore run back to back on about `max_running`
// threads, which take the next job without sleeping; a burst does not wake one thread per
// job (a wake-up costs more than a short job on a small machine). Once a job has had to
// wait, one idle thread (the watcher) wakes whenever a running job crosses the threshold,
// for as long as jobs run; an idle pool sleeps without timers. Threads are started on
// demand, the most recently idle one is woken first, and they stay for the pool's lifetime.
// Ownership: owns its threads and the queued jobs.
// Thread safety: Submit() may be called from any thread, also from a job.
// Errors: a job must not throw (an escaping exception terminates the process, as in any
// std::thread); when a thread cannot be started (logged), jobs wait for a running one, or
// run on the caller's thread when there is none.
// Destruction runs the queued jobs, waits for all, and joins the threads.
#ifndef SEXTANT_SERVER_WORKER_POOL_H_
#define SEXTANT_SERVER_WORKER_POOL_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sextant::server {

struct WorkerPoolOptions {
  // Default: 16. Threads at most (so jobs running at once, blocked ones included).
  int max_threads = 16;
  // Default: 2. Jobs running at once that are not presumed blocked (about the CPU count).
  int max_running = 2;
  // Default: 5ms. Longer than a CPU-bound request takes, even when preempted now and then
  // on a busy machine; also the longest a queued job waits when every running one blocks.
  std::chrono::microseconds presumed_blocked_after{5000};
};

class WorkerPool {
 public:
  // REQUIRES: max_threads >= 1, max_running >= 1.
  explicit WorkerPool(WorkerPoolOptions options);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(std::function<void()> job);

  // Threads started so far.
  int threads() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Worker {
    std::thread thread;
    std::condition_variable wake;
    std::function<void()> job;  // assigned and not yet started
    Clock::time_point running_since = Clock::time_point::max();  // max: no job
    bool watching = false;
  };

  void Run(size_t self);
  // Jobs assigned less than presumed_blocked_after before `now`. REQUIRES: mu_ held.
  int Running(Clock::time_point now) const;
  // When the next of those will be presumed blocked (max: none). REQUIRES: mu_ held.
  Clock::time_point NextPresumedBlocked(Clock::time_point now) const;
  // Hands queued jobs to threads as far as the policy allows, and makes sure a watcher
  // exists when it does not allow more. REQUIRES: mu_ held.
  void Kick(Clock::time_point now);
  // REQUIRES: mu_ held. The new worker's index, or -1 (logged) when none could be started.
  int StartThread();

  const WorkerPoolOptions options_;
  mutable std::mutex mu_;
  std::deque<std::function<void()>> queue_;  // GUARDED_BY(mu_)
  std::deque<Worker> workers_;  // GUARDED_BY(mu_); a deque: elements never move
  std::vector<size_t> idle_;    // GUARDED_BY(mu_) idle workers, the most recent last
  int watcher_ = -1;            // GUARDED_BY(mu_) the watching worker, -1: none
  bool stopping_ = false;       // GUARDED_BY(mu_)
};

}  // namespace sextant::server

#endif  // SEXTANT_SERVER_WORKER_POOL_H_

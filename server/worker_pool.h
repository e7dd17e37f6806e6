// WorkerPool: at most `max_threads` threads running submitted jobs in submission order, for
// work that may block (a metric request can wait seconds on Prometheus) and so must stay off
// the I/O threads.
//
// Threads are started on demand: a job wakes an idle thread when there is one, else starts a
// new thread while fewer than `max_threads` exist, else waits in the queue (unbounded). An
// idle thread stays for the pool's lifetime.
// Ownership: owns its threads and the queued jobs.
// Thread safety: Submit() may be called from any thread, also from a job.
// Errors: a job must not throw (an escaping exception terminates the process, as in any
// std::thread); a thread that cannot be started is logged and the job waits for a running
// one (or, when there is none, runs on the caller's thread).
// Destruction waits for the running jobs and runs the queued ones before returning.
#ifndef SEXTANT_SERVER_WORKER_POOL_H_
#define SEXTANT_SERVER_WORKER_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sextant::server {

class WorkerPool {
 public:
  // REQUIRES: max_threads >= 1.
  explicit WorkerPool(int max_threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(std::function<void()> job);

  // Threads started so far.
  int threads() const;

 private:
  void Run();

  const int max_threads_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;  // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;         // GUARDED_BY(mu_)
  int idle_ = 0;     // GUARDED_BY(mu_) threads waiting for a wake-up
  int wakeups_ = 0;  // GUARDED_BY(mu_) wake-ups given and not yet taken
  bool stopping_ = false;  // GUARDED_BY(mu_)
};

}  // namespace sextant::server

#endif  // SEXTANT_SERVER_WORKER_POOL_H_

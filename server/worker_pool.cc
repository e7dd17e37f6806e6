#include "server/worker_pool.h"

#include <algorithm>
#include <system_error>

#include "common/log.h"

namespace sextant::server {
namespace {

WorkerPoolOptions Sanitized(WorkerPoolOptions options) {
  options.max_threads = std::max(1, options.max_threads);
  options.max_running = std::clamp(options.max_running, 1, options.max_threads);
  options.presumed_blocked_after =
      std::max(options.presumed_blocked_after, std::chrono::microseconds(1));
  return options;
}

}  // namespace

WorkerPool::WorkerPool(WorkerPoolOptions options) : options_(Sanitized(options)) {}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;  // no thread starts from here on, so workers_ keeps its size
    for (Worker& worker : workers_) worker.wake.notify_one();
  }
  for (Worker& worker : workers_) worker.thread.join();
  while (!queue_.empty()) {  // only when no thread could ever be started
    std::function<void()> job = std::move(queue_.front());
    queue_.pop_front();
    job();
  }
}

void WorkerPool::Submit(std::function<void()> job) {
  std::unique_lock<std::mutex> lock(mu_);
  queue_.push_back(std::move(job));
  Kick(Clock::now());
  if (workers_.empty() && !queue_.empty()) {  // no thread at all: run it here
    std::function<void()> mine = std::move(queue_.back());
    queue_.pop_back();
    lock.unlock();
    mine();
  }
}

int WorkerPool::threads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(workers_.size());
}

int WorkerPool::Running(Clock::time_point now) const {
  int running = 0;
  for (const Worker& worker : workers_) {
    if (worker.running_since != Clock::time_point::max() &&
        now - worker.running_since < options_.presumed_blocked_after) {
      ++running;
    }
  }
  return running;
}

WorkerPool::Clock::time_point WorkerPool::NextPresumedBlocked(Clock::time_point now) const {
  Clock::time_point next = Clock::time_point::max();
  for (const Worker& worker : workers_) {
    if (worker.running_since == Clock::time_point::max()) continue;
    const Clock::time_point at = worker.running_since + options_.presumed_blocked_after;
    if (at > now) next = std::min(next, at);
  }
  return next;
}

void WorkerPool::Kick(Clock::time_point now) {
  if (stopping_) return;  // the workers empty the queue themselves before they leave
  while (!queue_.empty()) {
    if (Running(now) >= options_.max_running) {
      // Full: someone must look again when a running job is presumed blocked.
      if (watcher_ >= 0) return;
      int w = -1;
      if (!idle_.empty()) {
        w = static_cast<int>(idle_.back());
        idle_.pop_back();
      } else if (static_cast<int>(workers_.size()) < options_.max_threads) {
        w = StartThread();
      }
      if (w < 0) return;  // every thread has a job: the first to finish takes the next
      watcher_ = w;
      workers_[w].watching = true;
      workers_[w].wake.notify_one();
      return;
    }
    int w = -1;
    if (watcher_ >= 0) {
      w = watcher_;
      watcher_ = -1;
      workers_[w].watching = false;
    } else if (!idle_.empty()) {
      w = static_cast<int>(idle_.back());  // the most recently idle: warmest cache
      idle_.pop_back();
    } else if (static_cast<int>(workers_.size()) < options_.max_threads) {
      w = StartThread();
    }
    if (w < 0) return;
    workers_[w].job = std::move(queue_.front());
    queue_.pop_front();
    workers_[w].running_since = now;
    workers_[w].wake.notify_one();
  }
}

int WorkerPool::StartThread() {
  workers_.emplace_back();
  const size_t index = workers_.size() - 1;
  try {
    workers_.back().thread = std::thread([this, index] { Run(index); });
    return static_cast<int>(index);
  } catch (const std::system_error& error) {
    workers_.pop_back();
    SEXTANT_LOG(WARNING) << "cannot start a worker thread: " << error.what();
    return -1;
  }
}

void WorkerPool::Run(size_t self) {
  std::unique_lock<std::mutex> lock(mu_);
  Worker& me = workers_[self];
  while (true) {
    if (me.job) {
      std::function<void()> job = std::move(me.job);
      me.job = nullptr;
      lock.unlock();
      job();
      job = nullptr;  // release what the job captured outside the lock
      lock.lock();
      me.running_since = Clock::time_point::max();
      const Clock::time_point now = Clock::now();
      if (!queue_.empty() && (stopping_ || Running(now) < options_.max_running)) {
        me.job = std::move(queue_.front());  // the next one, without sleeping
        queue_.pop_front();
        me.running_since = now;
        Kick(now);
        continue;
      }
      Kick(now);
    }
    if (stopping_) {
      if (queue_.empty()) return;
      me.job = std::move(queue_.front());
      queue_.pop_front();
      continue;
    }
    if (me.watching) {
      const Clock::time_point deadline = NextPresumedBlocked(Clock::now());
      if (deadline != Clock::time_point::max()) {
        me.wake.wait_until(lock, deadline);
        if (me.watching && !stopping_) Kick(Clock::now());  // may hand the watcher a job
        continue;
      }
      me.watching = false;  // nothing runs any more: nothing to watch
      watcher_ = -1;
    }
    if (!me.job) {
      idle_.push_back(self);
      me.wake.wait(lock, [&] { return me.job || me.watching || stopping_; });
      if (!me.job && !me.watching) {  // stopping: leave the idle list
        idle_.erase(std::find(idle_.begin(), idle_.end(), self));
      }
    }
  }
}

}  // namespace sextant::server

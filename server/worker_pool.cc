#include "server/worker_pool.h"

#include <system_error>

#include "common/log.h"

namespace sextant::server {

WorkerPool::WorkerPool(int max_threads) : max_threads_(max_threads < 1 ? 1 : max_threads) {}

WorkerPool::~WorkerPool() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  wake_.notify_all();
  for (std::thread& thread : threads) thread.join();
  // Jobs submitted while stopping, with no thread left to take them.
  while (!queue_.empty()) {
    std::function<void()> job = std::move(queue_.front());
    queue_.pop_front();
    job();
  }
}

void WorkerPool::Submit(std::function<void()> job) {
  std::unique_lock<std::mutex> lock(mu_);
  queue_.push_back(std::move(job));
  if (idle_ > 0) {
    --idle_;
    ++wakeups_;
    lock.unlock();
    wake_.notify_one();
    return;
  }
  if (stopping_ || static_cast<int>(threads_.size()) >= max_threads_) return;
  try {
    threads_.emplace_back([this] { Run(); });
  } catch (const std::system_error& error) {
    SEXTANT_LOG(WARNING) << "cannot start a worker thread: " << error.what();
    if (threads_.empty()) {  // nobody would ever take the job
      std::function<void()> mine = std::move(queue_.back());
      queue_.pop_back();
      lock.unlock();
      mine();
    }
  }
}

int WorkerPool::threads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(threads_.size());
}

void WorkerPool::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    while (!queue_.empty()) {
      std::function<void()> job = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      job();
      job = nullptr;  // release what the job captured outside the lock
      lock.lock();
    }
    if (stopping_) return;
    ++idle_;
    wake_.wait(lock, [this] { return wakeups_ > 0 || stopping_; });
    if (wakeups_ > 0) {
      --wakeups_;
    } else {
      --idle_;  // woken by stopping_: no wake-up was given for this thread
    }
  }
}

}  // namespace sextant::server

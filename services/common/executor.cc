#include "services/common/executor.h"

#include <pthread.h>

namespace utpost::service {

BoundedExecutor::BoundedExecutor(std::string name, int threads, int max_queued)
    : max_queued_(static_cast<size_t>(max_queued)) {
  workers_.reserve(threads);
  for (int i = 0; i < threads; ++i) {
    workers_.emplace_back([this] { Work(); });
    // Thread names show in top, gdb and perf; Linux allows 15 characters.
    pthread_setname_np(workers_.back().native_handle(), name.substr(0, 15).c_str());
  }
}

BoundedExecutor::~BoundedExecutor() { Shutdown(); }

bool BoundedExecutor::TrySubmit(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void BoundedExecutor::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  workers_.clear();
}

size_t BoundedExecutor::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void BoundedExecutor::Work() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace utpost::service

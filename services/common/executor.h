// A fixed pool of worker threads with a bounded queue. gRPC's callback handlers hand blocking
// work (encryption, synced writes) to it and return at once, so gRPC's own threads never wait
// on the disk. When the queue is full, TrySubmit refuses instead of queueing without bound,
// and the handler answers RESOURCE_EXHAUSTED.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace utpost::service {

class BoundedExecutor {
 public:
  BoundedExecutor(std::string name, int threads, int max_queued);
  // Runs every queued task, then joins the workers.
  ~BoundedExecutor();
  BoundedExecutor(const BoundedExecutor&) = delete;
  BoundedExecutor& operator=(const BoundedExecutor&) = delete;

  // Queues `task`; false (and `task` is not run) if the queue is full or shut down.
  [[nodiscard]] bool TrySubmit(std::function<void()> task);

  // Stops accepting tasks, runs those already queued, joins the workers. Idempotent.
  void Shutdown();

  size_t queued() const;

 private:
  void Work();

  const size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace utpost::service

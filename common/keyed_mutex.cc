#include "common/keyed_mutex.h"

namespace utpost::common {

KeyedMutex::Lock::Lock(KeyedMutex& mutex, std::string key) : mutex_(mutex), key_(std::move(key)) {
  std::unique_lock lock(mutex_.mu_);
  mutex_.released_.wait(lock, [&] { return !mutex_.held_.contains(key_); });
  mutex_.held_.insert(key_);
}

KeyedMutex::Lock::Lock(KeyedMutex& mutex, std::string key, std::try_to_lock_t)
    : mutex_(mutex), key_(std::move(key)) {
  std::lock_guard lock(mutex_.mu_);
  owns_ = mutex_.held_.insert(key_).second;
}

KeyedMutex::Lock::~Lock() {
  if (!owns_) return;
  {
    std::lock_guard lock(mutex_.mu_);
    mutex_.held_.erase(key_);
  }
  // Waiters for other keys wake and wait again; same-key contention is rare (retries).
  mutex_.released_.notify_all();
}

size_t KeyedMutex::held() const {
  std::lock_guard lock(mu_);
  return held_.size();
}

}  // namespace utpost::common

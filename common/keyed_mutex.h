// Mutual exclusion per key. Holders of different keys never wait for each other, unlike lock
// striping, where two unrelated keys may share a stripe and then wait out each other's disk
// syncs. Thread-safe. A thread that holds a lock must not wait for another of the same
// KeyedMutex unless every thread that does so takes its keys in one order; a try-lock never
// waits, so any number may be held through try-locks.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"

namespace utpost::common {

class KeyedMutex {
 public:
  // Holds `key` from construction to destruction.
  class Lock {
   public:
    Lock(KeyedMutex& mutex, std::string key);
    // Does not wait: holds `key` only if no one else does (see owns_lock()).
    Lock(KeyedMutex& mutex, std::string key, std::try_to_lock_t);
    ~Lock();
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

    bool owns_lock() const { return owns_; }

   private:
    KeyedMutex& mutex_;
    std::string key_;
    bool owns_ = true;
  };

  // Keys held right now (for tests and metrics).
  size_t held() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable released_;
  absl::flat_hash_set<std::string> held_;
};

}  // namespace utpost::common

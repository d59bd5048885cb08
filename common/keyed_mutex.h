// Mutual exclusion per key. Holders of different keys never wait for each other, unlike lock
// striping, where two unrelated keys may share a stripe and then wait out each other's disk
// syncs. Thread-safe; a thread must not hold two locks of one KeyedMutex at once.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_set.h"

namespace utpost::common {

class KeyedMutex {
 public:
  // Holds `key` from construction to destruction.
  class Lock {
   public:
    Lock(KeyedMutex& mutex, std::string key);
    ~Lock();
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

   private:
    KeyedMutex& mutex_;
    std::string key_;
  };

  // Keys held right now (for tests and metrics).
  size_t held() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable released_;
  absl::flat_hash_set<std::string> held_;
};

}  // namespace utpost::common

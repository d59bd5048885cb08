// Configuration of the registry component (config section `registry:`).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace utpost::registry {

struct RegistryConfig {
  // RocksDB directory of the registry (default <data_dir>/registry).
  std::filesystem::path data_dir;
  // Directory of the file key store (the same key-encryption keys as the ledger's).
  std::filesystem::path key_dir;
  // Organisations (org keys, "NO958935420" / "DK12345678") that may call RegistryService.
  // Empty: nobody, except in development (dev_pki), where the example municipalities are.
  std::vector<std::string> administrators;
  // Fill an empty registry with the development entries (services/registry/dev_seed.h).
  bool seed_dev = false;
  // Where the seeded providers' certificates and private keys are made (dev only).
  std::filesystem::path dev_providers_dir;
  // Threads that run registry work (decryption, synced writes).
  int worker_threads = 8;
  // Requests waiting for a worker before new ones are refused with RESOURCE_EXHAUSTED.
  int max_queued_requests = 256;
  // Threads that answer components' lookups (router, courier, print): a pool of their own,
  // so that a large import cannot delay routing, nor routing an administrator.
  int lookup_worker_threads = 4;
  // Lookups waiting for a lookup worker before new ones are refused with RESOURCE_EXHAUSTED.
  int max_queued_lookups = 256;
  // Requests (queued or running, and open imports) one caller may have at once.
  int max_inflight_per_organisation = 64;
  // Request bytes held by requests in progress before new ones are refused.
  uint64_t max_inflight_bytes = 256ull << 20;
};

}  // namespace utpost::registry

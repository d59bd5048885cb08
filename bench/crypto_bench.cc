// Microbenchmarks of the per-letter crypto work: sealing a document (fresh data key, AES-256-GCM,
// key wrap) and opening it, at the sizes of the SendLetter benchmark; and the checksums of a
// segment record. Run by `make bench`.
#include <benchmark/benchmark.h>
#include <zlib.h>

#include <memory>
#include <random>

#include "crypto/digest.h"
#include "crypto/envelope.h"
#include "crypto/file_key_store.h"
#include "storage/crc32c.h"
#include "tests/testutil/files.h"

namespace utpost::crypto {
namespace {

// One key store for the whole run, in a directory removed at exit.
class Fixture {
 public:
  Fixture() : dir_("crypto-bench") {
    if (!FileKeyStore::EnsureKey(dir_.path() / "keys").ok()) std::abort();
    keys_ = std::move(*FileKeyStore::Open(dir_.path() / "keys"));
    envelope_ = std::make_unique<Envelope>(*keys_);
  }
  const Envelope& envelope() const { return *envelope_; }

 private:
  testutil::TempDir dir_;
  std::unique_ptr<FileKeyStore> keys_;
  std::unique_ptr<Envelope> envelope_;
};

Fixture& Shared() {
  static Fixture* fixture = new Fixture();  // benchmark-binary scope only
  return *fixture;
}

std::string Payload(size_t size) {
  std::string s(size, '\0');
  std::mt19937_64 rng(size);
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

void BM_Seal(benchmark::State& state) {
  const std::string plaintext = Payload(state.range(0));
  const std::string aad = DocumentAad("01JBENCHMARK00000000000000", 0);
  for (auto _ : state) {
    auto sealed = Shared().envelope().Seal(plaintext, aad);
    if (!sealed.ok()) state.SkipWithError("seal failed");
    benchmark::DoNotOptimize(sealed);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Seal)->Arg(64)->Arg(64 << 10)->Arg(1 << 20)->ThreadRange(1, 4)->UseRealTime();

void BM_Open(benchmark::State& state) {
  const std::string aad = DocumentAad("01JBENCHMARK00000000000000", 0);
  auto sealed = Shared().envelope().Seal(Payload(state.range(0)), aad);
  for (auto _ : state) {
    auto opened = Shared().envelope().Open(*sealed, aad);
    if (!opened.ok()) state.SkipWithError("open failed");
    benchmark::DoNotOptimize(opened);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Open)->Arg(64)->Arg(64 << 10)->UseRealTime();

// The idempotency fingerprint hashes the whole request.
void BM_Sha256(benchmark::State& state) {
  const std::string data = Payload(state.range(0));
  for (auto _ : state) {
    Sha256 sha;
    sha.Update(data);
    benchmark::DoNotOptimize(sha.Finish());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(64 << 10)->Arg(1 << 20);

// A segment record's payload checksum: CRC-32C (the CPU's instruction where it has one), and
// zlib's CRC-32, which records written by earlier releases carry.
void BM_SegmentCrc32c(benchmark::State& state) {
  const std::string data = Payload(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(storage::Crc32c(data.data(), data.size()));
  state.SetBytesProcessed(state.iterations() * state.range(0));
  state.SetLabel(storage::Crc32cInHardware() ? "sse4.2" : "tables");
}
BENCHMARK(BM_SegmentCrc32c)->Arg(64 << 10)->Arg(1 << 20);

void BM_SegmentCrc32cTables(benchmark::State& state) {
  const std::string data = Payload(state.range(0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(storage::Crc32cPortable(data.data(), data.size()));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SegmentCrc32cTables)->Arg(64 << 10);

void BM_ZlibCrc32(benchmark::State& state) {
  const std::string data = Payload(state.range(0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        ::crc32_z(0, reinterpret_cast<const Bytef*>(data.data()), data.size()));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ZlibCrc32)->Arg(64 << 10)->Arg(1 << 20);

}  // namespace
}  // namespace utpost::crypto

BENCHMARK_MAIN();

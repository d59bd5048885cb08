// The ledger's RocksDB options, on a real RocksDB in a temp dir.
#include "storage/db.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "storage/keys.h"
#include "storage/ledger_store.h"
#include "tests/testutil/files.h"

namespace utpost::storage {
namespace {

constexpr char kSender[] = "NO958935420";

// Every SendLetter with an idempotency key reads a key that does not exist yet. Once the
// records are in table files, the files' Bloom filters must answer that, not a search of
// every file's index and data blocks.
TEST(DbTest, AReadOfAMissingKeyIsAnsweredByTheTablesBloomFilters) {
  testutil::TempDir dir;
  auto db = Db::Open({.path = dir.path() / "ledger"});
  ASSERT_TRUE(db.ok()) << db.status();
  LedgerStore store(**db);
  IdempotencyRecord record;
  record.set_letter_id("01KAWBDW8G0000000000000000");
  rocksdb::WriteBatch batch;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(batch
                    .Put((*db)->cf(Cf::kIdempotency),
                         keys::Idempotency(kSender, absl::StrCat("present-", i)),
                         record.SerializeAsString())
                    .ok());
  }
  ASSERT_TRUE((*db)->Write(batch).ok());
  ASSERT_TRUE((*db)->FlushAll().ok());

  const uint64_t useful_before = (*db)->Ticker(rocksdb::BLOOM_FILTER_USEFUL);
  for (int i = 0; i < 100; ++i) {
    auto missing = store.GetIdempotency(kSender, absl::StrCat("absent-", i));
    ASSERT_TRUE(missing.ok()) << missing.status();
    EXPECT_FALSE(missing->has_value());
  }
  // About 1 % false positives at 10 bits a key.
  EXPECT_GE((*db)->Ticker(rocksdb::BLOOM_FILTER_USEFUL) - useful_before, 90u);

  for (const int i : {0, 7, 999}) {
    auto present = store.GetIdempotency(kSender, absl::StrCat("present-", i));
    ASSERT_TRUE(present.ok()) << present.status();
    ASSERT_TRUE(present->has_value()) << i;
    EXPECT_EQ((*present)->letter_id(), record.letter_id());
  }
}

}  // namespace
}  // namespace utpost::storage

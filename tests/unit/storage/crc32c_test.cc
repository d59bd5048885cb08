// CRC-32C against published check values, and the CPU's instruction against the tables.
#include "storage/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace utpost::storage {
namespace {

TEST(Crc32cTest, PublishedCheckValues) {
  // The catalogue's check value ("123456789") and RFC 3720's examples (B.4).
  EXPECT_EQ(Crc32c("123456789", 9), 0xe3069283u);
  EXPECT_EQ(Crc32cPortable("123456789", 9), 0xe3069283u);
  const std::string zeros(32, '\0');
  const std::string ones(32, '\xff');
  std::string ascending(32, '\0');
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<char>(i);
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8a9136aau);
  EXPECT_EQ(Crc32c(ones.data(), ones.size()), 0x62a8ab43u);
  EXPECT_EQ(Crc32c(ascending.data(), ascending.size()), 0x46dd794eu);
  EXPECT_EQ(Crc32c("", 0), 0u);
}

TEST(Crc32cTest, InstructionAndTablesAgreeAtEveryLengthAndAlignment) {
  std::mt19937 random(7);
  std::string bytes(70000, '\0');
  for (char& b : bytes) b = static_cast<char>(random());
  for (size_t start = 0; start < 9; ++start) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{63},
                        size_t{4096}, size_t{65536}, bytes.size() - start}) {
      EXPECT_EQ(Crc32c(bytes.data() + start, size), Crc32cPortable(bytes.data() + start, size))
          << start << " + " << size;
    }
  }
  // Continuing a CRC over a split gives the CRC of the whole.
  const uint32_t whole = Crc32c(bytes.data(), bytes.size());
  for (size_t split : {size_t{1}, size_t{13}, size_t{4096}, size_t{69999}}) {
    EXPECT_EQ(Crc32c(bytes.data() + split, bytes.size() - split, Crc32c(bytes.data(), split)),
              whole);
    EXPECT_EQ(Crc32cPortable(bytes.data() + split, bytes.size() - split,
                             Crc32cPortable(bytes.data(), split)),
              whole);
  }
  RecordProperty("hardware", Crc32cInHardware() ? "yes" : "no");
}

}  // namespace
}  // namespace utpost::storage

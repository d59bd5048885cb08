#include "common/letter_id.h"

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace utpost::common {
namespace {

// 2026-01-15T10:20:30.456Z
const absl::Time kT0 = absl::FromUnixMillis(1768472430456);

LetterIdBytes Decoded(const std::string& text) {
  absl::StatusOr<LetterIdBytes> bytes = DecodeLetterId(text);
  EXPECT_TRUE(bytes.ok()) << text << ": " << bytes.status();
  return bytes.value_or(LetterIdBytes{});
}

TEST(LetterIdTest, EncodesExtremes) {
  LetterIdBytes zero{};
  EXPECT_EQ(EncodeLetterId(zero), "00000000000000000000000000");
  LetterIdBytes ones;
  ones.fill(0xff);
  EXPECT_EQ(EncodeLetterId(ones), "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
  LetterIdBytes one{};
  one[15] = 1;
  EXPECT_EQ(EncodeLetterId(one), "00000000000000000000000001");
  LetterIdBytes top{};
  top[0] = 0x80;
  EXPECT_EQ(EncodeLetterId(top), "40000000000000000000000000");
}

TEST(LetterIdTest, DecodesUlidSpecExample) {
  // From the ULID specification's README; its first ten characters are the time.
  absl::StatusOr<LetterIdBytes> bytes = DecodeLetterId("01ARZ3NDEKTSV4RRFFQ69G5FAV");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const LetterIdBytes expected = {0x01, 0x56, 0x3e, 0x3a, 0xb5, 0xd3, 0xd6, 0x76,
                                  0x4c, 0x61, 0xef, 0xb9, 0x93, 0x02, 0xbd, 0x5b};
  EXPECT_EQ(*bytes, expected);
  EXPECT_EQ(LetterIdTime(*bytes), absl::FromUnixMillis(1469922850259));
}

TEST(LetterIdTest, RoundTripsRandomBytes) {
  absl::BitGen gen;
  for (int n = 0; n < 1000; ++n) {
    LetterIdBytes bytes;
    for (uint8_t& b : bytes) b = absl::Uniform<uint8_t>(absl::IntervalClosedClosed, gen, 0, 255);
    const std::string text = EncodeLetterId(bytes);
    ASSERT_EQ(text.size(), kLetterIdLength);
    absl::StatusOr<LetterIdBytes> decoded = DecodeLetterId(text);
    ASSERT_TRUE(decoded.ok()) << text << ": " << decoded.status();
    EXPECT_EQ(*decoded, bytes) << text;
  }
}

TEST(LetterIdTest, DecodingIsCaseInsensitiveAndMapsLookalikes) {
  const std::string upper = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
  EXPECT_EQ(Decoded(absl::AsciiStrToLower(upper)), Decoded(upper));
  // Crockford: I and L read as 1, O as 0, in either case.
  EXPECT_EQ(Decoded("0IARZ3NDEKTSV4RRFFQ69G5FAV"), Decoded(upper));
  EXPECT_EQ(Decoded("OlARZ3NDEKTSV4RRFFQ69G5FAV"), Decoded(upper));
  EXPECT_EQ(Decoded("o1ARZ3NDEKTSV4RRFFQ69G5FAV"), Decoded(upper));
  // Encoding always gives the canonical upper-case form.
  EXPECT_EQ(EncodeLetterId(Decoded("01arz3ndektsv4rrffq69g5fav")), upper);
}

TEST(LetterIdTest, RejectsBadText) {
  for (std::string_view text : {
           "",
           "01ARZ3NDEKTSV4RRFFQ69G5FA",    // 25 characters
           "01ARZ3NDEKTSV4RRFFQ69G5FAVV",  // 27 characters
           "01ARZ3NDEKTSV4RRFFQ69G5FAU",   // U is not a Crockford digit
           "01ARZ3NDEK-SV4RRFFQ69G5FAV",   // no hyphens
           "01ARZ3NDEK SV4RRFFQ69G5FAV",   // no spaces
           "01ARZ3NDEKTSV4RRFFQ69G5FA!",
           "01ARZ3NDEKTSV4RRFFQ69G5F\xc3\xa5",  // 'å' is two bytes: 26 bytes, not Crockford
           "80000000000000000000000000",        // over 128 bits
           "ZZZZZZZZZZZZZZZZZZZZZZZZZZ",        // over 128 bits
       }) {
    absl::StatusOr<LetterIdBytes> bytes = DecodeLetterId(text);
    EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(LetterIdTest, GeneratedIdsCarryTheirTime) {
  LetterIdGenerator gen;
  const std::string id = gen.Next(kT0);
  EXPECT_EQ(id.size(), kLetterIdLength);
  EXPECT_EQ(LetterIdTime(Decoded(id)), kT0);
  // Sub-millisecond parts are dropped, not rounded.
  const std::string later = gen.Next(kT0 + absl::Milliseconds(5) + absl::Microseconds(999));
  EXPECT_EQ(LetterIdTime(Decoded(later)), kT0 + absl::Milliseconds(5));
}

TEST(LetterIdTest, GeneratedIdsAreCanonicalText) {
  LetterIdGenerator gen;
  const std::string id = gen.Next(kT0);
  EXPECT_EQ(EncodeLetterId(Decoded(id)), id);
}

TEST(LetterIdTest, OrderedByTimeAsTextAndBytes) {
  // Separate generators, so only the time can order them.
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i) {
    LetterIdGenerator gen;
    ids.push_back(gen.Next(kT0 + absl::Milliseconds(i)));
  }
  for (size_t i = 1; i < ids.size(); ++i) {
    EXPECT_LT(ids[i - 1], ids[i]);
    EXPECT_LT(Decoded(ids[i - 1]), Decoded(ids[i]));
  }
  // Across a byte boundary of the time field and far apart.
  LetterIdGenerator gen;
  EXPECT_LT(gen.Next(absl::FromUnixMillis(0xff)), gen.Next(absl::FromUnixMillis(0x100)));
  EXPECT_LT(gen.Next(absl::FromUnixMillis(1)), gen.Next(kT0));
}

TEST(LetterIdTest, MonotonicWithinOneMillisecond) {
  LetterIdGenerator gen;
  std::vector<std::string> ids;
  for (int i = 0; i < 10000; ++i) {
    // Different instants inside the same millisecond.
    ids.push_back(gen.Next(kT0 + absl::Nanoseconds(i * 97)));
  }
  for (size_t i = 1; i < ids.size(); ++i) {
    ASSERT_LT(ids[i - 1], ids[i]) << i;
    ASSERT_LT(Decoded(ids[i - 1]), Decoded(ids[i])) << i;
    ASSERT_EQ(LetterIdTime(Decoded(ids[i])), kT0);
  }
}

TEST(LetterIdTest, RandomPartDiffersBetweenMilliseconds) {
  LetterIdGenerator gen;
  std::set<std::string> random_parts;
  for (int i = 0; i < 100; ++i) {
    random_parts.insert(gen.Next(kT0 + absl::Milliseconds(i)).substr(10));
  }
  // 80 random bits: a repeat among 100 draws means the randomness is broken.
  EXPECT_EQ(random_parts.size(), 100u);
}

TEST(LetterIdTest, TwoGeneratorsDoNotCollide) {
  LetterIdGenerator a;
  LetterIdGenerator b;
  EXPECT_NE(a.Next(kT0), b.Next(kT0));
}

TEST(LetterIdTest, ThreadSafeAndUnique) {
  LetterIdGenerator gen;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::vector<std::string>> per_thread(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&gen, &out = per_thread[t]] {
      for (int i = 0; i < kPerThread; ++i) out.push_back(gen.Next(kT0));
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<std::string> all;
  for (const auto& ids : per_thread) {
    // Each thread sees the generator's ids in increasing order.
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
    all.insert(ids.begin(), ids.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(LetterIdTest, TimesOutsideTheFieldAreClamped) {
  LetterIdGenerator gen;
  EXPECT_EQ(LetterIdTime(Decoded(gen.Next(absl::FromUnixMillis(-5)))), absl::UnixEpoch());
  EXPECT_EQ(LetterIdTime(Decoded(gen.Next(absl::InfiniteFuture()))),
            absl::FromUnixMillis((int64_t{1} << 48) - 1));
}

TEST(LetterIdTest, MinLetterIdAt) {
  const LetterIdBytes min = MinLetterIdAt(kT0);
  EXPECT_EQ(LetterIdTime(min), kT0);
  EXPECT_TRUE(std::all_of(min.begin() + 6, min.end(), [](uint8_t b) { return b == 0; }));

  LetterIdGenerator gen;
  const LetterIdBytes at = Decoded(gen.Next(kT0));
  const LetterIdBytes before = Decoded(gen.Next(kT0 - absl::Milliseconds(1)));
  const LetterIdBytes after = Decoded(gen.Next(kT0 + absl::Milliseconds(1)));
  EXPECT_LE(min, at);
  EXPECT_LT(before, min);
  EXPECT_LT(min, after);
  EXPECT_LT(MinLetterIdAt(kT0), MinLetterIdAt(kT0 + absl::Milliseconds(1)));
}

TEST(LetterIdTest, MinLetterIdAtRoundsUpToWholeMilliseconds) {
  // No id has a time between two milliseconds, so the first id at or after t is in the
  // next millisecond.
  const absl::Time t = kT0 + absl::Microseconds(1);
  EXPECT_EQ(LetterIdTime(MinLetterIdAt(t)), kT0 + absl::Milliseconds(1));
  LetterIdGenerator gen;
  EXPECT_LT(Decoded(gen.Next(t)), MinLetterIdAt(t));  // its time, kT0, is before t
  EXPECT_EQ(MinLetterIdAt(absl::FromUnixMillis(-1)), LetterIdBytes{});
}

}  // namespace
}  // namespace utpost::common

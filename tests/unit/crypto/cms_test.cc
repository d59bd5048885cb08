#include "crypto/cms.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "crypto/dev_provider_cert.h"
#include "crypto/secret.h"
#include "tests/testutil/files.h"
#include "tests/testutil/memory.h"

namespace utpost::crypto {
namespace {

namespace fs = std::filesystem;
using testutil::ReadAll;
using testutil::TempDir;

void WriteFile(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// A document that is not all one byte, so that a misplaced chunk shows.
std::string Document(size_t size) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 131 + i / 977) & 0xff);
  return out;
}

struct Recipient {
  std::string cert_pem;
  fs::path key_path;
};

class CmsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "ec") {
      // The dev provider certificates (EC P-256): what the sim and dev courier use.
      absl::StatusOr<std::string> cert =
          EnsureDevProviderCertificate(dir_.path() / "providers", "dev", "Dev");
      ASSERT_TRUE(cert.ok()) << cert.status();
      recipient_ = {*cert, DevProviderDir(dir_.path() / "providers", "dev") / "key.pem"};
    } else {
      recipient_ = MakeRsaRecipient("r");
    }
  }

  Recipient MakeRsaRecipient(const std::string& name) {
    const fs::path key = dir_.path() / (name + ".key"), cert = dir_.path() / (name + ".pem");
    const std::string command = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " +
                                key.string() + " -out " + cert.string() +
                                " -subj /CN=provider -days 1 2>/dev/null";
    if (std::system(command.c_str()) != 0) ADD_FAILURE() << "openssl failed: " << command;
    return {ReadAll(cert), key};
  }

  Recipient OtherRecipient() {
    if (GetParam() == "ec") {
      absl::StatusOr<std::string> cert =
          EnsureDevProviderCertificate(dir_.path() / "providers", "other", "Other");
      EXPECT_TRUE(cert.ok()) << cert.status();
      return {cert.value_or(""), DevProviderDir(dir_.path() / "providers", "other") / "key.pem"};
    }
    return MakeRsaRecipient("other");
  }

  // Opens `der` with the openssl command line and the key; "" with a failure if it does not.
  std::string OpensslDecrypt(std::string_view der, const fs::path& key) {
    const fs::path in = dir_.path() / "in.der", out = dir_.path() / "out.bin";
    WriteFile(in, der);
    const std::string command = "openssl cms -decrypt -inform DER -inkey " + key.string() +
                                " -in " + in.string() + " -out " + out.string() + " 2>/dev/null";
    if (std::system(command.c_str()) != 0) {
      ADD_FAILURE() << "openssl cms -decrypt failed";
      return "";
    }
    return ReadAll(out);
  }

  std::string Key() { return ReadAll(recipient_.key_path); }

  TempDir dir_{"cms"};
  Recipient recipient_;
};

TEST_P(CmsTest, OneShotEnvelopeOpensWithOpensslCommandLine) {
  const std::string document = Document(100'000) + "PLAINTEXT-MARKER";
  absl::StatusOr<std::string> der = CmsEncrypt(recipient_.cert_pem, document);
  ASSERT_TRUE(der.ok()) << der.status();
  EXPECT_EQ(der->find("PLAINTEXT-MARKER"), std::string::npos);
  EXPECT_EQ(OpensslDecrypt(*der, recipient_.key_path), document);
  absl::StatusOr<std::string> ours = CmsDecrypt(Key(), *der);
  ASSERT_TRUE(ours.ok()) << ours.status();
  EXPECT_EQ(*ours, document);
}

TEST_P(CmsTest, StreamedEnvelopeOpensWithOpensslCommandLine) {
  const std::string document = Document(5 << 20);
  std::string der;
  size_t sink_calls = 0;
  absl::StatusOr<std::unique_ptr<CmsEnvelopeWriter>> writer =
      CmsEnvelopeWriter::Create(recipient_.cert_pem, [&](std::string_view bytes) {
        der.append(bytes);
        ++sink_calls;
        return absl::OkStatus();
      });
  ASSERT_TRUE(writer.ok()) << writer.status();
  size_t largest_before_finish = 0;
  for (size_t at = 0; at < document.size(); at += 64 << 10) {
    ASSERT_TRUE((*writer)->Write(std::string_view(document).substr(at, 64 << 10)).ok());
    largest_before_finish = der.size();
  }
  // The envelope leaves the writer while it is written, not at the end.
  EXPECT_GT(largest_before_finish, document.size() / 2);
  ASSERT_TRUE((*writer)->Finish().ok());
  EXPECT_GT(sink_calls, 10u);
  EXPECT_EQ(OpensslDecrypt(der, recipient_.key_path), document);
  absl::StatusOr<std::string> ours = CmsDecrypt(Key(), der);
  ASSERT_TRUE(ours.ok()) << ours.status();
  EXPECT_EQ(*ours, document);
  EXPECT_EQ((*writer)->Write("more").code(), absl::StatusCode::kFailedPrecondition);
}

// Recipient certificates are parsed once and kept (RecipientCache): envelopes to several
// recipients, interleaved and repeated, each open with its own key only, and a certificate
// refused once is refused again.
TEST_P(CmsTest, RepeatedRecipientsEachGetTheirOwnEnvelope) {
  const Recipient other = OtherRecipient();
  for (int round = 0; round < 3; ++round) {
    for (const Recipient* r : std::vector<const Recipient*>{&recipient_, &other}) {
      const std::string document = Document(1000 + round);
      absl::StatusOr<std::string> der = CmsEncrypt(r->cert_pem, document);
      ASSERT_TRUE(der.ok()) << der.status();
      EXPECT_EQ(OpensslDecrypt(*der, r->key_path), document);
      const Recipient* wrong = r == &recipient_ ? &other : &recipient_;
      EXPECT_FALSE(CmsDecrypt(ReadAll(wrong->key_path), *der).ok());
    }
  }
  const std::string two = recipient_.cert_pem + other.cert_pem;
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(CmsEncrypt(two, "x").status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_P(CmsTest, EmptyDocumentRoundTrips) {
  absl::StatusOr<std::string> der = CmsEncrypt(recipient_.cert_pem, "");
  ASSERT_TRUE(der.ok()) << der.status();
  absl::StatusOr<std::string> ours = CmsDecrypt(Key(), *der);
  ASSERT_TRUE(ours.ok()) << ours.status();
  EXPECT_EQ(*ours, "");
}

TEST_P(CmsTest, WrongKeyFails) {
  absl::StatusOr<std::string> der = CmsEncrypt(recipient_.cert_pem, "secret content");
  ASSERT_TRUE(der.ok()) << der.status();
  const Recipient other = OtherRecipient();
  absl::StatusOr<std::string> opened = CmsDecrypt(ReadAll(other.key_path), *der);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument) << opened.status();
}

// Parsed keys are kept between calls: each envelope still opens with its own key only, in
// any order, and a key that is not one still fails after good ones were used.
TEST_P(CmsTest, KeysKeptBetweenCallsAreNeverConfused) {
  const Recipient other = OtherRecipient();
  const std::string other_key = ReadAll(other.key_path);
  absl::StatusOr<std::string> mine = CmsEncrypt(recipient_.cert_pem, "for the first");
  absl::StatusOr<std::string> theirs = CmsEncrypt(other.cert_pem, "for the second");
  ASSERT_TRUE(mine.ok()) << mine.status();
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(CmsDecrypt(Key(), *mine).value_or("failed"), "for the first");
    EXPECT_EQ(CmsDecrypt(other_key, *theirs).value_or("failed"), "for the second");
    EXPECT_EQ(CmsDecrypt(Key(), *theirs).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(CmsDecrypt(other_key, *mine).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(CmsDecrypt("not a key", *mine).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_P(CmsTest, ChangedOrCutContentFails) {
  absl::StatusOr<std::string> der = CmsEncrypt(recipient_.cert_pem, Document(10'000));
  ASSERT_TRUE(der.ok()) << der.status();
  std::string changed = *der;
  changed[changed.size() - 5000] ^= 0x01;  // inside the encrypted content
  EXPECT_EQ(CmsDecrypt(Key(), changed).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CmsDecrypt(Key(), der->substr(0, der->size() - 40)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CmsDecrypt(Key(), *der + "x").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(CmsTest, GarbageFailsCleanly) {
  for (const std::string& garbage :
       {std::string(), std::string("not der"), std::string("\x30\x80\x06\x09", 4),
        std::string(4096, '\xff'), Document(70'000)}) {
    absl::StatusOr<std::string> opened = CmsDecrypt(Key(), garbage);
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument) << opened.status();
  }
  EXPECT_EQ(CmsDecrypt("not a key", "x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CmsEncrypt("not a certificate", "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CmsEnvelopeWriter::Create("not a certificate",
                                      [](std::string_view) { return absl::OkStatus(); })
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(CmsTest, SinkErrorStopsTheWriter) {
  size_t calls = 0;
  absl::StatusOr<std::unique_ptr<CmsEnvelopeWriter>> writer =
      CmsEnvelopeWriter::Create(recipient_.cert_pem, [&](std::string_view) {
        return ++calls > 3 ? absl::UnavailableError("disk gone") : absl::OkStatus();
      });
  ASSERT_TRUE(writer.ok()) << writer.status();
  absl::Status status;
  for (int i = 0; i < 100 && status.ok(); ++i) status = (*writer)->Write(Document(64 << 10));
  if (status.ok()) status = (*writer)->Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ((*writer)->Finish().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_P(CmsTest, StreamingMemoryDoesNotGrowWithTheDocument) {
  if (!testutil::kRssIsMeaningful) GTEST_SKIP() << "resident size under AddressSanitizer";
  const std::string chunk = Document(64 << 10);
  size_t total = 0;
  const int64_t growth = testutil::PeakRssGrowth([&] {
    absl::StatusOr<std::unique_ptr<CmsEnvelopeWriter>> writer =
        CmsEnvelopeWriter::Create(recipient_.cert_pem, [&](std::string_view bytes) {
          total += bytes.size();
          return absl::OkStatus();
        });
    ASSERT_TRUE(writer.ok()) << writer.status();
    for (int i = 0; i < 512; ++i) ASSERT_TRUE((*writer)->Write(chunk).ok());  // 32 MiB
    ASSERT_TRUE((*writer)->Finish().ok());
  });
  EXPECT_GT(total, 32u << 20);
  EXPECT_LT(growth, 8 << 20) << "peak RSS grew by " << growth << " bytes";
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, CmsTest, ::testing::Values("ec", "rsa"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace utpost::crypto

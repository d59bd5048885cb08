#include "crypto/digest.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <string>

#include "absl/strings/escaping.h"

namespace utpost::crypto {
namespace {

std::string Hex(std::string_view bytes) {
  return absl::BytesToHexString(absl::string_view(bytes.data(), bytes.size()));
}

SecretBytes KeyOf(char fill) { return SecretBytes(std::string(Gmac::kKeyBytes, fill)); }

// GCM's tag for `aad` and no plaintext, through OpenSSL's cipher interface: GMAC by its
// definition (SP 800-38D, 6.4), computed by another path than Gmac's EVP_MAC.
std::string GcmTagOfAadOnly(const SecretBytes& key, std::string_view nonce, std::string_view aad) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  std::string tag(16, '\0');
  EXPECT_EQ(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key.data(),
                               reinterpret_cast<const unsigned char*>(nonce.data())),
            1);
  EXPECT_EQ(
      EVP_EncryptUpdate(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())),
      1);
  unsigned char none[16];
  EXPECT_EQ(EVP_EncryptFinal_ex(ctx, none, &len), 1);
  EXPECT_EQ(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag.data()), 1);
  EVP_CIPHER_CTX_free(ctx);
  return tag;
}

TEST(Sha256Test, PublishedDigests) {
  Sha256 empty;
  EXPECT_EQ(Hex(empty.Finish()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 abc;  // FIPS 180-2, appendix B.1, fed in two pieces
  abc.Update("a");
  abc.Update("bc");
  EXPECT_EQ(Hex(abc.Finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(HmacSha256Test, Rfc4231TestCase2) {
  EXPECT_EQ(Hex(HmacSha256(SecretBytes(std::string_view("Jefe")), "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// The GCM specification's test case 13 (AES-256, zero key and IV, nothing to authenticate).
TEST(GmacTest, PublishedTagOfNothing) {
  Gmac gmac(KeyOf('\0'), std::string(Gmac::kNonceBytes, '\0'));
  EXPECT_EQ(Hex(gmac.Finish()), "530f8afbc74536b9a963b4f1c4cb738b");
}

TEST(GmacTest, IsGcmAuthenticatingOnlyAtEverySizeAndSplit) {
  const SecretBytes key = KeyOf('k');
  const std::string nonce = "twelve bytes";
  std::string data;
  for (size_t i = 0; i < 200'000; ++i) data.push_back(static_cast<char>((i * 131) ^ (i >> 7)));
  for (const size_t size : {size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{1000},
                            size_t{65'536}, size_t{200'000}}) {
    const std::string_view message(data.data(), size);
    const std::string expected = GcmTagOfAadOnly(key, nonce, message);
    Gmac whole(key, nonce);
    whole.Update(message);
    EXPECT_EQ(Hex(whole.Finish()), Hex(expected)) << size << " bytes";
    // Pieces that do not fall on GHASH's 16-byte blocks.
    Gmac pieces(key, nonce);
    for (size_t at = 0; at < size; at += 7'777) pieces.Update(message.substr(at, 7'777));
    EXPECT_EQ(Hex(pieces.Finish()), Hex(expected)) << size << " bytes in pieces";
  }
}

TEST(GmacTest, TheTagDependsOnKeyNonceAndEveryByte) {
  const std::string nonce = "twelve bytes";
  auto tag = [](const SecretBytes& key, std::string_view n, std::string_view data) {
    Gmac gmac(key, n);
    gmac.Update(data);
    return gmac.Finish();
  };
  const std::string base = tag(KeyOf('a'), nonce, "vedtak om byggesak");
  EXPECT_EQ(base.size(), Gmac::kTagBytes);
  EXPECT_EQ(tag(KeyOf('a'), nonce, "vedtak om byggesak"), base);
  EXPECT_NE(tag(KeyOf('b'), nonce, "vedtak om byggesak"), base);
  EXPECT_NE(tag(KeyOf('a'), "other nonce!", "vedtak om byggesak"), base);
  EXPECT_NE(tag(KeyOf('a'), nonce, "vedtak om byggesal"), base);
  EXPECT_NE(tag(KeyOf('a'), nonce, std::string("vedtak om byggesak") + '\0'), base);
}

}  // namespace
}  // namespace utpost::crypto

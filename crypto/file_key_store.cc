#include "crypto/file_key_store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "crypto/envelope.h"
#include "crypto/internal.h"

namespace utpost::crypto {
namespace {

using internal::ErrnoError;
using internal::Fd;

namespace fs = std::filesystem;

constexpr size_t kKekSize = 32;
// Includes the terminating NUL, which separates it from the key id.
constexpr std::string_view kKekAadPrefix{"utpost.v1.kek", sizeof("utpost.v1.kek")};
constexpr absl::string_view kFilePrefix = "kek-";
constexpr absl::string_view kFileSuffix = ".key";
// Longer ids would not fit the uint64 arithmetic used to find the next one.
constexpr size_t kMaxIdDigits = 18;
// How often Rotate retries when another process took the id it picked.
constexpr int kRotateAttempts = 16;

struct KeyFile {
  uint64_t number = 0;
  std::string id;  // as in the file name, e.g. "0001"
  fs::path path;
};

std::string FormatId(uint64_t number) { return absl::StrFormat("%04d", number); }

// The kek files in `dir`, or an empty list if there are none (or no directory). A name that
// looks like a key file but has a malformed id is an error: skipping it could leave data
// that the key would open unreadable without anyone noticing.
[[nodiscard]] absl::StatusOr<std::vector<KeyFile>> ListKeyFiles(const fs::path& dir) {
  std::vector<KeyFile> files;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return files;
  if (ec) {
    return absl::ErrnoToStatus(ec.value(), absl::StrCat("listing key directory ", dir.string()));
  }
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    const std::string name = entry.path().filename().string();
    if (!absl::StartsWith(name, kFilePrefix) || !absl::EndsWith(name, kFileSuffix)) continue;
    absl::string_view id = name;
    id.remove_prefix(kFilePrefix.size());
    id.remove_suffix(kFileSuffix.size());
    uint64_t number = 0;
    bool all_digits = !id.empty();
    for (char c : id) all_digits = all_digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
    if (!all_digits || id.size() > kMaxIdDigits || !absl::SimpleAtoi(id, &number) ||
        FormatId(number) != id) {
      return absl::FailedPreconditionError(
          absl::StrCat("key file ", entry.path().string(),
                       " has a malformed id: expected kek-<id>.key with <id> four or more "
                       "decimal digits, zero-padded to four and without other leading zeros"));
    }
    files.push_back(KeyFile{number, std::string(id), entry.path()});
  }
  if (ec) {
    return absl::ErrnoToStatus(ec.value(), absl::StrCat("listing key directory ", dir.string()));
  }
  return files;
}

const KeyFile* Newest(const std::vector<KeyFile>& files) {
  const KeyFile* newest = nullptr;
  for (const KeyFile& f : files) {
    if (newest == nullptr || f.number > newest->number) newest = &f;
  }
  return newest;
}

[[nodiscard]] absl::StatusOr<SecretBytes> ReadKeyFile(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError(errno, "opening key file", path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, "inspecting key file", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("key file ", path.string(), " is not a regular file"));
  }
  // Group read is allowed only for the process's own group: a Kubernetes Secret mounted in
  // a pod with fsGroup arrives as 0440 with that group, which the pod's process alone is in.
  const mode_t group = st.st_mode & S_IRWXG;
  const bool group_ok = group == 0 || (group == S_IRGRP && st.st_gid == ::getegid());
  if ((st.st_mode & S_IRWXO) != 0 || !group_ok) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "key file %s is accessible by group or others (mode %04o, group %d); it must be 0600 "
        "or stricter (chmod 600), or readable by the process's own group only (0440 or 0640, "
        "as a Kubernetes Secret mounted with fsGroup is)",
        path.string(), st.st_mode & 07777, static_cast<int>(st.st_gid)));
  }
  if (st.st_size != static_cast<off_t>(kKekSize)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key file ", path.string(), " is ", st.st_size, " bytes; a key is ", kKekSize, " bytes"));
  }
  SecretBytes key(kKekSize);
  size_t done = 0;
  while (done < kKekSize) {
    const ssize_t n = ::read(fd.get(), key.data() + done, kKekSize - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "reading key file", path);
    if (n == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("key file ", path.string(), " shrank while being read"));
    }
    done += static_cast<size_t>(n);
  }
  return key;
}

[[nodiscard]] absl::Status WriteAll(int fd, const uint8_t* data, size_t size,
                                    const fs::path& path) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "writing", path);
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

[[nodiscard]] absl::Status FsyncDir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError(errno, "opening directory", dir);
  if (::fsync(fd.get()) != 0) return ErrnoError(errno, "syncing directory", dir);
  return absl::OkStatus();
}

// Moves `from` to `to` unless `to` exists (EEXIST then). A plain rename would replace an
// existing key, and every data key it wrapped would be lost with it.
int RenameNoReplace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
  // The file system does not support RENAME_NOREPLACE: link() also refuses to replace.
  if (::link(from.c_str(), to.c_str()) != 0) return errno;
  ::unlink(from.c_str());
  return 0;
}

// Writes a fresh random key as <dir>/kek-<id>.key: a temporary file made with mode 0600,
// fsynced, renamed into place without replacing anything, then the directory fsynced so that
// the name survives a crash. ALREADY_EXISTS if the key file exists.
[[nodiscard]] absl::Status WriteNewKey(const fs::path& dir, const std::string& id) {
  const fs::path final_path = dir / absl::StrCat(kFilePrefix, id, kFileSuffix);
  const SecretBytes key = SecretBytes::Random(kKekSize);
  const SecretBytes suffix_bytes = SecretBytes::Random(8);
  std::string suffix;
  for (size_t i = 0; i < suffix_bytes.size(); ++i) {
    absl::StrAppend(&suffix, absl::Hex(suffix_bytes.data()[i], absl::kZeroPad2));
  }
  // The leading dot and the .tmp ending keep it out of ListKeyFiles.
  const fs::path tmp_path = dir / absl::StrCat(".kek-", id, ".key.", suffix, ".tmp");

  Fd fd(::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) return ErrnoError(errno, "creating", tmp_path);
  absl::Status status = WriteAll(fd.get(), key.data(), key.size(), tmp_path);
  if (status.ok() && ::fsync(fd.get()) != 0) status = ErrnoError(errno, "syncing", tmp_path);
  if (const int raw = fd.Release(); ::close(raw) != 0 && status.ok()) {
    status = ErrnoError(errno, "closing", tmp_path);
  }
  if (status.ok()) {
    if (const int error = RenameNoReplace(tmp_path, final_path); error == EEXIST) {
      status = absl::AlreadyExistsError(absl::StrCat("key file ", final_path.string(), " exists"));
    } else if (error != 0) {
      status = ErrnoError(error, "renaming into", final_path);
    }
  }
  if (!status.ok()) {
    ::unlink(tmp_path.c_str());
    return status;
  }
  return FsyncDir(dir);
}

// Creates `dir` with mode 0700 (its parents with the default mode) if it does not exist.
[[nodiscard]] absl::Status MakeKeyDir(const fs::path& dir) {
  std::error_code ec;
  if (dir.has_parent_path()) {
    fs::create_directories(dir.parent_path(), ec);
    if (ec) {
      return absl::ErrnoToStatus(ec.value(), absl::StrCat("creating ", dir.parent_path().string()));
    }
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError(errno, "creating key directory", dir);
  }
  if (!fs::is_directory(dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("key directory ", dir.string(), " is not a directory"));
  }
  return absl::OkStatus();
}

std::string KekAad(std::string_view kek_id, std::string_view aad) {
  std::string out;
  out.reserve(kKekAadPrefix.size() + kek_id.size() + 1 + aad.size());
  out.append(kKekAadPrefix);
  out.append(kek_id);
  out.push_back('\0');
  out.append(aad);
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileKeyStore>> FileKeyStore::Open(const fs::path& dir) {
  UTPOST_ASSIGN_OR_RETURN(std::vector<KeyFile> files, ListKeyFiles(dir));
  const KeyFile* newest = Newest(files);
  if (newest == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("no key-encryption key (kek-<id>.key) in ", dir.string()));
  }
  auto store = std::unique_ptr<FileKeyStore>(new FileKeyStore());
  for (const KeyFile& f : files) {
    UTPOST_ASSIGN_OR_RETURN(SecretBytes key, ReadKeyFile(f.path));
    store->keys_.emplace(f.id, std::move(key));
  }
  store->current_ = newest->id;
  return store;
}

absl::StatusOr<std::string> FileKeyStore::EnsureKey(const fs::path& dir) {
  UTPOST_RETURN_IF_ERROR(MakeKeyDir(dir));
  UTPOST_ASSIGN_OR_RETURN(std::vector<KeyFile> files, ListKeyFiles(dir));
  if (const KeyFile* newest = Newest(files); newest != nullptr) return newest->id;
  const std::string first = FormatId(1);
  if (absl::Status status = WriteNewKey(dir, first); !status.ok()) {
    // Another process made the first key at the same time: theirs is as good as ours.
    if (!absl::IsAlreadyExists(status)) return status;
    UTPOST_ASSIGN_OR_RETURN(files, ListKeyFiles(dir));
    if (const KeyFile* newest = Newest(files); newest != nullptr) return newest->id;
    return status;
  }
  return first;
}

absl::StatusOr<std::string> FileKeyStore::CreateFirstKey(const fs::path& dir) {
  UTPOST_RETURN_IF_ERROR(MakeKeyDir(dir));
  UTPOST_ASSIGN_OR_RETURN(std::vector<KeyFile> files, ListKeyFiles(dir));
  const KeyFile* newest = Newest(files);
  if (newest == nullptr) {
    const std::string first = FormatId(1);
    absl::Status status = WriteNewKey(dir, first);
    if (status.ok()) return first;
    if (!absl::IsAlreadyExists(status)) return status;
    UTPOST_ASSIGN_OR_RETURN(files, ListKeyFiles(dir));
    newest = Newest(files);
    if (newest == nullptr) return status;
  }
  return absl::AlreadyExistsError(
      absl::StrCat("key directory ", dir.string(), " already holds key-encryption key ", newest->id,
                   "; a first key is made only once (to add a key, rotate)"));
}

absl::StatusOr<std::string> FileKeyStore::Rotate(const fs::path& dir) {
  for (int attempt = 0; attempt < kRotateAttempts; ++attempt) {
    UTPOST_ASSIGN_OR_RETURN(std::vector<KeyFile> files, ListKeyFiles(dir));
    const KeyFile* newest = Newest(files);
    if (newest == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat("no key-encryption key in ", dir.string(),
                                                        " to rotate from; create one first"));
    }
    if (FormatId(newest->number + 1).size() > kMaxIdDigits) {
      return absl::FailedPreconditionError(
          absl::StrCat("key id ", newest->id, " in ", dir.string(), " is the largest possible"));
    }
    const std::string next = FormatId(newest->number + 1);
    absl::Status status = WriteNewKey(dir, next);
    if (status.ok()) return next;
    // Another rotation took this id: look again and take the one after it.
    if (!absl::IsAlreadyExists(status)) return status;
  }
  return absl::AbortedError(
      absl::StrCat("key rotation in ", dir.string(), " kept racing with other rotations"));
}

absl::StatusOr<WrappedKey> FileKeyStore::Wrap(const SecretBytes& data_key,
                                              std::string_view aad) const {
  const auto it = keys_.find(current_);
  // Open() only makes a store whose current_ names one of its keys, and nothing changes them.
  if (it == keys_.end()) {
    std::fprintf(stderr, "utpost: FATAL: FileKeyStore lost its current key %s\n", current_.c_str());
    std::abort();
  }
  UTPOST_ASSIGN_OR_RETURN(std::string wrapped,
                          AesGcmSeal(it->second, data_key.view(), KekAad(current_, aad)));
  return WrappedKey{current_, std::move(wrapped)};
}

absl::StatusOr<SecretBytes> FileKeyStore::Unwrap(const WrappedKey& wrapped,
                                                 std::string_view aad) const {
  const auto it = keys_.find(wrapped.kek_id);
  if (it == keys_.end()) {
    return absl::NotFoundError(
        absl::StrCat("unknown key-encryption key id '", absl::CHexEscape(wrapped.kek_id), "'"));
  }
  UTPOST_ASSIGN_OR_RETURN(std::string plain,
                          AesGcmOpen(it->second, wrapped.wrapped, KekAad(wrapped.kek_id, aad)));
  SecretBytes key(plain);
  OPENSSL_cleanse(plain.data(), plain.size());
  return key;
}

std::vector<std::string> FileKeyStore::KeyIds() const {
  std::vector<std::string> ids;
  ids.reserve(keys_.size());
  for (const auto& [id, key] : keys_) ids.push_back(id);
  return ids;
}

absl::StatusOr<std::string> FileKeyStore::CheckValue(std::string_view kek_id) const {
  const auto it = keys_.find(std::string(kek_id));
  if (it == keys_.end()) {
    return absl::NotFoundError(
        absl::StrCat("unknown key-encryption key id '", absl::CHexEscape(common::Av(kek_id)), "'"));
  }
  return KeyCheckValue(it->second);
}

}  // namespace utpost::crypto

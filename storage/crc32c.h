// CRC-32C (Castagnoli; the checksum of iSCSI, ext4 metadata and RocksDB), computed with the
// SSE4.2 crc32 instruction where the CPU has it and with tables elsewhere. The two give the
// same values; the instruction is several times faster than zlib's CRC-32 on a 64 KiB record.
#pragma once

#include <cstddef>
#include <cstdint>

namespace utpost::storage {

// The CRC-32C of `size` bytes at `data`, continuing `crc` (the CRC-32C of what came before;
// 0 to start).
uint32_t Crc32c(const char* data, size_t size, uint32_t crc = 0);

// The same, always with tables (tests compare the two).
uint32_t Crc32cPortable(const char* data, size_t size, uint32_t crc = 0);

// True if Crc32c uses the CPU's instruction.
bool Crc32cInHardware();

}  // namespace utpost::storage

/* CRC-32C (Castagnoli), as iSCSI and ext4 use it: the snapshot file's checksum. */
#ifndef HEARTH_UTIL_CRC32C_H
#define HEARTH_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc over len bytes; start with 0. crc32c("123456789") is 0xe3069283. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif

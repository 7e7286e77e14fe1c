/*
 * A bzImage's payload (its setup header's payload_offset and
 * payload_length) decompressed on the host, so the kernel can boot from
 * the ELF inside through PVH instead of decompressing itself in the
 * guest, where every page it writes is a fault. The kernel's build
 * appends the decompressed size as the payload's last four bytes (gzip's
 * own ISIZE, or a trailer the others get): the output must be exactly
 * that long, never longer, so a stream that expands further (a bomb) is
 * refused, as is one that stops short.
 *
 * Formats, every one the kernel's build offers: gzip (zlib), xz and LZMA
 * (liblzma), zstd (libzstd), LZ4's legacy frames (liblz4; Debian's
 * kernels), bzip2 (libbz2) and lzop's LZO (liblzo2), each library opened
 * with dlopen for the one payload and closed after it (the VM is built
 * before the sandbox seals). A host without the format's library leaves
 * the payload to the guest (-ENOTSUP), as does a payload of no known
 * format.
 */
#ifndef HEARTH_BOOT_DECOMPRESS_H
#define HEARTH_BOOT_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum kcomp {
	KCOMP_UNKNOWN,
	KCOMP_GZIP,
	KCOMP_XZ,
	KCOMP_ZSTD,
	KCOMP_LZ4,
	KCOMP_BZIP2,
	KCOMP_LZMA,
	KCOMP_LZO,
};

/* The payload's format by its magic; KCOMP_UNKNOWN for none of them. */
enum kcomp decompress_kind(const uint8_t *p, size_t n);
const char *decompress_name(enum kcomp k);

/* Decompressed sizes past this are refused whatever the trailer says. */
#define DECOMPRESS_MAX (1u << 30)

/*
 * payload[0, n) decompressed into a new buffer (*out, *out_len bytes,
 * freed with file_buf_free from util/file.h). 0; -ENOTSUP for a format or library this host cannot do;
 * -EFBIG for a declared size over max (0: DECOMPRESS_MAX; a kernel's
 * init_size, the memory it says it needs, bounds it) or a stream that
 * would write past it; -EINVAL for a corrupt or truncated stream or one
 * whose length is not the declared size; -ENOMEM. err says which, and
 * its usage flag is set where the stream itself is broken (corrupt, cut,
 * a bomb, a declared size of 0): not where this host merely cannot or
 * will not (a missing library, a size past max).
 */
int decompress_payload(const uint8_t *payload, size_t n, size_t max, uint8_t **out,
		       size_t *out_len, struct err *err);

#endif

/*
 * The kernel cache (--kernel-cache DIR): a bzImage's decompressed ELF,
 * kept as DIR/<SHA-256 of the bzImage>.elf, so the next boot of the same
 * image neither reads nor decompresses its payload again: the ELF's
 * headers are read, and its data go from the cached file straight into
 * guest RAM (the file is sparse, its zero pages holes: elf_file.c).
 *
 * Safe to share between the Hearth processes of one user:
 *  - keyed by content: the SHA-256 of the whole bzImage (nettle, opened
 *    when the cache is used), so a changed or renamed kernel is found or
 *    missed by what it is, never by its name; a file seen before (same
 *    device, inode, size, mtime and ctime: only a write or root changes
 *    those) finds its entry through a DIR/...ref symlink without being
 *    read or hashed again;
 *  - written whole or not at all: a temporary file in DIR, synced, then
 *    renamed into place; readers never see half an entry;
 *  - bounded: after a store, the least recently used entries (by mtime,
 *    which a hit renews) go until the rest take KCACHE_MAX_BYTES of disk;
 *  - trusted only when DIR and the entry are this user's own and nobody
 *    else may write them, and DIR is reached with no symbolic link on its
 *    path (else one warning, and the kernel is decompressed as without a
 *    cache); an entry that is no ELF kernel with a PVH entry is removed
 *    and built again; every file is then reached through DIR's
 *    descriptor, and the eviction removes only the cache's own names
 *    (never a link's target);
 *  - out of the sandboxed VM's reach: the kernel is loaded before the
 *    seal, and DIR is not among the paths the sealed process keeps.
 */
#ifndef HEARTH_BOOT_KCACHE_H
#define HEARTH_BOOT_KCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "boot/loader.h"
#include "util/err.h"

#define KCACHE_MAX_BYTES (512ull << 20)
#define KCACHE_KEY_LEN 64   /* hex digits of a SHA-256 */

/*
 * bzimage_unpack (loader.h) through the cache in dir (made, mode 0700,
 * when missing): the same results and the same img, with img->cached set
 * on a hit. The cache's own troubles never fail the boot: they are logged
 * (one warning) and the kernel is decompressed as without it.
 */
int kcache_unpack(struct kernel_image *img, const char *dir, const struct stat *st,
		  struct err *err);

/*
 * Before the kernel file is read: when its version (st, taken from path:
 * device, inode, size, mtime, ctime) was unpacked through this cache
 * before, img becomes that entry's ELF (0) and the file is never read.
 * -ENOENT otherwise (a kernel never seen, changed since, or any trouble:
 * kcache_unpack then does the work and says why). st is what the caller
 * stat'd just before; kcache_unpack records it (a DIR/...ref symlink to
 * the entry) only when the file still has it after the read.
 */
int kcache_open_known(const char *path, const struct stat *st, const char *dir,
		      struct kernel_image *img);

/*
 * DIR's descriptor (O_RDONLY), DIR made (mode 0700) when missing: -ELOOP
 * when any component of the path is a symbolic link (walked, never
 * followed: err names the component), -EPERM when DIR is not this user's
 * alone, else -errno; err says why.
 */
int kcache_open_dir(const char *dir, struct err *err);

/* key: the hex SHA-256 of data[0, len), NUL-terminated. 0, or -ENOTSUP without nettle. */
int kcache_key(const uint8_t *data, size_t len, char key[KCACHE_KEY_LEN + 1], struct err *err);

/*
 * Writes elf[0, len) as dirfd's KEY.elf, sparse, atomically (above), then
 * evicts down to max_bytes (never the entry just written). 0 or -errno.
 */
int kcache_store(int dirfd, const char *key, const uint8_t *elf, size_t len,
		 uint64_t max_bytes, struct err *err);

#endif

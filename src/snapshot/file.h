/*
 * A snapshot on disk. Writing never leaves a file that loads unless all of
 * it is there: the bytes go to a temporary name in the same directory,
 * are fsync'ed, renamed over the target, and the directory is fsync'ed.
 * A writer killed or out of space midway leaves the old target (or none)
 * and at most a ".NAME.tmp-*" file, which no loader opens.
 */
#ifndef HEARTH_SNAPSHOT_FILE_H
#define HEARTH_SNAPSHOT_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "snapshot/format.h"
#include "util/err.h"

/* Larger files are refused unread: device and vCPU state is small, memory is elsewhere. */
#define SNAP_FILE_MAX (256u << 20)
#define SNAP_WRITE_CHUNK (64u << 10)

/* For tests: a write that fails (ENOSPC) and a pause between chunks (kill -9). */
struct snap_write_hooks {
	/* Replaces write(2); returns bytes written or -1 with errno. */
	ssize_t (*write)(void *ctx, int fd, const void *buf, size_t len);
	/* Called after each chunk with the bytes written so far. */
	void (*progress)(void *ctx, size_t done, size_t total);
	void *ctx;
};

/*
 * Writes buf to path atomically. 0, or -errno with one line in err
 * ("snapshot F: writing: No space left on device"); on failure the
 * temporary file is removed and path is as it was. hooks may be NULL.
 */
int snap_file_write(const char *path, const void *buf, size_t len,
		    const struct snap_write_hooks *hooks, struct err *err);

/*
 * Reads and checks path: on success f's sections point into *buf, which
 * the caller frees after snap_file_release(f). -ENOENT, -EISDIR, -EFBIG,
 * other -errno, or snap_parse's -EINVAL, each with one line in err.
 */
int snap_file_load(const char *path, struct snap_file *f, void **buf, struct err *err);
/* The same from fd (read with pread from 0, never closed); path names it in err. */
int snap_file_load_fd(int fd, const char *path, struct snap_file *f, void **buf,
		      struct err *err);

/*
 * A hidden temporary name beside PATH's final one, for a writer that
 * renames it into place: ".NAME.tmp-PID-NS", unique to this writer and
 * this write even where every Hearth is pid 1 (--new-pid-ns), so two
 * writers of one path never share (or remove) each other's temporary.
 * Freed by the caller; NULL when out of memory.
 */
char *snap_tmp_name(const char *path);

#endif

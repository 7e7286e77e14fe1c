/* Files named on the command line: refuse the wrong kind before reading. */
#ifndef HEARTH_UTIL_FILE_H
#define HEARTH_UTIL_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/*
 * For an fd opened with O_NONBLOCK (so that a FIFO with no writer, or a
 * tty waiting for carrier, cannot hang open()): checks that it is a
 * regular file, or also a block device when blk_ok, fills *st, and clears
 * O_NONBLOCK again. On failure returns -errno and writes the reason into
 * err, e.g. "not a regular file (a FIFO)"; the caller names the flag and path.
 */
int file_check_type(int fd, bool blk_ok, struct stat *st, char *err, size_t errlen);

/*
 * Reads up to len bytes, on through short reads and EINTR. Returns the
 * bytes read (fewer only at end of file: the file shrank under us) or -errno.
 */
ssize_t file_read_full(int fd, void *buf, size_t len);

#endif

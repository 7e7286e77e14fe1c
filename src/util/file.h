/*
 * Files named on the command line: refuse the wrong kind before reading;
 * and the line sinks (the log file, the metrics file), files or FIFOs.
 */
#ifndef HEARTH_UTIL_FILE_H
#define HEARTH_UTIL_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "util/err.h"

/*
 * For an fd opened with O_NONBLOCK (so that a FIFO with no writer, or a
 * tty waiting for carrier, cannot hang open()): checks that it is a
 * regular file, or also a block device when blk_ok, fills *st, and clears
 * O_NONBLOCK again. On failure returns -errno and writes the reason into
 * err, e.g. "not a regular file (a FIFO)"; the caller names the flag and path.
 */
int file_check_type(int fd, bool blk_ok, struct stat *st, struct err *err);

/*
 * Reads up to len bytes, on through short reads and EINTR. Returns the
 * bytes read (fewer only at end of file: the file shrank under us) or -errno.
 */
ssize_t file_read_full(int fd, void *buf, size_t len);
/* The same at offset off (pread), the file position left alone. */
ssize_t file_pread_full(int fd, void *buf, size_t len, uint64_t off);
/* All len bytes at offset off: 0, or -1 with errno set. */
int file_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/*
 * A buffer for a whole kernel file or a decompressed kernel: anonymous
 * memory with its pages populated in one go (MAP_POPULATE), not faulted
 * in one at a time as read() or a decompressor first writes each of them:
 * some 13,000 faults for a stock kernel's 53 MB, which a nested or
 * emulated host (the lab's L1) pays for dearly. NULL when out of memory;
 * freed with file_buf_free and the same len.
 */
void *file_buf_alloc(size_t len);
/* The same, its pages left to fault in as they are written (read pages stay the zero page). */
void *file_buf_alloc_lazy(size_t len);
void file_buf_free(void *p, size_t len);

/*
 * Opens path for whole lines (the log and metrics files), as Firecracker
 * opens them (O_RDWR | O_NONBLOCK, created mode 0600 if missing), with
 * O_APPEND and close-on-exec. O_RDWR is for a FIFO: Hearth then holds its
 * reading end too (and never reads), so the open needs no reader yet
 * (firecracker-containerd and the Go SDK make the FIFO first and read it
 * later), what is written meanwhile waits in the pipe for the reader, up
 * to the pipe's capacity (64 KiB unless someone changed it), and a reader
 * that goes away is no EPIPE. Returns the fd, or -errno; *fifo: a pipe.
 */
int file_open_sink(const char *path, bool *fifo);

/*
 * Writes one line of len bytes whole or not at all, never waiting (the fd
 * is O_NONBLOCK). A pipe takes up to PIPE_BUF bytes atomically; a longer
 * line goes in only where the pipe's free buffers surely hold it (ioctl
 * FIONREAD's queued bytes, counted at their most wasteful), so a reader
 * never sees half a line (a metrics line is longer). 0; -EAGAIN: no
 * room now, dropped; -EMSGSIZE: more than the pipe can ever hold; -EIO:
 * only part went in (a full disk, or another process writing to the same
 * FIFO); or another -errno. Lines over PIPE_BUF to a pipe need ioctl
 * FIONREAD and fcntl F_GETPIPE_SZ, which the io and api threads' seccomp
 * filters allow and a vCPU's does not (its log lines are shorter).
 */
int file_write_line(int fd, bool fifo, const void *buf, size_t len);

#endif

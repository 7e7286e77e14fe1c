#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISSOCK(mode))
		return "a socket";
	return "of an unknown type";
}

int file_check_type(int fd, bool blk_ok, struct stat *st, struct err *err)
{
	int fl, ret;

	if (fstat(fd, st) < 0) {
		ret = -errno;
		return err_set(err, false, ret, "cannot stat: %s", strerror(-ret));
	}
	if (!S_ISREG(st->st_mode) && !(blk_ok && S_ISBLK(st->st_mode)))
		return err_set(err, true, -EINVAL, "not a regular file%s (%s)",
			       blk_ok ? " or block device" : "", file_kind(st->st_mode));
	/* Left set, io_uring could fail a disk request with -EAGAIN rather than wait. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		ret = -errno;
		return err_set(err, false, ret, "cannot clear O_NONBLOCK: %s", strerror(-ret));
	}
	return 0;
}

/* read() from the file's position (off < 0), or pread() at off, on through short reads. */
static ssize_t file_read_loop(int fd, void *buf, size_t len, int64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = off < 0 ? read(fd, (char *)buf + done, len - done)
				    : pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

ssize_t file_read_full(int fd, void *buf, size_t len)
{
	return file_read_loop(fd, buf, len, -1);
}

ssize_t file_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	if (off > (uint64_t)INT64_MAX)
		return -EINVAL;
	return file_read_loop(fd, buf, len, (int64_t)off);
}

int file_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

int file_open_sink(const char *path, bool *fifo)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDWR | O_APPEND | O_NONBLOCK | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	*fifo = S_ISFIFO(st.st_mode);
	return fd;
}

/*
 * Room for len bytes in the pipe, so that a non-blocking write takes all
 * of them. The kernel keeps a pipe's bytes in page-sized buffers, and a
 * write whose odd part does not fit in the last one starts new ones: any
 * two neighbours but the one being read hold a page or more between them,
 * so the queued bytes q sit in at most 2 * (q / page + 1) buffers, and the
 * line needs at most len / page + 1 more. Only the reader runs meanwhile,
 * and it only frees buffers.
 */
static int pipe_room(int fd, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), held;
	int queued = 0, size;

	if (len <= PIPE_BUF)
		return 0;
	size = fcntl(fd, F_GETPIPE_SZ);
	if (size < 0)
		return -errno;
	if (len > (size_t)size)
		return -EMSGSIZE;
	if (ioctl(fd, FIONREAD, &queued) < 0)
		return -errno;
	if (queued <= 0)
		return 0;
	held = 2 * ((size_t)queued / page + 1);
	return held + len / page + 1 <= (size_t)size / page ? 0 : -EAGAIN;
}

int file_write_line(int fd, bool fifo, const void *buf, size_t len)
{
	ssize_t n;
	int ret;

	if (fifo) {
		ret = pipe_room(fd, len);
		if (ret)
			return ret;
	}
	n = write(fd, buf, len);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static void *file_buf_map(size_t len, int flags)
{
	void *p = mmap(NULL, len ? len : 1, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void *file_buf_alloc(size_t len)
{
	return file_buf_map(len, MAP_POPULATE);
}

void *file_buf_alloc_lazy(size_t len)
{
	return file_buf_map(len, 0);
}

void file_buf_free(void *p, size_t len)
{
	if (p)
		munmap(p, len ? len : 1);
}

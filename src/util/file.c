#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
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

int file_check_type(int fd, bool blk_ok, struct stat *st, char *err, size_t errlen)
{
	int fl, ret;

	if (fstat(fd, st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot stat: %s", strerror(-ret));
		return ret;
	}
	if (!S_ISREG(st->st_mode) && !(blk_ok && S_ISBLK(st->st_mode))) {
		snprintf(err, errlen, "not a regular file%s (%s)", blk_ok ? " or block device" : "",
			 file_kind(st->st_mode));
		return -EINVAL;
	}
	/* Left set, io_uring could fail a disk request with -EAGAIN rather than wait. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot clear O_NONBLOCK: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

ssize_t file_read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);

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

#include "snapshot/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/file.h"

/* usage: the file was read (the input was at fault), not written. */
static int snap_errno(struct err *err, bool usage, const char *path, const char *what, int e)
{
	return err_set(err, usage, -e, "snapshot %s: %s: %s", path, what, strerror(e));
}

static ssize_t snap_plain_write(void *ctx, int fd, const void *buf, size_t len)
{
	(void)ctx;
	return write(fd, buf, len);
}

static int snap_write_all(int fd, const uint8_t *buf, size_t len,
			  const struct snap_write_hooks *h)
{
	size_t done = 0;

	while (done < len) {
		size_t n = len - done < SNAP_WRITE_CHUNK ? len - done : SNAP_WRITE_CHUNK;
		ssize_t w = h->write(h->ctx, fd, buf + done, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -ENOSPC; /* a regular file that takes nothing is full */
		done += (size_t)w;
		if (h->progress)
			h->progress(h->ctx, done, len);
	}
	return 0;
}

/* The directory holding path and path's last component, split in two copies. */
static int snap_split(const char *path, char **dir, char **base)
{
	char *d = strdup(path), *b = strdup(path);

	if (!d || !b) {
		free(d);
		free(b);
		return -ENOMEM;
	}
	*dir = d;
	*base = b;
	return 0;
}

char *snap_tmp_name(const char *path)
{
	char *dcopy = NULL, *bcopy = NULL, *tmp = NULL;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (!snap_split(path, &dcopy, &bcopy) &&
	    asprintf(&tmp, "%s/.%s.tmp-%ld-%lld%09ld", dirname(dcopy), basename(bcopy),
		     (long)getpid(), (long long)ts.tv_sec, ts.tv_nsec) < 0)
		tmp = NULL;
	free(dcopy);
	free(bcopy);
	return tmp;
}

int snap_file_write(const char *path, const void *buf, size_t len,
		    const struct snap_write_hooks *hooks, struct err *err)
{
	struct snap_write_hooks h = { .write = snap_plain_write };
	char *dcopy = NULL, *bcopy = NULL, *tmp = NULL;
	const char *dir, *base;
	int fd = -1, dfd = -1, ret;

	if (hooks) {
		h = *hooks;
		if (!h.write)
			h.write = snap_plain_write;
	}
	ret = snap_split(path, &dcopy, &bcopy);
	if (ret)
		return snap_errno(err, false, path, "preparing", -ret);
	dir = dirname(dcopy);
	base = basename(bcopy);
	if (!*base || !strcmp(base, "/") || !strcmp(base, ".") || !strcmp(base, "..")) {
		ret = snap_errno(err, false, path, "not a file name", EINVAL);
		goto err_free;
	}
	/* A hidden name no loader is given, unique to this writer and write. */
	tmp = snap_tmp_name(path);
	if (!tmp) {
		ret = snap_errno(err, false, path, "preparing", ENOMEM);
		goto err_free;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		ret = snap_errno(err, false, path, "opening its directory", errno);
		goto err_free;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = snap_errno(err, false, path, "creating a temporary file", errno);
		goto err_free;
	}
	ret = snap_write_all(fd, buf, len, &h);
	if (ret) {
		ret = snap_errno(err, false, path, "writing", -ret);
		goto err_unlink;
	}
	/* Data before the rename, or a crash could leave the new name on old blocks. */
	if (fsync(fd) < 0) {
		ret = snap_errno(err, false, path, "syncing", errno);
		goto err_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		ret = snap_errno(err, false, path, "closing", errno);
		goto err_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		ret = snap_errno(err, false, path, "renaming into place", errno);
		goto err_unlink;
	}
	/* The rename itself is durable only once the directory is. */
	if (fsync(dfd) < 0) {
		ret = snap_errno(err, false, path, "syncing its directory", errno);
		goto err_free;
	}
	ret = 0;
	goto out;

err_unlink:
	if (fd >= 0)
		close(fd);
	fd = -1;
	unlink(tmp);
err_free:
out:
	if (dfd >= 0)
		close(dfd);
	free(tmp);
	free(dcopy);
	free(bcopy);
	return ret;
}

int snap_file_load_fd(int fd, const char *path, struct snap_file *f, void **buf,
		      struct err *err)
{
	struct stat st;
	uint8_t *data;
	ssize_t got;
	int ret;

	memset(f, 0, sizeof(*f));
	*buf = NULL;
	if (fstat(fd, &st) < 0)
		return snap_errno(err, true, path, "stat", errno);
	if (!S_ISREG(st.st_mode))
		return snap_errno(err, true, path, "not a regular file",
				  S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
	if ((uint64_t)st.st_size > SNAP_FILE_MAX)
		return err_set(err, true, -EFBIG, "snapshot %s: %lld bytes, more than a snapshot "
			       "can be (%u)", path, (long long)st.st_size, SNAP_FILE_MAX);
	data = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!data)
		return snap_errno(err, true, path, "reading", ENOMEM);
	/* pread from 0: a fork's state memfd is shared, offset and all, by every clone. */
	got = file_pread_full(fd, data, (size_t)st.st_size, 0);
	if (got < 0) {
		ret = snap_errno(err, true, path, "reading", (int)-got);
		goto err_free;
	}
	ret = snap_parse(data, (size_t)got, path, f, err);
	if (ret)
		goto err_free;
	*buf = data;
	return 0;

err_free:
	free(data);
	return ret;
}

int snap_file_load(const char *path, struct snap_file *f, void **buf, struct err *err)
{
	int fd, ret;

	memset(f, 0, sizeof(*f));
	*buf = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return snap_errno(err, true, path, "opening", errno);
	ret = snap_file_load_fd(fd, path, f, buf, err);
	close(fd);
	return ret;
}

#include "util/uds.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Something in the way (-EEXIST) is the input's fault; the rest are the host's. */
static int uds_fail(int ret, const char *what, const char *path, const char *why, struct err *err)
{
	return err_set(err, ret == -EEXIST, ret, "%s %s: %s", what, path, why);
}

/* Clears the way for bind: nothing there, or a stale socket removed. */
static int uds_prepare(const char *what, const char *path, const struct sockaddr_un *sa,
		       struct err *err)
{
	struct stat st;
	int fd, ret;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : uds_fail(-errno, what, path, strerror(errno), err);
	if (!S_ISSOCK(st.st_mode))
		return uds_fail(-EEXIST, what, path, "exists and is not a socket; not replacing it",
				err);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return uds_fail(-errno, what, path, strerror(errno), err);
	ret = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (!ret)
		return uds_fail(-EEXIST, what, path, "another process is serving on it", err);
	if (unlink(path) && errno != ENOENT) {
		ret = -errno;
		return err_set(err, false, ret, "%s %s: cannot remove the stale socket: %s", what,
			       path, strerror(errno));
	}
	return 0;
}

/* Gives from its name to; fails (EEXIST) when something has that name already. */
static int uds_rename(const char *from, const char *to)
{
	struct stat st;

	if (!renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE))
		return 0;
	/* A filesystem without RENAME_NOREPLACE: the same check, then a plain rename. */
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (!lstat(to, &st)) {
		errno = EEXIST;
		return -1;
	}
	return rename(from, to);
}

int uds_listen(const char *what, const char *path, int backlog, struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX }, tmp = { .sun_family = AF_UNIX };
	int fd, ret;

	if (!*path || strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, true, -EINVAL, "%s '%.200s': want 1 to %zu bytes", what, path,
			       sizeof(sa.sun_path) - 1);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ret = uds_prepare(what, path, &sa, err);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return uds_fail(-errno, what, path, strerror(errno), err);
	/*
	 * A client that waits for the path to appear and then connects must
	 * find a listening socket, not one bound but not yet listening
	 * (ECONNREFUSED): bind a temporary name beside it, listen, and only
	 * then give it its name, which must still be free. A path too long
	 * for the temporary name is bound directly. The temporary name is
	 * not the pid alone: in a directory others may write (a sticky /tmp),
	 * another user who guessed it could hold it first and make every
	 * start fail. The clock's nanoseconds, mixed, are unguessable enough
	 * for that and need no syscall a thread's filter might refuse.
	 * Nothing worse than a failed start was possible: bind(2) never
	 * follows a link, and the rename refuses to replace an existing name.
	 */
	struct timespec ts;
	uint64_t rnd;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	rnd = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
	      (uint64_t)getpid() << 40 ^ (uint64_t)(uintptr_t)&ts;
	rnd *= 0x9e3779b97f4a7c15ull;
	if (snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.tmp-%016llx", path,
		     (unsigned long long)rnd) >= (int)sizeof(tmp.sun_path))
		tmp = sa;
	else
		unlink(tmp.sun_path);
	if (bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)))
		goto err_close;
	if (listen(fd, backlog))
		goto err_unlink;
	if (strcmp(tmp.sun_path, sa.sun_path) && uds_rename(tmp.sun_path, sa.sun_path)) {
		ret = -errno;
		unlink(tmp.sun_path);
		close(fd);
		return ret == -EEXIST ? uds_fail(ret, what, path, "another process made it meanwhile",
						 err)
				      : uds_fail(ret, what, path, strerror(-ret), err);
	}
	return fd;
err_unlink:
	ret = -errno;
	unlink(tmp.sun_path);
	close(fd);
	return uds_fail(ret, what, path, strerror(-ret), err);
err_close:
	ret = -errno;
	close(fd);
	return uds_fail(ret, what, path, strerror(-ret), err);
}

#define UDS_MADE_MAX 4

/* Copies on the heap: static buffers of PATH_MAX would each be a page of every clone's own. */
static char *made[UDS_MADE_MAX];
static unsigned int nmade;

/* path's directory into out: "." for a bare name. */
static int uds_dirname(const char *path, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (slash == path)
		n = 1;
	if (!slash)
		return snprintf(out, len, ".") >= (int)len ? -ENAMETOOLONG : 0;
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(out, path, n);
	out[n] = '\0';
	return 0;
}

int uds_make_dir(const char *what, const char *path, struct err *err)
{
	char dir[PATH_MAX];
	int ret = uds_dirname(path, dir, sizeof(dir));

	if (ret)
		return uds_fail(ret, what, path, strerror(-ret), err);
	if (mkdir(dir, 0700)) {
		if (errno == EEXIST)
			return 0;
		ret = -errno;
		return err_set(err, false, ret, "%s %s: cannot make its directory %s: %s", what,
			       path, dir, strerror(errno));
	}
	/* Out of memory: not noted, so the directory is not taken for this VM's own. */
	if (nmade < UDS_MADE_MAX && (made[nmade] = strdup(dir)))
		nmade++;
	return 0;
}

bool uds_dir_made(const char *path)
{
	char dir[PATH_MAX];

	if (uds_dirname(path, dir, sizeof(dir)))
		return false;
	for (unsigned int i = 0; i < nmade; i++)
		if (!strcmp(made[i], dir))
			return true;
	return false;
}

/*
 * A copy of the path, on the heap (a static PATH_MAX buffer would be a
 * page of every clone's own). The copy replaced is freed only at the
 * next change: a fatal signal's handler may be reading it. The callers
 * (the API server's start and stop) never race each other.
 */
static char *exit_path, *exit_path_retired;

void uds_set_exit_unlink(const char *path)
{
	char *old = __atomic_exchange_n(&exit_path, path ? strdup(path) : NULL, __ATOMIC_ACQ_REL);

	free(exit_path_retired);
	exit_path_retired = old;
}

const char *uds_exit_unlink(void)
{
	return __atomic_load_n(&exit_path, __ATOMIC_ACQUIRE);
}

int uds_send_fds(int sock, const void *buf, size_t len, const int *fds, unsigned int nfds)
{
	char ctl[CMSG_SPACE(sizeof(int) * UDS_MAX_FDS)] = { 0 };
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	ssize_t w;

	if (nfds > UDS_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		m.msg_control = ctl;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		w = sendmsg(sock, &m, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -errno;
	return (size_t)w == len ? 0 : -EMSGSIZE;
}

ssize_t uds_recv_fds(int sock, void *buf, size_t len, int *fds, unsigned int *nfds)
{
	char ctl[CMSG_SPACE(sizeof(int) * UDS_MAX_FDS)];
	struct iovec iov = { buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
			    .msg_controllen = sizeof(ctl) };
	unsigned int want = *nfds;
	ssize_t r;

	*nfds = 0;
	do
		r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < want)
				fds[(*nfds)++] = fd;
			else
				close(fd);   /* more than asked for: none kept */
		}
	}
	if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		for (unsigned int i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		return -EMSGSIZE;
	}
	return r;
}

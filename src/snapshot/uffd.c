#include "snapshot/uffd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "mem/guest_mem_hotplug.h"
#include "mem/guest_mem_huge.h"
#include "mem/guest_mem_uffd.h"
#include "snapshot/memcore.h"

#define HANDSHAKE_TIMEOUT_S 5

/*
 * The page a fault is served in. Every region is mapped in 4 KiB pages
 * today; a region backed by huge pages would say its own size here.
 */
/* The unit the handler must fill with one UFFDIO_COPY: a huge page where RAM has them. */
static uint64_t region_page_size(const struct guest_mem *gm, unsigned int i)
{
	return gm->huge ? GUEST_HUGE_PAGE_SIZE : GUEST_PAGE_SIZE;
}

int snap_uffd_mappings(const struct guest_mem *gm, unsigned int nvcpus,
		       struct uffd_mapping m[MEMCORE_MAX_REGIONS])
{
	struct memcore_layout l;
	int ret = memcore_plan(gm, nvcpus, &l);

	if (ret)
		return ret;
	for (unsigned int i = 0; i < gm->nregions; i++)
		m[i] = (struct uffd_mapping){
			.base_host_virt_addr = (uint64_t)(uintptr_t)gm->regions[i].hva,
			.size = gm->regions[i].size,
			.offset = l.offset[i],
			.page_size = region_page_size(gm, i),
		};
	/* The hotplug region: 4 KiB pages whatever backs RAM; faults come from plugged blocks only. */
	if (gm->hp)
		m[gm->nregions] = (struct uffd_mapping){
			.base_host_virt_addr = (uint64_t)(uintptr_t)gm->hp->hva,
			.size = gm->hp->size,
			.offset = l.offset[gm->nregions],
			.page_size = GUEST_PAGE_SIZE,
		};
	return (int)l.nregions;
}

static int refused(struct err *err, int ret)
{
	switch (ret) {
	case -EPERM:
		return err_set(err, false, ret, "the kernel refuses this process a userfaultfd: "
			       "it needs CAP_SYS_PTRACE, or sysctl vm.unprivileged_userfaultfd=1, "
			       "or read-write access to /dev/userfaultfd");
	case -ENOSYS:
		return err_set(err, false, ret, "this kernel has no userfaultfd "
			       "(CONFIG_USERFAULTFD)");
	case -EOPNOTSUPP:
		return err_set(err, false, ret, "guest RAM cannot be served by UFFDIO_COPY here");
	default:
		return err_set(err, false, ret, "userfaultfd: %s", strerror(-ret));
	}
}

/* A connected stream to path, whose connect and sends wait at most the handshake's bound. */
static int connect_handler(const char *path, struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = HANDSHAKE_TIMEOUT_S };
	int fd, ret;

	if (!*path || strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, true, -EINVAL, "its path is empty or longer than %zu bytes",
			       sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(err, false, -errno, "socket: %s", strerror(errno));
	/* A blocking AF_UNIX connect waits for room in the backlog at most SO_SNDTIMEO. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		ret = err_set(err, false, -errno, "SO_SNDTIMEO: %s", strerror(errno));
		goto err_close;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	ret = -errno;
	if (ret == -ENOENT)
		err_set(err, true, ret, "no such socket (start the page-fault handler first)");
	else if (ret == -ECONNREFUSED)
		err_set(err, true, ret, "nothing listens on it (the page-fault handler is gone?)");
	else if (ret == -ENOTSOCK || ret == -ENOTDIR)
		err_set(err, true, ret, "not a Unix socket");
	else if (ret == -EAGAIN || ret == -EINPROGRESS)
		err_set(err, false, -ETIMEDOUT, "the handler did not take the connection within "
			"%d s", HANDSHAKE_TIMEOUT_S);
	else
		err_set(err, ret == -EACCES, ret, "connect: %s", strerror(-ret));
err_close:
	close(fd);
	return ret == -EAGAIN || ret == -EINPROGRESS ? -ETIMEDOUT : ret;
}

/* The message and, as SCM_RIGHTS, the userfaultfd: one sendmsg, as Firecracker sends them. */
static int send_handshake(int sock, const char *msg, size_t len, int uffd, struct err *err)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} c;
	struct iovec iov = { (void *)msg, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
			     .msg_controllen = sizeof(c.buf) };
	struct cmsghdr *cm;
	ssize_t n;

	memset(&c, 0, sizeof(c));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &uffd, sizeof(int));
	n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	if (n == (ssize_t)len)
		return 0;
	if (n >= 0)
		return err_set(err, false, -EIO, "sent %zd of the mapping message's %zu bytes", n,
			       len);
	if (errno == EPIPE || errno == ECONNRESET)
		return err_set(err, true, -EPIPE, "the handler closed the connection before "
			       "the mappings were sent");
	if (errno == EAGAIN)
		return err_set(err, false, -ETIMEDOUT, "the handler did not read the mappings "
			       "within %d s", HANDSHAKE_TIMEOUT_S);
	return err_set(err, false, -errno, "sendmsg: %s", strerror(errno));
}

int snap_uffd_attach(void *ctx, struct guest_mem *gm, struct err *err)
{
	const struct snap_uffd *u = ctx;
	struct uffd_mapping m[MEMCORE_MAX_REGIONS];
	char *msg = NULL;
	size_t len;
	int uffd, sock, ret;

	ret = snap_uffd_mappings(gm, u->nvcpus, m);
	if (ret > 0)
		ret = uffd_msg_build(m, (unsigned int)ret, &msg, &len);
	if (ret)
		return err_set(err, false, ret, "the Uffd memory backend's mappings: %s",
			       strerror(-ret));
	/* gm holds the userfaultfd from here: guest_mem_destroy closes it after the RAM. */
	uffd = guest_mem_uffd_register(gm);
	if (uffd < 0) {
		ret = refused(err, uffd);
		goto out;
	}
	sock = connect_handler(u->sock_path, err);
	if (sock < 0) {
		ret = sock;
		goto out;
	}
	ret = send_handshake(sock, msg, len, uffd, err);
	if (ret) {
		close(sock);
		goto out;
	}
	ret = guest_mem_uffd_keep(gm, sock);
	if (ret) {
		close(sock);
		err_set(err, false, ret, "cannot keep the handler's connection");
	}
out:
	free(msg);
	return ret ? err_prefix(err, ret, "the Uffd memory backend %s: ", u->sock_path) : 0;
}

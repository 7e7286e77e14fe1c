/* The VM generation's change, heard (vmgenid.h). */
#include "agent/vmgenid.h"

#include <errno.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/init.h"
#include "agent/log.h"
#include "agent/loop.h"

struct vmgenid {
	struct agent *a;
	int nl, sig;
	struct loop_fd wnl, wsig;
};

bool vmgenid_uevent_says_new(const char *msg, size_t len)
{
	/* "change@/devices/...\0ACTION=change\0...\0NEW_VMGENID=1\0" */
	for (size_t off = 0; off < len;) {
		const char *s = msg + off;
		size_t n = strnlen(s, len - off);

		if (n == 13 && !memcmp(s, "NEW_VMGENID=1", 13))
			return true;
		off += n + 1;
	}
	return false;
}

static void nl_readable(void *opaque, uint32_t events)
{
	struct vmgenid *v = opaque;
	char buf[8192];
	struct sockaddr_nl from;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
			     .msg_iovlen = 1 };

	for (int i = 0; i < 64; i++) {
		ssize_t n = recvmsg(v->nl, &mh, MSG_DONTWAIT);

		if (n <= 0)
			return;
		/* Only the kernel's own (port 0): any process may send to the group. */
		if (from.nl_pid == 0 && vmgenid_uevent_says_new(buf, (size_t)n))
			init_stale(v->a, "VMGenID changed");
	}
}

static void sig_readable(void *opaque, uint32_t events)
{
	struct vmgenid *v = opaque;
	struct signalfd_siginfo si;

	while (read(v->sig, &si, sizeof(si)) == sizeof(si))
		init_stale(v->a, "SIGUSR1");
}

int vmgenid_watch(struct agent *a, struct vmgenid **out)
{
	struct vmgenid *v = calloc(1, sizeof(*v));
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	sigset_t set;
	int ret;

	*out = NULL;
	if (!v)
		return -ENOMEM;
	v->a = a;
	v->wnl.fd = v->wsig.fd = -1;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) ||
	    (v->sig = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		ret = -errno;
		goto err_free;
	}
	ret = loop_fd_add(a->loop, &v->wsig, v->sig, EPOLLIN, sig_readable, v);
	if (ret)
		goto err_sig;
	v->nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       NETLINK_KOBJECT_UEVENT);
	if (v->nl < 0 || bind(v->nl, (struct sockaddr *)&sa, sizeof(sa)) ||
	    loop_fd_add(a->loop, &v->wnl, v->nl, EPOLLIN, nl_readable, v)) {
		agent_log("no kernel uevents (%s): a VM generation change is heard through /init only",
			  strerror(errno));
		if (v->nl >= 0)
			close(v->nl);
		v->nl = -1;
	}
	*out = v;
	return 0;

err_sig:
	close(v->sig);
err_free:
	free(v);
	return ret;
}

void vmgenid_stop(struct agent *a, struct vmgenid *v)
{
	if (!v)
		return;
	loop_fd_del(a->loop, &v->wnl);
	loop_fd_del(a->loop, &v->wsig);
	if (v->nl >= 0)
		close(v->nl);
	close(v->sig);
	free(v);
}

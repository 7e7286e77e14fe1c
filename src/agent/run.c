/* The agent's life (run.h). */
#include "agent/run.h"
#include "agent/warm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/http.h"
#include "agent/log.h"
#include "agent/loop.h"
#include "agent/vmgenid.h"
#include "util/opt.h"
#include "util/uds.h"

#define RUN_BACKLOG 128

static int listen_on(int fd, const struct sockaddr *sa, socklen_t len, const char *addr,
		     struct err *e)
{
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, sa, len) || listen(fd, RUN_BACKLOG)) {
		int ret = -errno;

		close(fd);
		return err_set(e, false, ret, "--listen %s: %s", addr, strerror(-ret));
	}
	return fd;
}

int run_listen(const char *addr, struct err *e)
{
	uint64_t port;
	int fd;

	if (!strncmp(addr, "unix:", 5))
		return uds_listen("--listen", addr + 5, RUN_BACKLOG, e);
	if (!strncmp(addr, "vsock:", 6)) {
		struct sockaddr_vm vm = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY };

		if (opt_parse_uint(addr + 6, 1, UINT32_MAX - 1, &port))
			return err_set(e, true, -EINVAL, "--listen %s: not a vsock port", addr);
		vm.svm_port = (unsigned int)port;
		fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return err_set(e, false, -errno, "--listen %s: %s", addr, strerror(errno));
		return listen_on(fd, (struct sockaddr *)&vm, sizeof(vm), addr, e);
	}
	if (!strncmp(addr, "tcp:", 4)) {
		char host[64];
		const char *colon = strrchr(addr + 4, ':');
		size_t hlen = colon ? (size_t)(colon - (addr + 4)) : 0;
		struct sockaddr_in in4 = { .sin_family = AF_INET };
		struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
		bool v6;

		if (!colon || hlen >= sizeof(host) || opt_parse_uint(colon + 1, 1, 65535, &port))
			return err_set(e, true, -EINVAL, "--listen %s: want tcp:ADDRESS:PORT", addr);
		/* "[::1]" stands for ::1; only numeric addresses: a static program has no resolver. */
		memcpy(host, addr + 4, hlen);
		host[hlen] = '\0';
		if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
			memmove(host, host + 1, hlen - 2);
			host[hlen - 2] = '\0';
		}
		v6 = strchr(host, ':');
		if (v6 ? inet_pton(AF_INET6, host, &in6.sin6_addr) != 1 :
			 inet_pton(AF_INET, host, &in4.sin_addr) != 1)
			return err_set(e, true, -EINVAL, "--listen %s: not a numeric address", addr);
		in4.sin_port = in6.sin6_port = htons((uint16_t)port);
		fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return err_set(e, false, -errno, "--listen %s: %s", addr, strerror(errno));
		return v6 ? listen_on(fd, (struct sockaddr *)&in6, sizeof(in6), addr, e) :
			    listen_on(fd, (struct sockaddr *)&in4, sizeof(in4), addr, e);
	}
	return err_set(e, true, -EINVAL, "--listen %s: want vsock:PORT, tcp:ADDRESS:PORT or unix:PATH",
		       addr);
}

struct run_state {
	bool quit;
	int sfd;
	struct loop_fd w;
};

static void on_signal(void *opaque, uint32_t events)
{
	struct run_state *rs = opaque;
	struct signalfd_siginfo si;

	while (read(rs->sfd, &si, sizeof(si)) == sizeof(si))
		rs->quit = true;
}

int run_agent(const struct agent_cfg *cfg, const int *fds, unsigned int n, struct err *e)
{
	struct run_state rs = { .sfd = -1, .w.fd = -1 };
	struct agent_loop *loop = NULL;
	struct agent *a = NULL;
	sigset_t set;
	int ret;

	/* Clients that vanish mid-answer are errors on send (MSG_NOSIGNAL), never signals. */
	signal(SIGPIPE, SIG_IGN);
	umask(022);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) ||
	    (rs.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		return err_set(e, false, -errno, "signalfd: %s", strerror(errno));
	ret = loop_create(&loop);
	if (!ret)
		ret = loop_fd_add(loop, &rs.w, rs.sfd, EPOLLIN, on_signal, &rs);
	if (!ret)
		ret = agent_create(&a, loop, cfg);
	for (unsigned int i = 0; !ret && i < n; i++)
		ret = http_listen(a->http, fds[i]);
	if (!ret)
		ret = vmgenid_watch(a, &a->vmgenid);
	if (ret) {
		err_set(e, false, ret, "cannot start: %s", strerror(-ret));
		goto out;
	}
	/* Before the first answer: the server pauses a template once its agent answers. */
	warm_run(a);
	agent_log("serving envd %s's API as '%s' by default", AGENT_ENVD_VERSION,
		  agent_default_user(a));
	while (!rs.quit) {
		ret = loop_run_once(loop, -1);
		if (ret) {
			err_set(e, false, ret, "event loop: %s", strerror(-ret));
			break;
		}
	}
out:
	agent_destroy(a);
	if (loop) {
		loop_fd_del(loop, &rs.w);
		loop_destroy(loop);
	}
	close(rs.sfd);
	return ret;
}

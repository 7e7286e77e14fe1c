/*
 * The API threads (threads.h): each has its own util/httpd.c server and
 * takes connections from the shared listener (EPOLLEXCLUSIVE: one thread
 * is woken a connection). A request runs on its thread to its end, VM
 * calls included: the others serve meanwhile.
 */
#include "sandboxd/threads.h"

#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandboxd/api.h"
#include "util/httpd.h"
#include "util/log.h"

/* Connections one API thread serves at once; one more is closed at once. */
#define API_MAX_CONNS 64
#define API_IDLE_S 120

static bool on_headers(void *opaque, const struct httpd_request *r, unsigned long long len,
		       struct httpd_reply *reply)
{
	struct sbx *s = opaque;

	if (sbx_api_refuse(s, r, reply))
		return true;
	if (len > SBX_API_MAX_BODY) {
		sbx_api_error(reply, 413, "request body too large");
		return true;
	}
	return false;
}

static void on_request(void *opaque, const struct httpd_request *r, struct httpd_reply *reply)
{
	sbx_api_handle(opaque, r, reply);
	log_debug("sandboxes: %s %s%s%s: %u", r->method, r->path, r->query ? "?" : "",
		  r->query ? r->query : "", reply->status);
}

static const struct httpd_ops api_ops = {
	.on_headers = on_headers,
	.on_request = on_request,
};

static void accept_some(struct sbx *s, struct httpd *h)
{
	for (int i = 0; i < 16; i++) {
		int fd = accept4(s->api_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (httpd_connections(h) >= API_MAX_CONNS) {
			close(fd);
			continue;
		}
		httpd_add(h, fd);
	}
}

void *sbx_api_thread(void *arg)
{
	static unsigned int next;
	const struct httpd_config cfg = { .idle_timeout_s = API_IDLE_S,
					  .max_body = SBX_API_MAX_BODY,
					  .server = "hearth-sandboxes" };
	struct sbx *s = arg;
	struct epoll_event ev = { .events = EPOLLIN };
	struct httpd *h;
	char name[16];
	int ep;

	snprintf(name, sizeof(name), "sbx-api%u", __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED));
	pthread_setname_np(pthread_self(), name);
	if (httpd_create(&h, &cfg, &api_ops, s))
		return NULL;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		goto err_httpd;
	ev.data.fd = s->stop_fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, s->stop_fd, &ev);
	ev.data.fd = httpd_fd(h);
	epoll_ctl(ep, EPOLL_CTL_ADD, httpd_fd(h), &ev);
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	ev.data.fd = s->api_fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, s->api_fd, &ev);
	for (;;) {
		struct epoll_event got[8];
		int n = epoll_wait(ep, got, 8, httpd_timeout_ms(h));

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			if (got[i].data.fd == s->stop_fd)
				goto out;
			if (got[i].data.fd == s->api_fd)
				accept_some(s, h);
		}
		httpd_run(h);
	}
out:
	close(ep);
err_httpd:
	httpd_destroy(h);
	return NULL;
}

/*
 * The proxy's thread (proxy.h, threads.h): one epoll loop for every
 * client connection and its agent connection. Each event runs a pump
 * over the connection (send what is queued, read what has room, parse),
 * then sets what epoll watches from what the connection can take next.
 */
#include "sandboxd/proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sandboxd/threads.h"
#include "util/log.h"

#define PX_ROUNDS 16
#define PX_TICK_MS 1000

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t px_buf_room(const struct px_buf *b)
{
	return sizeof(b->d) - b->len;
}

int px_buf_put(struct px_buf *b, const char *d, size_t n)
{
	if (b->off && b->off == b->len)
		b->off = b->len = 0;
	if (n > sizeof(b->d) - b->len && b->off) {
		memmove(b->d, b->d + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (n > sizeof(b->d) - b->len)
		return -ENOBUFS;
	memcpy(b->d + b->len, d, n);
	b->len += n;
	return 0;
}

/* Sends what b holds to fd: -1 on an error, else 0 (all out or the socket full). */
static int buf_flush(struct px_buf *b, int fd, bool *progress)
{
	while (b->off < b->len) {
		ssize_t n = send(fd, b->d + b->off, b->len - b->off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		b->off += (size_t)n;
		*progress = true;
	}
	b->off = b->len = 0;
	return 0;
}

int px_upstream_open(struct px *p, struct px_conn *c, const char *vsock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	static const char line[] = "CONNECT 49983\n";
	int fd;

	if (strlen(vsock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, vsock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A Unix stream socket connects at once, or its listener's backlog is full: no wait. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    send(fd, line, sizeof(line) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) != sizeof(line) - 1 ||
	    epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev)) {
		int ret = -errno;

		close(fd);
		return ret ? ret : -EIO;
	}
	c->ufd = fd;
	c->uev = EPOLLIN;
	return 0;
}

void px_watch(struct px *p, struct px_conn *c)
{
	uint32_t cev = 0, uev = 0;
	struct epoll_event ev = { .data.ptr = c };

	if (c->down.off < c->down.len)
		cev |= EPOLLOUT;
	else if (c->state == PX_REFUSED ? c->cshut
					: c->in_off == c->in_len && !c->req_done)
		cev |= EPOLLIN;
	if (c->cev != cev) {
		ev.events = cev;
		if (!epoll_ctl(p->ep, EPOLL_CTL_MOD, c->cfd, &ev))
			c->cev = cev;
	}
	if (c->ufd < 0)
		return;
	if (c->up.off < c->up.len)
		uev |= EPOLLOUT;
	if (px_buf_room(&c->down) && !c->resp_done)
		uev |= EPOLLIN;
	if (c->uev != uev) {
		ev.events = uev;
		if (!epoll_ctl(p->ep, EPOLL_CTL_MOD, c->ufd, &ev))
			c->uev = uev;
	}
}

static void conn_close(struct px *p, struct px_conn *c)
{
	epoll_ctl(p->ep, EPOLL_CTL_DEL, c->cfd, NULL);
	close(c->cfd);
	if (c->ufd >= 0) {
		epoll_ctl(p->ep, EPOLL_CTL_DEL, c->ufd, NULL);
		close(c->ufd);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	p->nconns--;
	c->dead = true;
	c->next = p->dead;
	p->dead = c;
}

/* The refused connection's end: its answer out, the write side shut, what comes read and dropped. */
static bool drain(struct px_conn *c, bool *progress)
{
	char sink[4096];

	if (c->down.off < c->down.len)
		return true;
	if (!c->cshut) {
		shutdown(c->cfd, SHUT_WR);
		c->cshut = true;
		c->drain_until = mono_ms() + PX_DRAIN_S * 1000;
	}
	for (;;) {
		ssize_t n = recv(c->cfd, sink, sizeof(sink), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return c->drain_left > 0 && mono_ms() < c->drain_until;
		if (n <= 0 || (uint64_t)n >= c->drain_left)
			return false;
		c->drain_left -= (uint64_t)n;
		*progress = true;
	}
}

/* Reads the client into in (when it is empty): false at its end or an error. */
static bool read_client(struct px_conn *c, bool *progress)
{
	ssize_t n;

	if (c->in_off < c->in_len || c->req_done || c->state == PX_REFUSED)
		return true;
	n = recv(c->cfd, c->in, sizeof(c->in), MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (!n)
		return false;
	c->in_off = 0;
	c->in_len = (size_t)n;
	*progress = true;
	return true;
}

static void read_upstream(struct px *p, struct px_conn *c, bool *progress)
{
	char buf[PX_BUF];
	size_t room = px_buf_room(&c->down);
	ssize_t n;

	if (c->ufd < 0 || c->resp_done || c->state != PX_FORWARD || !room)
		return;
	n = recv(c->ufd, buf, room < sizeof(buf) ? room : sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	*progress = true;
	px_upstream_data(p, c, n > 0 ? buf : NULL, n > 0 ? (size_t)n : 0);
}

/* Everything the connection can do now without waiting. false: it is closed. */
static bool pump(struct px *p, struct px_conn *c)
{
	for (int round = 0; round < PX_ROUNDS; round++) {
		bool progress = false;

		if (buf_flush(&c->down, c->cfd, &progress))
			goto err_close;
		if (c->state == PX_REFUSED) {
			if (!drain(c, &progress))
				goto err_close;
		} else {
			if (c->ufd >= 0 && buf_flush(&c->up, c->ufd, &progress))
				px_refuse(p, c, 502, "the sandbox's agent went away");
			if (!read_client(c, &progress))
				goto err_close;
			px_client_parse(p, c);
			read_upstream(p, c, &progress);
			if (c->state == PX_FORWARD && c->resp_done && c->down.off == c->down.len) {
				px_exchange_end(p, c);
				progress = true;
			}
		}
		if (progress)
			c->last_ms = mono_ms();
		else
			break;
	}
	px_watch(p, c);
	return true;

err_close:
	conn_close(p, c);
	return false;
}

static void accept_some(struct px *p)
{
	for (int i = 0; i < 16; i++) {
		int fd = accept4(p->s->envd_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		struct px_conn *c;

		if (fd < 0)
			return;
		c = p->nconns < PX_MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			close(fd);
			continue;
		}
		c->cfd = fd;
		px_conn_init(c);
		c->cev = EPOLLIN;
		c->last_ms = mono_ms();
		ev.data.ptr = c;
		if (epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = p->conns;
		if (p->conns)
			p->conns->prev = c;
		p->conns = c;
		p->nconns++;
	}
}

/* Connections quiet for PX_IDLE_S, and drains past their time, are closed. */
static void sweep(struct px *p)
{
	int64_t now = mono_ms();

	for (struct px_conn *c = p->conns, *next; c; c = next) {
		next = c->next;
		if (now - c->last_ms > PX_IDLE_S * 1000ll || (c->cshut && now > c->drain_until))
			conn_close(p, c);
	}
}

void *sbx_proxy_thread(void *arg)
{
	struct px p = { .s = arg };
	struct epoll_event ev = { .events = EPOLLIN };
	static char listen_tag, stop_tag;
	int64_t last_sweep = mono_ms();

	pthread_setname_np(pthread_self(), "sbx-proxy");
	p.ep = epoll_create1(EPOLL_CLOEXEC);
	if (p.ep < 0) {
		log_err("sandboxes: proxy: epoll: %s", strerror(errno));
		return NULL;
	}
	ev.data.ptr = &listen_tag;
	epoll_ctl(p.ep, EPOLL_CTL_ADD, p.s->envd_fd, &ev);
	ev.data.ptr = &stop_tag;
	epoll_ctl(p.ep, EPOLL_CTL_ADD, p.s->stop_fd, &ev);
	for (;;) {
		struct epoll_event got[64];
		int n = epoll_wait(p.ep, got, 64, PX_TICK_MS);

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			if (got[i].data.ptr == &stop_tag)
				goto out;
			if (got[i].data.ptr == &listen_tag) {
				accept_some(&p);
				continue;
			}
			/* A connection closed earlier in this batch may still have events in it. */
			if (!((struct px_conn *)got[i].data.ptr)->dead)
				pump(&p, got[i].data.ptr);
		}
		while (p.dead) {
			struct px_conn *c = p.dead;

			p.dead = c->next;
			free(c);
		}
		if (mono_ms() - last_sweep >= PX_TICK_MS) {
			sweep(&p);
			last_sweep = mono_ms();
		}
	}
out:
	while (p.conns)
		conn_close(&p, p.conns);
	while (p.dead) {
		struct px_conn *c = p.dead;

		p.dead = c->next;
		free(c);
	}
	close(p.ep);
	return NULL;
}

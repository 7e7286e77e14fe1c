/*
 * bench/apiload.c: the API socket under a client pool's load (issue 28
 * §3), built static by bench/api_load.py.  CLOCK_MONOTONIC, in µs.
 *
 *   apiload load SOCK CLIENTS SECONDS [PATH]
 *       Opens CLIENTS connections to SOCK at once, each connect()
 *       non-blocking as Go's net package makes them (a connect refused
 *       with EAGAIN, the backlog full, is counted and tried again 1 ms
 *       later).  Each connection then sends `GET PATH` (default
 *       /machine-config) with keep-alive, waits for the whole answer and
 *       sends the next, for SECONDS.  A connection the server closes is
 *       opened again.  Prints
 *           APIL clients=C requests=N rps=R p50_us= p99_us= max_us=
 *                not200=E eagain=K reconnects=X
 *
 *   apiload serve SOCK
 *       The floor: one thread, epoll, keep-alive, every request answered
 *       200 `{}` at once.  What a Unix-socket HTTP server costs with no
 *       work behind it.  SIGTERM ends it.
 *
 * Exit 0, or 1 (a line `APIL fail ...` says why).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 1024
#define MAX_SAMPLES (8 << 20)

struct client {
	int fd;
	long long sent_at;      /* 0: not waiting for an answer */
	long long retry_at;     /* connect again at, after EAGAIN */
	char buf[8192];
	size_t got;
};

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static struct sockaddr_un addr_of(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	strncpy(a.sun_path, path, sizeof(a.sun_path) - 1);
	return a;
}

/* 0 connected (or on its way), -EAGAIN the backlog is full, -errno else. */
static int open_client(struct client *c, const struct sockaddr_un *a, int ep)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };

	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (const struct sockaddr *)a, sizeof(*a)) && errno != EINPROGRESS) {
		int e = -errno;

		close(c->fd);
		c->fd = -1;
		return e;
	}
	c->got = 0;
	c->sent_at = 0;
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) ? -errno : 0;
}

static void drop_client(struct client *c, int ep)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->retry_at = 0;
}

/* The length of the whole answer at the head of buf, or 0 while it is not all there. */
static size_t answer_len(const char *buf, size_t got, int *status)
{
	const char *end = memmem(buf, got, "\r\n\r\n", 4);
	const char *cl;
	size_t head, body = 0;

	if (!end)
		return 0;
	head = (size_t)(end - buf) + 4;
	cl = memmem(buf, head, "Content-Length:", 15);
	if (!cl)
		cl = memmem(buf, head, "content-length:", 15);
	if (cl)
		body = strtoul(cl + 15, NULL, 10);
	if (got < head + body)
		return 0;
	*status = atoi(buf + 9);
	return head + body;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static int cmd_load(const char *sock, int n, int seconds, const char *path)
{
	struct sockaddr_un a = addr_of(sock);
	struct client *cs = calloc((size_t)n, sizeof(*cs));
	long long *lat = malloc(MAX_SAMPLES * sizeof(*lat));
	long long start, end, reqs = 0, not200 = 0, eagain = 0, reconnects = 0;
	char req[512];
	int ep = epoll_create1(EPOLL_CLOEXEC), reqlen;

	if (!cs || !lat || ep < 0 || n < 1 || n > MAX_CLIENTS || seconds < 1) {
		printf("APIL fail setup\n");
		return 1;
	}
	reqlen = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n"
			  "Accept: application/json\r\n\r\n", path);
	start = now_us();
	end = start + seconds * 1000000LL;
	/* All at once, as a pool that starts cold. */
	for (int i = 0; i < n; i++) {
		int r = open_client(&cs[i], &a, ep);

		if (r == -EAGAIN) {
			eagain++;
			cs[i].retry_at = now_us() + 1000;
		} else if (r) {
			printf("APIL fail connect: %s\n", strerror(-r));
			return 1;
		}
	}
	while (now_us() < end) {
		struct epoll_event evs[64];
		int k = epoll_wait(ep, evs, 64, 1);

		for (int i = 0; i < k; i++) {
			struct client *c = evs[i].data.ptr;
			ssize_t r;
			size_t len;
			int status = 0;

			if (c->fd < 0)
				continue;
			if ((evs[i].events & EPOLLOUT) && !c->sent_at) {
				struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

				if (send(c->fd, req, (size_t)reqlen, MSG_NOSIGNAL) != reqlen) {
					drop_client(c, ep);
					continue;
				}
				c->sent_at = now_us();
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			}
			if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				continue;
			r = read(c->fd, c->buf + c->got, sizeof(c->buf) - c->got);
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				drop_client(c, ep);
				continue;
			}
			c->got += (size_t)r;
			len = answer_len(c->buf, c->got, &status);
			if (!len) {
				if (c->got == sizeof(c->buf))
					drop_client(c, ep);
				continue;
			}
			if (c->sent_at && reqs < MAX_SAMPLES)
				lat[reqs] = now_us() - c->sent_at;
			reqs++;
			not200 += status != 200;
			memmove(c->buf, c->buf + len, c->got - len);
			c->got -= len;
			c->sent_at = 0;
			{
				struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };

				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			}
		}
		/* Closed by the server (idle, 503) or refused at connect: open again. */
		for (int i = 0; i < n; i++) {
			struct client *c = &cs[i];
			int r;

			if (c->fd >= 0 || (c->retry_at && now_us() < c->retry_at))
				continue;
			r = open_client(c, &a, ep);
			reconnects++;
			if (r == -EAGAIN) {
				eagain++;
				c->retry_at = now_us() + 1000;
			} else if (r) {
				printf("APIL fail reconnect: %s\n", strerror(-r));
				return 1;
			}
		}
	}
	{
		long long took = now_us() - start, m = reqs < MAX_SAMPLES ? reqs : MAX_SAMPLES;

		qsort(lat, (size_t)m, sizeof(*lat), cmp_ll);
		printf("APIL clients=%d requests=%lld rps=%.0f p50_us=%lld p99_us=%lld max_us=%lld "
		       "not200=%lld eagain=%lld reconnects=%lld\n", n, reqs,
		       reqs * 1e6 / (double)took, m ? lat[m / 2] : -1, m ? lat[m * 99 / 100] : -1,
		       m ? lat[m - 1] : -1, not200, eagain, reconnects);
	}
	return 0;
}

struct conn {
	int fd;
	char buf[4096];
	size_t got;
};

static int cmd_serve(const char *path)
{
	static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				  "Content-Length: 2\r\n\r\n{}";
	struct sockaddr_un a = addr_of(path);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };

	unlink(path);
	if (l < 0 || ep < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 128) ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, l, &lev))
		return 1;
	for (;;) {
		struct epoll_event evs[64];
		int k = epoll_wait(ep, evs, 64, -1);

		for (int i = 0; i < k; i++) {
			struct conn *c = evs[i].data.ptr;
			ssize_t r;

			if (!c) {
				int fd;

				while ((fd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct epoll_event ev = { .events = EPOLLIN };

					c = calloc(1, sizeof(*c));
					if (!c) {
						close(fd);
						continue;
					}
					c->fd = fd;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			r = read(c->fd, c->buf + c->got, sizeof(c->buf) - 1 - c->got);
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				close(c->fd);
				free(c);
				continue;
			}
			c->got += (size_t)r;
			for (;;) {
				char *e = memmem(c->buf, c->got, "\r\n\r\n", 4);
				size_t n;

				if (!e)
					break;
				n = (size_t)(e - c->buf) + 4;
				if (send(c->fd, ans, sizeof(ans) - 1, MSG_NOSIGNAL) < 0)
					break;
				memmove(c->buf, c->buf + n, c->got - n);
				c->got -= n;
			}
			if (c->got == sizeof(c->buf) - 1)
				c->got = 0;
		}
	}
}

int main(int argc, char **argv)
{
	if (argc >= 5 && !strcmp(argv[1], "load"))
		return cmd_load(argv[2], atoi(argv[3]), atoi(argv[4]),
				argc > 5 ? argv[5] : "/machine-config");
	if (argc == 3 && !strcmp(argv[1], "serve"))
		return cmd_serve(argv[2]);
	fprintf(stderr, "usage: apiload load SOCK CLIENTS SECONDS [PATH] | apiload serve SOCK\n");
	return 2;
}

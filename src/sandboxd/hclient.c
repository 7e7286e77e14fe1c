/* The server's own HTTP requests over Unix sockets (hclient.h). */
#include "sandboxd/hclient.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <jansson.h>

/* What a reply is read into, by http-parser's callbacks. */
struct hc_read {
	struct hc_reply *r;
	size_t head;                /* header bytes so far */
	size_t cap;
	bool done;
	bool too_big;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int on_head_bytes(http_parser *p, const char *at, size_t n)
{
	struct hc_read *rd = p->data;

	rd->head += n;
	return rd->head > HC_MAX_HEAD;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct hc_read *rd = p->data;
	struct hc_reply *r = rd->r;

	if (r->len + n > HC_MAX_BODY) {
		rd->too_big = true;
		return 1;
	}
	if (r->len + n + 1 > rd->cap) {
		size_t cap = rd->cap ? rd->cap : 1024;
		char *nb;

		while (cap < r->len + n + 1)
			cap *= 2;
		nb = realloc(r->body, cap);
		if (!nb)
			return 1;
		r->body = nb;
		rd->cap = cap;
	}
	memcpy(r->body + r->len, at, n);
	r->len += n;
	r->body[r->len] = '\0';
	return 0;
}

static int on_headers_done(http_parser *p)
{
	struct hc_read *rd = p->data;

	rd->r->status = p->status_code;
	return 0;
}

static int on_complete(http_parser *p)
{
	struct hc_read *rd = p->data;

	/* An interim answer (100 Continue) is not the answer. */
	if (p->status_code >= 200)
		rd->done = true;
	return 0;
}

static const http_parser_settings hc_settings = {
	.on_status = on_head_bytes,
	.on_header_field = on_head_bytes,
	.on_header_value = on_head_bytes,
	.on_headers_complete = on_headers_done,
	.on_body = on_body,
	.on_message_complete = on_complete,
};

/* The calling thread's cancel fd (hc_cancel_with): -1, none. */
static __thread int cancel_fd = -1;

int hc_cancel_with(int fd)
{
	int old = cancel_fd;

	cancel_fd = fd;
	return old;
}

/* Waits for fd to be ready for events before deadline: 0, -ETIMEDOUT or -ECANCELED. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_ms();
		struct pollfd pfd[2] = { { .fd = fd, .events = events },
					 { .fd = cancel_fd, .events = POLLIN } };
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(pfd, cancel_fd >= 0 ? 2 : 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (n > 0 && cancel_fd >= 0 && (pfd[1].revents & POLLIN))
			return -ECANCELED;
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			int ret = wait_fd(fd, POLLOUT, deadline);

			if (ret)
				return ret;
			continue;
		}
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int hc_connect(const char *path, struct err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(e, false, -ENAMETOOLONG, "socket %s: path too long", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, false, -errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		close(fd);
		return err_set(e, false, ret, "connect %s: %s", path, strerror(-ret));
	}
	return fd;
}

int hc_vsock_connect(const char *path, unsigned int port, int timeout_ms, struct err *e)
{
	int64_t deadline = mono_ms() + timeout_ms;
	char line[64];
	size_t got = 0;
	int fd = hc_connect(path, e), n, ret;

	if (fd < 0)
		return fd;
	n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
	ret = send_all(fd, line, (size_t)n, deadline);
	/* "OK <hostport>\n", read a byte at a time: what follows it is the guest's. */
	while (!ret && got < sizeof(line) - 1) {
		ssize_t r = recv(fd, line + got, 1, MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN) {
			ret = wait_fd(fd, POLLIN, deadline);
			continue;
		}
		if (r <= 0) {
			ret = r < 0 ? -errno : -ECONNREFUSED;
			break;
		}
		if (line[got++] == '\n')
			break;
	}
	line[got] = '\0';
	if (!ret && (got < 4 || strncmp(line, "OK ", 3) || line[got - 1] != '\n'))
		ret = -EPROTO;
	if (ret) {
		close(fd);
		return err_set(e, false, ret, "vsock %s port %u: %s", path, port,
			       ret == -ECONNREFUSED ? "nothing listens in the guest"
			       : ret == -EPROTO ? "no OK from Hearth" : strerror(-ret));
	}
	return fd;
}

static int exchange(int fd, bool keep, const char *method, const char *path, const char *extra,
		    const char *body, size_t len, int timeout_ms, struct hc_reply *r,
		    struct err *e)
{
	int64_t deadline = mono_ms() + timeout_ms;
	struct hc_read rd = { .r = r };
	http_parser p;
	char head[1024], buf[8192];
	int n, ret;

	*r = (struct hc_reply){ 0 };
	n = snprintf(head, sizeof(head),
		     "%s %s HTTP/1.1\r\nHost: localhost\r\n%s"
		     "%s%s%zu\r\n\r\n", method, path, keep ? "" : "Connection: close\r\n",
		     extra ? extra : "",
		     body ? "Content-Type: application/json\r\nContent-Length: "
			  : "Content-Length: ", body ? len : 0);
	if (n < 0 || (size_t)n >= sizeof(head))
		return err_set(e, false, -E2BIG, "%s %s: request head too long", method, path);
	ret = send_all(fd, head, (size_t)n, deadline);
	if (!ret && body && len)
		ret = send_all(fd, body, len, deadline);
	if (ret)
		return err_set(e, false, ret, "%s %s: send: %s", method, path, strerror(-ret));
	http_parser_init(&p, HTTP_RESPONSE);
	p.data = &rd;
	while (!rd.done) {
		ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		size_t used;

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && errno == EAGAIN) {
			ret = wait_fd(fd, POLLIN, deadline);
			if (ret)
				goto err;
			continue;
		}
		if (got < 0) {
			ret = -errno;
			goto err;
		}
		/* 0: the end, which ends a body that had no length. */
		used = http_parser_execute(&p, &hc_settings, buf, (size_t)got);
		if (HTTP_PARSER_ERRNO(&p) != HPE_OK || used != (size_t)got) {
			ret = rd.too_big ? -EFBIG : -EPROTO;
			goto err;
		}
		if (!got && !rd.done) {
			ret = -ECONNRESET;
			goto err;
		}
	}
	if (!r->body) {
		r->body = strdup("");
		if (!r->body) {
			ret = -ENOMEM;
			goto err;
		}
	}
	return 0;

err:
	hc_reply_free(r);
	return err_set(e, false, ret, "%s %s: %s", method, path,
		       ret == -EPROTO ? "not an HTTP answer"
		       : ret == -EFBIG ? "answer too large" : strerror(-ret));
}

int hc_exchange(int fd, const char *method, const char *path, const char *extra,
		const char *body, size_t len, int timeout_ms, struct hc_reply *r, struct err *e)
{
	return exchange(fd, false, method, path, extra, body, len, timeout_ms, r, e);
}

int hc_exchange_keep(int fd, const char *method, const char *path, const char *extra,
		     const char *body, size_t len, int timeout_ms, struct hc_reply *r,
		     struct err *e)
{
	return exchange(fd, true, method, path, extra, body, len, timeout_ms, r, e);
}

int hc_request(const char *sock, const char *method, const char *path, const char *body,
	       int timeout_ms, struct hc_reply *r, struct err *e)
{
	int fd = hc_connect(sock, e), ret;

	if (fd < 0)
		return fd;
	ret = hc_exchange(fd, method, path, NULL, body, body ? strlen(body) : 0, timeout_ms, r, e);
	close(fd);
	return ret;
}

int hc_call(const char *sock, const char *method, const char *path, const char *body,
	    int timeout_ms, struct hc_reply *r, struct err *e)
{
	struct hc_reply mine;
	int ret = hc_request(sock, method, path, body, timeout_ms, &mine, e);

	if (ret)
		return ret;
	if (mine.status < 200 || mine.status > 299) {
		json_t *j = json_loadb(mine.body, mine.len, 0, NULL);
		const char *fault = json_string_value(json_object_get(j, "fault_message"));

		err_set(e, false, -EIO, "%s %s: %u %.400s", method, path, mine.status,
			fault ? fault : mine.body);
		json_decref(j);
		hc_reply_free(&mine);
		return -EIO;
	}
	if (r)
		*r = mine;
	else
		hc_reply_free(&mine);
	return 0;
}

void hc_reply_free(struct hc_reply *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

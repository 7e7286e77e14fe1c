/*
 * libFuzzer target for util/httpd.c (the API's and the MMDS's HTTP
 * server, over http-parser): a client on a socketpair sends the input in
 * pieces whose sizes come from the input itself, reads or leaves unread
 * what comes back, and may shut its write side; the server runs between
 * steps. The owner answers every request with a body the request's
 * header asked for (up to 256 KiB, more than a socket buffer), or
 * refuses at the headers a Content-Length past 100.
 *
 * Layout: byte 0 chooses the config (bit 0: refuse big bodies; bits 1-2:
 * max_body 0, 16, 4096 or 51200); then steps, each a byte op:
 *   op % 4 == 0: send the next (op >> 2) + 1 bytes of the rest
 *   op % 4 == 1: read what is there      2: run the server twice
 *   op % 4 == 3: shut the client's write side (once)
 * Checked besides ASan/UBSan: everything the server sends starts with
 * "HTTP/1.1 "; a request's kept body is never longer than max_body and
 * is NUL-terminated at its length; replies never outnumber requests
 * plus refusals; the server closes or keeps the connection, never
 * anything else.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/httpd.h"

struct fz {
	size_t max_body;
	bool refuse;
	unsigned int requests, refusals, replied;
};

static bool fz_on_headers(void *opaque, const struct httpd_request *r, unsigned long long cl,
			  struct httpd_reply *reply)
{
	struct fz *f = opaque;

	if (!f->refuse || cl <= 100)
		return false;
	f->refusals++;
	reply->status = 400;
	reply->body = "{}";
	reply->body_len = 2;
	return true;
}

static void fz_on_request(void *opaque, const struct httpd_request *r, struct httpd_reply *reply)
{
	struct fz *f = opaque;
	const char *want = httpd_header(r, "x-size");
	size_t n = want ? strtoul(want, NULL, 10) % (256u << 10) : 0;

	f->requests++;
	if (r->body) {
		if (r->body_len > f->max_body || r->body[r->body_len] != '\0')
			abort();
	} else if (r->body_len && !r->body_too_big && f->max_body >= r->body_len) {
		/* A body within the limit is kept (allocation failure aside, which ASan does not do). */
		abort();
	}
	for (unsigned int i = 0; i < r->nheaders; i++)
		if (!r->headers[i].name || !r->headers[i].value)
			abort();
	reply->status = 200;
	if (n) {
		char *b = malloc(n);

		memset(b, 'x', n);
		reply->body = b;
		reply->body_len = n;
		reply->body_owned = true;
	}
}

static void fz_on_replied(void *opaque)
{
	((struct fz *)opaque)->replied++;
}

static const struct httpd_ops fz_ops = {
	.on_headers = fz_on_headers,
	.on_request = fz_on_request,
	.on_replied = fz_on_replied,
};

/* Reads what is there; each reply's first bytes are checked where one starts at a read's start. */
static void fz_read(int fd, bool *first)
{
	char buf[65536];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n <= 0)
			return;
		if (*first && (n < 9 || memcmp(buf, "HTTP/1.1 ", 9)))
			abort();
		*first = false;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t bodies[] = { 0, 16, 4096, 51200 };
	struct fz f = { 0 };
	struct httpd_config cfg = { .idle_timeout_s = 30 };
	struct httpd *h;
	size_t pos = 1;
	bool first = true, shut = false;
	int sv[2];

	if (!size)
		return 0;
	f.refuse = data[0] & 1;
	f.max_body = bodies[(data[0] >> 1) & 3];
	cfg.max_body = f.max_body;
	if (httpd_create(&h, &cfg, &fz_ops, &f))
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)) {
		httpd_destroy(h);
		return 0;
	}
	httpd_add(h, sv[0]);
	while (pos < size) {
		uint8_t op = data[pos++];

		switch (op % 4) {
		case 0: {
			size_t n = (size_t)(op >> 2) + 1;

			if (n > size - pos)
				n = size - pos;
			if (!shut && send(sv[1], data + pos, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
			    errno != EAGAIN && errno != EPIPE && errno != ECONNRESET)
				abort();
			pos += n;
			break;
		}
		case 1:
			fz_read(sv[1], &first);
			break;
		case 2:
			httpd_run(h);
			httpd_run(h);
			break;
		default:
			if (!shut)
				shutdown(sv[1], SHUT_WR);
			shut = true;
			break;
		}
		if (f.replied > f.requests + f.refusals)
			abort();
		if (httpd_connections(h) > 1)
			abort();
	}
	httpd_run(h);
	fz_read(sv[1], &first);
	close(sv[1]);
	httpd_destroy(h);
	return 0;
}

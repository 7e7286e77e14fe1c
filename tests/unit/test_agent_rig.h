/*
 * What the hearth-agent tests share: the agent forked to serve a Unix
 * socket in a temporary directory (run_agent, as hearth-agent's main
 * does), raw HTTP requests written to it, and answers read back with
 * http-parser (a response's status, headers and body, chunks joined),
 * a stream's Connect envelopes split out, and small JSON helpers.
 * Header-only: each test_agent_*.c is its own program.
 */
#ifndef HEARTH_TEST_AGENT_RIG_H
#define HEARTH_TEST_AGENT_RIG_H

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <jansson.h>

#include "agent/pjson.h"
#include "agent/run.h"

struct rig {
	char dir[64];
	char sock[96];
	pid_t pid;
};

static int rig_rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static inline int rig_dial(const struct rig *g)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g->sock);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* The warm-up shell the next rig_start's agent runs (agent/warm.h); NULL: none. */
static const char *rig_warm_shell;

/* Forks an agent whose default user is user, serving g->sock; waits until it accepts. */
static inline void rig_start(struct rig *g, const char *user)
{
	struct agent_cfg cfg = { .default_user = user, .max_body = 1u << 20,
				 .max_upload = 64u << 20, .max_conns = 64, .idle_s = 60,
				 /* The tests run as root: the host's clock is not theirs to set. */
				 .keep_clock = true, .warm_shell = rig_warm_shell };
	int fd;

	snprintf(g->dir, sizeof(g->dir), "/tmp/agent-test-XXXXXX");
	if (!mkdtemp(g->dir))
		abort();
	/* Others (nobody) must reach what the tests make in it. */
	chmod(g->dir, 0755);
	snprintf(g->sock, sizeof(g->sock), "%s/agent.sock", g->dir);
	cfg.spool_dir = g->dir;
	g->pid = fork();
	if (!g->pid) {
		char addr[160];
		struct err e = ERR_INIT;
		int lfd;

		snprintf(addr, sizeof(addr), "unix:%s", g->sock);
		lfd = run_listen(addr, &e);
		if (lfd < 0 || run_agent(&cfg, &lfd, 1, &e)) {
			fprintf(stderr, "rig: %s\n", e.msg);
			_exit(1);
		}
		_exit(0);
	}
	for (int i = 0; i < 500; i++) {
		fd = rig_dial(g);
		if (fd >= 0) {
			close(fd);
			return;
		}
		usleep(10000);
	}
	abort();
}

static inline void rig_stop(struct rig *g)
{
	int status;

	kill(g->pid, SIGTERM);
	waitpid(g->pid, &status, 0);
	nftw(g->dir, rig_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* An answer, as http-parser read it. */
struct resp {
	http_parser p;
	unsigned int status;
	char ctype[256];
	char disposition[256];
	bool chunked;
	char *body;
	size_t len;
	bool done;
	/* The header being read (callbacks come a byte at a time). */
	char field[64], value[256];
	size_t flen, vlen;
	bool in_value;
};

/* The header just read, kept when it is one the tests look at. */
static void resp_header_done(struct resp *r)
{
	if (!r->flen)
		return;
	if (!strcasecmp(r->field, "Content-Type"))
		snprintf(r->ctype, sizeof(r->ctype), "%s", r->value);
	else if (!strcasecmp(r->field, "Content-Disposition"))
		snprintf(r->disposition, sizeof(r->disposition), "%s", r->value);
	else if (!strcasecmp(r->field, "Transfer-Encoding"))
		r->chunked = !strcasecmp(r->value, "chunked");
	r->flen = r->vlen = 0;
	r->field[0] = r->value[0] = '\0';
	r->in_value = false;
}

static void append(char *buf, size_t *len, size_t cap, const char *at, size_t n)
{
	if (*len + n >= cap)
		n = cap - 1 - *len;
	memcpy(buf + *len, at, n);
	*len += n;
	buf[*len] = '\0';
}

static int resp_on_field(http_parser *p, const char *at, size_t n)
{
	struct resp *r = p->data;

	if (r->in_value)
		resp_header_done(r);
	append(r->field, &r->flen, sizeof(r->field), at, n);
	return 0;
}

static int resp_on_value(http_parser *p, const char *at, size_t n)
{
	struct resp *r = p->data;

	r->in_value = true;
	append(r->value, &r->vlen, sizeof(r->value), at, n);
	return 0;
}

static int resp_on_body(http_parser *p, const char *at, size_t n)
{
	struct resp *r = p->data;

	r->body = realloc(r->body, r->len + n + 1);
	memcpy(r->body + r->len, at, n);
	r->len += n;
	r->body[r->len] = '\0';
	return 0;
}

static int resp_on_headers(http_parser *p)
{
	resp_header_done(p->data);
	((struct resp *)p->data)->status = p->status_code;
	return 0;
}

static int resp_on_done(http_parser *p)
{
	((struct resp *)p->data)->done = true;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings resp_settings = {
	.on_header_field = resp_on_field,
	.on_header_value = resp_on_value,
	.on_headers_complete = resp_on_headers,
	.on_body = resp_on_body,
	.on_message_complete = resp_on_done,
};

static inline void resp_init(struct resp *r)
{
	memset(r, 0, sizeof(*r));
	http_parser_init(&r->p, HTTP_RESPONSE);
	r->p.data = r;
}

static inline void resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

/*
 * Reads what comes (byte by byte: a pipelined answer stays unread) until
 * the answer is done or stop(r) says enough. 0, or -1 on a timeout or a close.
 */
static inline int resp_read(int fd, struct resp *r, bool (*stop)(const struct resp *r, int arg),
			    int arg)
{
	while (!r->done && !(stop && stop(r, arg))) {
		char ch;
		ssize_t n = recv(fd, &ch, 1, 0);

		if (n <= 0) {
			/* A close ends a response without a length. */
			http_parser_execute(&r->p, &resp_settings, NULL, 0);
			return r->done ? 0 : -1;
		}
		http_parser_execute(&r->p, &resp_settings, &ch, 1);
		if (HTTP_PARSER_ERRNO(&r->p) != HPE_OK && HTTP_PARSER_ERRNO(&r->p) != HPE_PAUSED)
			return -1;
	}
	return 0;
}

/* Sends a request: extra header lines end in "\r\n"; a body gets its Content-Length. */
static inline void rig_send(int fd, const char *method, const char *target, const char *extra,
			    const void *body, size_t len)
{
	char head[4096];
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %zu\r\n%s\r\n", method,
			 target, len, extra ? extra : "");

	if (send(fd, head, (size_t)n, MSG_NOSIGNAL) != n ||
	    (len && send(fd, body, len, MSG_NOSIGNAL) != (ssize_t)len))
		abort();
}

/* One request on a new connection, its whole answer into r. */
static inline int rig_do(struct rig *g, const char *method, const char *target, const char *extra,
			 const void *body, size_t len, struct resp *r)
{
	int fd = rig_dial(g), ret;

	resp_init(r);
	if (fd < 0)
		return -1;
	rig_send(fd, method, target, extra, body, len);
	ret = resp_read(fd, r, NULL, 0);
	close(fd);
	return ret;
}

/* A unary Connect call with JSON json and extra headers. */
static inline int rig_unary(struct rig *g, const char *method, const char *json, const char *extra,
			    struct resp *r)
{
	char hdr[1024];

	snprintf(hdr, sizeof(hdr), "Content-Type: application/json\r\n%s", extra ? extra : "");
	return rig_do(g, "POST", method, hdr, json, strlen(json), r);
}

/* json as one Connect envelope (malloc'd, *len bytes). */
static inline char *rig_envelope(const char *json, uint8_t flags, size_t *len)
{
	size_t n = strlen(json);
	char *e = malloc(n + 5);

	e[0] = (char)flags;
	e[1] = (char)(n >> 24);
	e[2] = (char)(n >> 16);
	e[3] = (char)(n >> 8);
	e[4] = (char)n;
	memcpy(e + 5, json, n);
	*len = n + 5;
	return e;
}

/* Starts a server-streaming call on a new connection: the fd, its answer to be read into r. */
static inline int rig_stream_open(struct rig *g, const char *method, const char *json,
				  const char *extra, struct resp *r)
{
	char hdr[1024];
	size_t len;
	char *env = rig_envelope(json, 0, &len);
	int fd = rig_dial(g);

	resp_init(r);
	snprintf(hdr, sizeof(hdr), "Content-Type: application/connect+json\r\n%s",
		 extra ? extra : "");
	if (fd >= 0)
		rig_send(fd, "POST", method, hdr, env, len);
	free(env);
	return fd;
}

/* The envelopes in body: each's flags and JSON (parsed); returns how many, at most max. */
static inline int envelopes(const struct resp *r, uint8_t *flags, json_t **msgs, int max)
{
	size_t off = 0;
	int n = 0;

	while (r->len - off >= 5) {
		const uint8_t *b = (const uint8_t *)r->body + off;
		uint32_t len = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];

		if (r->len - off - 5 < len)
			break;
		if (n < max) {
			if (flags)
				flags[n] = b[0];
			if (msgs)
				msgs[n] = json_loadb((const char *)b + 5, len, 0, NULL);
		}
		n++;
		off += 5 + len;
	}
	return n;
}

static inline bool stop_at_envelopes(const struct resp *r, int want)
{
	return envelopes(r, NULL, NULL, 0) >= want;
}

/* The string at a JSON path of keys ("event", "data", "stdout"), or NULL. */
static inline const char *jstr(json_t *j, int depth, ...)
{
	va_list ap;

	va_start(ap, depth);
	for (int i = 0; i < depth && j; i++)
		j = json_object_get(j, va_arg(ap, const char *));
	va_end(ap);
	return json_string_value(j);
}

/* A unary call's Connect error code ("not_found"), or "" when none. */
static inline const char *err_code(const struct resp *r, char *buf, size_t n)
{
	json_t *j = r->body ? json_loads(r->body, 0, NULL) : NULL;
	const char *c = json_string_value(json_object_get(j, "code"));

	snprintf(buf, n, "%s", c ? c : "");
	json_decref(j);
	return buf;
}

#endif

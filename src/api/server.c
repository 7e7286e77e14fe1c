#include "api/server.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/request_log.h"
#include "api/routes.h"
#include "util/log.h"
#include "util/thread_hook.h"
#include "util/uds.h"

/*
 * Connections served at once, as Firecracker's micro_http: one past it is
 * answered Firecracker's 503 at once and closed, never left to hang. MHD
 * itself takes API_CONN_SLACK more, for those answers; past that a
 * connect waits in the listen backlog until one closes.
 */
#define API_MAX_CONNECTIONS 64
#define API_CONN_SLACK 32
/* Firecracker's listen backlog. */
#define API_BACKLOG 128
/*
 * A connection idle this long is closed, so clients that leak keep-alive
 * connections cannot hold every slot for good (Firecracker has no such
 * limit; docs/api.md).
 */
#define API_IDLE_TIMEOUT_S 30

/* micro_http's answer when the server is full, byte for byte. */
static const char api_full[] = "HTTP/1.1 503\r\nServer: Firecracker API\r\nConnection: close\r\n"
			       "Content-Length: 40\r\n\r\n{ \"error\": \"Too many open connections\" }";

struct api_server {
	struct MHD_Daemon *d;
	unsigned int nconns; /* the api thread's alone */
	struct ctl *ctl;
	size_t max_payload;
	int listen_fd;
	int stop_efd;
	pthread_t thread;
	bool thread_started;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* One request's body as it arrives. */
struct api_body {
	char *buf;
	size_t len;
	size_t total;       /* bytes received, kept or not */
	bool too_big;
	bool early;         /* too_big known from Content-Length: answered before the body */
	unsigned long long declared; /* ... that Content-Length */
	bool failed;        /* out of memory */
};

static void body_append(struct api_server *s, struct api_body *b, const char *data, size_t n)
{
	b->total += n;
	if (b->too_big || b->failed)
		return;
	if (b->total > s->max_payload) {
		b->too_big = true;
		free(b->buf);
		b->buf = NULL;
		b->len = 0;
		return;
	}
	char *nb = realloc(b->buf, b->len + n + 1);

	if (!nb) {
		b->failed = true;
		return;
	}
	memcpy(nb + b->len, data, n);
	b->len += n;
	nb[b->len] = '\0';
	b->buf = nb;
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, const struct api_reply *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (r->body) {
		resp = MHD_create_response_from_buffer(strlen(r->body), r->body,
						       MHD_RESPMEM_MUST_COPY);
		if (resp)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
						"application/json");
	} else {
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	if (!resp)
		return MHD_NO;
	if (r->deprecated)
		MHD_add_response_header(resp, "Deprecation", "true");
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Connections come and go: one past API_MAX_CONNECTIONS gets the 503 and is closed. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct api_server *s = cls;
	const union MHD_ConnectionInfo *ci;

	(void)socket_ctx;
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		s->nconns--;
		return;
	}
	if (++s->nconns <= API_MAX_CONNECTIONS)
		return;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return;
	/* A fresh socket's buffer takes it whole; MHD sees the shutdown and closes it. */
	if (send(ci->connect_fd, api_full, sizeof(api_full) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("api: the full server's 503: %s", strerror(errno));
	shutdown(ci->connect_fd, SHUT_RDWR);
}

/* A Content-Length past the limit: refused at the header, before any body is read. */
static bool too_long(struct api_server *s, struct MHD_Connection *conn, char *msg, size_t len,
		     unsigned long long *declared)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long n;
	char *end;

	if (!cl)
		return false;
	errno = 0;
	n = strtoull(cl, &end, 10);
	if (end == cl || errno || n <= s->max_payload)
		return false;
	*declared = n;
	snprintf(msg, len, "Request payload with size %llu is larger than the limit of %zu "
		 "allowed by server.", n, s->max_payload);
	return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct api_server *s = cls;
	struct api_body *b = *req_cls;
	struct api_reply r = { 500, NULL, false };
	uint64_t start = 0;
	char msg[160];
	enum MHD_Result ret;

	(void)version;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return MHD_NO;
		*req_cls = b;
		if (!too_long(s, conn, msg, sizeof(msg), &b->declared))
			return MHD_YES;
		/* Answered now; MHD closes the connection without reading the body. */
		b->too_big = true;
		b->early = true;
		api_reply_fault(&r, 400, msg);
		ret = send_reply(conn, &r);
		free(r.body);
		return ret;
	}
	if (*upload_data_size) {
		body_append(s, b, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (b->too_big) {
		snprintf(msg, sizeof(msg), "Request payload with size %zu is larger than the limit "
			 "of %zu allowed by server.", b->total, s->max_payload);
		api_reply_fault(&r, 400, msg);
	} else if (b->failed) {
		api_reply_fault(&r, 500, "out of memory");
	} else {
		if (log_file_wants(LOG_INFO)) {
			/* Whole: Firecracker's tooling reads the body back (\u{1f} is 6 bytes of 1). */
			size_t cap = (strlen(url) + b->len) * 6 + 256;
			char *line = malloc(cap);

			if (line) {
				api_request_describe(line, cap, method, url, b->buf, b->len,
						     log_file_wants(LOG_DEBUG));
				log_file(LOG_INFO, "The API server received a %s.", line);
				free(line);
			}
		}
		start = clock_now_ns();
		api_route(s->ctl, method, url, b->buf, b->len, &r);
	}
	ret = send_reply(conn, &r);
	free(r.body);
	/* Firecracker's, which its tooling reads to time each request. */
	if (start)
		log_file(LOG_DEBUG, "Total previous API call duration: %llu us.",
			 (unsigned long long)((clock_now_ns() - start) / 1000));
	return ret;
}

/*
 * Refused at its Content-Length: MHD closes the connection next, and a
 * Unix socket closed with unread bytes resets its peer, whose read of the
 * 400 then fails. The body that is on its way is read and dropped first:
 * at most what the header declared, 4 MiB and 50 ms.
 */
static void drain_refused(struct MHD_Connection *conn, unsigned long long declared)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	unsigned long long left = declared < (4u << 20) ? declared : (4u << 20);
	uint64_t end = clock_now_ns() + 50 * 1000000ull;
	char sink[4096];

	while (ci && left) {
		struct pollfd p = { .fd = ci->connect_fd, .events = POLLIN };
		uint64_t now = clock_now_ns();
		ssize_t n;

		if (now >= end || poll(&p, 1, (int)((end - now) / 1000000) + 1) <= 0)
			break;
		n = recv(ci->connect_fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n <= 0)
			break;
		left -= (unsigned long long)n < left ? (unsigned long long)n : left;
	}
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct api_server *s = cls;
	struct api_body *b = *req_cls;
	int code;

	(void)toe;
	if (b && b->too_big && b->early)
		drain_refused(conn, b->declared);
	if (b) {
		free(b->buf);
		free(b);
		*req_cls = NULL;
	}
	/* The reply is out: a fatal snapshot load may end the process now. */
	if (s->ctl && ctl_exit_due(s->ctl, &code) && s->ctl->vm->exit)
		s->ctl->vm->exit(s->ctl->vm_ctx, code);
}

static void *api_thread(void *arg)
{
	struct api_server *s = arg;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
	struct pollfd pfd[2] = {
		{ .fd = info ? info->epoll_fd : -1, .events = POLLIN },
		{ .fd = s->stop_efd, .events = POLLIN },
	};

	pthread_setname_np(pthread_self(), "api");
	/* The sandbox's filter, if any; an API without it would be one without limits. */
	if (thread_hook_enter(THREAD_API)) {
		log_err("api: cannot install its seccomp filter; the API does not serve");
		return NULL;
	}
	/* Firecracker's words, which its tooling waits for in the log file. */
	log_file(LOG_INFO, "API server started.");
	for (;;) {
		MHD_UNSIGNED_LONG_LONG to;
		int timeout = -1;

		if (MHD_get_timeout(s->d, &to) == MHD_YES)
			timeout = to > 1000 ? 1000 : (int)to;
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		MHD_run(s->d);
	}
	return NULL;
}

static int bind_listen(struct api_server *s, const char *path, struct err *err)
{
	int fd = uds_listen("--api-sock", path, API_BACKLOG, err);

	if (fd < 0)
		return fd;
	s->listen_fd = fd;
	snprintf(s->path, sizeof(s->path), "%s", path);
	/* A seccomp trap exits at once, from any thread: it removes the socket too. */
	uds_set_exit_unlink(s->path);
	return 0;
}

int api_server_listen(struct api_server **out, const char *path, size_t max_payload,
		      struct err *err)
{
	struct api_server *s = calloc(1, sizeof(*s));
	int ret;

	*out = NULL;
	if (!s)
		return err_set(err, false, -ENOMEM, "out of memory");
	s->max_payload = max_payload;
	s->listen_fd = -1;
	s->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stop_efd < 0) {
		ret = -errno;
		err_set(err, false, ret, "eventfd: %s", strerror(errno));
		goto err_free;
	}
	ret = bind_listen(s, path, err);
	if (ret)
		goto err_free;
	*out = s;
	return 0;
err_free:
	api_server_stop(s);
	return ret;
}

int api_server_serve(struct api_server *s, struct ctl *ctl, struct err *err)
{
	int ret;

	s->ctl = ctl;
	s->d = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, on_request, s,
				MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
				MHD_OPTION_CONNECTION_LIMIT,
				(unsigned int)(API_MAX_CONNECTIONS + API_CONN_SLACK),
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)API_IDLE_TIMEOUT_S,
				MHD_OPTION_END);
	if (!s->d)
		return err_set(err, false, -EIO, "--api-sock %s: cannot start the HTTP server",
			       s->path);
	s->listen_fd = -1;  /* MHD_stop_daemon closes it */
	ret = pthread_create(&s->thread, NULL, api_thread, s);
	if (ret)
		return err_set(err, false, -ret, "cannot start the api thread: %s", strerror(ret));
	s->thread_started = true;
	return 0;
}

int api_server_start(struct api_server **out, const char *path, struct ctl *ctl,
		     size_t max_payload, struct err *err)
{
	int ret = api_server_listen(out, path, max_payload, err);

	if (!ret) {
		ret = api_server_serve(*out, ctl, err);
		if (ret) {
			api_server_stop(*out);
			*out = NULL;
		}
	}
	return ret;
}

void api_server_stop(struct api_server *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	if (s->thread_started) {
		if (write(s->stop_efd, &one, sizeof(one)) < 0)
			log_warn("cannot wake the api thread: %s", strerror(errno));
		pthread_join(s->thread, NULL);
	}
	if (s->d)
		MHD_stop_daemon(s->d);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->path[0]) {
		uds_set_exit_unlink(NULL);
		unlink(s->path);
	}
	if (s->stop_efd >= 0)
		close(s->stop_efd);
	free(s);
}

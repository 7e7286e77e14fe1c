#include "api/server.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/request_log.h"
#include "api/routes.h"
#include "util/httpd.h"
#include "util/log.h"
#include "util/thread_hook.h"
#include "util/thread_name.h"
#include "util/uds.h"
#include "vmm/runner.h"

/*
 * Connections served at once, as Firecracker's micro_http: one past it is
 * answered Firecracker's 503 at once and closed, never left to hang.
 */
#define API_MAX_CONNECTIONS 64
/* Firecracker's listen backlog. */
#define API_BACKLOG 128
/* Connections taken from the backlog per round, so a flood cannot starve the served. */
#define API_ACCEPT_BUDGET 64
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
	struct httpd *d;
	struct ctl *ctl;
	size_t max_payload;
	int listen_fd;
	int stop_efd;
	pthread_t thread;
	bool thread_started;
	sem_t entered;       /* posted once the api thread's filter is on (or failed) */
	int enter_ret;       /* that filter's 0 or -errno */
	sem_t go;            /* posted by api_server_serve (ctl set) or api_server_stop */
	bool serving;        /* api_server_serve's post: serve, else return */
	bool announce;       /* not serving: say the start line before returning */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* Firecracker's words for a body past the limit, declared or received. */
static void api_too_big(struct api_server *s, struct httpd_reply *reply, unsigned long long n)
{
	struct api_reply r = { 500, NULL, false };
	char msg[160];

	snprintf(msg, sizeof(msg), "Request payload with size %llu is larger than the limit of "
		 "%zu allowed by server.", n, s->max_payload);
	api_reply_fault(&r, 400, msg);
	reply->status = r.status;
	reply->content_type = "application/json";
	reply->body = r.body;
	reply->body_len = r.body ? strlen(r.body) : 0;
	reply->body_owned = true;
}

/*
 * micro_http's own answer to a Content-Length past the limit, byte for
 * byte (its parse error's 400, no reason phrase, the raw newline in its
 * "error"), on a connection it keeps open: what Firecracker's tests
 * compare, as `firecracker`.
 */
static void api_too_big_fc(struct api_server *s, struct httpd_reply *reply,
			   unsigned long long n)
{
	char body[256], *all = malloc(512);
	int blen, len;

	if (!all) {
		api_too_big(s, reply, n);
		return;
	}
	blen = snprintf(body, sizeof(body), "{ \"error\": \"Request payload with size %llu is "
			"larger than the limit of %zu allowed by server.\nAll previous unanswered "
			"requests will be dropped.\" }", n, s->max_payload);
	len = snprintf(all, 512, "HTTP/1.1 400 \r\nServer: Firecracker API\r\nConnection: "
		       "keep-alive\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
		       "\r\n%s", blen, body);
	reply->status = 400;
	reply->raw = all;
	reply->raw_len = len > 0 && len < 512 ? (size_t)len : 0;
	/* raw is copied; body_owned frees it through body, which raw replies never send. */
	reply->body = all;
	reply->body_owned = true;
	reply->keep_open = true;
}

/* A Content-Length past the limit: refused at the header, before any body is read. */
static bool api_on_headers(void *opaque, const struct httpd_request *req,
			   unsigned long long content_length, struct httpd_reply *reply)
{
	struct api_server *s = opaque;

	(void)req;
	if (content_length <= s->max_payload)
		return false;
	if (s->ctl && s->ctl->cfg.fc_rules)
		api_too_big_fc(s, reply, content_length);
	else
		api_too_big(s, reply, content_length);
	return true;
}

static void api_log_request(const struct httpd_request *req)
{
	/* Whole: Firecracker's tooling reads the body back (\u{1f} is 6 bytes of 1). */
	size_t cap = (strlen(req->path) + req->body_len) * 6 + 256;
	char *line = malloc(cap);

	if (!line)
		return;
	api_request_describe(line, cap, req->method, req->path, req->body,
			     req->body ? req->body_len : 0, log_file_wants(LOG_DEBUG));
	log_file(LOG_INFO, "The API server received a %s.", line);
	free(line);
}

static void api_on_request(void *opaque, const struct httpd_request *req,
			   struct httpd_reply *reply)
{
	struct api_server *s = opaque;
	struct api_reply r = { 500, NULL, false };
	uint64_t start;

	if (req->body_too_big) {
		api_too_big(s, reply, req->body_len);
		return;
	}
	if (log_file_wants(LOG_INFO))
		api_log_request(req);
	start = clock_now_ns();
	api_route(s->ctl, req->method, req->path, req->body, req->body ? req->body_len : 0, &r);
	reply->status = r.status;
	reply->body = r.body;
	reply->body_len = r.body ? strlen(r.body) : 0;
	reply->body_owned = true;
	reply->content_type = r.body ? "application/json" : NULL;
	reply->extra = r.deprecated ? "Deprecation: true\r\n" : NULL;
	/* Firecracker's, which its tooling reads to time each request. */
	log_file(LOG_DEBUG, "Total previous API call duration: %llu us.",
		 (unsigned long long)((clock_now_ns() - start) / 1000));
}

static void api_on_replied(void *opaque)
{
	struct api_server *s = opaque;
	int code;

	/* The reply is out: a fatal snapshot load may end the process now. */
	if (s->ctl && ctl_exit_due(s->ctl, &code) && s->ctl->vm->exit)
		s->ctl->vm->exit(s->ctl->vm_ctx, code);
}

static const struct httpd_ops api_httpd_ops = {
	.on_headers = api_on_headers,
	.on_request = api_on_request,
	.on_replied = api_on_replied,
};

/* Takes what the backlog holds; one past the limit gets the 503 and is closed. */
static void api_accept(struct api_server *s)
{
	for (int i = 0; i < API_ACCEPT_BUDGET; i++) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_debug("api: accept: %s", strerror(errno));
			return;
		}
		if (httpd_connections(s->d) < API_MAX_CONNECTIONS) {
			httpd_add(s->d, fd);
			continue;
		}
		/* A fresh socket's buffer takes it whole. */
		if (send(fd, api_full, sizeof(api_full) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			log_debug("api: the full server's 503: %s", strerror(errno));
		shutdown(fd, SHUT_WR);
		close(fd);
	}
}

static void *api_thread(void *arg)
{
	struct api_server *s = arg;
	struct pollfd pfd[3] = {
		{ .fd = s->listen_fd, .events = POLLIN },
		{ .fd = httpd_fd(s->d), .events = POLLIN },
		{ .fd = s->stop_efd, .events = POLLIN },
	};

	thread_name_set(THREAD_ROLE_API, 0);
	/* The sandbox's filter, if any; an API without it would be one without limits. */
	s->enter_ret = thread_hook_enter(THREAD_API);
	sem_post(&s->entered);
	if (s->enter_ret)
		return NULL;
	/* api_server_begin may start the thread before ctl exists; serve says go. */
	while (sem_wait(&s->go) && errno == EINTR)
		;
	if (!s->serving) {
		if (s->announce)
			log_file(LOG_INFO, "API server started.");
		return NULL;
	}
	/* Before any answer: a log reader sees the line first (a FIFO keeps it for one). */
	log_info("serving the API on %s", s->path);
	/* Firecracker's words, which its tooling waits for in the log file. */
	log_file(LOG_INFO, "API server started.");
	for (;;) {
		if (poll(pfd, 3, httpd_timeout_ms(s->d)) < 0 && errno != EINTR)
			break;
		if (pfd[2].revents)
			break;
		if (pfd[0].revents)
			api_accept(s);
		httpd_run(s->d);
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

int api_server_begin(struct api_server *s, struct err *err)
{
	static const struct httpd_config cfg = { .idle_timeout_s = API_IDLE_TIMEOUT_S };
	struct httpd_config c = cfg;
	sigset_t loop_sigs, old;
	int ret;

	if (s->thread_started)
		return 0;
	c.max_body = s->max_payload;
	ret = httpd_create(&s->d, &c, &api_httpd_ops, s);
	if (ret)
		return err_set(err, false, ret, "--api-sock %s: cannot start the HTTP server: %s",
			       s->path, strerror(-ret));
	if (sem_init(&s->entered, 0, 0) || sem_init(&s->go, 0, 0))
		return err_set(err, false, -errno, "cannot start the api thread: %s",
			       strerror(errno));
	/*
	 * SIGINT, SIGTERM, SIGHUP and the rest of the runner's set are read
	 * from its signalfd (vmm/runner_signals.c), which the process may not
	 * have blocked them for yet: never this thread's, whose default action
	 * would end the process without its exit.
	 */
	runner_signals_mask(&loop_sigs);
	pthread_sigmask(SIG_BLOCK, &loop_sigs, &old);
	ret = pthread_create(&s->thread, NULL, api_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return err_set(err, false, -ret, "cannot start the api thread: %s", strerror(ret));
	s->thread_started = true;
	return 0;
}

int api_server_serve(struct api_server *s, struct ctl *ctl, struct err *err)
{
	int ret = api_server_begin(s, err);

	if (ret)
		return ret;
	/*
	 * Until the API thread is sealed: its failure is this call's, and the
	 * caller's next work (the other threads' filters, the VM's) does not
	 * take the core the first answer needs. Bounded: the thread only
	 * installs its filter before posting.
	 */
	while (sem_wait(&s->entered) && errno == EINTR)
		;
	if (s->enter_ret)
		return err_set(err, false, s->enter_ret, "the api thread cannot install its "
			       "seccomp filter: %s (--no-seccomp runs without filters)",
			       strerror(-s->enter_ret));
	s->ctl = ctl;
	s->serving = true;
	sem_post(&s->go);
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

void api_server_stop_started(struct api_server *s)
{
	if (s && s->thread_started && !s->serving)
		s->announce = true;
	api_server_stop(s);
}

void api_server_stop(struct api_server *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	if (s->thread_started) {
		if (write(s->stop_efd, &one, sizeof(one)) < 0)
			log_warn("cannot wake the api thread: %s", strerror(errno));
		/* Begun, never served: it waits for go (and returns, serving false). */
		if (!s->serving)
			sem_post(&s->go);
		pthread_join(s->thread, NULL);
	}
	httpd_destroy(s->d);
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

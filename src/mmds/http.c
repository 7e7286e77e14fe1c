/*
 * MMDS over HTTP for one NIC (mmds_http.h). util/httpd.c parses the
 * guest's requests; the answer is mmds/mmds.c's. We accept every pending
 * connection each round and hand it to the server, so the listen queue
 * never fills. That matters:
 * libslirp's connect(2) to this socket is a blocking one, on the I/O
 * thread that also runs this server, and a full queue would stop it.
 */
#include "mmds/http.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "mmds/mmds.h"
#include "util/httpd.h"
#include "util/log.h"
#include "slirp/slirp_glue.h"

/* Connections accepted per round: the stack opens at most this many per round anyway. */
#define MMDS_HTTP_ACCEPT_BUDGET 256

struct net_mmds_http {
	struct mmds *mmds;
	struct httpd *d;
	int lfd, efd;
	unsigned int slot;
	char extra[96];       /* the reply's own headers, until it is queued */
	char path[NET_MMDS_PATH_MAX];
};

static struct ratelimit mmds_http_rl = RATELIMIT_INIT(10);

/*
 * The process's MMDS directory and which of its sockets are live, for
 * the sandbox (net_mmds_sockets). NICs are made on one thread at a
 * time, but the sandbox may read from another: a mutex.
 */
static pthread_mutex_t mmds_dir_lock = PTHREAD_MUTEX_INITIALIZER;
static char mmds_dir[NET_MMDS_PATH_MAX - 16];
static char mmds_socks[NET_MMDS_MAX_SOCKETS][NET_MMDS_PATH_MAX];
static unsigned int mmds_nsocks;

unsigned int net_mmds_sockets(char (*paths)[NET_MMDS_PATH_MAX], unsigned int max)
{
	unsigned int n = 0;

	pthread_mutex_lock(&mmds_dir_lock);
	for (unsigned int i = 0; i < NET_MMDS_MAX_SOCKETS && n < max; i++)
		if (mmds_socks[i][0])
			memcpy(paths[n++], mmds_socks[i], NET_MMDS_PATH_MAX);
	pthread_mutex_unlock(&mmds_dir_lock);
	return n;
}

/* A private directory (0700) under $TMPDIR, /tmp or / (a jail may lack /tmp). mmds_dir_lock held. */
static int mmds_dir_make(struct err *err)
{
	const char *bases[] = { getenv("TMPDIR"), "/tmp", "" };
	int ret = -ENOENT;

	if (mmds_dir[0])
		return 0;
	for (unsigned int i = 0; i < 3; i++) {
		if (!bases[i] || (i == 0 && bases[i][0] != '/'))
			continue;
		if ((size_t)snprintf(mmds_dir, sizeof(mmds_dir), "%s/hearth-mmds.XXXXXX", bases[i]) >=
		    sizeof(mmds_dir)) {
			ret = -ENAMETOOLONG;
			continue;
		}
		if (mkdtemp(mmds_dir))
			return 0;
		ret = -errno;
	}
	mmds_dir[0] = '\0';
	return err_set(err, false, ret, "MMDS: cannot make a private directory for its socket "
		       "under $TMPDIR, /tmp or /: %s", strerror(-ret));
}

/* Binds a fresh socket in the directory and records it. mmds_dir_lock held. */
static int mmds_sock_make(struct net_mmds_http *h, struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int ret = mmds_dir_make(err);

	if (ret)
		return ret;
	for (h->slot = 0; h->slot < NET_MMDS_MAX_SOCKETS && mmds_socks[h->slot][0]; h->slot++)
		;
	if (h->slot == NET_MMDS_MAX_SOCKETS)
		return err_set(err, false, -ENOSPC, "MMDS: more than %u NICs with MMDS",
			       NET_MMDS_MAX_SOCKETS);
	snprintf(h->path, sizeof(h->path), "%s/nic%u.sock", mmds_dir, h->slot);
	memcpy(sa.sun_path, h->path, strlen(h->path) + 1);
	h->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->lfd < 0 || bind(h->lfd, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		goto err_dir;
	}
	if (listen(h->lfd, SOMAXCONN)) {
		ret = -errno;
		unlink(h->path);
		goto err_dir;
	}
	memcpy(mmds_socks[h->slot], h->path, sizeof(h->path));
	mmds_nsocks++;
	return 0;

err_dir:
	err_set(err, false, ret, "MMDS: socket %s: %s", h->path, strerror(-ret));
	/* Nobody's: h->path is not recorded, close does not touch it. */
	h->path[0] = '\0';
	if (!mmds_nsocks && !rmdir(mmds_dir))
		mmds_dir[0] = '\0';
	return ret;
}

static void mmds_sock_drop(struct net_mmds_http *h)
{
	pthread_mutex_lock(&mmds_dir_lock);
	if (h->path[0] && !strcmp(mmds_socks[h->slot], h->path)) {
		/* Sealed, the socket is a mount point in a read-only root: both fail, harmlessly. */
		unlink(h->path);
		mmds_socks[h->slot][0] = '\0';
		if (!--mmds_nsocks && !rmdir(mmds_dir))
			mmds_dir[0] = '\0';
	}
	pthread_mutex_unlock(&mmds_dir_lock);
}

static const char *mmds_http_header(const struct httpd_request *r, const char *name,
				    const char *alias)
{
	const char *v = httpd_header(r, name);

	return v || !alias ? v : httpd_header(r, alias);
}

/*
 * The headers Firecracker's MMDS adds that are the transport's, not the
 * responder's: a 405 names the methods it takes, and a new token's answer
 * repeats its TTL under the header name the guest used.
 */
static void mmds_http_fc_headers(const struct httpd_request *r, char *extra, size_t len,
				 const struct mmds_request *req, unsigned int status)
{
	static const char *const ttl_names[] = { "X-metadata-token-ttl-seconds",
						 "X-aws-ec2-metadata-token-ttl-seconds" };

	extra[0] = '\0';
	if (status == 405)
		snprintf(extra, len, "Allow: GET, PUT\r\n");
	if (status != 200 || strcmp(req->method, "PUT") || !req->ttl)
		return;
	for (unsigned int i = 0; i < 2; i++) {
		const char *t = httpd_header(r, ttl_names[i]);

		if (t) {
			/* Answered 200, so the responder took it as a number of seconds. */
			snprintf(extra, len, "%s: %lu\r\n", ttl_names[i], strtoul(t, NULL, 10));
			return;
		}
	}
}

static void mmds_http_on_request(void *opaque, const struct httpd_request *r,
				 struct httpd_reply *reply)
{
	struct net_mmds_http *h = opaque;
	struct mmds_response resp = { 0 };
	struct mmds_request req;

	req = (struct mmds_request){
		.method = r->method,
		.path = r->path,
		.accept = mmds_http_header(r, "Accept", NULL),
		.token = mmds_http_header(r, "X-metadata-token", "X-aws-ec2-metadata-token"),
		.ttl = mmds_http_header(r, "X-metadata-token-ttl-seconds",
					"X-aws-ec2-metadata-token-ttl-seconds"),
		.forwarded = mmds_http_header(r, "X-Forwarded-For", NULL) != NULL,
		.body_len = r->body_len,
	};
	mmds_respond(h->mmds, &req, (uint64_t)slirp_glue_now_ns(), &resp);
	reply->status = resp.status;
	reply->body = resp.body;
	reply->body_len = resp.body_len;
	reply->body_owned = true;
	reply->content_type = resp.content_type;
	mmds_http_fc_headers(r, h->extra, sizeof(h->extra), &req, resp.status);
	reply->extra = h->extra;
}

/* The MMDS reads no body, only whether there was one: nothing is kept. */
static const struct httpd_config mmds_httpd_cfg = {
	.idle_timeout_s = NET_MMDS_HTTP_TIMEOUT_S,
	.max_body = 0,
};

static const struct httpd_ops mmds_httpd_ops = {
	.on_request = mmds_http_on_request,
};

int net_mmds_http_open(struct mmds *m, struct net_mmds_http **out, struct err *err)
{
	struct net_mmds_http *h = calloc(1, sizeof(*h));
	int ret;

	if (!h)
		return err_set(err, false, -ENOMEM, "MMDS: out of memory");
	h->mmds = m;
	h->lfd = h->efd = -1;
	pthread_mutex_lock(&mmds_dir_lock);
	ret = mmds_sock_make(h, err);
	pthread_mutex_unlock(&mmds_dir_lock);
	if (ret)
		goto err_close;
	ret = httpd_create(&h->d, &mmds_httpd_cfg, &mmds_httpd_ops, h);
	if (ret) {
		err_set(err, false, ret, "MMDS: cannot start its HTTP server: %s", strerror(-ret));
		goto err_close;
	}
	h->efd = httpd_fd(h->d);
	*out = h;
	return 0;

err_close:
	net_mmds_http_close(h);
	return ret;
}

void net_mmds_http_close(struct net_mmds_http *h)
{
	if (!h)
		return;
	httpd_destroy(h->d);
	if (h->lfd >= 0)
		close(h->lfd);
	mmds_sock_drop(h);
	free(h);
}

const char *net_mmds_http_path(const struct net_mmds_http *h)
{
	return h->path;
}

void net_mmds_http_prepare(struct net_mmds_http *h, struct pollfd *pfd, int *timeout_ms)
{
	int ms = httpd_timeout_ms(h->d);

	pfd[0] = (struct pollfd){ .fd = h->lfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = h->efd, .events = POLLIN };
	if (ms >= 0 && (*timeout_ms < 0 || ms < *timeout_ms))
		*timeout_ms = ms;
}

void net_mmds_http_dispatch(struct net_mmds_http *h, const struct pollfd *pfd)
{
	for (int i = 0; (pfd[0].revents & POLLIN) && i < MMDS_HTTP_ACCEPT_BUDGET; i++) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_ratelimited(&mmds_http_rl, LOG_WARN, "MMDS: accept: %s",
						strerror(errno));
			break;
		}
		/* Past the connection limit it is closed at once: the guest sees a reset. */
		if (httpd_connections(h->d) >= NET_MMDS_HTTP_CONNS)
			close(fd);
		else
			httpd_add(h->d, fd);
	}
	httpd_run(h->d);
}

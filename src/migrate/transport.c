/*
 * Live migration's transport (transport.h): the uri, the source's
 * connect, the destination's listening socket and accept, TLS on each.
 */
#include "migrate/transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "migrate/tls.h"
#include "migrate/wire.h"
#include "sandbox/confine.h"
#include "util/log.h"
#include "util/uds.h"

static int tls_open(struct mig_link *l, int fd, bool server, struct err *err);

void mig_link_init(struct mig_link *l, struct tls_creds *creds, pthread_mutex_t *lock)
{
	memset(l, 0, sizeof(*l));
	l->lock = lock;
	l->creds = creds;
	l->fd = l->lfd = -1;
}

/* A destination that accepts no connection in this long is refused (the api thread waits). */
#define CONNECT_TIMEOUT_S 5

/*
 * tcp:ADDR:PORT, ADDR an IPv4 address or [an IPv6 one]: a sealed process
 * resolves no name (no resolver files, no NSS), so none is taken.
 */
static int tcp_uri(struct mig_link *l, const char *uri, struct err *err)
{
	const char *a = uri + 4, *colon;
	char host[64];
	char *end;
	unsigned long port;
	size_t n;

	if (*a == '[') {
		const char *close = strchr(a, ']');

		if (!close || close[1] != ':')
			goto err_bad;
		n = (size_t)(close - a - 1);
		a++;
		colon = close + 1;
	} else {
		colon = strrchr(a, ':');
		if (!colon)
			goto err_bad;
		n = (size_t)(colon - a);
	}
	if (!n || n >= sizeof(host))
		goto err_bad;
	memcpy(host, a, n);
	host[n] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 1 || port > 65535)
		goto err_bad;
	memset(&l->sa, 0, sizeof(l->sa));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&l->sa)->sin_addr) == 1) {
		((struct sockaddr_in *)&l->sa)->sin_family = AF_INET;
		((struct sockaddr_in *)&l->sa)->sin_port = htons((uint16_t)port);
		l->salen = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&l->sa)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&l->sa)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&l->sa)->sin6_port = htons((uint16_t)port);
		l->salen = sizeof(struct sockaddr_in6);
	} else {
		goto err_bad;
	}
	l->tcp = true;
	l->path[0] = '\0';
	snprintf(l->uri, sizeof(l->uri), "%s", uri);
	return 0;
err_bad:
	return err_set(err, true, -EINVAL, "uri '%.100s': want tcp:ADDR:PORT, ADDR an IPv4 "
		       "address or [an IPv6 one] (no name is resolved), PORT 1 to 65535", uri);
}

int mig_link_uri(struct mig_link *l, const char *uri, struct err *err)
{
	const char *path;

	l->tcp = false;
	if (strlen(uri) >= sizeof(l->uri))
		return err_set(err, true, -EINVAL, "uri '%.100s': longer than %zu bytes", uri,
			       sizeof(l->uri) - 1);
	if (!strncmp(uri, "tcp:", 4))
		return tcp_uri(l, uri, err);
	if (strncmp(uri, "unix:", 5))
		return err_set(err, true, -EINVAL, "uri '%.100s': want unix:PATH or "
			       "tcp:ADDR:PORT", uri);
	path = uri + 5;
	if (!*path || strlen(path) >= sizeof(l->path) || strlen(uri) >= sizeof(l->uri))
		return err_set(err, true, -EINVAL, "uri '%.100s': a socket path of 1 to %zu "
			       "bytes", uri, sizeof(l->path) - 1);
	snprintf(l->path, sizeof(l->path), "%s", path);
	snprintf(l->uri, sizeof(l->uri), "%s", uri);
	return 0;
}

/*
 * The api thread waits for this under the handler's lock: a listener whose
 * backlog is full would block connect(2) for good, so it has the send
 * deadline (which a Unix connect keeps), and the socket is published
 * first, for the owner to cut.
 */
int mig_link_connect(struct mig_link *l, struct err *err)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(l->tcp ? l->sa.ss_family : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1, ok;

	/* The seal's filter on this thread when it keeps no network (sandbox/confine.c). */
	if (fd < 0 && l->tcp && errno == EACCES && !sandbox_net_kept())
		return err_set(err, true, -EACCES, "migrate: %s: %s (this instance's sandbox "
			       "keeps no network: start it with --migrate-net)", l->uri,
			       strerror(EACCES));
	if (fd < 0)
		return err_set(err, false, -errno, "migrate: socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &(struct timeval){ CONNECT_TIMEOUT_S, 0 },
		   sizeof(struct timeval));
	pthread_mutex_lock(l->lock);
	l->fd = fd;
	pthread_mutex_unlock(l->lock);
	memcpy(a.sun_path, l->path, strlen(l->path) + 1);
	ok = l->tcp ? connect(fd, (struct sockaddr *)&l->sa, l->salen)
		    : connect(fd, (struct sockaddr *)&a, sizeof(a));
	if (ok == 0) {
		int ret;

		mig_wire_timeouts(fd);
		/* Records are whole writes already: no reason to hold the small ones back. */
		if (l->tcp)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ret = tls_open(l, fd, false, err);
		if (ret)
			return err_prefix(err, ret, "migrate: %s: ", l->uri);
	} else {
		int e = errno == EAGAIN || errno == EINPROGRESS ? ETIMEDOUT : errno;

		/* A sealed sandbox's own network namespace, or Landlock's TCP rules. */
		if (l->tcp && !sandbox_net_kept() && (e == ENETUNREACH || e == EACCES || e == EPERM))
			return err_set(err, true, -e, "migrate: %s: %s (this instance's sandbox "
				       "keeps no network: start it with --migrate-net)", l->uri,
				       strerror(e));
		return err_set(err, true, -e, "migrate: %s: %s%s", l->uri, strerror(e),
			       e == ENOENT || e == ECONNREFUSED ? " (is a destination listening? "
			       "PUT /migrate/incoming on it first)" : e == ETIMEDOUT ?
			       " (the destination accepts no connection)" : "");
	}
	return 0;
}

/*
 * The destination's listening socket (l->lfd), before its VM exists: a
 * Unix socket bound under a temporary name and renamed into place, or a
 * TCP one on the uri's address. 0 or -errno with err.
 */
int mig_link_listen(struct mig_link *l, struct err *err)
{
	int one = 1, fd, ret;

	if (!l->tcp) {
		ret = uds_listen("migrate/incoming", l->path, 1, err);
		if (ret < 0)
			return ret;
		fd = ret;
	} else {
		fd = socket(l->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return err_set(err, false, -errno, "migrate/incoming: socket: %s",
				       strerror(errno));
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&l->sa, l->salen) || listen(fd, 1)) {
			ret = -errno;
			close(fd);
			return err_set(err, ret == -EADDRINUSE || ret == -EADDRNOTAVAIL ||
				       ret == -EACCES, ret, "migrate/incoming: %s: %s", l->uri,
				       strerror(-ret));
		}
	}
	pthread_mutex_lock(l->lock);
	l->lfd = fd;
	pthread_mutex_unlock(l->lock);
	return 0;
}

/* The listening socket is done with: closed, and a Unix one's path removed. */
void mig_link_unlisten(struct mig_link *l)
{
	pthread_mutex_lock(l->lock);
	if (l->lfd >= 0) {
		close(l->lfd);
		l->lfd = -1;
		if (!l->tcp)
			unlink(l->path);
	}
	pthread_mutex_unlock(l->lock);
}

int mig_link_tls(struct mig_link *l, bool tls, const char *hostname, bool server,
		 struct err *err)
{
	l->tls = tls;
	l->tls_hostname[0] = l->tls_desc[0] = '\0';
	if (!tls)
		return 0;
	if (!l->creds)
		return err_set(err, true, -EINVAL, "tls: this instance was started without "
			       "--migrate-tls DIR (docs/migration.md, Transport security)");
	if (!tls_creds_can(l->creds, server))
		return err_set(err, true, -EINVAL, "tls: --migrate-tls holds no %s", server ?
			       "server-cert.pem and server-key.pem (a destination's)" :
			       "client-cert.pem and client-key.pem (a source's)");
	if (server)
		return 0;
	/* The name the destination's certificate must hold: the request's, else tcp:'s address. */
	if (hostname)
		snprintf(l->tls_hostname, sizeof(l->tls_hostname), "%s", hostname);
	else if (l->tcp && l->sa.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&l->sa)->sin_addr, l->tls_hostname,
			  sizeof(l->tls_hostname));
	else if (l->tcp)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&l->sa)->sin6_addr, l->tls_hostname,
			  sizeof(l->tls_hostname));
	return 0;
}

static int tls_open(struct mig_link *l, int fd, bool server, struct err *err)
{
	struct tls_session *s;
	int ret;

	if (!l->tls)
		return 0;
	ret = tls_session_open(l->creds, fd, server, l->tls_hostname[0] ? l->tls_hostname : NULL,
			       &s, err);
	if (ret)
		return ret;
	ret = mig_wire_tls_set(fd, s);
	if (ret) {
		tls_session_close(s);
		return err_set(err, false, ret, "TLS: more than %d sessions at once",
			       MIG_WIRE_TLS_MAX);
	}
	pthread_mutex_lock(l->lock);
	snprintf(l->tls_desc, sizeof(l->tls_desc), "%s", tls_session_desc(s));
	pthread_mutex_unlock(l->lock);
	log_info("migration: TLS with %s (%s)", l->uri, tls_session_desc(s));
	return 0;
}

/* Its TLS session's end first, which writes to the peer: never under the owner's lock. */
static void close_fd(int fd)
{
	struct tls_session *s = mig_wire_tls_get(fd);

	if (s) {
		/* The close_notify waits a second at most for a peer that reads nothing. */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &(struct timeval){ 1, 0 },
			   sizeof(struct timeval));
		mig_wire_tls_set(fd, NULL);
		tls_session_close(s);
	}
	close(fd);
}

void mig_link_close(struct mig_link *l)
{
	int fd;

	pthread_mutex_lock(l->lock);
	fd = l->fd;
	l->fd = -1;
	pthread_mutex_unlock(l->lock);
	if (fd >= 0)
		close_fd(fd);
}

void mig_link_cut(struct mig_link *l)
{
	if (l->fd >= 0)
		shutdown(l->fd, SHUT_RDWR);
	if (l->lfd >= 0)
		shutdown(l->lfd, SHUT_RDWR);
}

/* One connection on the listening socket; a cut (mig_link_cut) ends the wait. */
int mig_link_accept(struct mig_link *l, struct err *err)
{
	for (;;) {
		struct pollfd p = { l->lfd, POLLIN, 0 };
		int fd;

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return err_set(err, false, -errno, "poll: %s", strerror(errno));
		if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
			return err_set(err, false, -ECANCELED, "the instance is ending");
		fd = accept4(l->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			struct err why = ERR_INIT;

			mig_wire_timeouts(fd);
			pthread_mutex_lock(l->lock);
			l->fd = fd;
			pthread_mutex_unlock(l->lock);
			if (!tls_open(l, fd, true, &why))
				return 0;
			/*
			 * A peer TLS refuses is not the source: dropped, and the
			 * wait goes on for the one that holds a certificate.
			 */
			log_warn("migration: a connection to %s refused: %s", l->uri, why.msg);
			mig_link_close(l);
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			return err_set(err, false, -errno, "accept: %s", strerror(errno));
	}
}

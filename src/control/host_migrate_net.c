/*
 * Live migration's connection (host_migrate.h): the uri parsed (unix:PATH,
 * or tcp:ADDR:PORT with an address, since a sealed process resolves no
 * name), the source's connect, the destination's listening socket.
 */
#include "control/host_migrate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

/* A destination that accepts no connection in this long is refused (the api thread waits). */
#define CONNECT_TIMEOUT_S 5

/*
 * tcp:ADDR:PORT, ADDR an IPv4 address or [an IPv6 one]: a sealed process
 * resolves no name (no resolver files, no NSS), so none is taken.
 */
static int tcp_uri(struct host_mig *m, const char *uri, struct err *err)
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
	memset(&m->sa, 0, sizeof(m->sa));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&m->sa)->sin_addr) == 1) {
		((struct sockaddr_in *)&m->sa)->sin_family = AF_INET;
		((struct sockaddr_in *)&m->sa)->sin_port = htons((uint16_t)port);
		m->salen = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&m->sa)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&m->sa)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&m->sa)->sin6_port = htons((uint16_t)port);
		m->salen = sizeof(struct sockaddr_in6);
	} else {
		goto err_bad;
	}
	m->tcp = true;
	m->path[0] = '\0';
	snprintf(m->uri, sizeof(m->uri), "%s", uri);
	return 0;
err_bad:
	return err_set(err, true, -EINVAL, "uri '%.100s': want tcp:ADDR:PORT, ADDR an IPv4 "
		       "address or [an IPv6 one] (no name is resolved), PORT 1 to 65535", uri);
}

int host_mig_uri(struct host_mig *m, const char *uri, struct err *err)
{
	const char *path;

	m->tcp = false;
	if (strlen(uri) >= sizeof(m->uri))
		return err_set(err, true, -EINVAL, "uri '%.100s': longer than %zu bytes", uri,
			       sizeof(m->uri) - 1);
	if (!strncmp(uri, "tcp:", 4))
		return tcp_uri(m, uri, err);
	if (strncmp(uri, "unix:", 5))
		return err_set(err, true, -EINVAL, "uri '%.100s': want unix:PATH or "
			       "tcp:ADDR:PORT", uri);
	path = uri + 5;
	if (!*path || strlen(path) >= sizeof(m->path) || strlen(uri) >= sizeof(m->uri))
		return err_set(err, true, -EINVAL, "uri '%.100s': a socket path of 1 to %zu "
			       "bytes", uri, sizeof(m->path) - 1);
	snprintf(m->path, sizeof(m->path), "%s", path);
	snprintf(m->uri, sizeof(m->uri), "%s", uri);
	return 0;
}

/*
 * The api thread waits for this under the handler's lock: a listener whose
 * backlog is full would block connect(2) for good, so it has the send
 * deadline (which a Unix connect keeps), and the socket is published
 * first, for host_migrate_stop to cut.
 */
int host_mig_connect(struct host_mig *m, struct err *err)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(m->tcp ? m->sa.ss_family : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1, ok;

	/* The seal's filter on this thread when it keeps no network (sandbox/confine.c). */
	if (fd < 0 && m->tcp && errno == EACCES && !sandbox_net_kept())
		return err_set(err, true, -EACCES, "migrate: %s: %s (this instance's sandbox "
			       "keeps no network: start it with --migrate-net)", m->uri,
			       strerror(EACCES));
	if (fd < 0)
		return err_set(err, false, -errno, "migrate: socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &(struct timeval){ CONNECT_TIMEOUT_S, 0 },
		   sizeof(struct timeval));
	pthread_mutex_lock(&m->lock);
	m->fd = fd;
	pthread_mutex_unlock(&m->lock);
	memcpy(a.sun_path, m->path, strlen(m->path) + 1);
	ok = m->tcp ? connect(fd, (struct sockaddr *)&m->sa, m->salen)
		    : connect(fd, (struct sockaddr *)&a, sizeof(a));
	if (ok == 0) {
		int ret;

		mig_wire_timeouts(fd);
		/* Records are whole writes already: no reason to hold the small ones back. */
		if (m->tcp)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ret = host_mig_tls_open(m, fd, false, err);
		if (ret)
			return err_prefix(err, ret, "migrate: %s: ", m->uri);
	} else {
		int e = errno == EAGAIN || errno == EINPROGRESS ? ETIMEDOUT : errno;

		/* A sealed sandbox's own network namespace, or Landlock's TCP rules. */
		if (m->tcp && !sandbox_net_kept() && (e == ENETUNREACH || e == EACCES || e == EPERM))
			return err_set(err, true, -e, "migrate: %s: %s (this instance's sandbox "
				       "keeps no network: start it with --migrate-net)", m->uri,
				       strerror(e));
		return err_set(err, true, -e, "migrate: %s: %s%s", m->uri, strerror(e),
			       e == ENOENT || e == ECONNREFUSED ? " (is a destination listening? "
			       "PUT /migrate/incoming on it first)" : e == ETIMEDOUT ?
			       " (the destination accepts no connection)" : "");
	}
	return 0;
}

/*
 * The destination's listening socket (m->lfd), before its VM exists: a
 * Unix socket bound under a temporary name and renamed into place, or a
 * TCP one on the uri's address. 0 or -errno with err.
 */
int host_mig_listen(struct host_mig *m, struct err *err)
{
	int one = 1, fd, ret;

	if (!m->tcp) {
		ret = uds_listen("migrate/incoming", m->path, 1, err);
		if (ret < 0)
			return ret;
		fd = ret;
	} else {
		fd = socket(m->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return err_set(err, false, -errno, "migrate/incoming: socket: %s",
				       strerror(errno));
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&m->sa, m->salen) || listen(fd, 1)) {
			ret = -errno;
			close(fd);
			return err_set(err, ret == -EADDRINUSE || ret == -EADDRNOTAVAIL ||
				       ret == -EACCES, ret, "migrate/incoming: %s: %s", m->uri,
				       strerror(-ret));
		}
	}
	pthread_mutex_lock(&m->lock);
	m->lfd = fd;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* The listening socket is done with: closed, and a Unix one's path removed. */
void host_mig_unlisten(struct host_mig *m)
{
	pthread_mutex_lock(&m->lock);
	if (m->lfd >= 0) {
		close(m->lfd);
		m->lfd = -1;
		if (!m->tcp)
			unlink(m->path);
	}
	pthread_mutex_unlock(&m->lock);
}

int host_mig_tls_request(struct host_mig *m, const struct ctl_migrate_req *r, bool server,
			 struct err *err)
{
	m->tls = r->tls;
	m->tls_hostname[0] = m->tls_desc[0] = '\0';
	if (!r->tls)
		return 0;
	if (!m->creds)
		return err_set(err, true, -EINVAL, "tls: this instance was started without "
			       "--migrate-tls DIR (docs/migration.md, Transport security)");
	if (!tls_creds_can(m->creds, server))
		return err_set(err, true, -EINVAL, "tls: --migrate-tls holds no %s", server ?
			       "server-cert.pem and server-key.pem (a destination's)" :
			       "client-cert.pem and client-key.pem (a source's)");
	if (server)
		return 0;
	/* The name the destination's certificate must hold: the request's, else tcp:'s address. */
	if (r->tls_hostname)
		snprintf(m->tls_hostname, sizeof(m->tls_hostname), "%s", r->tls_hostname);
	else if (m->tcp && m->sa.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&m->sa)->sin_addr, m->tls_hostname,
			  sizeof(m->tls_hostname));
	else if (m->tcp)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&m->sa)->sin6_addr, m->tls_hostname,
			  sizeof(m->tls_hostname));
	return 0;
}

int host_mig_tls_open(struct host_mig *m, int fd, bool server, struct err *err)
{
	struct tls_session *s;
	int ret;

	if (!m->tls)
		return 0;
	ret = tls_session_open(m->creds, fd, server, m->tls_hostname[0] ? m->tls_hostname : NULL,
			       &s, err);
	if (ret)
		return ret;
	ret = mig_wire_tls_set(fd, s);
	if (ret) {
		tls_session_close(s);
		return err_set(err, false, ret, "TLS: more than %d sessions at once",
			       MIG_WIRE_TLS_MAX);
	}
	pthread_mutex_lock(&m->lock);
	snprintf(m->tls_desc, sizeof(m->tls_desc), "%s", tls_session_desc(s));
	pthread_mutex_unlock(&m->lock);
	log_info("migration: TLS with %s (%s)", m->uri, tls_session_desc(s));
	return 0;
}

void host_mig_close(int fd)
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

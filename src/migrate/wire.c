/* The migration stream on a socket (wire.h). */
#include "migrate/wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "migrate/tls.h"

/*
 * The connections that speak TLS, by fd: the stream's functions all take
 * the socket, and a plain one (most) pays one atomic load to learn so.
 */
static struct {
	int fd;
	struct tls_session *s;
} tls_fds[MIG_WIRE_TLS_MAX];
static unsigned int tls_n;
static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;

int mig_wire_tls_set(int fd, struct tls_session *s)
{
	int ret = s ? -ENOSPC : 0;

	pthread_mutex_lock(&tls_lock);
	for (unsigned int i = 0; i < MIG_WIRE_TLS_MAX; i++) {
		if (tls_fds[i].s && tls_fds[i].fd == fd) {
			tls_fds[i].s = NULL;
			__atomic_store_n(&tls_n, tls_n - 1, __ATOMIC_RELEASE);
		}
	}
	for (unsigned int i = 0; s && i < MIG_WIRE_TLS_MAX; i++) {
		if (!tls_fds[i].s) {
			tls_fds[i].fd = fd;
			tls_fds[i].s = s;
			__atomic_store_n(&tls_n, tls_n + 1, __ATOMIC_RELEASE);
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&tls_lock);
	return ret;
}

struct tls_session *mig_wire_tls_get(int fd)
{
	struct tls_session *s = NULL;

	if (!__atomic_load_n(&tls_n, __ATOMIC_ACQUIRE))
		return NULL;
	pthread_mutex_lock(&tls_lock);
	for (unsigned int i = 0; i < MIG_WIRE_TLS_MAX && !s; i++)
		if (tls_fds[i].s && tls_fds[i].fd == fd)
			s = tls_fds[i].s;
	pthread_mutex_unlock(&tls_lock);
	return s;
}

/* The socket's way out and in: a plain send and read, or the TLS session's. */
static ssize_t out(int fd, struct tls_session *s, const void *buf, size_t len)
{
	ssize_t got;

	if (s)
		return tls_send(s, buf, len);
	got = send(fd, buf, len, MSG_NOSIGNAL);
	return got < 0 ? -errno : got;
}

static ssize_t in(int fd, struct tls_session *s, void *buf, size_t len)
{
	ssize_t got;

	if (s)
		return tls_recv(s, buf, len);
	got = read(fd, buf, len);
	return got < 0 ? -errno : got;
}

void mig_wire_timeouts(int fd)
{
	struct timeval tv = { MIG_IO_TIMEOUT_MS / 1000, (MIG_IO_TIMEOUT_MS % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/*
 * A peer that trickles a byte now and then meets each call's deadline: the
 * whole of one record (or one write) has MIG_IO_TIMEOUT_MS too.
 */
static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static bool late(uint64_t t0)
{
	return now_ms() - t0 > MIG_IO_TIMEOUT_MS;
}

static int io_errno(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK ? -ETIMEDOUT : e == ECONNRESET ? -EPIPE : -e;
}

/* All of len out (or in), the whole of it within MIG_IO_TIMEOUT_MS of t0; -EPIPE at the peer's end. */
static int move_all(int fd, struct tls_session *s, void *buf, size_t len, uint64_t t0,
		    bool write)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t got;

		if (late(t0))
			return -ETIMEDOUT;
		got = write ? out(fd, s, p, len) : in(fd, s, p, len);
		/* TLS's AGAIN may be a message of its own: late() above decides. */
		if (got == -EINTR || (s && got == -EAGAIN))
			continue;
		if (got < 0)
			return io_errno((int)-got);
		if (!got)
			return -EPIPE;
		p += got;
		len -= (size_t)got;
	}
	return 0;
}

/*
 * A record's pieces through TLS, gathered into full TLS records (16 KiB):
 * one record per 4 KiB page would cost its header and tag each.
 */
static int send_tls(int fd, struct tls_session *s, const struct iovec *v, unsigned int cnt,
		    uint64_t t0)
{
	uint8_t chunk[16384];
	size_t used = 0;
	int ret = 0;

	for (unsigned int i = 0; i < cnt && !ret; i++) {
		const uint8_t *p = v[i].iov_base;
		size_t left = v[i].iov_len;

		while (left && !ret) {
			size_t take = left < sizeof(chunk) - used ? left : sizeof(chunk) - used;

			memcpy(chunk + used, p, take);
			used += take;
			p += take;
			left -= take;
			if (used == sizeof(chunk)) {
				ret = move_all(fd, s, chunk, used, t0, true);
				used = 0;
			}
		}
	}
	return ret || !used ? ret : move_all(fd, s, chunk, used, t0, true);
}

int mig_wire_send(int fd, uint32_t type, const struct iovec *iov, unsigned int n, uint64_t len)
{
	struct tls_session *s = mig_wire_tls_get(fd);
	struct iovec v[1 + MIG_PAGES_MAX];
	struct msghdr m = { .msg_iov = v };
	uint8_t hdr[MIG_REC_SIZE];
	unsigned int cnt = 0;

	if (n > MIG_PAGES_MAX)
		return -EINVAL;
	uint64_t t0 = now_ms();

	mig_rec_put(hdr, type, len);
	v[cnt++] = (struct iovec){ hdr, sizeof(hdr) };
	for (unsigned int i = 0; i < n; i++)
		v[cnt++] = iov[i];
	if (s)
		return send_tls(fd, s, v, cnt, t0);
	/* Partial sends move the window on; MSG_NOSIGNAL: a reader gone is -EPIPE, not a signal. */
	for (unsigned int first = 0; first < cnt;) {
		ssize_t got;

		m.msg_iov = v + first;
		m.msg_iovlen = cnt - first;
		if (late(t0))
			return -ETIMEDOUT;
		got = sendmsg(fd, &m, MSG_NOSIGNAL);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return io_errno(errno);
		while (first < cnt && (size_t)got >= v[first].iov_len)
			got -= (ssize_t)v[first++].iov_len;
		if (first < cnt) {
			v[first].iov_base = (uint8_t *)v[first].iov_base + got;
			v[first].iov_len -= (size_t)got;
		}
	}
	return 0;
}

int mig_wire_write(int fd, const void *buf, size_t len)
{
	return move_all(fd, mig_wire_tls_get(fd), (void *)buf, len, now_ms(), true);
}

int mig_wire_read(int fd, void *buf, size_t len)
{
	return move_all(fd, mig_wire_tls_get(fd), buf, len, now_ms(), false);
}

int mig_wire_recv(int fd, struct mig_rec *r, uint8_t **buf, size_t *cap, struct err *err)
{
	uint8_t hdr[MIG_REC_SIZE];
	int ret = mig_wire_read(fd, hdr, sizeof(hdr));

	if (ret)
		return err_set(err, false, ret, "%s", ret == -EPIPE ? "the peer closed the "
			       "connection" : ret == -ETIMEDOUT ? "the peer sent nothing for 30 s"
			       : strerror(-ret));
	ret = mig_rec_check(hdr, r, err);
	if (ret)
		return ret;
	if (r->len > *cap) {
		uint8_t *p = realloc(*buf, (size_t)r->len);

		if (!p)
			return err_set(err, false, -ENOMEM, "out of memory");
		*buf = p;
		*cap = (size_t)r->len;
	}
	ret = mig_wire_read(fd, *buf, (size_t)r->len);
	if (ret)
		return err_set(err, false, ret, "record %s cut short: %s", mig_type_name(r->type),
			       ret == -EPIPE ? "the peer closed the connection" : strerror(-ret));
	return 0;
}

/* The migration stream on a socket (wire.h). */
#include "migrate/wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

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

int mig_wire_send(int fd, uint32_t type, const struct iovec *iov, unsigned int n, uint64_t len)
{
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
	const uint8_t *p = buf;
	uint64_t t0 = now_ms();

	while (len) {
		ssize_t got;

		if (late(t0))
			return -ETIMEDOUT;
		got = send(fd, p, len, MSG_NOSIGNAL);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return io_errno(errno);
		p += got;
		len -= (size_t)got;
	}
	return 0;
}

int mig_wire_read(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	uint64_t t0 = now_ms();

	while (len) {
		ssize_t got;

		if (late(t0))
			return -ETIMEDOUT;
		got = read(fd, p, len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return io_errno(errno);
		if (!got)
			return -EPIPE;
		p += got;
		len -= (size_t)got;
	}
	return 0;
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

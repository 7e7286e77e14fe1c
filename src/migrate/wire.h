/*
 * The migration stream on a socket (stream.h's records, whole): each
 * side's reads and writes, with a deadline so a peer that stops reading
 * or writing fails the migration instead of hanging it.
 */
#ifndef HEARTH_MIGRATE_WIRE_H
#define HEARTH_MIGRATE_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "migrate/codec.h"
#include "util/err.h"

/* A peer silent this long in the middle of a record, or of an answer it owes, has failed. */
#define MIG_IO_TIMEOUT_MS 30000

struct tls_session;

/*
 * fd's TLS session (migrate/tls.h) from now, or NULL: plain again. Every
 * call below on fd then goes through it. At most MIG_WIRE_TLS_MAX at once:
 * -ENOSPC beyond.
 */
#define MIG_WIRE_TLS_MAX 4
int mig_wire_tls_set(int fd, struct tls_session *s);
struct tls_session *mig_wire_tls_get(int fd);

/* Sets the socket's send and receive deadlines (MIG_IO_TIMEOUT_MS). */
void mig_wire_timeouts(int fd);
/* One record: header, then the iovecs (len bytes in all). 0 or -errno (-EPIPE: the peer left). */
int mig_wire_send(int fd, uint32_t type, const struct iovec *iov, unsigned int n, uint64_t len);
static inline int mig_wire_send_buf(int fd, uint32_t type, const void *buf, size_t len)
{
	struct iovec v = { (void *)buf, len };

	return mig_wire_send(fd, type, &v, len ? 1 : 0, len);
}
/*
 * The next record's header, checked (mig_rec_check: its length bounded by
 * its type), into r; its payload into *buf, grown (realloc) to fit, *cap
 * its size. 0, or -errno with err: -EPIPE when the peer closed (mid-record
 * or between records), -ETIMEDOUT, -EPROTO.
 */
int mig_wire_recv(int fd, struct mig_rec *r, uint8_t **buf, size_t *cap, struct err *err);
/* Writes exactly len bytes: 0 or -errno (-EPIPE: the peer left). */
int mig_wire_write(int fd, const void *buf, size_t len);
/* Reads exactly len bytes: 0, -EPIPE at the peer's end, or -errno. */
int mig_wire_read(int fd, void *buf, size_t len);

#endif

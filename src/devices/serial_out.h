/*
 * The UART's transmit path: a bounded buffer between the vCPU that writes
 * THR (the producer, which must never block) and the thread that writes
 * the bytes to the host fd (the consumer: the io thread, or a test).
 */
#ifndef HEARTH_DEVICES_SERIAL_OUT_H
#define HEARTH_DEVICES_SERIAL_OUT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ratelimit.h"

#define SERIAL_OUT_SIZE (64 * 1024)

enum serial_out_mode {
	SERIAL_OUT_DISCARD, /* no fd: bytes are thrown away, not counted */
	SERIAL_OUT_WRITE,   /* write(); fd is non-blocking or can never block */
	SERIAL_OUT_SEND,    /* a socket: send(MSG_DONTWAIT), flags untouched */
};

struct serial_out {
	/* Guards head, count and dropped; held to copy bytes, never across a syscall. */
	pthread_mutex_t lock;
	/* One consumer at a time, held across its writes; producers never take it. */
	pthread_mutex_t drain_lock;
	enum serial_out_mode mode;
	int fd;            /* what the consumer writes to */
	int poll_fd;       /* wait for POLLOUT here after -EAGAIN; -1: writes never block */
	int wake_fd;       /* eventfd, written on the empty -> non-empty transition */
	bool own_fd;       /* fd is our private reopen of the caller's fd */
	int restore_fd;    /* we set O_NONBLOCK on this shared fd and clear it at the end */
	size_t head, count;
	uint64_t dropped;  /* bytes lost: buffer full, or the fd failed */
	uint64_t tx_bytes; /* every byte the guest sent, discarded or not (atomic) */
	/*
	 * PUT /serial's rate_limiter, as Firecracker's: bytes past the
	 * bucket are dropped and counted, nothing waits. Under lock.
	 */
	bool limited;
	struct rate_limiter rl;
	uint64_t rl_unblock_ns;
	uint64_t rl_dropped;
	/*
	 * Last: serial_out_init clears what comes before it only. A ring's
	 * bytes are written before they are read, and a page of it never
	 * written is no page of this VM's (nor of any fork's clone).
	 */
	uint8_t buf[SERIAL_OUT_SIZE];
};

/* fd -1 discards. Returns 0 or -errno. */
int serial_out_init(struct serial_out *o, int fd);
/* The output's bandwidth bucket (cfg NULL or unset: none); before any byte is put. */
void serial_out_set_limit(struct serial_out *o, const struct rl_config *cfg);
/* Bytes the rate limiter dropped. */
uint64_t serial_out_rl_dropped(struct serial_out *o);
void serial_out_destroy(struct serial_out *o);

/*
 * Producer side, any thread, never blocks: buffers the byte or, when the
 * buffer is full, drops and counts it. Returns true when the buffer was
 * empty, so the caller must call serial_out_wake() (after dropping its
 * own locks) for the consumer to notice.
 */
bool serial_out_put(struct serial_out *o, uint8_t byte);
void serial_out_wake(struct serial_out *o);

/*
 * Consumer side. serial_out_drain writes what it can without blocking:
 * 0 once the buffer is empty, -EAGAIN when fd is full (wait for POLLOUT on
 * poll_fd), other -errno when fd failed (what was buffered is dropped).
 * serial_out_flush keeps draining, waiting for room, until the buffer is
 * empty or fd has accepted nothing for timeout_ms (-ETIMEDOUT).
 */
int serial_out_drain(struct serial_out *o);
int serial_out_flush(struct serial_out *o, int timeout_ms);
size_t serial_out_pending(struct serial_out *o);
uint64_t serial_out_dropped(struct serial_out *o);
uint64_t serial_out_tx_bytes(struct serial_out *o);

#endif

/*
 * The UART's transmit buffer. The vCPU that writes THR only copies the
 * byte into a ring under a short lock; the host fd is written by a
 * consumer (the io thread) with non-blocking writes, so a stalled stdout
 * (a paused terminal, a pipe nobody reads) costs the guest output bytes
 * once the ring is full, never a stuck vCPU or a stuck io thread.
 *
 * Single consumer: the bytes in [head, head + count) are only read by the
 * consumer and the producer only writes outside them, so the consumer can
 * write straight from the ring without holding the lock across write().
 */
#include "devices/serial_out.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/log.h"

/*
 * Getting a non-blocking writer for an fd we share with others. stdout is
 * usually one open file description with stdin, stderr and the parent
 * shell, so setting O_NONBLOCK on it would make the shell's reads and our
 * own stderr writes fail with EAGAIN too, and would stay set if we are
 * SIGKILLed. In order of preference:
 *  - a regular file or block device never returns EAGAIN: write as is;
 *  - a socket: send(MSG_DONTWAIT) is non-blocking per call;
 *  - already O_NONBLOCK: someone chose that; write as is;
 *  - a pipe, FIFO or terminal: reopen it through /proc/self/fd, which
 *    gives us a private open file description of the same pipe or tty
 *    whose O_NONBLOCK nobody else sees;
 *  - only if that fails (no /proc, a tty we may not open): set O_NONBLOCK
 *    on the shared description and clear it again at destroy.
 */
static int serial_out_open_fd(struct serial_out *o, int fd)
{
	char path[32];
	struct stat st, nst;
	int flags, nfd;

	o->fd = fd;
	o->poll_fd = fd;
	o->mode = SERIAL_OUT_WRITE;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
		o->poll_fd = -1; /* and epoll refuses them */
		return 0;
	}
	if (S_ISSOCK(st.st_mode)) {
		o->mode = SERIAL_OUT_SEND;
		return 0;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -errno;
	if (flags & O_NONBLOCK)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (nfd >= 0 && fstat(nfd, &nst) == 0 && nst.st_dev == st.st_dev &&
	    nst.st_ino == st.st_ino && nst.st_rdev == st.st_rdev) {
		o->fd = nfd;
		o->poll_fd = nfd;
		o->own_fd = true;
		return 0;
	}
	if (nfd >= 0)
		close(nfd);
	log_debug("serial: cannot reopen fd %d privately; making it non-blocking until exit",
		  fd);
	if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	o->restore_fd = fd;
	return 0;
}

/* Undoes serial_out_open_fd: the caller's fd is left as we found it. */
static void serial_out_close_fd(struct serial_out *o)
{
	int flags;

	if (o->own_fd)
		close(o->fd);
	if (o->restore_fd >= 0) {
		flags = fcntl(o->restore_fd, F_GETFL);
		if (flags >= 0)
			fcntl(o->restore_fd, F_SETFL, flags & ~O_NONBLOCK);
	}
	o->own_fd = false;
	o->restore_fd = -1;
}

int serial_out_init(struct serial_out *o, int fd)
{
	int r;

	memset(o, 0, offsetof(struct serial_out, buf));
	o->fd = -1;
	o->poll_fd = -1;
	o->wake_fd = -1;
	o->restore_fd = -1;
	o->mode = SERIAL_OUT_DISCARD;
	r = pthread_mutex_init(&o->lock, NULL);
	if (r)
		return -r;
	r = pthread_mutex_init(&o->drain_lock, NULL);
	if (r) {
		r = -r;
		goto err_lock;
	}
	if (fd < 0)
		return 0;
	/* Before any fd of ours is opened, which could reuse a closed fd's number. */
	r = serial_out_open_fd(o, fd);
	if (r == -EBADF) {
		/* A closed stdout: run on, as if it had been /dev/null. */
		log_warn("serial: fd %d is not open; guest output is discarded", fd);
		o->fd = o->poll_fd = -1;
		o->mode = SERIAL_OUT_DISCARD;
		return 0;
	}
	if (r)
		goto err_drain_lock;
	o->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (o->wake_fd < 0) {
		r = -errno;
		goto err_fd;
	}
	return 0;

err_fd:
	serial_out_close_fd(o);
err_drain_lock:
	pthread_mutex_destroy(&o->drain_lock);
err_lock:
	pthread_mutex_destroy(&o->lock);
	return r;
}

void serial_out_destroy(struct serial_out *o)
{
	serial_out_close_fd(o);
	if (o->wake_fd >= 0)
		close(o->wake_fd);
	pthread_mutex_destroy(&o->drain_lock);
	pthread_mutex_destroy(&o->lock);
	o->fd = o->poll_fd = o->wake_fd = o->restore_fd = -1;
	o->own_fd = false;
}

void serial_out_set_limit(struct serial_out *o, const struct rl_config *cfg)
{
	struct rl_config c = { 0 };

	if (cfg)
		c.bandwidth = cfg->bandwidth;
	pthread_mutex_lock(&o->lock);
	o->limited = rl_bucket_enabled(&c.bandwidth);
	rate_limiter_init(&o->rl, o->limited ? &c : NULL, NULL);
	pthread_mutex_unlock(&o->lock);
}

uint64_t serial_out_rl_dropped(struct serial_out *o)
{
	uint64_t n;

	pthread_mutex_lock(&o->lock);
	n = o->rl_dropped;
	pthread_mutex_unlock(&o->lock);
	return n;
}

/* Whether the limiter lets one more byte out now; o->lock held. */
static bool serial_out_admit(struct serial_out *o)
{
	uint64_t now;

	if (!o->limited)
		return true;
	now = rl_clock_now(&o->rl.clock);
	/* No timer here: a blocked bucket unblocks itself once its time has come. */
	if (o->rl.blocked && now >= o->rl_unblock_ns)
		rate_limiter_unblock(&o->rl);
	if (!o->rl.blocked && rate_limiter_consume(&o->rl, 1, RL_BYTES) && !o->rl.blocked)
		return true;
	if (o->rl.blocked && o->rl_unblock_ns < now)
		o->rl_unblock_ns = now + o->rl.timer_ns;
	o->rl_dropped++;
	return false;
}

bool serial_out_put(struct serial_out *o, uint8_t byte)
{
	bool was_empty = false;

	__atomic_fetch_add(&o->tx_bytes, 1, __ATOMIC_RELAXED);
	if (o->mode == SERIAL_OUT_DISCARD)
		return false;
	pthread_mutex_lock(&o->lock);
	if (!serial_out_admit(o)) {
		pthread_mutex_unlock(&o->lock);
		return false;
	}
	if (o->count == SERIAL_OUT_SIZE) {
		o->dropped++;
	} else {
		o->buf[(o->head + o->count) % SERIAL_OUT_SIZE] = byte;
		was_empty = o->count++ == 0;
	}
	pthread_mutex_unlock(&o->lock);
	return was_empty;
}

void serial_out_wake(struct serial_out *o)
{
	uint64_t one = 1;

	/* Non-blocking; it can only fail at a count of 2^64-2, which is still a wakeup. */
	if (write(o->wake_fd, &one, sizeof(one)) < 0) {
		/* Nothing else to do: the consumer is woken either way. */
	}
}

static void serial_out_consume(struct serial_out *o, size_t n, bool lost)
{
	pthread_mutex_lock(&o->lock);
	o->head = (o->head + n) % SERIAL_OUT_SIZE;
	o->count -= n;
	/*
	 * Empty: the next byte goes to the ring's start. Output drained as it
	 * comes then keeps to the first page or two, and the rest of the ring
	 * stays zero pages, not each VM process's own (a clone's above all).
	 */
	if (!o->count)
		o->head = 0;
	if (lost)
		o->dropped += n;
	pthread_mutex_unlock(&o->lock);
}

/* One non-blocking write of up to the whole buffer, both halves of a wrap at once. */
static ssize_t serial_out_write_once(struct serial_out *o, size_t head, size_t count)
{
	struct iovec iov[2];
	size_t first = SERIAL_OUT_SIZE - head < count ? SERIAL_OUT_SIZE - head : count;
	int n = 1;

	iov[0] = (struct iovec){ o->buf + head, first };
	if (first < count)
		iov[n++] = (struct iovec){ o->buf, count - first };
	if (o->mode == SERIAL_OUT_SEND) {
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)n };

		return sendmsg(o->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	return writev(o->fd, iov, n);
}

int serial_out_drain(struct serial_out *o)
{
	size_t head, count;
	ssize_t n;
	int ret = 0;

	if (o->mode == SERIAL_OUT_DISCARD)
		return 0;
	pthread_mutex_lock(&o->drain_lock);
	for (;;) {
		pthread_mutex_lock(&o->lock);
		head = o->head;
		count = o->count;
		pthread_mutex_unlock(&o->lock);
		if (!count)
			break;
		n = serial_out_write_once(o, head, count);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ret = -EAGAIN;
			break;
		}
		if (n <= 0) {
			/* A gone reader or a broken fd: these bytes cannot be delivered. */
			ret = n < 0 ? -errno : -EIO;
			serial_out_consume(o, count, true);
			break;
		}
		serial_out_consume(o, (size_t)n, false);
	}
	pthread_mutex_unlock(&o->drain_lock);
	return ret;
}

int serial_out_flush(struct serial_out *o, int timeout_ms)
{
	const uint64_t idle_ns = (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000ull;
	/* A reader that trickles along still may not hold exit up for long. */
	uint64_t start = clock_now_ns(), last = start;
	size_t before = serial_out_pending(o);
	int r;

	for (;;) {
		struct pollfd pfd = { .fd = o->fd, .events = POLLOUT };
		uint64_t now, wait_ns;
		size_t left;

		r = serial_out_drain(o);
		if (r != -EAGAIN)
			return r;
		now = clock_now_ns();
		left = serial_out_pending(o);
		if (left < before)
			last = now;
		before = left;
		if (now - last >= idle_ns || now - start >= 4 * idle_ns)
			return -ETIMEDOUT;
		wait_ns = idle_ns - (now - last);
		/* Round up, so a sub-millisecond remainder still waits. */
		if (poll(&pfd, 1, (int)((wait_ns + 999999) / 1000000)) < 0 && errno != EINTR)
			return -errno;
	}
}

size_t serial_out_pending(struct serial_out *o)
{
	size_t n;

	pthread_mutex_lock(&o->lock);
	n = o->count;
	pthread_mutex_unlock(&o->lock);
	return n;
}

uint64_t serial_out_dropped(struct serial_out *o)
{
	uint64_t n;

	pthread_mutex_lock(&o->lock);
	n = o->dropped;
	pthread_mutex_unlock(&o->lock);
	return n;
}

uint64_t serial_out_tx_bytes(struct serial_out *o)
{
	return __atomic_load_n(&o->tx_bytes, __ATOMIC_RELAXED);
}

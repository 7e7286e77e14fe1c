/*
 * Test-only: hybrid vsock driven as the guest's driver would, with its
 * kicks on an I/O loop the test turns itself (settle), and real Unix
 * sockets in a temporary directory for the host side. Three queues of
 * QSIZE at RINGS; receive buffers of RXBUF_LEN bytes (Linux's 4 KiB)
 * recycled as the test reads them; each packet the guest sends is one or
 * two descriptors (header, then data) in its own slot.
 */
#ifndef HEARTH_TESTS_VSOCK_UDS_RIG_H
#define HEARTH_TESTS_VSOCK_UDS_RIG_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "mem/guest_mem.h"
#include "util/log.h"
#include "virtio/mmio.h"
#include "virtio/virtio.h"
#include "virtio/vsock_uds.h"
#include "virtio/vsock/hybrid.h"

#define BASE 0xd0000000ull
#define GUEST_CID 3u
#define QSIZE 256u
#define RINGS 0x100000ull
#define RXBUF 0x200000ull
#define RXBUF_LEN 4096u
#define TXHDR 0x380000ull /* 64 bytes per descriptor slot */
#define TXBUF 0x400000ull
#define TXSLOT (VU_CONN_BUF + 0x1000u)
#define RAM (16ull << 20)

struct drv {
	struct bus bus;
	struct guest_mem gm;
	struct eventloop loop;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	char dir[64], path[128];
	uint16_t rx_avail, rx_used, tx_avail, tx_used, ev_avail, ev_used;
	unsigned int tx_slot;
	/* The device's clock: only the test moves it (clock_advance). */
	uint64_t now_ns;
	struct rl_clock clock;
};

#include "mmio_driver.h"

#define RING(q) (RINGS + (uint64_t)(q) * 0x10000ull)

static inline void ring_add(struct drv *d, unsigned int q, uint16_t *avail, uint16_t head)
{
	uint64_t a = RING(q) + 0x4000;
	uint16_t idx = *avail;

	memcpy(gp(d, a + 4 + 2ull * (idx % QSIZE), 2), &head, 2);
	idx++;
	__atomic_store_n((uint16_t *)gp(d, a + 2, 2), idx, __ATOMIC_RELEASE);
	*avail = idx;
}

static inline void put_desc(struct drv *d, unsigned int q, unsigned int i, uint64_t addr,
			    uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc desc = { addr, len, flags, next };

	memcpy(gp(d, RING(q) + 16ull * i, 16), &desc, 16);
}

/* One round of the I/O thread's loop: what is ready now, one batch as eventloop_run. */
static inline int loop_round(struct drv *d)
{
	struct epoll_event evs[16];
	int n = epoll_wait(d->loop.epfd, evs, 16, 0);

	assert_true(n >= 0);
	eventloop_batch_begin(&d->loop);
	for (int i = 0; i < n; i++) {
		struct eventloop_handler *h = evs[i].data.ptr;

		if (h->fd >= 0)
			h->cb(h->opaque, evs[i].events);
	}
	eventloop_batch_end(&d->loop);
	return n;
}

/* Rounds until nothing is ready (bounded: a handler that stays ready is a bug). */
static inline void settle(struct drv *d)
{
	for (int i = 0; i < 1000; i++)
		if (!loop_round(d))
			return;
	fail_msg("the I/O loop never went idle");
}

static inline void kick(struct drv *d, unsigned int q)
{
	wr(d, 0x050, q);
	settle(d);
}

/* Offers receive buffer i (descriptor i of the rx queue). */
static inline void rx_give(struct drv *d, unsigned int i)
{
	put_desc(d, VU_RXQ, i, RXBUF + (uint64_t)i * RXBUF_LEN, RXBUF_LEN, VIRTQ_DESC_F_WRITE, 0);
	ring_add(d, VU_RXQ, &d->rx_avail, (uint16_t)i);
}

static inline void rx_fill(struct drv *d, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		rx_give(d, i);
	kick(d, VU_RXQ);
}

static inline uint16_t used_idx(struct drv *d, unsigned int q)
{
	return __atomic_load_n((uint16_t *)gp(d, RING(q) + 0x8000 + 2, 2), __ATOMIC_ACQUIRE);
}

/*
 * The next packet the device put in the receive queue: its header and up
 * to max bytes of data. Gives the buffer back (and kicks) when recycle.
 * False when there is none.
 */
static inline bool rx_get_ex(struct drv *d, struct vsock_hdr *h, void *data, size_t max,
			     bool recycle)
{
	uint32_t elem[2];

	if (used_idx(d, VU_RXQ) == d->rx_used)
		return false;
	memcpy(elem, gp(d, RING(VU_RXQ) + 0x8000 + 4 + 8ull * (d->rx_used % QSIZE), 8), 8);
	d->rx_used++;
	assert_true(elem[0] < QSIZE);
	assert_true(elem[1] >= VSOCK_HDR_LEN && elem[1] <= RXBUF_LEN);
	memcpy(h, gp(d, RXBUF + (uint64_t)elem[0] * RXBUF_LEN, VSOCK_HDR_LEN), VSOCK_HDR_LEN);
	assert_int_equal(elem[1], VSOCK_HDR_LEN + h->len);
	/* An RST answering a packet to another CID comes from that CID. */
	if (h->op != VSOCK_OP_RST)
		assert_int_equal(h->src_cid, VSOCK_HOST_CID);
	assert_int_equal(h->dst_cid, GUEST_CID);
	assert_int_equal(h->type, VSOCK_TYPE_STREAM);
	if (data)
		memcpy(data, gp(d, RXBUF + (uint64_t)elem[0] * RXBUF_LEN + VSOCK_HDR_LEN, h->len),
		       h->len < max ? h->len : max);
	if (recycle) {
		rx_give(d, elem[0]);
		kick(d, VU_RXQ);
	}
	return true;
}

static inline bool rx_get(struct drv *d, struct vsock_hdr *h, void *data, size_t max)
{
	return rx_get_ex(d, h, data, max, true);
}

/* The next received packet, which must be op (data, if any, into buf). */
static inline struct vsock_hdr rx_expect(struct drv *d, enum vsock_op op, void *buf,
					 size_t max)
{
	struct vsock_hdr h;

	assert_true(rx_get(d, &h, buf, max));
	if (h.op != op)
		fail_msg("received op %u, expected %u", h.op, op);
	return h;
}

static inline struct vsock_hdr hdr(uint32_t src_port, uint32_t dst_port, enum vsock_op op)
{
	return (struct vsock_hdr){ .src_cid = GUEST_CID, .dst_cid = VSOCK_HOST_CID,
				   .src_port = src_port, .dst_port = dst_port,
				   .type = VSOCK_TYPE_STREAM, .op = op,
				   .buf_alloc = 256 * 1024, .fwd_cnt = 0 };
}

/*
 * Queues a packet on the transmit queue without kicking: hlen bytes of
 * header (VSOCK_HDR_LEN, or fewer for a hostile chain) then len bytes of
 * data in a second descriptor.
 */
static inline void tx_queue(struct drv *d, const struct vsock_hdr *h, uint32_t hlen,
			    const void *data, uint32_t len)
{
	unsigned int slot = d->tx_slot++ % QSIZE;
	uint64_t hgpa = TXHDR + (uint64_t)slot * 64, buf = TXBUF + (uint64_t)(slot % 32) * TXSLOT;

	memcpy(gp(d, hgpa, hlen), h, hlen);
	if (len) {
		memcpy(gp(d, buf, len), data, len);
		put_desc(d, VU_TXQ, slot, hgpa, hlen, VIRTQ_DESC_F_NEXT, (uint16_t)((slot + 1) % QSIZE));
		put_desc(d, VU_TXQ, (slot + 1) % QSIZE, buf, len, 0, 0);
		d->tx_slot++;
	} else {
		put_desc(d, VU_TXQ, slot, hgpa, hlen, 0, 0);
	}
	ring_add(d, VU_TXQ, &d->tx_avail, (uint16_t)slot);
}

static inline void tx_send(struct drv *d, const struct vsock_hdr *h, const void *data,
			   uint32_t len)
{
	tx_queue(d, h, VSOCK_HDR_LEN, data, len);
	kick(d, VU_TXQ);
}

static inline void tx_op(struct drv *d, uint32_t src_port, uint32_t dst_port, enum vsock_op op)
{
	struct vsock_hdr h = hdr(src_port, dst_port, op);

	tx_send(d, &h, NULL, 0);
}

static inline void rig_sockaddr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sa->sun_path));
	memcpy(sa->sun_path, path, strlen(path) + 1);
}

/* A host client on uds_path (non-blocking: the test never waits on it). */
static inline int host_connect(struct drv *d)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	rig_sockaddr(&sa, d->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* A host service at "<uds_path>_<port>". */
static inline int host_listen(struct drv *d, uint32_t port)
{
	struct sockaddr_un sa;
	char p[160];
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	snprintf(p, sizeof(p), "%s_%u", d->path, port);
	rig_sockaddr(&sa, p);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static inline void host_send(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* What the socket holds now (-1 when nothing, 0 at EOF). */
static inline ssize_t host_recv(int fd, char *buf, size_t max)
{
	ssize_t n = recv(fd, buf, max, MSG_DONTWAIT);

	if (n < 0) {
		assert_true(errno == EAGAIN || errno == ECONNRESET);
		return errno == ECONNRESET ? 0 : -1;
	}
	if ((size_t)n < max)
		buf[n] = '\0';
	return n;
}

/* A host client connected through CONNECT/RESPONSE with the guest's buf_alloc. */
static inline int established(struct drv *d, uint32_t guest_port, uint32_t buf_alloc,
			      uint32_t *lp)
{
	struct vsock_hdr h;
	char line[64];
	int fd = host_connect(d);

	snprintf(line, sizeof(line), "CONNECT %u\n", guest_port);
	host_send(fd, line);
	settle(d);
	h = rx_expect(d, VSOCK_OP_REQUEST, NULL, 0);
	*lp = h.src_port;
	h = hdr(guest_port, *lp, VSOCK_OP_RESPONSE);
	h.buf_alloc = buf_alloc;
	tx_send(d, &h, NULL, 0);
	assert_true(host_recv(fd, line, sizeof(line)) > 0);
	return fd;
}

/*
 * Sends as the guest may on (guest_port, host_port), 4 KiB at a time
 * within its credit, to a host peer that does not read, until the device
 * holds VU_CONN_BUF bytes the socket would not take: asked with
 * CREDIT_REQUEST, its fwd_cnt no longer moves and the credit is 0.
 * Returns the bytes sent.
 */
static inline uint32_t fill_until_buffered(struct drv *d, uint32_t guest_port,
					   uint32_t host_port)
{
	static char chunk[4096];
	uint32_t sent = 0, fwd = 0, last = 1;
	struct vsock_hdr h;

	for (int i = 0; i < 10000; i++) {
		uint32_t credit = VU_CONN_BUF - (sent - fwd);

		if (credit) {
			h = hdr(guest_port, host_port, VSOCK_OP_RW);
			h.len = credit < sizeof(chunk) ? credit : sizeof(chunk);
			tx_send(d, &h, chunk, h.len);
			sent += h.len;
		} else {
			if (fwd == last)
				return sent;
			last = fwd;
			tx_op(d, guest_port, host_port, VSOCK_OP_CREDIT_REQUEST);
		}
		while (rx_get(d, &h, NULL, 0)) {
			assert_int_equal(h.op, VSOCK_OP_CREDIT_UPDATE);
			assert_int_equal(h.buf_alloc, VU_CONN_BUF);
			fwd = h.fwd_cnt;
		}
	}
	fail_msg("the device never stopped taking data");
	return 0;
}

static inline uint64_t rig_now(void *opaque)
{
	return ((struct drv *)opaque)->now_ns;
}

static inline void clock_advance(struct drv *d, uint64_t ms)
{
	d->now_ns += ms * 1000000ull;
}

/*
 * The device's handshake timer fires now, whatever it was armed for, and
 * its handler runs on the loop as it would: what it does then depends on
 * the test's clock alone.
 */
static inline void fire_handshake_timer(struct drv *d)
{
	struct vsock_uds *vu = d->dev->priv;
	struct itimerspec past = { .it_value = { 0, 1 } };

	assert_int_equal(timerfd_settime(vu->hs_tfd, TFD_TIMER_ABSTIME, &past, NULL), 0);
	settle(d);
}

static inline uint64_t counter(struct drv *d, const char *name)
{
	struct dev_counter c[16];
	unsigned int n = virtio_dev_counters(d->dev, c, 16);

	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return c[i].value;
	fail_msg("no counter %s", name);
	return 0;
}

static inline int rig_setup(void **state)
{
	struct drv *d = calloc(1, sizeof(*d));
	struct virtio_host host = { .vm_fd = -1, .bus = &d->bus, .loop = &d->loop,
				    .test_kick_fds = true };
	struct virtio_env env = { .loop = &d->loop, .mem = &d->gm };
	struct vsock_uds_config cfg = { .cid = GUEST_CID };
	struct err err;

	assert_non_null(d);
	d->clock = (struct rl_clock){ rig_now, d };
	env.clock = &d->clock;
	log_set_level(LOG_ERR);
	snprintf(d->dir, sizeof(d->dir), "/tmp/hearth-vsock-XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->path, sizeof(d->path), "%s/v.sock", d->dir);
	cfg.uds_path = d->path;
	bus_init(&d->bus);
	assert_int_equal(eventloop_init(&d->loop), 0);
	assert_int_equal(guest_mem_init(&d->gm, RAM), 0);
	assert_int_equal(virtio_vsock_uds_create(&env, &cfg, &d->dev, &err), 0);
	assert_int_equal(mmio_attach(d->dev, &host, BASE, 5, &d->t), 0);
	mmio_init_queues(d, 0, 3, QSIZE, RINGS);
	*state = d;
	return 0;
}

static inline int rig_teardown(void **state)
{
	struct drv *d = *state;
	char p[160];

	mmio_detach_destroy(d->dev, d->t);
	/* The device removes its own socket; a test's listeners are the test's. */
	assert_int_not_equal(access(d->path, F_OK), 0);
	for (unsigned int port = 6000; port < 6010; port++) {
		snprintf(p, sizeof(p), "%s_%u", d->path, port);
		unlink(p);
	}
	rmdir(d->dir);
	eventloop_destroy(&d->loop);
	bus_destroy(&d->bus);
	guest_mem_destroy(&d->gm);
	free(d);
	return 0;
}

#endif

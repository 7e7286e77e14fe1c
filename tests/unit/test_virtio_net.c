/*
 * virtio-net driven through the mmio registers with split rings in guest
 * RAM, over a fake backend: a SEQPACKET socketpair standing in for a tap
 * queue without the vnet header, or an in-process one whose frames go
 * through its send and recv ops (as the user backend's do).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "mem/guest_mem.h"
#include "util/frameq.h"
#include "virtio/net.h"
#include "virtio/virtio.h"

#define BASE 0xd0000000ull
#define QSIZE 16u
#define RING_GPA(q) (0x100000ull + (uint64_t)(q) * 0x10000)
#define BUF_GPA 0x400000ull
#define F(bit) (1ull << (bit))

struct drv {
	struct guest_mem gm;
	struct bus bus;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	int peer[NET_MAX_QUEUE_PAIRS]; /* the "wire" ends */
	unsigned int nq;
	uint16_t avail_idx[8], next_desc[8];
	uint64_t next_buf;
};

#include "mmio_driver.h"

struct seg {
	uint32_t len;
	bool write;
};

static void fake_destroy(struct net_be *be)
{
	for (unsigned int i = 0; i < be->nqueues; i++)
		close(be->fds[i]);
	free(be);
}

static const struct net_be_ops fake_ops = { .destroy = fake_destroy };

/* The NIC's mtu, as PUT /network-interfaces gives it (0: none). */
static uint16_t open_mtu;
static const char *open_spec = "user";

/* The device on backend be (its fds set), driven through the mmio transport. */
static void drv_open_with(struct drv *d, struct net_be *be)
{
	struct virtio_env env = { .mem = &d->gm };
	struct virtio_host host = { .vm_fd = -1, .bus = &d->bus };
	struct net_config cfg;
	struct err err;

	assert_int_equal(guest_mem_init(&d->gm, 64ull << 20), 0);
	bus_init(&d->bus);
	assert_int_equal(virtio_net_parse(open_spec, &cfg, &err), 0);
	cfg.mtu = open_mtu;
	assert_int_equal(virtio_net_create_backend(&env, &cfg, be, &d->dev, &err), 0);
	assert_int_equal(mmio_attach(d->dev, &host, BASE, 5, &d->t), 0);
	d->nq = 2 * be->nqueues + (be->nqueues > 1);
	d->next_buf = BUF_GPA;
}

static void drv_open(struct drv *d, unsigned int pairs)
{
	struct net_be *be = calloc(1, sizeof(*be));

	memset(d, 0, sizeof(*d));
	be->ops = &fake_ops;
	be->name = "fake";
	be->nqueues = pairs;
	for (unsigned int i = 0; i < pairs; i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
		be->fds[i] = sv[0];
		d->peer[i] = sv[1];
	}
	drv_open_with(d, be);
}

/* A backend in this process: one pair, frames in FIFOs, fds[0] an eventfd. */
struct inproc {
	struct net_be be; /* first: the ops get &be */
	struct frameq to_guest, from_guest;
	bool full;        /* send refuses everything */
};

static void inproc_destroy(struct net_be *be)
{
	struct inproc *ip = (struct inproc *)be;

	close(be->fds[0]);
	frameq_clear(&ip->to_guest);
	frameq_clear(&ip->from_guest);
	free(ip);
}

static int inproc_send(struct net_be *be, unsigned int p, const void *frame, size_t len)
{
	struct inproc *ip = (struct inproc *)be;

	assert_int_equal(p, 0);
	return ip->full ? -ENOBUFS : frameq_push(&ip->from_guest, frame, len);
}

static ssize_t inproc_recv(struct net_be *be, unsigned int p, void *buf, size_t len)
{
	assert_int_equal(p, 0);
	return frameq_pop(&((struct inproc *)be)->to_guest, buf, len);
}

static const struct net_be_ops inproc_ops = {
	.destroy = inproc_destroy,
	.send = inproc_send,
	.recv = inproc_recv,
};

static struct inproc *drv_open_inproc(struct drv *d)
{
	struct inproc *ip = calloc(1, sizeof(*ip));

	memset(d, 0, sizeof(*d));
	ip->be.ops = &inproc_ops;
	ip->be.name = "inproc";
	ip->be.nqueues = 1;
	ip->be.fds[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(ip->be.fds[0] >= 0);
	frameq_init(&ip->to_guest, 1u << 20);
	frameq_init(&ip->from_guest, 1u << 20);
	drv_open_with(d, &ip->be);
	return ip;
}

static void drv_close(struct drv *d)
{
	mmio_detach_destroy(d->dev, d->t);
	for (unsigned int i = 0; i < NET_MAX_QUEUE_PAIRS; i++)
		if (d->peer[i] > 0)
			close(d->peer[i]);
	bus_destroy(&d->bus);
	guest_mem_destroy(&d->gm);
}

/* Driver initialisation (3.1.1), accepting the offered features in mask. */
static void drv_init(struct drv *d, uint64_t mask)
{
	mmio_init_queues(d, mask, d->nq, QSIZE, RING_GPA(0));
	for (unsigned int q = 0; q < d->nq; q++)
		d->avail_idx[q] = d->next_desc[q] = 0;
}

/* Posts a chain on queue q; returns the guest address of its first buffer. */
static uint64_t post(struct drv *d, unsigned int q, const struct seg *s, unsigned int n)
{
	struct virtq_desc *desc = gp(d, RING_GPA(q), 16 * QSIZE);
	uint16_t *avail = gp(d, RING_GPA(q) + 0x4000, 6 + 2 * QSIZE);
	uint16_t head = d->next_desc[q] % QSIZE;
	uint64_t first = d->next_buf;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t idx = (head + i) % QSIZE;
		desc[idx] = (struct virtq_desc){
			.addr = d->next_buf,
			.len = s[i].len,
			.flags = (uint16_t)((s[i].write ? VIRTQ_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			.next = (uint16_t)((idx + 1) % QSIZE),
		};
		d->next_buf += (s[i].len + 4095) & ~4095ull;
	}
	d->next_desc[q] = (uint16_t)(d->next_desc[q] + n);
	avail[2 + d->avail_idx[q] % QSIZE] = head;
	__atomic_store_n(&avail[1], ++d->avail_idx[q], __ATOMIC_RELEASE);
	return first;
}

static uint16_t used_idx(struct drv *d, unsigned int q)
{
	return ((uint16_t *)gp(d, RING_GPA(q) + 0x8000, 4))[1];
}

static uint32_t used_len(struct drv *d, unsigned int q, unsigned int i)
{
	uint32_t *e = gp(d, RING_GPA(q) + 0x8000 + 4 + 8 * (i % QSIZE), 8);

	return e[1];
}

static void send_frame(struct drv *d, unsigned int pair, size_t len, uint8_t fill)
{
	uint8_t *f = malloc(len);

	memset(f, fill, len);
	assert_int_equal(send(d->peer[pair], f, len, 0), (ssize_t)len);
	free(f);
}

static struct virtio_net_stats stats(struct drv *d)
{
	struct virtio_net_stats st;

	virtio_net_get_stats(d->dev, &st);
	return st;
}

/* The generic counters hook (a device registry's view) must tell what the stats do. */
static void expect_counters(struct drv *d)
{
	static const char *const names[] = { "rx_packets", "rx_bytes", "rx_dropped_oversize",
					     "tx_packets", "tx_bytes", "tx_dropped",
					     "rx_rate_limiter_throttled",
					     "tx_rate_limiter_throttled" };
	struct virtio_net_stats st = stats(d);
	const uint64_t want[] = { st.rx_packets, st.rx_bytes, st.rx_dropped_oversize,
				  st.tx_packets, st.tx_bytes, st.tx_dropped, 0, 0 };
	struct dev_counter c[8];

	assert_int_equal(virtio_dev_counters(d->dev, c, 8), 8);
	for (unsigned int i = 0; i < 8; i++) {
		assert_string_equal(c[i].name, names[i]);
		assert_int_equal(c[i].value, want[i]);
	}
}

static void expect_parse_error(const char *spec, const char *needle)
{
	struct net_config cfg;
	struct err err;

	assert_int_equal(virtio_net_parse(spec, &cfg, &err), -EINVAL);
	if (!strstr(err.msg, needle))
		fail_msg("'%s': error '%s' lacks '%s'", spec, err.msg, needle);
	assert_null(strchr(err.msg, '\n'));
}

static void test_parse(void **state)
{
	struct net_config cfg;
	struct err err;

	(void)state;
	assert_int_equal(virtio_net_parse("user", &cfg, &err), 0);
	assert_int_equal(cfg.backend, NET_USER);
	assert_int_equal(cfg.nfwd, 0);
	assert_false(cfg.mac_set);
	assert_int_equal(virtio_net_parse("tap=tap0,mac=02:aB:00:00:00:01", &cfg, &err), 0);
	assert_int_equal(cfg.backend, NET_TAP);
	assert_string_equal(cfg.ifname, "tap0");
	assert_true(cfg.mac_set);
	assert_memory_equal(cfg.mac, ((uint8_t[]){ 2, 0xab, 0, 0, 0, 1 }), 6);
	assert_int_equal(virtio_net_parse("user,hostfwd=tcp:5555-:22,hostfwd=udp::53-:5353",
					  &cfg, &err), 0);
	assert_int_equal(cfg.nfwd, 2);
	assert_false(cfg.fwd[0].udp);
	assert_int_equal(cfg.fwd[0].host_port, 5555);
	assert_int_equal(cfg.fwd[0].guest_port, 22);
	assert_true(cfg.fwd[1].udp);
	assert_int_equal(cfg.fwd[1].guest_port, 5353);

	assert_int_equal(cfg.mtu, 0);
	assert_int_equal(virtio_net_parse("tap=tap0,mtu=9000", &cfg, &err), 0);
	assert_int_equal(cfg.mtu, 9000);
	assert_int_equal(virtio_net_parse("tap=tap0,mtu=68,mac=02:00:00:00:00:01", &cfg, &err), 0);
	assert_int_equal(cfg.mtu, 68);

	expect_parse_error("tap=tap0,mtu=67", "mtu=67: want 68 to 65535");
	expect_parse_error("tap=tap0,mtu=65536", "want 68 to 65535");
	expect_parse_error("tap=tap0,mtu=-1", "want 68 to 65535");
	expect_parse_error("tap=tap0,mtu=", "want 68 to 65535");
	expect_parse_error("tap=tap0,mtu=1500x", "want 68 to 65535");
	/* A user NIC's MTU is slirp's: not a knob there. */
	expect_parse_error("user,mtu=1500", "unknown option 'mtu=1500'");
	expect_parse_error("bridge", "unknown backend");
	expect_parse_error("tap", "unknown backend");
	expect_parse_error("tap=", "1-15 characters");
	expect_parse_error("tap=averyveryverylongname", "1-15 characters");
	expect_parse_error("tap=a/b", "bad tap interface name");
	expect_parse_error("tap=tap0,hostfwd=tcp:1-:2", "unknown option");
	expect_parse_error("user,speed=10", "unknown option");
	expect_parse_error("user,", "unknown option");
	expect_parse_error("user,mac=01:00:5e:00:00:01", "multicast");
	expect_parse_error("user,mac=00:00:00:00:00:00", "all zeroes");
	expect_parse_error("user,mac=02:00:00:00:00", "bad mac");
	expect_parse_error("user,mac=02:00:00:00:00:0g", "bad mac");
	expect_parse_error("user,mac=02:00:00:00:00:011", "bad mac");
	expect_parse_error("user,hostfwd=tcp:0-:22", "1-65535");
	expect_parse_error("user,hostfwd=tcp:65536-:22", "1-65535");
	expect_parse_error("user,hostfwd=tcp:22-:", "1-65535");
	expect_parse_error("user,hostfwd=tcp:22:22", "1-65535");
	expect_parse_error("user,hostfwd=sctp:1-:2", "want tcp:");
	expect_parse_error("user,hostfwd=tcp:80-:80,hostfwd=tcp:80-:81", "given twice");
	expect_parse_error("user,hostfwd=tcp:1-:1,hostfwd=tcp:2-:1,hostfwd=tcp:3-:1,"
			   "hostfwd=tcp:4-:1,hostfwd=tcp:5-:1,hostfwd=tcp:6-:1,hostfwd=tcp:7-:1,"
			   "hostfwd=tcp:8-:1,hostfwd=tcp:9-:1", "at most 8");
}

static void test_features_config(void **state)
{
	struct drv d;
	uint8_t mac[6];
	uint64_t f;

	(void)state;
	drv_open(&d, 1);
	wr(&d, 0x014, 0);
	f = rd(&d, 0x010);
	assert_true(f & F(VIRTIO_NET_F_MAC));
	assert_true(f & F(VIRTIO_NET_F_STATUS));
	assert_true(f & F(VIRTIO_NET_F_MRG_RXBUF));
	assert_false(f & (F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_MQ)));
	for (unsigned int i = 0; i < 6; i++) {
		uint8_t b[1];
		bus_access(&d.bus, BUS_MMIO, BASE + 0x100 + i, b, 1, false);
		mac[i] = b[0];
	}
	assert_int_equal(mac[0], 0x02); /* locally administered, unicast */
	assert_int_equal(mac[1], 0x48);
	assert_int_equal(rd(&d, 0x100 + 4) >> 16 & 0xffff, 1); /* status: link up */
	drv_close(&d);
}

/*
 * mtu (5.1.4, 5.1.6.3): offered with VIRTIO_NET_F_MTU in the config's
 * mtu field; negotiated, frames of that MTU pass both ways, one byte more
 * does not. Without one, the bit is not offered.
 */
static void test_mtu(void **state)
{
	struct drv d;
	uint8_t *out = malloc(10000);
	uint64_t gpa;

	(void)state;
	drv_open(&d, 1);
	wr(&d, 0x014, 0);
	assert_false(rd(&d, 0x010) & F(VIRTIO_NET_F_MTU));
	drv_close(&d);

	open_mtu = 9000;
	drv_open(&d, 1);
	open_mtu = 0;
	wr(&d, 0x014, 0);
	assert_true(rd(&d, 0x010) & F(VIRTIO_NET_F_MTU));
	assert_int_equal(cfg_rd(&d, 10, 2), 9000);
	drv_init(&d, F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_MTU));
	post(&d, 0, (struct seg[]){ { 12 + 9014, true } }, 1);
	post(&d, 0, (struct seg[]){ { 12 + 9100, true } }, 1);
	send_frame(&d, 0, 9015, 1);
	send_frame(&d, 0, 9014, 2);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(used_idx(&d, 0), 1);
	assert_int_equal(used_len(&d, 0, 0), 12 + 9014);
	assert_int_equal(stats(&d).rx_dropped_oversize, 1);
	gpa = post(&d, 1, (struct seg[]){ { 12 + 9014, false } }, 1);
	memset(gp(&d, gpa, 12), 0, 12);
	wr(&d, 0x050, 1);
	gpa = post(&d, 1, (struct seg[]){ { 12 + 9015, false } }, 1);
	memset(gp(&d, gpa, 12), 0, 12);
	wr(&d, 0x050, 1);
	assert_int_equal(used_idx(&d, 1), 2);
	assert_int_equal(recv(d.peer[0], out, 10000, MSG_DONTWAIT), 9014);
	assert_int_equal(recv(d.peer[0], out, 10000, MSG_DONTWAIT), -1);
	assert_int_equal(stats(&d).tx_dropped, 1);
	drv_close(&d);
	free(out);
}

static void test_rx_tx(void **state)
{
	struct drv d;
	uint8_t *p, out[128];
	uint64_t gpa;

	(void)state;
	drv_open(&d, 1);
	drv_init(&d, F(VIRTIO_NET_F_MAC));
	gpa = post(&d, 0, (struct seg[]){ { 2048, true } }, 1);
	send_frame(&d, 0, 100, 0xab);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(used_idx(&d, 0), 1);
	assert_int_equal(used_len(&d, 0, 0), 112);
	p = gp(&d, gpa, 112);
	assert_int_equal(p[10], 1); /* num_buffers */
	assert_int_equal(p[0], 0);
	assert_int_equal(p[12], 0xab);
	assert_int_equal(p[111], 0xab);
	assert_true(virtio_mmio_interrupt_status(d.t) & VIRTIO_MMIO_INT_VRING);

	/* TX: header and frame in separate descriptors. */
	gpa = post(&d, 1, (struct seg[]){ { 12, false }, { 60, false } }, 2);
	memset(gp(&d, gpa, 12), 0, 12);
	memset(gp(&d, gpa + 4096, 60), 0x5a, 60);
	wr(&d, 0x050, 1);
	assert_int_equal(used_idx(&d, 1), 1);
	assert_int_equal(recv(d.peer[0], out, sizeof(out), MSG_DONTWAIT), 60);
	assert_int_equal(out[0], 0x5a);
	assert_int_equal(stats(&d).tx_packets, 1);
	assert_int_equal(stats(&d).rx_packets, 1);
	assert_int_equal(stats(&d).rx_bytes, 100);
	assert_int_equal(stats(&d).tx_bytes, 60);
	expect_counters(&d);
	drv_close(&d);
}

/* Sends a 60-byte frame from src (bytes 6-11) on pair 0, the header in its own descriptor. */
static void tx_from(struct drv *d, const uint8_t src[6], unsigned int nth)
{
	uint64_t gpa = post(d, 1, (struct seg[]){ { 12, false }, { 60, false } }, 2);
	uint8_t out[128];

	memset(gp(d, gpa, 12), 0, 12);
	memset(gp(d, gpa + 4096, 60), 0x5a, 60);
	memcpy(gp(d, gpa + 4096 + 6, 6), src, 6);
	wr(d, 0x050, 1);
	assert_int_equal(used_idx(d, 1), nth);
	/* Counted, never dropped: Firecracker sends it on. */
	assert_int_equal(recv(d->peer[0], out, sizeof(out), MSG_DONTWAIT), 60);
}

/*
 * Firecracker's tx_spoofed_mac_count: a frame whose source MAC is not the
 * configured guest_mac; none without one (the guest's MAC is its own then).
 */
static void test_spoofed_mac(void **state)
{
	static const uint8_t own[6] = { 2, 0, 0, 0, 0, 1 }, other[6] = { 2, 0, 0, 0, 0, 2 };
	struct dev_counter c[16];
	unsigned int n;
	struct drv d;

	(void)state;
	open_spec = "user,mac=02:00:00:00:00:01";
	drv_open(&d, 1);
	open_spec = "user";
	drv_init(&d, F(VIRTIO_NET_F_MAC));
	tx_from(&d, own, 1);
	assert_int_equal(stats(&d).tx_spoofed_mac, 0);
	tx_from(&d, other, 2);
	tx_from(&d, other, 3);
	assert_int_equal(stats(&d).tx_spoofed_mac, 2);
	assert_int_equal(stats(&d).tx_packets, 3);
	n = virtio_dev_counters(d.dev, c, 16);
	assert_string_equal(c[n - 1].name, "tx_spoofed_mac_count");
	assert_int_equal(c[n - 1].value, 2);
	drv_close(&d);
	drv_open(&d, 1);
	drv_init(&d, F(VIRTIO_NET_F_MAC));
	tx_from(&d, other, 1);
	assert_int_equal(stats(&d).tx_spoofed_mac, 0);
	drv_close(&d);
}

static void test_rx_oversize_dropped(void **state)
{
	struct drv d;

	(void)state;
	drv_open(&d, 1);
	drv_init(&d, F(VIRTIO_NET_F_MAC)); /* no MRG_RXBUF, no GUEST_TSO: 1514 max */
	post(&d, 0, (struct seg[]){ { 4096, true } }, 1);
	send_frame(&d, 0, 1515, 1);
	send_frame(&d, 0, 1514, 2);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(stats(&d).rx_dropped_oversize, 1);
	assert_int_equal(used_idx(&d, 0), 1);
	assert_int_equal(used_len(&d, 0, 0), 1526);

	/* Bigger than the guest's buffer: dropped, the buffer stays for the next frame. */
	post(&d, 0, (struct seg[]){ { 64, true } }, 1);
	send_frame(&d, 0, 100, 3);
	send_frame(&d, 0, 40, 4);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(stats(&d).rx_dropped_oversize, 2);
	assert_int_equal(used_idx(&d, 0), 2);
	assert_int_equal(used_len(&d, 0, 1), 52);
	assert_int_equal(stats(&d).rx_packets, 2);
	assert_int_equal(stats(&d).rx_bytes, 1514 + 40);
	expect_counters(&d);
	drv_close(&d);
}

static void test_rx_mergeable(void **state)
{
	struct drv d;
	uint64_t first;
	uint8_t *p;

	(void)state;
	drv_open(&d, 1);
	drv_init(&d, F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_MRG_RXBUF));
	first = post(&d, 0, (struct seg[]){ { 1000, true } }, 1);
	post(&d, 0, (struct seg[]){ { 1000, true } }, 1);
	/* 2512 bytes need three buffers: the frame waits, reading stops. */
	send_frame(&d, 0, 2500, 7);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(used_idx(&d, 0), 0);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(used_idx(&d, 0), 0);
	/* The kick on the RX queue resumes delivery. */
	post(&d, 0, (struct seg[]){ { 1000, true } }, 1);
	wr(&d, 0x050, 0);
	assert_int_equal(used_idx(&d, 0), 3);
	assert_int_equal(used_len(&d, 0, 0), 1000);
	assert_int_equal(used_len(&d, 0, 1), 1000);
	assert_int_equal(used_len(&d, 0, 2), 512);
	p = gp(&d, first, 12);
	assert_int_equal(p[10], 3);
	assert_int_equal(stats(&d).rx_dropped_oversize, 0);
	drv_close(&d);
}

/*
 * The same wait with EVENT_IDX, as Linux runs it: the driver kicks only
 * when its new avail index passes avail_event, so the device must arm the
 * event at the driver's index, past the two buffers it gave back.
 */
static void test_rx_mergeable_event_idx(void **state)
{
	uint16_t *avail_event;
	struct drv d;

	(void)state;
	drv_open(&d, 1);
	drv_init(&d, F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_F_EVENT_IDX));
	avail_event = gp(&d, RING_GPA(0) + 0x8000 + 4 + 8 * QSIZE, 2);
	post(&d, 0, (struct seg[]){ { 1000, true } }, 1);
	post(&d, 0, (struct seg[]){ { 1000, true } }, 1);
	send_frame(&d, 0, 2500, 7);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(used_idx(&d, 0), 0);
	/* Driver index 2: adding the third buffer moves it 2 -> 3 and must kick. */
	assert_int_equal(*avail_event, 2);
	post(&d, 0, (struct seg[]){ { 1000, true } }, 1);
	wr(&d, 0x050, 0);
	assert_int_equal(used_idx(&d, 0), 3);
	assert_int_equal(stats(&d).rx_packets, 1);
	drv_close(&d);
}

static void test_rx_stall_resume(void **state)
{
	struct drv d;

	(void)state;
	drv_open(&d, 1);
	drv_init(&d, F(VIRTIO_NET_F_MAC));
	send_frame(&d, 0, 60, 1);
	send_frame(&d, 0, 60, 2);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(stats(&d).rx_packets, 0);
	post(&d, 0, (struct seg[]){ { 2048, true } }, 1);
	post(&d, 0, (struct seg[]){ { 2048, true } }, 1);
	wr(&d, 0x050, 0);
	assert_int_equal(used_idx(&d, 0), 2);
	assert_int_equal(stats(&d).rx_packets, 2);
	drv_close(&d);
}

static void test_tx_oversize_and_bad_header(void **state)
{
	struct drv d;
	uint8_t out[4096];
	uint64_t gpa;

	(void)state;
	drv_open(&d, 1);
	drv_init(&d, F(VIRTIO_NET_F_MAC));
	gpa = post(&d, 1, (struct seg[]){ { 12 + 2000, false } }, 1);
	memset(gp(&d, gpa, 12), 0, 12);
	wr(&d, 0x050, 1);
	/* Checksum offload was not negotiated. */
	gpa = post(&d, 1, (struct seg[]){ { 12 + 100, false } }, 1);
	memset(gp(&d, gpa, 12), 0, 12);
	*(uint8_t *)gp(&d, gpa, 1) = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	wr(&d, 0x050, 1);
	assert_int_equal(used_idx(&d, 1), 2);
	assert_int_equal(stats(&d).tx_dropped, 2);
	assert_int_equal(recv(d.peer[0], out, sizeof(out), MSG_DONTWAIT), -1);
	assert_false(rd(&d, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	drv_close(&d);
}

static void expect_reset(struct drv *d)
{
	assert_true(rd(d, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(virtio_mmio_interrupt_status(d->t) & VIRTIO_MMIO_INT_CONFIG);
}

static void test_malformed_chains(void **state)
{
	struct drv d;

	(void)state;
	/* TX chain with a device-writable descriptor. */
	drv_open(&d, 1);
	drv_init(&d, F(VIRTIO_NET_F_MAC));
	post(&d, 1, (struct seg[]){ { 12, false }, { 60, true } }, 2);
	wr(&d, 0x050, 1);
	expect_reset(&d);
	drv_close(&d);

	/* TX chain shorter than the header. */
	drv_open(&d, 1);
	drv_init(&d, F(VIRTIO_NET_F_MAC));
	post(&d, 1, (struct seg[]){ { 8, false } }, 1);
	wr(&d, 0x050, 1);
	expect_reset(&d);
	drv_close(&d);

	/* RX chain with a device-readable descriptor. */
	drv_open(&d, 1);
	drv_init(&d, F(VIRTIO_NET_F_MAC));
	post(&d, 0, (struct seg[]){ { 64, false }, { 2048, true } }, 2);
	send_frame(&d, 0, 60, 1);
	wr(&d, 0x050, 0);
	expect_reset(&d);
	/* The device stays quiet until reset; a new frame changes nothing. */
	send_frame(&d, 0, 60, 1);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(used_idx(&d, 0), 0);
	drv_close(&d);

	/* RX descriptor pointing outside guest RAM. */
	drv_open(&d, 1);
	drv_init(&d, F(VIRTIO_NET_F_MAC));
	post(&d, 0, (struct seg[]){ { 2048, true } }, 1);
	((struct virtq_desc *)gp(&d, RING_GPA(0), 16))->addr = 1ull << 40;
	send_frame(&d, 0, 60, 1);
	wr(&d, 0x050, 0);
	expect_reset(&d);
	drv_close(&d);

	/* Mergeable RX buffer smaller than the header. */
	drv_open(&d, 1);
	drv_init(&d, F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_MRG_RXBUF));
	post(&d, 0, (struct seg[]){ { 8, true } }, 1);
	send_frame(&d, 0, 60, 1);
	wr(&d, 0x050, 0);
	expect_reset(&d);
	drv_close(&d);
}

static uint8_t ctrl_cmd(struct drv *d, uint8_t cls, uint8_t cmd, uint16_t arg)
{
	uint64_t gpa = post(d, 4, (struct seg[]){ { 4, false }, { 1, true } }, 2);
	uint8_t *c = gp(d, gpa, 4), *ack = gp(d, gpa + 4096, 1);
	uint16_t before = used_idx(d, 4);

	c[0] = cls;
	c[1] = cmd;
	memcpy(c + 2, &arg, 2);
	*ack = 0xee;
	wr(d, 0x050, 4);
	assert_int_equal(used_idx(d, 4), (uint16_t)(before + 1));
	return *ack;
}

static void test_multiqueue(void **state)
{
	struct drv d;

	(void)state;
	drv_open(&d, 2);
	drv_init(&d, F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ));
	assert_int_equal(rd(&d, 0x100 + 8) & 0xffff, 2); /* max_virtqueue_pairs */
	post(&d, 2, (struct seg[]){ { 2048, true } }, 1);
	/* Pair 2 is idle until VQ_PAIRS_SET. */
	send_frame(&d, 1, 60, 1);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(used_idx(&d, 2), 0);
	assert_int_equal(ctrl_cmd(&d, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 3),
			 VIRTIO_NET_ERR);
	assert_int_equal(ctrl_cmd(&d, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 0),
			 VIRTIO_NET_ERR);
	assert_int_equal(ctrl_cmd(&d, 0, 0, 0), VIRTIO_NET_ERR);
	assert_int_equal(ctrl_cmd(&d, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2),
			 VIRTIO_NET_OK);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(used_idx(&d, 2), 1);
	/* Back to one pair: the second is no longer read; its frame waits in the backend. */
	assert_int_equal(ctrl_cmd(&d, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 1),
			 VIRTIO_NET_OK);
	post(&d, 2, (struct seg[]){ { 2048, true } }, 1);
	send_frame(&d, 1, 60, 2);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(used_idx(&d, 2), 1);
	assert_int_equal(ctrl_cmd(&d, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2),
			 VIRTIO_NET_OK);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(used_idx(&d, 2), 2);
	/* A reset with both pairs live: after it, one pair again until the driver asks. */
	wr(&d, 0x070, 0);
	memset(gp(&d, RING_GPA(2) + 0x8000, 4), 0, 4);
	drv_init(&d, F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ));
	post(&d, 2, (struct seg[]){ { 2048, true } }, 1);
	send_frame(&d, 1, 60, 3);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(used_idx(&d, 2), 0);
	assert_int_equal(ctrl_cmd(&d, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2),
			 VIRTIO_NET_OK);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(used_idx(&d, 2), 1);
	assert_false(rd(&d, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	drv_close(&d);
}

/*
 * An in-process backend: the device takes frames through recv (never
 * read()ing the eventfd), drops an empty one as a runt and one longer than
 * its buffer as oversize,
 * and hands the guest's frames to send, counting a refusal as a drop.
 */
static void test_inproc_backend(void **state)
{
	static uint8_t big[70000];
	uint8_t frame[100], out[128];
	struct inproc *ip;
	struct drv d;
	uint64_t gpa;

	(void)state;
	ip = drv_open_inproc(&d);
	drv_init(&d, F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_MRG_RXBUF));
	gpa = post(&d, 0, (struct seg[]){ { 2048, true } }, 1);
	post(&d, 0, (struct seg[]){ { 2048, true } }, 1);
	memset(frame, 0xab, sizeof(frame));
	/* An empty frame is dropped as a runt; the device reads on. */
	assert_int_equal(frameq_push(&ip->to_guest, frame, 0), 0);
	assert_int_equal(frameq_push(&ip->to_guest, frame, 100), 0);
	assert_int_equal(frameq_push(&ip->to_guest, big, sizeof(big)), 0);
	assert_int_equal(frameq_push(&ip->to_guest, frame, 60), 0);
	virtio_net_rx_poll(d.dev);
	assert_true(frameq_empty(&ip->to_guest));
	assert_int_equal(used_idx(&d, 0), 2);
	assert_int_equal(used_len(&d, 0, 0), 112);
	assert_int_equal(used_len(&d, 0, 1), 72);
	assert_int_equal(((uint8_t *)gp(&d, gpa, 112))[12], 0xab);
	assert_int_equal(stats(&d).rx_packets, 2);
	assert_int_equal(stats(&d).rx_bytes, 160);
	assert_int_equal(stats(&d).rx_dropped_oversize, 1);

	/* TX: the frame without its header reaches send. */
	gpa = post(&d, 1, (struct seg[]){ { 12, false }, { 60, false } }, 2);
	memset(gp(&d, gpa, 12), 0, 12);
	memset(gp(&d, gpa + 4096, 60), 0x5a, 60);
	wr(&d, 0x050, 1);
	assert_int_equal(used_idx(&d, 1), 1);
	assert_int_equal(frameq_pop(&ip->from_guest, out, sizeof(out)), 60);
	assert_int_equal(out[0], 0x5a);
	assert_int_equal(stats(&d).tx_packets, 1);

	/* A full backend: the chain is used, the frame counted as dropped. */
	ip->full = true;
	gpa = post(&d, 1, (struct seg[]){ { 12, false }, { 60, false } }, 2);
	memset(gp(&d, gpa, 12), 0, 12);
	wr(&d, 0x050, 1);
	assert_int_equal(used_idx(&d, 1), 2);
	assert_int_equal(stats(&d).tx_packets, 1);
	assert_int_equal(stats(&d).tx_dropped, 1);
	assert_true(frameq_empty(&ip->from_guest));
	expect_counters(&d);
	drv_close(&d);
}

static void test_user_backend_starts(void **state)
{
	struct virtio_host host = { .vm_fd = -1 };
	struct virtio_env env = { 0 };
	struct virtio_mmio *t;
	struct eventloop loop;
	struct guest_mem gm;
	struct bus bus;
	struct net_config cfg;
	struct virtio_dev *dev;
	struct err err;

	(void)state;
	assert_int_equal(guest_mem_init(&gm, 16ull << 20), 0);
	bus_init(&bus);
	host.bus = &bus;
	env.mem = &gm;
	assert_int_equal(virtio_net_parse("user,hostfwd=tcp:0-:1", &cfg, &err),
			 -EINVAL);
	assert_int_equal(virtio_net_parse("user", &cfg, &err), 0);
	/* slirp runs in the I/O thread's loop: without one there is no backend. */
	assert_int_not_equal(virtio_net_create(&env, &cfg, &dev, &err), 0);
	assert_non_null(strstr(err.msg, "loop"));
	assert_int_equal(eventloop_init(&loop), 0);
	env.loop = &loop;
	host.loop = &loop;
	assert_int_equal(virtio_net_create(&env, &cfg, &dev, &err), 0);
	assert_int_equal(mmio_attach(dev, &host, BASE, 5, &t), 0);
	assert_int_equal(loop.npollers, 1);
	mmio_detach_destroy(dev, t);
	assert_int_equal(loop.npollers, 0);
	eventloop_destroy(&loop);
	bus_destroy(&bus);
	guest_mem_destroy(&gm);
}

/*
 * After a live migration the NIC announces the guest's MAC on its wire: a
 * RARP request from it to everyone, Ethernet's minimum of 60 bytes, behind
 * the virtio header when the backend takes one. An in-process (user-mode)
 * backend has no wire and gets nothing.
 */
static void test_announce(void **state)
{
	static const uint8_t mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	uint8_t frame[VIRTIO_NET_RARP_LEN], got[128];
	struct drv d;
	ssize_t n;

	assert_int_equal(virtio_net_rarp(mac, frame), VIRTIO_NET_RARP_LEN);
	for (unsigned int i = 0; i < 6; i++)
		assert_int_equal(frame[i], 0xff);
	assert_memory_equal(frame + 6, mac, 6);
	assert_int_equal(frame[12] << 8 | frame[13], 0x8035);
	assert_int_equal(frame[20] << 8 | frame[21], 3);
	assert_memory_equal(frame + 22, mac, 6);
	assert_memory_equal(frame + 32, mac, 6);

	open_spec = "user,mac=02:11:22:33:44:55";
	drv_open(&d, 1);
	open_spec = "user";
	assert_int_equal(virtio_net_announce(d.dev), 0);
	n = read(d.peer[0], got, sizeof(got));
	assert_int_equal(n, (ssize_t)VIRTIO_NET_RARP_LEN);
	assert_memory_equal(got, frame, VIRTIO_NET_RARP_LEN);
	drv_close(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_features_config),
		cmocka_unit_test(test_mtu),
		cmocka_unit_test(test_rx_tx),
		cmocka_unit_test(test_spoofed_mac),
		cmocka_unit_test(test_rx_oversize_dropped),
		cmocka_unit_test(test_rx_mergeable),
		cmocka_unit_test(test_rx_mergeable_event_idx),
		cmocka_unit_test(test_rx_stall_resume),
		cmocka_unit_test(test_tx_oversize_and_bad_header),
		cmocka_unit_test(test_malformed_chains),
		cmocka_unit_test(test_multiqueue),
		cmocka_unit_test(test_inproc_backend),
		cmocka_unit_test(test_user_backend_starts),
		cmocka_unit_test(test_announce),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

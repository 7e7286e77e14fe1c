/*
 * virtio-rng through its virtio-mmio registers, with real rings in guest
 * RAM: the test plays the driver.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "mem/guest_mem.h"
#include "mmio_attach.h"
#include "util/log.h"
#include "virtio/mmio.h"
#include "virtio/rng.h"
#include "virtio/virtio.h"

#define BASE 0xd0000000ull
#define RAM (1ull << 20)
#define QSIZE 256
#define DESC 0x1000ull
#define AVAIL 0x3000ull
#define USED 0x4000ull
#define TABLE 0x8000ull
#define BUF 0x40000ull
#define CAP (64u * 1024u)
/* The device's per-kick budget (RNG_KICK_REQUESTS, RNG_KICK_BYTES in rng.c). */
#define KICK_REQUESTS 256u
#define KICK_BYTES (1024u * 1024u)

#define DEVICE_ID 0x008
#define DEV_FEAT 0x010
#define DEV_FEAT_SEL 0x014
#define DRV_FEAT 0x020
#define DRV_FEAT_SEL 0x024
#define QSEL 0x030
#define QNUM_MAX 0x034
#define QNUM 0x038
#define QREADY 0x044
#define QNOTIFY 0x050
#define INT_STATUS 0x060
#define INT_ACK 0x064
#define STATUS 0x070
#define QDESC_LO 0x080
#define QDRV_LO 0x090
#define QDEV_LO 0x0a0
#define CONFIG 0x100

#define S_UP (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK)

struct fx {
	struct bus bus;
	struct guest_mem mem;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	uint16_t avail_idx;
	/* With kick eventfds on a loop the test dispatches itself, round by round. */
	struct eventloop loop;
	bool has_loop;
};

static void offer(struct fx *f, uint16_t head);

/* The guest's vCPU racing the device: each getrandom() is a moment it publishes more. */
static struct {
	struct fx *f;
	uint16_t head;        /* the chain it publishes again */
	unsigned int refills; /* left to do */
	unsigned int calls;   /* getrandom calls, one per request here */
} race;

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
	race.calls++;
	if (race.f && race.refills) {
		race.refills--;
		offer(race.f, race.head);
	}
	return syscall(SYS_getrandom, buf, len, flags);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct virtio_host host = { .vm_fd = -1, .bus = &f->bus, .loop = NULL };
	struct virtio_env env = { .loop = NULL, .mem = &f->mem };
	struct err err;

	log_set_level(LOG_ERR);
	assert_int_equal(guest_mem_init(&f->mem, RAM), 0);
	bus_init(&f->bus);
	assert_int_equal(virtio_rng_create(&env, &f->dev, &err), 0);
	assert_int_equal(mmio_attach(f->dev, &host, BASE, 5, &f->t), 0);
	*state = f;
	return 0;
}

/* As Hearth runs it: kicks and kick_again go through eventfds on the I/O loop. */
static int setup_loop(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct virtio_host host = { .vm_fd = -1, .bus = &f->bus, .loop = &f->loop,
				    .test_kick_fds = true };
	struct virtio_env env = { .loop = &f->loop, .mem = &f->mem };
	struct err err;

	log_set_level(LOG_ERR);
	memset(&race, 0, sizeof(race));
	assert_int_equal(guest_mem_init(&f->mem, RAM), 0);
	bus_init(&f->bus);
	assert_int_equal(eventloop_init(&f->loop), 0);
	f->has_loop = true;
	assert_int_equal(virtio_rng_create(&env, &f->dev, &err), 0);
	assert_int_equal(mmio_attach(f->dev, &host, BASE, 5, &f->t), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	race.f = NULL;
	mmio_detach_destroy(f->dev, f->t);
	if (f->has_loop)
		eventloop_destroy(&f->loop);
	bus_destroy(&f->bus);
	guest_mem_destroy(&f->mem);
	free(f);
	return 0;
}

/* Is a handler ready (a kick pending)? Level-triggered, so looking consumes nothing. */
static bool loop_ready(struct fx *f)
{
	struct epoll_event ev;

	return epoll_wait(f->loop.epfd, &ev, 1, 0) > 0;
}

/* One round of the I/O thread's loop: dispatches what is ready now. */
static void loop_round(struct fx *f)
{
	struct epoll_event evs[8];
	int n = epoll_wait(f->loop.epfd, evs, 8, 0);

	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		struct eventloop_handler *h = evs[i].data.ptr;

		h->cb(h->opaque, evs[i].events);
	}
}

static uint32_t rd(struct fx *f, uint64_t off)
{
	uint8_t d[4];

	assert_int_equal(bus_access(&f->bus, BUS_MMIO, BASE + off, d, 4, false), 0);
	return (uint32_t)bus_data_get(d, 4);
}

static void wr(struct fx *f, uint64_t off, uint32_t v)
{
	uint8_t d[4];

	bus_data_put(d, 4, v);
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, BASE + off, d, 4, true), 0);
}

static void *hva(struct fx *f, uint64_t gpa, uint64_t len)
{
	void *p = guest_mem_ptr(&f->mem, gpa, len);

	assert_non_null(p);
	return p;
}

static uint16_t get16(struct fx *f, uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, hva(f, gpa, 2), 2);
	return v;
}

static uint32_t get32(struct fx *f, uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, hva(f, gpa, 4), 4);
	return v;
}

static void put_desc(struct fx *f, uint64_t table, unsigned int i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };

	memcpy(hva(f, table + 16ull * i, 16), &d, 16);
}

static void bring_up(struct fx *f, uint64_t features)
{
	memset(hva(f, 0, RAM), 0, RAM);
	f->avail_idx = 0;
	wr(f, STATUS, 0);
	wr(f, STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, DRV_FEAT_SEL, 0);
	wr(f, DRV_FEAT, (uint32_t)features);
	wr(f, DRV_FEAT_SEL, 1);
	wr(f, DRV_FEAT, (uint32_t)(features >> 32));
	wr(f, STATUS, S_UP);
	assert_int_equal(rd(f, STATUS), S_UP);
	wr(f, QSEL, 0);
	wr(f, QNUM, QSIZE);
	wr(f, QDESC_LO, DESC);
	wr(f, QDRV_LO, AVAIL);
	wr(f, QDEV_LO, USED);
	wr(f, QREADY, 1);
	wr(f, STATUS, S_UP | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(rd(f, STATUS), S_UP | VIRTIO_STATUS_DRIVER_OK);
}

static uint64_t v1(void)
{
	return 1ull << VIRTIO_F_VERSION_1;
}

/* Makes head available (without kicking). */
static void offer(struct fx *f, uint16_t head)
{
	uint16_t idx;

	memcpy(hva(f, AVAIL + 4 + 2 * (f->avail_idx % QSIZE), 2), &head, 2);
	idx = ++f->avail_idx;
	memcpy(hva(f, AVAIL + 2, 2), &idx, 2);
}

static void kick(struct fx *f)
{
	wr(f, QNOTIFY, 0);
}

static uint32_t used_len(struct fx *f, unsigned int i)
{
	return get32(f, USED + 4 + 8 * i + 4);
}

static uint32_t used_id(struct fx *f, unsigned int i)
{
	return get32(f, USED + 4 + 8 * i);
}

static bool all_zero(struct fx *f, uint64_t gpa, uint64_t len)
{
	const uint8_t *p = hva(f, gpa, len);

	for (uint64_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static bool needs_reset(struct fx *f)
{
	return rd(f, STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

static void test_identity(void **state)
{
	struct fx *f = *state;

	assert_int_equal(rd(f, DEVICE_ID), VIRTIO_ID_RNG);
	wr(f, QSEL, 0);
	assert_int_equal(rd(f, QNUM_MAX), QSIZE);
	wr(f, QSEL, 1);
	assert_int_equal(rd(f, QNUM_MAX), 0);
	/* No device-specific features, no config space. */
	wr(f, DEV_FEAT_SEL, 0);
	assert_int_equal(rd(f, DEV_FEAT),
			 (1u << VIRTIO_F_INDIRECT_DESC) | (1u << VIRTIO_F_EVENT_IDX));
	assert_int_equal(rd(f, CONFIG), 0);
}

static void test_single_request(void **state)
{
	struct fx *f = *state;

	bring_up(f, v1());
	put_desc(f, DESC, 0, BUF, 64, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	kick(f);
	assert_int_equal(get16(f, USED + 2), 1);
	assert_int_equal(used_id(f, 0), 0);
	assert_int_equal(used_len(f, 0), 64);
	assert_false(all_zero(f, BUF, 32));
	assert_false(all_zero(f, BUF + 32, 32));
	assert_true(all_zero(f, BUF + 64, 64));
	assert_int_equal(rd(f, INT_STATUS), VIRTIO_MMIO_INT_VRING);
	wr(f, INT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_false(needs_reset(f));
}

static void test_multi_segment(void **state)
{
	struct fx *f = *state;

	bring_up(f, v1());
	put_desc(f, DESC, 5, BUF, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 9);
	put_desc(f, DESC, 9, BUF + 0x100, 0, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, DESC, 2, BUF + 0x200, 40, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 5);
	kick(f);
	assert_int_equal(used_id(f, 0), 5);
	assert_int_equal(used_len(f, 0), 56);
	assert_false(all_zero(f, BUF, 16));
	assert_false(all_zero(f, BUF + 0x200 + 24, 16));
}

static void test_cap_single_buffer(void **state)
{
	struct fx *f = *state;

	bring_up(f, v1());
	put_desc(f, DESC, 0, BUF, 2 * CAP, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	kick(f);
	assert_int_equal(used_len(f, 0), CAP);
	assert_false(all_zero(f, BUF + CAP - 32, 32));
	assert_true(all_zero(f, BUF + CAP, CAP));
}

static void test_cap_across_segments(void **state)
{
	struct fx *f = *state;
	uint32_t seg = 40 * 1024;

	bring_up(f, v1());
	put_desc(f, DESC, 0, BUF, seg, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, BUF + seg, seg, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, DESC, 2, BUF + 2 * seg, seg, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	kick(f);
	assert_int_equal(used_len(f, 0), CAP);
	assert_false(all_zero(f, BUF + CAP - 32, 32));
	assert_true(all_zero(f, BUF + CAP, 3 * seg - CAP));
}

static void test_several_requests(void **state)
{
	struct fx *f = *state;

	bring_up(f, v1());
	for (unsigned int i = 0; i < 3; i++) {
		put_desc(f, DESC, i, BUF + 0x1000 * i, 100 + i, VIRTQ_DESC_F_WRITE, 0);
		offer(f, (uint16_t)i);
	}
	kick(f);
	assert_int_equal(get16(f, USED + 2), 3);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(used_id(f, i), i);
		assert_int_equal(used_len(f, i), 100 + i);
	}
	/* A kick with nothing new changes nothing. */
	kick(f);
	assert_int_equal(get16(f, USED + 2), 3);
}

static void test_indirect(void **state)
{
	struct fx *f = *state;

	bring_up(f, v1() | (1ull << VIRTIO_F_INDIRECT_DESC));
	put_desc(f, TABLE, 0, BUF, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, TABLE, 1, BUF + 8, 24, VIRTQ_DESC_F_WRITE, 0);
	put_desc(f, DESC, 3, TABLE, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 3);
	kick(f);
	assert_int_equal(used_id(f, 0), 3);
	assert_int_equal(used_len(f, 0), 32);
	assert_false(needs_reset(f));
}

static void test_readable_segment_fails(void **state)
{
	struct fx *f = *state;

	bring_up(f, v1());
	put_desc(f, DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, BUF + 16, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	kick(f);
	assert_true(needs_reset(f));
	assert_int_equal(get16(f, USED + 2), 0);
	assert_true(all_zero(f, BUF, 32));
	/* The driver was told through a config interrupt. */
	assert_true(rd(f, INT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	/* Later kicks are ignored until reset. */
	put_desc(f, DESC, 2, BUF, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 2);
	kick(f);
	assert_int_equal(get16(f, USED + 2), 0);
	/* A reset brings it back. */
	bring_up(f, v1());
	put_desc(f, DESC, 0, BUF, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	kick(f);
	assert_int_equal(used_len(f, 0), 16);
}

static void test_bad_ring_fails(void **state)
{
	struct fx *f = *state;

	bring_up(f, v1());
	/* The first request is good and completes before the broken one. */
	put_desc(f, DESC, 0, BUF, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	put_desc(f, DESC, 1, BUF, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	offer(f, 1);
	kick(f);
	assert_true(needs_reset(f));
	assert_int_equal(get16(f, USED + 2), 1);
	assert_true(rd(f, INT_STATUS) & VIRTIO_MMIO_INT_VRING);

	bring_up(f, v1());
	put_desc(f, DESC, 0, RAM - 8, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	kick(f);
	assert_true(needs_reset(f));
}

/* With EVENT_IDX the driver only kicks past avail_event, so it must move. */
static void test_event_idx_avail_event(void **state)
{
	struct fx *f = *state;
	uint64_t avail_event = USED + 4 + 8 * QSIZE;

	bring_up(f, v1() | (1ull << VIRTIO_F_EVENT_IDX));
	put_desc(f, DESC, 0, BUF, 16, VIRTQ_DESC_F_WRITE, 0);
	put_desc(f, DESC, 1, BUF + 16, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	offer(f, 1);
	kick(f);
	assert_int_equal(get16(f, USED + 2), 2);
	assert_int_equal(get16(f, avail_event), 2);
	/* used_event is 0 in RAM: first completion interrupts, later ones not. */
	assert_int_equal(rd(f, INT_STATUS), VIRTIO_MMIO_INT_VRING);
	wr(f, INT_ACK, VIRTIO_MMIO_INT_VRING);
	offer(f, 0);
	kick(f);
	assert_int_equal(get16(f, avail_event), 3);
	assert_int_equal(rd(f, INT_STATUS), 0);
}

static void test_zero_length_request(void **state)
{
	struct fx *f = *state;

	bring_up(f, v1());
	put_desc(f, DESC, 0, BUF, 0, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	kick(f);
	assert_int_equal(get16(f, USED + 2), 1);
	assert_int_equal(used_len(f, 0), 0);
	assert_false(needs_reset(f));
}

/*
 * A guest that publishes a new request each time the device fills one
 * (issue 9: a million on one kick). Each I/O-loop round must stop at the
 * budget and ask for another round; over the rounds every request is
 * answered.
 */
static void test_racing_guest_bounded(void **state)
{
	struct fx *f = *state;
	unsigned int refills = 10000, rounds = 0, before;

	bring_up(f, v1());
	put_desc(f, DESC, 0, BUF, 64, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	race.f = f;
	race.head = 0;
	race.refills = refills;
	race.calls = 0;
	kick(f);
	assert_true(loop_ready(f));
	loop_round(f);
	assert_int_equal(race.calls, KICK_REQUESTS);
	assert_int_equal(get16(f, USED + 2), KICK_REQUESTS);
	assert_true(loop_ready(f)); /* kick_again: the queue's eventfd is readable */
	while (loop_ready(f)) {
		before = race.calls;
		loop_round(f);
		assert_true(race.calls - before <= KICK_REQUESTS);
		assert_true(++rounds < refills);
	}
	assert_int_equal(race.refills, 0);
	assert_int_equal(race.calls, refills + 1);
	assert_int_equal(get16(f, USED + 2), (uint16_t)(refills + 1));
	assert_false(needs_reset(f));
}

/* Large requests: the byte budget ends the round before the request budget does. */
static void test_byte_budget(void **state)
{
	struct fx *f = *state;

	bring_up(f, v1());
	put_desc(f, DESC, 0, BUF, CAP, VIRTQ_DESC_F_WRITE, 0);
	for (unsigned int i = 0; i < QSIZE; i++)
		offer(f, 0);
	kick(f);
	loop_round(f);
	assert_int_equal(get16(f, USED + 2), KICK_BYTES / CAP);
	assert_true(loop_ready(f));
	for (unsigned int i = 0; i < QSIZE && loop_ready(f); i++)
		loop_round(f);
	assert_int_equal(get16(f, USED + 2), QSIZE);
	assert_int_equal(used_len(f, QSIZE - 1), CAP);
	assert_false(loop_ready(f));
	assert_false(needs_reset(f));
}

static void test_create_error(void **state)
{
	struct fx *f = *state;
	struct virtio_host host = { .vm_fd = -1, .bus = &f->bus };
	struct virtio_env env = { .mem = &f->mem };
	struct virtio_mmio *t = NULL;
	struct virtio_dev *dev = NULL;
	struct err err;

	/*
	 * Overlaps the device made in setup: the attach fails, and leaves the
	 * device as it was, detached, for its owner to destroy.
	 */
	assert_int_equal(virtio_rng_create(&env, &dev, &err), 0);
	assert_non_null(dev);
	assert_int_equal(virtio_mmio_create(dev, &host, BASE, 6, &t), -EEXIST);
	assert_null(t);
	assert_null(dev->transport);
	assert_null(dev->signal_used);
	assert_null(dev->signal_config);
	assert_null(dev->kick_again);
	assert_null(dev->take_kick_fd);
	assert_int_equal(rd(f, 0x008), VIRTIO_ID_RNG); /* the first device is untouched */
	dev->ops->destroy(dev);
	virtio_rng_destroy(NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_identity), T(test_single_request), T(test_multi_segment),
		T(test_cap_single_buffer), T(test_cap_across_segments),
		T(test_several_requests), T(test_indirect), T(test_readable_segment_fails),
		T(test_bad_ring_fails), T(test_event_idx_avail_event),
		T(test_zero_length_request), T(test_create_error),
		cmocka_unit_test_setup_teardown(test_racing_guest_bounded, setup_loop, teardown),
		cmocka_unit_test_setup_teardown(test_byte_budget, setup_loop, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

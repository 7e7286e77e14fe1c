/*
 * Test-only: virtio-balloon behind its virtio-mmio registers, with real
 * rings in guest RAM (the test plays a possibly hostile driver). RAM is
 * two regions, 16 MiB at 0 and 2 MiB at 4 GiB, so page numbers can fall
 * in the hole between. Shared by test_virtio_balloon.c and
 * test_guest_mem_discard.c; include after cmocka.h.
 */
#ifndef HEARTH_TESTS_BALLOON_FIXTURE_H
#define HEARTH_TESTS_BALLOON_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "core/bus.h"
#include "core/eventloop.h"
#include "mem/guest_mem.h"
#include "mem/guest_mem_file.h"
#include "mem/guest_mem_huge.h"
#include "mem/guest_mem_uffd.h"
#include "mmio_attach.h"
#include "state_check.h"
#include "util/log.h"
#include "virtio/balloon.h"
#include "virtio/balloon/priv.h"
#include "virtio/mmio.h"
#include "virtio/virtio.h"

#define BASE 0xd0000000ull
#define LOW (16ull << 20)
#define HIGH_GPA 0x100000000ull
#define HIGH (2ull << 20)
#define QSIZE 256
#define RING(q) (0x10000ull + 0x4000ull * (q))
#define BUF 0x80000ull
#define PAGES 0x400000ull        /* the pages the tests give away, 4 MiB on */
#define PFN(gpa) ((uint32_t)((gpa) >> 12))
#define KICK_CHAINS 256u         /* BALLOON_KICK_CHAINS */

#define DRV_FEAT 0x020
#define DRV_FEAT_SEL 0x024
#define DEV_FEAT 0x010
#define DEV_FEAT_SEL 0x014
#define QSEL 0x030
#define QNUM_MAX 0x034
#define QNUM 0x038
#define QREADY 0x044
#define QNOTIFY 0x050
#define INT_STATUS 0x060
#define INT_ACK 0x064
#define STATUS 0x070
#define CONFIG 0x100
#define S_UP (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK)
#define F(bit) (1ull << (bit))

struct fx {
	struct bus bus;
	struct guest_mem mem;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	uint16_t avail_idx[5];
	struct eventloop loop;
	bool has_loop;
};

/* The guest's vCPU racing the device: each MADV_DONTNEED is a moment it acts. */
static struct {
	struct fx *f;
	void (*act)(struct fx *f);
	unsigned int left, calls;
} race;

int madvise(void *addr, size_t len, int advice)
{
	if (advice == MADV_DONTNEED) {
		race.calls++;
		if (race.act && race.left) {
			race.left--;
			race.act(race.f);
		}
	}
	return (int)syscall(SYS_madvise, addr, len, advice);
}

static inline void *map_anon(uint64_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static inline int setup_common(void **state, bool loop)
{
	struct fx *f = calloc(1, sizeof(*f));

	log_set_level(LOG_ERR);
	memset(&race, 0, sizeof(race));
	f->mem.slots_fd = -1;
	f->mem.regions[0] = (struct guest_region){ 0, LOW, map_anon(LOW) };
	f->mem.regions[1] = (struct guest_region){ HIGH_GPA, HIGH, map_anon(HIGH) };
	f->mem.nregions = 2;
	f->mem.ram_bytes = LOW + HIGH;
	bus_init(&f->bus);
	if (loop)
		assert_int_equal(eventloop_init(&f->loop), 0);
	f->has_loop = loop;
	*state = f;
	return 0;
}

static inline int setup(void **state)
{
	return setup_common(state, false);
}

static inline int setup_loop(void **state)
{
	return setup_common(state, true);
}

static inline int teardown(void **state)
{
	struct fx *f = *state;

	race.act = NULL;
	mmio_detach_destroy(f->dev, f->t);
	if (f->has_loop)
		eventloop_destroy(&f->loop);
	bus_destroy(&f->bus);
	guest_mem_destroy(&f->mem);
	free(f);
	return 0;
}

static inline void start(struct fx *f, const struct balloon_config *cfg)
{
	struct virtio_host host = { .vm_fd = -1, .bus = &f->bus,
				    .loop = f->has_loop ? &f->loop : NULL,
				    .test_kick_fds = f->has_loop };
	struct virtio_env env = { .loop = f->has_loop ? &f->loop : NULL, .mem = &f->mem };
	struct err err;

	assert_int_equal(virtio_balloon_create(&env, cfg, &f->dev, &err), 0);
	assert_int_equal(mmio_attach(f->dev, &host, BASE, 5, &f->t), 0);
}

static inline uint32_t rd(struct fx *f, uint64_t off)
{
	uint8_t d[4];

	assert_int_equal(bus_access(&f->bus, BUS_MMIO, BASE + off, d, 4, false), 0);
	return (uint32_t)bus_data_get(d, 4);
}

static inline void wr(struct fx *f, uint64_t off, uint32_t v)
{
	uint8_t d[4];

	bus_data_put(d, 4, v);
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, BASE + off, d, 4, true), 0);
}

static inline uint8_t *hva(struct fx *f, uint64_t gpa, uint64_t len)
{
	uint8_t *p = guest_mem_ptr(&f->mem, gpa, len);

	assert_non_null(p);
	return p;
}

static inline uint32_t get32(struct fx *f, uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, hva(f, gpa, 4), 4);
	return v;
}

static inline uint16_t used_idx(struct fx *f, unsigned int q)
{
	uint16_t v;

	memcpy(&v, hva(f, RING(q) + 0x2000 + 2, 2), 2);
	return v;
}

/* The driver's start up to its queues, before DRIVER_OK (bring_up sets it). */
static inline void bring_up_queues(struct fx *f, uint64_t features, unsigned int nq)
{
	features |= F(VIRTIO_F_VERSION_1);
	memset(f->avail_idx, 0, sizeof(f->avail_idx));
	memset(hva(f, RING(0), 0x14000), 0, 0x14000);
	wr(f, STATUS, 0);
	wr(f, STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, DRV_FEAT_SEL, 0);
	wr(f, DRV_FEAT, (uint32_t)features);
	wr(f, DRV_FEAT_SEL, 1);
	wr(f, DRV_FEAT, (uint32_t)(features >> 32));
	wr(f, STATUS, S_UP);
	assert_int_equal(rd(f, STATUS), S_UP);
	for (unsigned int q = 0; q < nq; q++) {
		wr(f, QSEL, q);
		wr(f, QNUM, QSIZE);
		wr(f, 0x080, (uint32_t)RING(q));
		wr(f, 0x090, (uint32_t)RING(q) + 0x1000);
		wr(f, 0x0a0, (uint32_t)RING(q) + 0x2000);
		wr(f, QREADY, 1);
	}
}

static inline void bring_up(struct fx *f, uint64_t features, unsigned int nq)
{
	bring_up_queues(f, features, nq);
	wr(f, STATUS, S_UP | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(rd(f, STATUS), S_UP | VIRTIO_STATUS_DRIVER_OK);
}

static inline void put_desc(struct fx *f, unsigned int q, unsigned int i, uint64_t addr,
			    uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };

	memcpy(hva(f, RING(q) + 16ull * i, 16), &d, 16);
}

static inline void offer(struct fx *f, unsigned int q, uint16_t head)
{
	uint16_t idx;

	memcpy(hva(f, RING(q) + 0x1000 + 4 + 2 * (f->avail_idx[q] % QSIZE), 2), &head, 2);
	idx = ++f->avail_idx[q];
	memcpy(hva(f, RING(q) + 0x1000 + 2, 2), &idx, 2);
}

static inline void kick(struct fx *f, unsigned int q)
{
	wr(f, QNOTIFY, q);
}

/* A buffer of page numbers at gpa, as descriptor i of queue q, offered. */
static inline void pfn_buf(struct fx *f, unsigned int q, unsigned int i, uint64_t gpa,
		    const uint32_t *pfns, unsigned int n)
{
	memcpy(hva(f, gpa, 4ull * n), pfns, 4ull * n);
	put_desc(f, q, i, gpa, 4 * n, 0, 0);
	offer(f, q, (uint16_t)i);
}

static inline void fill(struct fx *f, uint64_t gpa, uint64_t len, uint8_t v)
{
	memset(hva(f, gpa, len), v, len);
}

static inline bool all(struct fx *f, uint64_t gpa, uint64_t len, uint8_t v)
{
	const uint8_t *p = hva(f, gpa, len);

	for (uint64_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

static inline uint64_t counter(struct fx *f, const char *name)
{
	struct dev_counter c[64];
	unsigned int n = virtio_dev_counters(f->dev, c, 64);

	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return c[i].value;
	fail_msg("no counter %s", name);
	return 0;
}

static inline bool needs_reset(struct fx *f)
{
	return rd(f, STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

#endif

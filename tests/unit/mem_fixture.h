/*
 * Test-only: virtio-mem behind its virtio-mmio registers, with real rings
 * in guest RAM (the test plays a possibly hostile driver), over a real
 * hotplug region (mem/guest_mem_hotplug.h, no KVM: its slots are only
 * counted). RAM is 16 MiB at 0; the region 512 MiB at 4 GiB, in blocks
 * of 2 MiB and slots of 128 MiB. The device's ops go through a recorder
 * that can refuse, or act as the guest's vCPU racing the device.
 * Include after cmocka.h.
 */
#ifndef HEARTH_TESTS_MEM_FIXTURE_H
#define HEARTH_TESTS_MEM_FIXTURE_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/bus.h"
#include "mem/guest_mem.h"
#include "mem/guest_mem_hotplug.h"
#include "mmio_attach.h"
#include "util/log.h"
#include "virtio/mem.h"
#include "virtio/mmio.h"
#include "virtio/virtio.h"

#define BASE 0xd0000000ull
#define LOW (16ull << 20)
#define QSIZE 256
#define RING 0x10000ull
#define REQ 0x80000ull           /* requests, 32 bytes apart */
#define RESP 0x90000ull          /* responses, 16 bytes apart */
#define MIB (1ull << 20)
#define HP_GPA 0x100000000ull
#define HP_SIZE (512 * MIB)
#define BLOCK (2 * MIB)
#define SLOT (128 * MIB)

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
#define INACCESSIBLE F(VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE)

struct fx {
	struct bus bus;
	struct guest_mem mem;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	uint16_t avail_idx;
	/* The ops' record: calls, the last range, what the next answers, a hook. */
	unsigned int sets;
	uint64_t last_off, last_len;
	bool last_plug;
	int fail;
	void (*during)(struct fx *f);
};

static int fx_set(void *ctx, uint64_t off, uint64_t len, bool plug)
{
	struct fx *f = ctx;

	f->sets++;
	f->last_off = off;
	f->last_len = len;
	f->last_plug = plug;
	if (f->during)
		f->during(f);
	if (f->fail)
		return f->fail;
	return guest_mem_hotplug_set(&f->mem, off, len, plug);
}

static const struct virtio_mem_ops fx_ops = { .set = fx_set };

static inline int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	void *ram = mmap(NULL, LOW, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct virtio_host host = { .vm_fd = -1, .bus = &f->bus };
	struct virtio_env env = { .mem = &f->mem };
	struct err err;

	assert_true(ram != MAP_FAILED);
	log_set_level(LOG_ERR);
	f->mem.slots_fd = -1;
	f->mem.regions[0] = (struct guest_region){ 0, LOW, ram };
	f->mem.nregions = 1;
	f->mem.ram_bytes = LOW;
	assert_int_equal(guest_mem_hotplug_init(&f->mem, HP_SIZE, BLOCK, SLOT), 0);
	assert_int_equal(f->mem.hp->gpa, HP_GPA);
	bus_init(&f->bus);
	assert_int_equal(virtio_mem_create(&env, &(struct virtio_mem_config){
		.addr = HP_GPA, .region_size = HP_SIZE, .block_size = BLOCK, .slot_size = SLOT,
		.ops = &fx_ops, .ctx = f }, &f->dev, &err), 0);
	assert_int_equal(mmio_attach(f->dev, &host, BASE, 5, &f->t), 0);
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fx *f = *state;

	mmio_detach_destroy(f->dev, f->t);
	bus_destroy(&f->bus);
	guest_mem_destroy(&f->mem);
	free(f);
	return 0;
}

static inline uint32_t rd(struct fx *f, uint64_t off)
{
	uint8_t d[4];

	assert_int_equal(bus_access(&f->bus, BUS_MMIO, BASE + off, d, 4, false), 0);
	return (uint32_t)bus_data_get(d, 4);
}

static inline uint64_t rd64(struct fx *f, uint64_t off)
{
	return rd(f, off) | (uint64_t)rd(f, off + 4) << 32;
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

/* The driver's start; DRIVER_OK too when ok. */
static inline void bring_up(struct fx *f, uint64_t features, bool ok)
{
	features |= F(VIRTIO_F_VERSION_1);
	f->avail_idx = 0;
	memset(hva(f, RING, 0x3000), 0, 0x3000);
	wr(f, STATUS, 0);
	wr(f, STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, DRV_FEAT_SEL, 0);
	wr(f, DRV_FEAT, (uint32_t)features);
	wr(f, DRV_FEAT_SEL, 1);
	wr(f, DRV_FEAT, (uint32_t)(features >> 32));
	wr(f, STATUS, S_UP);
	wr(f, QSEL, 0);
	wr(f, QNUM, QSIZE);
	wr(f, 0x080, (uint32_t)RING);
	wr(f, 0x090, (uint32_t)RING + 0x1000);
	wr(f, 0x0a0, (uint32_t)RING + 0x2000);
	wr(f, QREADY, 1);
	if (ok)
		wr(f, STATUS, S_UP | VIRTIO_STATUS_DRIVER_OK);
}

static inline void put_desc(struct fx *f, unsigned int i, uint64_t addr, uint32_t len,
			    uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };

	memcpy(hva(f, RING + 16ull * i, 16), &d, 16);
}

static inline void offer(struct fx *f, uint16_t head)
{
	uint16_t idx;

	memcpy(hva(f, RING + 0x1000 + 4 + 2 * (f->avail_idx % QSIZE), 2), &head, 2);
	idx = ++f->avail_idx;
	memcpy(hva(f, RING + 0x1000 + 2, 2), &idx, 2);
}

static inline void kick(struct fx *f)
{
	wr(f, QNOTIFY, 0);
}

static inline uint16_t used_idx(struct fx *f)
{
	uint16_t v;

	memcpy(&v, hva(f, RING + 0x2000 + 2, 2), 2);
	return v;
}

static inline uint32_t used_len(struct fx *f, uint16_t n)
{
	uint32_t v;

	memcpy(&v, hva(f, RING + 0x2000 + 4 + 8 * (n % QSIZE) + 4, 4), 4);
	return v;
}

/* Request slot i (descriptors 2i, 2i+1): written and offered, not kicked. */
static inline void request(struct fx *f, unsigned int i, uint16_t type, uint64_t addr,
			   uint16_t nb)
{
	uint8_t req[VIRTIO_MEM_REQ_SIZE] = { 0 };

	memcpy(req, &type, 2);
	memcpy(req + 8, &addr, 8);
	memcpy(req + 16, &nb, 2);
	memcpy(hva(f, REQ + 32ull * i, sizeof(req)), req, sizeof(req));
	memset(hva(f, RESP + 16ull * i, 16), 0xee, 16);
	put_desc(f, 2 * i, REQ + 32ull * i, VIRTIO_MEM_REQ_SIZE, VIRTQ_DESC_F_NEXT,
		 (uint16_t)(2 * i + 1));
	put_desc(f, 2 * i + 1, RESP + 16ull * i, VIRTIO_MEM_RESP_SIZE, VIRTQ_DESC_F_WRITE, 0);
	offer(f, (uint16_t)(2 * i));
}

static inline uint16_t resp_type(struct fx *f, unsigned int i)
{
	uint16_t v;

	memcpy(&v, hva(f, RESP + 16ull * i, 2), 2);
	return v;
}

static inline uint16_t resp_state(struct fx *f, unsigned int i)
{
	uint16_t v;

	memcpy(&v, hva(f, RESP + 16ull * i + 8, 2), 2);
	return v;
}

/* One request, kicked: its response type (state in *state when asked). */
static inline uint16_t ask(struct fx *f, uint16_t type, uint64_t addr, uint16_t nb,
			   uint16_t *state)
{
	uint16_t before = used_idx(f);

	request(f, 0, type, addr, nb);
	kick(f);
	assert_int_equal(used_idx(f), (uint16_t)(before + 1));
	assert_int_equal(used_len(f, before), VIRTIO_MEM_RESP_SIZE);
	if (state)
		*state = resp_state(f, 0);
	return resp_type(f, 0);
}

static inline bool needs_reset(struct fx *f)
{
	return rd(f, STATUS) & VIRTIO_STATUS_NEEDS_RESET;
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

/* The config space's fields (5.15.4). */
#define C_BLOCK 0
#define C_ADDR 16
#define C_REGION 24
#define C_USABLE 32
#define C_PLUGGED 40
#define C_REQUESTED 48

#endif

/*
 * Shared by the virtqueue unit tests: a guest RAM with split rings at
 * fixed addresses, written by hand as a (possibly hostile) driver would.
 */
#ifndef HEARTH_TESTS_VIRTQ_FIXTURE_H
#define HEARTH_TESTS_VIRTQ_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mem/guest_mem.h"
#include "virtio/queue.h"

#define RAM (16ull << 20)
#define DESC_GPA 0x1000ull   /* up to 2048 descriptors */
#define AVAIL_GPA 0x10000ull
#define USED_GPA 0x20000ull
#define TABLE_GPA 0x40000ull /* indirect tables */
#define BUF_GPA 0x100000ull

struct fx {
	struct guest_mem mem;
	struct virtq vq;
	struct virtq_chain chain;
	uint16_t avail_idx;
};

static inline int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(guest_mem_init(&f->mem, RAM), 0);
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fx *f = *state;

	guest_mem_destroy(&f->mem);
	free(f);
	return 0;
}

static inline void *hva(struct fx *f, uint64_t gpa, uint64_t len)
{
	void *p = guest_mem_ptr(&f->mem, gpa, len);

	assert_non_null(p);
	return p;
}

static inline void put_desc(struct fx *f, uint64_t table, unsigned int i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };

	memcpy(hva(f, table + 16ull * i, 16), &d, sizeof(d));
}

static inline void put16(struct fx *f, uint64_t gpa, uint16_t v)
{
	memcpy(hva(f, gpa, 2), &v, 2);
}

static inline uint16_t get16(struct fx *f, uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, hva(f, gpa, 2), 2);
	return v;
}

static inline uint32_t get32(struct fx *f, uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, hva(f, gpa, 4), 4);
	return v;
}

static inline void ring_enable(struct fx *f, uint16_t size, bool indirect, bool event_idx)
{
	virtq_reset(&f->vq);
	f->vq.size = size;
	f->vq.desc_gpa = DESC_GPA;
	f->vq.avail_gpa = AVAIL_GPA;
	f->vq.used_gpa = USED_GPA;
	f->vq.indirect = indirect;
	f->vq.event_idx = event_idx;
	f->avail_idx = 0;
	put16(f, AVAIL_GPA, 0);
	put16(f, AVAIL_GPA + 2, 0);
	assert_int_equal(virtq_enable(&f->vq, &f->mem), VIRTQ_OK);
}

static inline void avail_add(struct fx *f, uint16_t head)
{
	put16(f, AVAIL_GPA + 4 + 2ull * (f->avail_idx % f->vq.size), head);
	f->avail_idx++;
	put16(f, AVAIL_GPA + 2, f->avail_idx);
}

static inline int pop(struct fx *f)
{
	return virtq_pop(&f->vq, &f->chain);
}

#endif

/*
 * Shared by the libFuzzer targets: the invariant check, a reader that
 * turns the input into numbers and byte strings (running dry yields
 * zeros, so every input is a complete program), and the "racing guest":
 * a script of one-byte writes to guest RAM applied from queue.c's
 * virtq_fuzz_race hook, i.e. between the device's reads of the rings,
 * descriptors and buffers. The script is part of the input, so a crash
 * replays exactly.
 */
#ifndef HEARTH_FUZZ_FZ_H
#define HEARTH_FUZZ_FZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() so libFuzzer records a crash with the input that broke the rule. */
#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__,    \
				__LINE__);                                                   \
			abort();                                                             \
		}                                                                            \
	} while (0)

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fz_u8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t lo = fz_u8(f);

	return (uint16_t)(lo | fz_u8(f) << 8);
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t lo = fz_u16(f);

	return lo | (uint32_t)fz_u16(f) << 16;
}

static inline uint64_t fz_u64(struct fz *f)
{
	uint64_t lo = fz_u32(f);

	return lo | (uint64_t)fz_u32(f) << 32;
}

/* Up to max bytes into dst; returns how many the input still had. */
static inline size_t fz_take(struct fz *f, void *dst, size_t max)
{
	size_t n = max < f->n ? max : f->n;

	memcpy(dst, f->p, n);
	f->p += n;
	f->n -= n;
	return n;
}

/* ------------------------------------------------------------ racing guest */

#define FZ_RACE_MAX 32

struct fz_race_write {
	uint32_t at;    /* the hook call (counted from 1) that applies it */
	uint32_t off;   /* into ram, modulo ram_size */
	uint8_t val;
};

struct fz_race {
	uint8_t *ram;
	size_t ram_size;
	uint32_t calls;
	unsigned int n;
	struct fz_race_write w[FZ_RACE_MAX];
};

static struct fz_race fz_race_state;

static inline void fz_race_hook(void)
{
	struct fz_race *r = &fz_race_state;

	r->calls++;
	for (unsigned int i = 0; i < r->n; i++)
		if (r->w[i].at == r->calls)
			r->ram[r->w[i].off % r->ram_size] = r->w[i].val;
}

/* Starts a run on ram with no writes scripted; the hook counts reads from here. */
static inline void fz_race_begin(uint8_t *ram, size_t ram_size)
{
	fz_race_state = (struct fz_race){ .ram = ram, .ram_size = ram_size };
	virtq_fuzz_race = fz_race_hook;
}

/* Adds a write "at" reads from now (1: before the next read). */
static inline void fz_race_add(uint16_t at, uint32_t off, uint8_t val)
{
	struct fz_race *r = &fz_race_state;

	if (r->n < FZ_RACE_MAX)
		r->w[r->n++] = (struct fz_race_write){ r->calls + 1u + at, off, val };
}

static inline void fz_race_end(void)
{
	virtq_fuzz_race = NULL;
}

#endif

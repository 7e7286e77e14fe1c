/*
 * libFuzzer target for the split-virtqueue parser (src/virtio/queue.c).
 *
 * The input is an 8-byte header followed by guest RAM contents, so the
 * fuzzer controls every descriptor, ring entry and indirect table:
 *
 *   byte 0     queue size = 1 << (b % 12)
 *   byte 1     bit 0 INDIRECT_DESC, bit 1 EVENT_IDX, bit 2 misplace the rings,
 *              bit 3 racing guest: a script follows the header
 *   bytes 2-3  starting last_avail / used index (LE)
 *   bytes 4-5  avail idx = last_avail + this (LE)
 *   byte 6     written = in_len * b / 255 on push
 *   byte 7     used_event / NO_INTERRUPT noise
 *   [race]     with bit 3: a count n (at most 32), then n writes of 7 bytes:
 *              u16 at (the device's at-th read of guest memory from the
 *              start, counted by queue.c's virtq_fuzz_race hook), u32
 *              offset into low RAM, u8 value (fz.h)
 *   rest       RAM from GPA 0 (64 KiB), then the high region at 4 GiB (16 KiB)
 *
 * Rings: desc at 0, avail at 16 * size, used 4-aligned right after avail.
 * fuzz/gen_seeds.py writes inputs in this format.
 *
 * A racing guest changes rings and descriptors between the parser's reads,
 * so the checks that compare with what the input said (the avail index,
 * pops <= queue size) only hold without one; the others always must.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fz.h"
#include "mem/guest_mem.h"
#include "virtio/queue.h"

#define LOW_SIZE (64u * 1024u)
#define HIGH_GPA 0x100000000ull
#define HIGH_SIZE (16u * 1024u)
#define HDR 8

static uint8_t low_ram[LOW_SIZE] __attribute__((aligned(4096)));
static uint8_t high_ram[HIGH_SIZE] __attribute__((aligned(4096)));
static struct virtq_chain chain;

static int in_region(const struct guest_mem *gm, const struct iovec *v)
{
	uintptr_t b = (uintptr_t)v->iov_base;

	for (unsigned int i = 0; i < gm->nregions; i++) {
		uintptr_t lo = (uintptr_t)gm->regions[i].hva;
		uintptr_t hi = lo + gm->regions[i].size;
		if (b >= lo && b <= hi && v->iov_len <= hi - b)
			return 1;
	}
	return 0;
}

static void check_chain(const struct guest_mem *gm, const struct virtq *vq,
			const struct virtq_chain *c)
{
	uint64_t out = 0, in = 0;

	CHECK(c->head < vq->size);
	CHECK(c->n_out + c->n_in >= 1);
	CHECK(c->n_out + c->n_in <= VIRTQ_MAX_SEGS);
	for (unsigned int i = 0; i < c->n_out + c->n_in; i++) {
		CHECK(in_region(gm, &c->iov[i]));
		if (i < c->n_out)
			out += c->iov[i].iov_len;
		else
			in += c->iov[i].iov_len;
	}
	CHECK(out == c->out_len);
	CHECK(in == c->in_len);
	CHECK(out + in <= UINT32_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem gm = { 0 };
	struct virtq vq;
	uint16_t start, delta, avail_idx;
	uint8_t flags, wsel;
	size_t n;
	unsigned int pops = 0;
	bool racing;
	int ret;

	if (size < HDR)
		return 0;
	memset(low_ram, 0, sizeof(low_ram));
	memset(high_ram, 0, sizeof(high_ram));
	gm.regions[0] = (struct guest_region){ 0, LOW_SIZE, low_ram };
	gm.regions[1] = (struct guest_region){ HIGH_GPA, HIGH_SIZE, high_ram };
	gm.nregions = 2;
	gm.ram_bytes = LOW_SIZE + HIGH_SIZE;

	virtq_reset(&vq);
	vq.size = (uint16_t)(1u << (data[0] % 12));
	flags = data[1];
	memcpy(&start, data + 2, 2);
	memcpy(&delta, data + 4, 2);
	wsel = data[6];
	vq.indirect = flags & 1;
	vq.event_idx = (flags >> 1) & 1;
	vq.desc_gpa = 0;
	vq.avail_gpa = 16ull * vq.size;
	vq.used_gpa = (vq.avail_gpa + 6 + 2ull * vq.size + 3) & ~3ull;
	if (flags & 4) {
		/* Let the header bytes push the rings off alignment or out of RAM. */
		vq.desc_gpa += (uint64_t)data[7] << 8 | data[7];
		vq.used_gpa += data[7] & 7;
	}

	data += HDR;
	size -= HDR;
	racing = flags & 8;
	fz_race_begin(low_ram, LOW_SIZE);
	if (racing) {
		struct fz in = { data, size };
		unsigned int nw = fz_u8(&in) % (FZ_RACE_MAX + 1);

		for (unsigned int i = 0; i < nw; i++) {
			uint16_t at = fz_u16(&in);
			uint32_t off = fz_u32(&in);

			fz_race_add(at, off, fz_u8(&in));
		}
		data = in.p;
		size = in.n;
	}
	n = size < LOW_SIZE ? size : LOW_SIZE;
	memcpy(low_ram, data, n);
	if (size > LOW_SIZE) {
		size_t m = size - LOW_SIZE < HIGH_SIZE ? size - LOW_SIZE : HIGH_SIZE;
		memcpy(high_ram, data + LOW_SIZE, m);
	}

	if (virtq_enable(&vq, &gm) != VIRTQ_OK) {
		CHECK(!vq.enabled);
		CHECK(virtq_pop(&vq, &chain) == 0);
		fz_race_end();
		return 0;
	}
	vq.last_avail = vq.next_used = start;
	avail_idx = (uint16_t)(start + delta);
	memcpy((uint8_t *)vq.avail + 2, &avail_idx, 2);

	CHECK(racing || virtq_has_work(&vq) == (avail_idx != start));
	while ((ret = virtq_pop(&vq, &chain)) > 0) {
		uint16_t used_before = vq.next_used, used_idx;
		uint32_t written = (uint32_t)(chain.in_len * wsel / 255);
		uint8_t probe[64];

		/* A racing guest may publish more while we pop, at most once per write. */
		CHECK(++pops <= vq.size + (racing ? FZ_RACE_MAX * vq.size : 0u));
		check_chain(&gm, &vq, &chain);
		/*
		 * Copy through the iovecs; ASan flags anything outside RAM. The
		 * write puts back what was read: a writable buffer may overlap the
		 * avail ring, and changing it would turn this into a different test.
		 */
		virtq_iov_to_buf(chain.iov, chain.n_out + chain.n_in, chain.out_len / 2, probe,
				 sizeof(probe));
		n = virtq_iov_to_buf(chain.iov + chain.n_out, chain.n_in, written / 2, probe,
				     sizeof(probe));
		CHECK(virtq_buf_to_iov(chain.iov + chain.n_out, chain.n_in, written / 2, probe, n) ==
		      n);
		if (chain.in_len < UINT32_MAX)
			CHECK(virtq_push(&vq, &chain, (uint32_t)chain.in_len + 1) ==
			      -VIRTQ_ERR_USED_LEN);
		CHECK(virtq_push(&vq, &chain, written) == 0);
		CHECK(vq.next_used == (uint16_t)(used_before + 1));
		memcpy(&used_idx, (uint8_t *)vq.used + 2, 2);
		CHECK(used_idx == vq.next_used);
		(void)virtq_needs_interrupt(&vq);
		virtq_set_notify(&vq, pops & 1);
	}
	fz_race_end();
	CHECK(ret <= 0);
	if (ret == 0)
		CHECK(racing || vq.last_avail == avail_idx);
	else
		CHECK(-ret > VIRTQ_OK && -ret <= VIRTQ_ERR_USED_LEN &&
		      strcmp(virtq_strerror(-ret), "unknown virtqueue error"));
	return 0;
}

/*
 * virtio-mem through its virtio-mmio registers, with real rings in guest
 * RAM (mem_fixture.h; the test plays a possibly hostile driver) over a
 * real hotplug region: the config space, the requested size and its
 * refusals in Firecracker's words, every request in every block state,
 * hostile ranges and chains, the kick's budget, the region's slots, the
 * snapshot record (round trip, crafted records, the host refusing a
 * slot on apply) and the region mapped from a memory file.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <unistd.h>

#include "mem_fixture.h"
#include "state_check.h"

#define FC_VMM "Failed to create memory hotplug device: "

static void request_mib(struct fx *f, uint32_t mib)
{
	struct err err = ERR_INIT;

	if (virtio_mem_set_requested(f->dev, mib, &err))
		fail_msg("requested %u MiB: %s", mib, err.msg);
}

static void test_identity_and_config(void **state)
{
	struct fx *f = *state;

	assert_int_equal(rd(f, 0x008), VIRTIO_ID_MEM);
	wr(f, DEV_FEAT_SEL, 0);
	assert_int_equal(rd(f, DEV_FEAT) & 0xff, INACCESSIBLE);
	wr(f, QSEL, 0);
	assert_int_equal(rd(f, QNUM_MAX), QSIZE);
	wr(f, QSEL, 1);
	assert_int_equal(rd(f, QNUM_MAX), 0);
	assert_int_equal(rd64(f, CONFIG + C_BLOCK), BLOCK);
	assert_int_equal(rd(f, CONFIG + 8), 0);                 /* node_id, padding */
	assert_int_equal(rd64(f, CONFIG + C_ADDR), HP_GPA);
	assert_int_equal(rd64(f, CONFIG + C_REGION), HP_SIZE);
	assert_int_equal(rd64(f, CONFIG + C_USABLE), 0);
	assert_int_equal(rd64(f, CONFIG + C_PLUGGED), 0);
	assert_int_equal(rd64(f, CONFIG + C_REQUESTED), 0);
	/* Every field is the device's: the driver's writes change nothing. */
	for (uint32_t off = 0; off < VIRTIO_MEM_CONFIG_SIZE; off += 4)
		wr(f, CONFIG + off, 0xffffffffu);
	assert_int_equal(rd64(f, CONFIG + C_BLOCK), BLOCK);
	assert_int_equal(rd64(f, CONFIG + C_REGION), HP_SIZE);
	assert_int_equal(rd64(f, CONFIG + C_REQUESTED), 0);
}

/* Firecracker's: a driver that may touch unplugged memory is not activated. */
static void test_inaccessible_required(void **state)
{
	struct fx *f = *state;
	struct err err = ERR_INIT;

	bring_up(f, 0, true);
	assert_true(needs_reset(f));
	assert_int_equal(counter(f, "activate_fails"), 1);
	assert_int_equal(virtio_mem_set_requested(f->dev, 128, &err), -EINVAL);
	assert_string_equal(err.msg, FC_VMM "Device is not active");
	bring_up(f, INACCESSIBLE, true);
	assert_false(needs_reset(f));
	request_mib(f, 128);
}

static void test_requested_size(void **state)
{
	struct fx *f = *state;
	struct virtio_mem_status st;
	struct err err = ERR_INIT;

	assert_int_equal(virtio_mem_set_requested(f->dev, 2, &err), -EINVAL);
	assert_string_equal(err.msg, FC_VMM "Device is not active");
	assert_true(err.usage);
	bring_up(f, INACCESSIBLE, true);
	wr(f, INT_ACK, rd(f, INT_STATUS));
	assert_int_equal(virtio_mem_set_requested(f->dev, 3, &err), -EINVAL);
	assert_string_equal(err.msg, FC_VMM "Size 3145728 is invalid: it must be a multiple of "
			    "block size and less than the total size");
	assert_int_equal(virtio_mem_set_requested(f->dev, 514, &err), -EINVAL);
	assert_string_equal(err.msg, FC_VMM "Size 538968064 is invalid: it must be a multiple "
			    "of block size and less than the total size");
	assert_int_equal(virtio_mem_set_requested(f->dev, UINT32_MAX - 1, &err), -EINVAL);
	/* Refusals change nothing and tell the driver nothing. */
	assert_int_equal(rd64(f, CONFIG + C_REQUESTED), 0);
	assert_int_equal(rd(f, INT_STATUS) & VIRTIO_MMIO_INT_CONFIG, 0);
	/* The usable region grows by slots to cover the request. */
	request_mib(f, 130);
	assert_int_equal(rd64(f, CONFIG + C_REQUESTED), 130 * MIB);
	assert_int_equal(rd64(f, CONFIG + C_USABLE), 256 * MIB);
	assert_true(rd(f, INT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	/* ... and does not shrink with it (only an UNPLUG_ALL does). */
	request_mib(f, 2);
	assert_int_equal(rd64(f, CONFIG + C_USABLE), 256 * MIB);
	request_mib(f, 512);
	assert_int_equal(rd64(f, CONFIG + C_USABLE), HP_SIZE);
	request_mib(f, 0);
	virtio_mem_get_status(f->dev, &st);
	assert_int_equal(st.total_size_mib, 512);
	assert_int_equal(st.block_size_mib, 2);
	assert_int_equal(st.slot_size_mib, 128);
	assert_int_equal(st.plugged_size_mib, 0);
	assert_int_equal(st.requested_size_mib, 0);
}

static void test_plug_unplug_memory(void **state)
{
	struct fx *f = *state;
	struct virtio_mem_status st;
	uint64_t a = HP_GPA + 4 * BLOCK;
	uint16_t s;

	bring_up(f, INACCESSIBLE, true);
	request_mib(f, 8);
	/* Unplugged memory is no device's to touch. */
	assert_null(guest_mem_ptr(&f->mem, a, 1));
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, a, 2, NULL), VIRTIO_MEM_RESP_ACK);
	assert_true(f->last_plug);
	assert_int_equal(f->last_off, 4 * BLOCK);
	assert_int_equal(f->last_len, 2 * BLOCK);
	assert_int_equal(rd64(f, CONFIG + C_PLUGGED), 2 * BLOCK);
	memset(hva(f, a, 2 * BLOCK), 0x5a, 2 * BLOCK);
	/* A range across a plugged and an unplugged block is not reachable either. */
	assert_null(guest_mem_ptr(&f->mem, a + 2 * BLOCK - 8, 16));
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_STATE, a, 2, &s), VIRTIO_MEM_RESP_ACK);
	assert_int_equal(s, VIRTIO_MEM_STATE_PLUGGED);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_STATE, a, 3, &s), VIRTIO_MEM_RESP_ACK);
	assert_int_equal(s, VIRTIO_MEM_STATE_MIXED);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_STATE, a + 2 * BLOCK, 1, &s), VIRTIO_MEM_RESP_ACK);
	assert_int_equal(s, VIRTIO_MEM_STATE_UNPLUGGED);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_UNPLUG, a + BLOCK, 1, NULL), VIRTIO_MEM_RESP_ACK);
	assert_false(f->last_plug);
	assert_null(guest_mem_ptr(&f->mem, a + BLOCK, 1));
	assert_int_equal(hva(f, a, 1)[0], 0x5a);
	/* Plugged again, it reads as zeros: its pages went back to the host. */
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, a + BLOCK, 1, NULL), VIRTIO_MEM_RESP_ACK);
	for (uint64_t i = 0; i < BLOCK; i += 4096)
		assert_int_equal(hva(f, a + BLOCK + i, 1)[0], 0);
	assert_int_equal(hva(f, a + BLOCK - 1, 1)[0], 0x5a);
	virtio_mem_get_status(f->dev, &st);
	assert_int_equal(st.plugged_size_mib, 4);
	assert_int_equal(counter(f, "plug_count"), 2);
	assert_int_equal(counter(f, "plug_bytes"), 3 * BLOCK);
	assert_int_equal(counter(f, "unplug_bytes"), BLOCK);
	assert_int_equal(counter(f, "state_count"), 3);
	assert_int_equal(counter(f, "plugged_bytes"), 2 * BLOCK);
	assert_false(needs_reset(f));
}

/* The spec's refusals: ERROR for a bad range or state, NACK past the requested size. */
static void test_hostile_ranges(void **state)
{
	struct fx *f = *state;
	static const struct {
		uint64_t addr;
		uint16_t nb;
	} bad[] = {
		{ HP_GPA + 4096, 1 },                  /* misaligned */
		{ HP_GPA + BLOCK / 2, 1 },
		{ HP_GPA, 0 },                         /* empty */
		{ HP_GPA - BLOCK, 1 },                 /* below the region */
		{ 0, 1 },                              /* RAM */
		{ HP_GPA + 128 * MIB, 1 },             /* past the usable region */
		{ HP_GPA + 126 * MIB, 2 },             /* straddles its end */
		{ HP_GPA, 65 },                        /* longer than it */
		{ HP_GPA, 65535 },                     /* the most a request can name */
		{ HP_GPA + HP_SIZE, 1 },               /* past the region */
		{ UINT64_MAX - BLOCK + 1, 65535 },     /* wraps */
		{ UINT64_MAX & ~(BLOCK - 1), 2 },
	};
	static const uint16_t types[] = { VIRTIO_MEM_REQ_PLUG, VIRTIO_MEM_REQ_UNPLUG,
					  VIRTIO_MEM_REQ_STATE };

	bring_up(f, INACCESSIBLE, true);
	request_mib(f, 64);                            /* usable: one slot, 128 MiB */
	for (size_t t = 0; t < 3; t++)
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			if (ask(f, types[t], bad[i].addr, bad[i].nb, NULL) != VIRTIO_MEM_RESP_ERROR)
				fail_msg("type %u at %#llx x %u: not refused", types[t],
					 (unsigned long long)bad[i].addr, bad[i].nb);
	assert_int_equal(f->sets, 0);
	assert_int_equal(counter(f, "plug_fails"), sizeof(bad) / sizeof(bad[0]));
	assert_int_equal(counter(f, "state_fails"), sizeof(bad) / sizeof(bad[0]));
	/* Unplugging what is not plugged; plugging twice; unplugging a mixed range. */
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_UNPLUG, HP_GPA, 1, NULL), VIRTIO_MEM_RESP_ERROR);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA, 1, NULL), VIRTIO_MEM_RESP_ACK);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA, 1, NULL), VIRTIO_MEM_RESP_ERROR);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA, 2, NULL), VIRTIO_MEM_RESP_ERROR);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_UNPLUG, HP_GPA, 2, NULL), VIRTIO_MEM_RESP_ERROR);
	assert_int_equal(f->sets, 1);
	/* Plugging past the requested size: NACK, and nothing plugged. */
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA + BLOCK, 32, NULL),
			 VIRTIO_MEM_RESP_NACK);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA + BLOCK, 31, NULL),
			 VIRTIO_MEM_RESP_ACK);
	assert_int_equal(rd64(f, CONFIG + C_PLUGGED), 64 * MIB);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA + 64 * MIB, 1, NULL),
			 VIRTIO_MEM_RESP_NACK);
	/* Unknown requests are answered ERROR; none of it needed a reset. */
	assert_int_equal(ask(f, 4, HP_GPA, 1, NULL), VIRTIO_MEM_RESP_ERROR);
	assert_int_equal(ask(f, 0xffff, HP_GPA, 1, NULL), VIRTIO_MEM_RESP_ERROR);
	assert_int_equal(counter(f, "unknown_requests"), 2);
	assert_false(needs_reset(f));
}

/* The VM could not map a range: NACK, and nothing changed. */
static void test_plug_refused_by_the_vm(void **state)
{
	struct fx *f = *state;

	bring_up(f, INACCESSIBLE, true);
	request_mib(f, 64);
	f->fail = -ENOSPC;
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA, 4, NULL), VIRTIO_MEM_RESP_NACK);
	assert_int_equal(rd64(f, CONFIG + C_PLUGGED), 0);
	f->fail = 0;
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA, 4, NULL), VIRTIO_MEM_RESP_ACK);
	/* An unplug the VM fails is done anyway: the blocks are not the guest's any more. */
	f->fail = -EIO;
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_UNPLUG, HP_GPA, 4, NULL), VIRTIO_MEM_RESP_ACK);
	assert_int_equal(rd64(f, CONFIG + C_PLUGGED), 0);
	assert_int_equal(counter(f, "unplug_discard_fails"), 1);
	/*
	 * Issue 47, S1: an unplug a vhost table could not take (-EBUSY: the VM
	 * changed nothing) is BUSY, its blocks still plugged; a plug, NACK.
	 */
	f->fail = 0;
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA, 4, NULL), VIRTIO_MEM_RESP_ACK);
	f->fail = -EBUSY;
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_UNPLUG, HP_GPA + BLOCK, 1, NULL),
			 VIRTIO_MEM_RESP_BUSY);
	assert_int_equal(rd64(f, CONFIG + C_PLUGGED), 4 * BLOCK);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA + 4 * BLOCK, 1, NULL),
			 VIRTIO_MEM_RESP_NACK);
	assert_int_equal(rd64(f, CONFIG + C_PLUGGED), 4 * BLOCK);
	/*
	 * Unplug all too: a run the VM's side kept stays plugged on the
	 * device's (the two never part ways), BUSY; then it goes.
	 */
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0, NULL), VIRTIO_MEM_RESP_BUSY);
	assert_int_equal(rd64(f, CONFIG + C_PLUGGED), 4 * BLOCK);
	f->fail = 0;
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0, NULL), VIRTIO_MEM_RESP_ACK);
	assert_int_equal(rd64(f, CONFIG + C_PLUGGED), 0);
}

static void test_unplug_all(void **state)
{
	struct fx *f = *state;
	uint16_t s;

	bring_up(f, INACCESSIBLE, true);
	request_mib(f, 512);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA, 3, NULL), VIRTIO_MEM_RESP_ACK);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA + 130 * MIB, 64, NULL),
			 VIRTIO_MEM_RESP_ACK);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA + HP_SIZE - BLOCK, 1, NULL),
			 VIRTIO_MEM_RESP_ACK);
	request_mib(f, 100);
	f->sets = 0;
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0, NULL), VIRTIO_MEM_RESP_ACK);
	/* One call per plugged run. */
	assert_int_equal(f->sets, 3);
	assert_int_equal(rd64(f, CONFIG + C_PLUGGED), 0);
	assert_int_equal(rd64(f, CONFIG + C_USABLE), 128 * MIB);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_STATE, HP_GPA, 64, &s), VIRTIO_MEM_RESP_ACK);
	assert_int_equal(s, VIRTIO_MEM_STATE_UNPLUGGED);
	for (unsigned int i = 0; i < f->mem.hp->nslots; i++)
		assert_int_equal(f->mem.hp->slot_plugged[i], 0);
	/* With nothing plugged it is still an ACK. */
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0, NULL), VIRTIO_MEM_RESP_ACK);
	assert_int_equal(counter(f, "unplug_all_count"), 2);
}

/* 5.15.5.2: a reset leaves the blocks as they are. */
static void test_reset_keeps_blocks(void **state)
{
	struct fx *f = *state;

	bring_up(f, INACCESSIBLE, true);
	request_mib(f, 8);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA, 2, NULL), VIRTIO_MEM_RESP_ACK);
	hva(f, HP_GPA, 1)[0] = 7;
	wr(f, STATUS, 0);
	assert_int_equal(rd64(f, CONFIG + C_PLUGGED), 2 * BLOCK);
	assert_int_equal(hva(f, HP_GPA, 1)[0], 7);
	bring_up(f, INACCESSIBLE, true);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA, 1, NULL), VIRTIO_MEM_RESP_ERROR);
	assert_int_equal(rd64(f, CONFIG + C_REQUESTED), 8 * MIB);
}

/* Chains without a whole request or room for the answer: NEEDS_RESET, nothing done. */
static void test_malformed_chains(void **state)
{
	struct fx *f = *state;
	static const struct {
		uint32_t req_len, resp_len;
		uint16_t resp_flags;
		bool chained;
	} bad[] = {
		{ VIRTIO_MEM_REQ_SIZE - 1, VIRTIO_MEM_RESP_SIZE, VIRTQ_DESC_F_WRITE, true },
		{ VIRTIO_MEM_REQ_SIZE, VIRTIO_MEM_RESP_SIZE - 1, VIRTQ_DESC_F_WRITE, true },
		{ VIRTIO_MEM_REQ_SIZE, VIRTIO_MEM_RESP_SIZE, 0, true },   /* response read-only */
		{ VIRTIO_MEM_REQ_SIZE, 0, 0, false },                     /* no response */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bring_up(f, INACCESSIBLE, true);
		request_mib(f, 8);
		request(f, 0, VIRTIO_MEM_REQ_PLUG, HP_GPA, 1);
		put_desc(f, 0, REQ, bad[i].req_len, bad[i].chained ? VIRTQ_DESC_F_NEXT : 0, 1);
		put_desc(f, 1, RESP, bad[i].resp_len, bad[i].resp_flags, 0);
		kick(f);
		if (!needs_reset(f))
			fail_msg("chain %zu: no NEEDS_RESET", i);
		assert_int_equal(used_idx(f), 0);
		assert_int_equal(rd64(f, CONFIG + C_PLUGGED), 0);
	}
	assert_int_equal(f->sets, 0);
	/* Split over descriptors is fine: the request in two pieces, the response in two. */
	bring_up(f, INACCESSIBLE, true);
	request(f, 0, VIRTIO_MEM_REQ_PLUG, HP_GPA, 1);
	put_desc(f, 0, REQ, 10, VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, 2, REQ + 10, VIRTIO_MEM_REQ_SIZE - 10, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, 1, RESP, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
	put_desc(f, 3, RESP + 4, 12, VIRTQ_DESC_F_WRITE, 0);
	kick(f);
	assert_false(needs_reset(f));
	assert_int_equal(used_idx(f), 1);
	assert_int_equal(resp_type(f, 0), VIRTIO_MEM_RESP_ACK);
}

/* The guest rewrites the request while the device acts on it: the device read it once. */
static void rewrite_request(struct fx *f)
{
	uint16_t nb = 200, type = VIRTIO_MEM_REQ_UNPLUG_ALL;

	memcpy(hva(f, REQ + 16, 2), &nb, 2);
	memcpy(hva(f, REQ, 2), &type, 2);
}

static void test_request_changed_between_reads(void **state)
{
	struct fx *f = *state;
	uint16_t s;

	bring_up(f, INACCESSIBLE, true);
	request_mib(f, 16);
	f->during = rewrite_request;
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA, 4, NULL), VIRTIO_MEM_RESP_ACK);
	f->during = NULL;
	assert_int_equal(f->last_len, 4 * BLOCK);
	assert_int_equal(rd64(f, CONFIG + C_PLUGGED), 4 * BLOCK);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_STATE, HP_GPA, 4, &s), VIRTIO_MEM_RESP_ACK);
	assert_int_equal(s, VIRTIO_MEM_STATE_PLUGGED);
}

/*
 * A kick takes at most 256 requests and 256 Ki blocks' worth of work
 * (what requests name counts, refused or not); the rest wait.
 */
static void test_kick_budget(void **state)
{
	struct fx *f = *state;

	bring_up(f, INACCESSIBLE, true);
	request_mib(f, 8);
	for (unsigned int i = 0; i < 10; i++)
		request(f, i, VIRTIO_MEM_REQ_STATE, HP_GPA, 65535);
	kick(f);
	assert_int_equal(used_idx(f), 5);
	kick(f);
	assert_int_equal(used_idx(f), 10);
	for (unsigned int i = 0; i < 10; i++)
		assert_int_equal(resp_type(f, i), VIRTIO_MEM_RESP_ERROR);
	assert_false(needs_reset(f));
}

static void test_kick_chains(void **state)
{
	struct fx *f = *state;

	bring_up(f, INACCESSIBLE, true);
	request_mib(f, 8);
	/* 128 two-descriptor chains fill the ring; offered twice over, 256 of them. */
	for (unsigned int i = 0; i < QSIZE / 2; i++)
		request(f, i, VIRTIO_MEM_REQ_STATE, HP_GPA, 1);
	for (unsigned int i = 0; i < QSIZE / 2; i++)
		offer(f, (uint16_t)(2 * i));
	kick(f);
	assert_int_equal(used_idx(f), 256);
	assert_false(needs_reset(f));
	assert_int_equal(counter(f, "state_count"), 256);
}

/* The region's slots: a KVM slot only while a block in it is plugged (Firecracker's). */
static void test_region_slots(void **state)
{
	struct fx *f = *state;
	struct guest_hotplug *hp = f->mem.hp;

	bring_up(f, INACCESSIBLE, true);
	request_mib(f, 512);
	assert_int_equal(hp->nslots, 4);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA + 126 * MIB, 2, NULL),
			 VIRTIO_MEM_RESP_ACK);
	assert_int_equal(hp->slot_plugged[0], 1);
	assert_int_equal(hp->slot_plugged[1], 1);
	assert_int_equal(hp->slot_plugged[2], 0);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_UNPLUG, HP_GPA + 126 * MIB, 1, NULL),
			 VIRTIO_MEM_RESP_ACK);
	assert_int_equal(hp->slot_plugged[0], 0);
	assert_int_equal(hp->slot_plugged[1], 1);
	/* The region refuses what the device would never ask. */
	assert_int_equal(guest_mem_hotplug_set(&f->mem, 4096, BLOCK, true), -EINVAL);
	assert_int_equal(guest_mem_hotplug_set(&f->mem, 0, 0, true), -EINVAL);
	assert_int_equal(guest_mem_hotplug_set(&f->mem, HP_SIZE - BLOCK, 2 * BLOCK, true),
			 -EINVAL);
	assert_int_equal(guest_mem_hotplug_set(&f->mem, UINT64_MAX - BLOCK + 1, BLOCK, false),
			 -EINVAL);
}

/* The region's geometry: Hearth's bounds on top of Firecracker's. */
static void test_region_bounds(void **state)
{
	struct guest_mem gm;

	(void)state;
	assert_int_equal(guest_mem_layout(&gm, 4ull << 30), 0);
	/* 4 GiB of RAM: 3 below the hole, 1 above it to 5 GiB; the region from 5 GiB. */
	assert_int_equal(guest_mem_hotplug_gpa(&gm, 1 << 30), 5ull << 30);
	assert_int_equal(guest_mem_hotplug_init(&gm, SLOT, 3 * MIB, SLOT), -EINVAL);
	assert_int_equal(guest_mem_hotplug_init(&gm, SLOT, BLOCK, 3 * MIB), -EINVAL);
	assert_int_equal(guest_mem_hotplug_init(&gm, SLOT + BLOCK, BLOCK, SLOT), -EINVAL);
	assert_int_equal(guest_mem_hotplug_init(&gm, 4097 * SLOT, BLOCK, SLOT), -ERANGE);
	assert_int_equal(guest_mem_hotplug_init(&gm, 1ull << 46, BLOCK, 1ull << 40), -ERANGE);
	assert_int_equal(guest_mem_hotplug_gpa(&gm, UINT64_MAX), 0);
	assert_null(gm.hp);
	assert_int_equal(guest_mem_hotplug_init(&gm, SLOT, BLOCK, SLOT), 0);
	assert_int_equal(guest_mem_hotplug_init(&gm, SLOT, BLOCK, SLOT), -EEXIST);
	guest_mem_destroy(&gm);
	assert_null(gm.hp);
}

/* A restoring device's ops: the ranges it was asked to plug and unplug; one may be refused. */
struct plug_log {
	unsigned int n;
	uint64_t off[8], len[8];
	bool plug[8];
	unsigned int refuse_at;        /* 1-based call to refuse with -ENOSPC; 0: none */
};

static int log_set(void *ctx, uint64_t off, uint64_t len, bool plug)
{
	struct plug_log *l = ctx;

	if (l->n >= 8)
		return -E2BIG;
	l->off[l->n] = off;
	l->len[l->n] = len;
	l->plug[l->n] = plug;
	return ++l->n == l->refuse_at ? -ENOSPC : 0;
}

static const struct virtio_mem_ops log_ops = { .set = log_set };

static struct virtio_dev *mem_dev(struct plug_log *l, uint64_t addr)
{
	struct virtio_env env = { 0 };
	struct virtio_dev *dev;
	struct err err = ERR_INIT;

	assert_int_equal(virtio_mem_create(&env, &(struct virtio_mem_config){
		.addr = addr, .region_size = HP_SIZE, .block_size = BLOCK, .slot_size = SLOT,
		.ops = &log_ops, .ctx = l }, &dev, &err), 0);
	return dev;
}

/* Crafted: the record's u64 at off (after the 8-byte header) set to v; the check refuses it. */
static void crafted(const uint8_t *saved, size_t len, size_t off, uint64_t v,
		    struct virtio_dev *dst)
{
	uint8_t *bad = malloc(len);

	assert_non_null(bad);
	memcpy(bad, saved, len);
	memcpy(bad + BYTES_HDR_SIZE + off, &v, 8);
	assert_int_equal(state_check(&(struct component){ &virtio_rec_ops, dst }, bad, len), -EINVAL);
	free(bad);
}

/* Where the record's fields are (after the header): 7 u64, the counters' u32 and u64s, the map flag. */
#define REC_USABLE 32
#define REC_PLUGGED 40
#define REC_REQUESTED 48
#define REC_MAP (56 + 4 + 8 * 15 + 1)

static void test_save_restore(void **state)
{
	struct fx *f = *state;
	struct component rec = { &virtio_rec_ops, f->dev };
	struct plug_log l2 = { 0 }, l3 = { .refuse_at = 2 }, l4 = { 0 };
	struct virtio_dev *dev2, *dev3, *other;
	struct virtio_mem_status st;
	uint8_t *saved, *again;
	size_t len, len2;

	bring_up(f, INACCESSIBLE, true);
	request_mib(f, 256);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA, 2, NULL), VIRTIO_MEM_RESP_ACK);
	assert_int_equal(ask(f, VIRTIO_MEM_REQ_PLUG, HP_GPA + 130 * MIB, 1, NULL),
			 VIRTIO_MEM_RESP_ACK);
	saved = state_save(&rec, &len);

	/* A fresh device of the same region takes it: the same runs plugged, the same sizes. */
	dev2 = mem_dev(&l2, HP_GPA);
	state_check_refusals(&(struct component){ &virtio_rec_ops, dev2 }, saved, len);
	assert_int_equal(l2.n, 0);     /* the check plugs nothing */
	assert_int_equal(state_restore(&(struct component){ &virtio_rec_ops, dev2 }, saved, len), 0);
	assert_int_equal(l2.n, 2);
	assert_true(l2.plug[0] && l2.plug[1]);
	assert_int_equal(l2.off[0], 0);
	assert_int_equal(l2.len[0], 2 * BLOCK);
	assert_int_equal(l2.off[1], 130 * MIB);
	assert_int_equal(l2.len[1], BLOCK);
	virtio_mem_get_status(dev2, &st);
	assert_int_equal(st.plugged_size_mib, 6);
	assert_int_equal(st.requested_size_mib, 256);
	again = state_save(&(struct component){ &virtio_rec_ops, dev2 }, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, saved, len);
	free(again);
	/* Applied once only: a device with blocks plugged takes no second record. */
	assert_int_equal(virtio_rec_restore(dev2, saved, len, true, NULL), -EINVAL);

	/* Crafted: sizes that the device never keeps, a map that disagrees with them. */
	other = mem_dev(&l4, HP_GPA);
	crafted(saved, len, 0, HP_GPA + SLOT, other);                 /* another address */
	crafted(saved, len, 16, 4 * MIB, other);                      /* another block size */
	crafted(saved, len, REC_USABLE, HP_SIZE + SLOT, other);       /* past the region */
	crafted(saved, len, REC_USABLE, SLOT + BLOCK, other);         /* not whole slots */
	crafted(saved, len, REC_USABLE, SLOT, other);                 /* less than requested */
	crafted(saved, len, REC_PLUGGED, 8 * MIB, other);             /* the map says 6 */
	crafted(saved, len, REC_REQUESTED, HP_SIZE + BLOCK, other);
	crafted(saved, len, REC_REQUESTED, MIB, other);               /* no whole block */
	crafted(saved, len, REC_MAP, 0x7ull | 1ull << 60, other);     /* a 4th block: count */
	/* A block past the usable region, with the count to match. */
	{
		uint8_t *bad = malloc(len);
		uint64_t usable = SLOT, req = SLOT, w;

		memcpy(bad, saved, len);
		memcpy(bad + BYTES_HDR_SIZE + REC_USABLE, &usable, 8);
		memcpy(bad + BYTES_HDR_SIZE + REC_REQUESTED, &req, 8);
		assert_int_equal(state_check(&(struct component){ &virtio_rec_ops, other }, bad, len),
				 -EINVAL);
		/* The same with the block moved inside: taken. */
		memcpy(&w, bad + BYTES_HDR_SIZE + REC_MAP + 8, 8);
		assert_int_equal(w, 1ull << 1);    /* block 65: word 1, bit 1 */
		w = 0;
		memcpy(bad + BYTES_HDR_SIZE + REC_MAP + 8, &w, 8);
		memcpy(&w, bad + BYTES_HDR_SIZE + REC_MAP, 8);
		w |= 1ull << 10;
		memcpy(bad + BYTES_HDR_SIZE + REC_MAP, &w, 8);
		assert_int_equal(state_check(&(struct component){ &virtio_rec_ops, other }, bad, len), 0);
		free(bad);
	}
	assert_int_equal(l4.n, 0);
	other->ops->destroy(other);

	/* The host refuses the second run's slot: the restore fails, the first run goes again. */
	dev3 = mem_dev(&l3, HP_GPA);
	assert_int_equal(state_restore(&(struct component){ &virtio_rec_ops, dev3 }, saved, len),
			 -ENOSPC);
	assert_true(l3.n >= 3);
	assert_false(l3.plug[2]);
	assert_int_equal(l3.off[2], 0);
	virtio_mem_get_status(dev3, &st);
	assert_int_equal(st.plugged_size_mib, 0);
	dev3->ops->destroy(dev3);
	dev2->ops->destroy(dev2);
	free(saved);
}

/*
 * A File restore maps the region from the memory file: plugged blocks
 * read the file's bytes, the guest's writes stay in the process, and a
 * block unplugged and plugged again reads zeros, not the file's bytes
 * (MADV_DONTNEED on a private file mapping would bring those back).
 */
static void test_region_file_backed(void **state)
{
	struct fx *f = *state;
	char path[] = "/tmp/hearth-vmem-XXXXXX";
	int fd = mkstemp(path);
	uint8_t *blk, buf[4096];

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, (off_t)(4096 + HP_SIZE)), 0);
	memset(buf, 0xab, sizeof(buf));
	for (uint64_t off = 0; off < 2 * BLOCK; off += sizeof(buf))
		assert_int_equal(pwrite(fd, buf, sizeof(buf), (off_t)(4096 + off)), sizeof(buf));
	assert_int_equal(guest_mem_hotplug_map_file(&f->mem, fd, 1), -EINVAL);
	assert_int_equal(guest_mem_hotplug_map_file(&f->mem, fd, 4096), 0);
	assert_true(f->mem.hp->file_backed);
	assert_int_equal(guest_mem_hotplug_set(&f->mem, 0, 2 * BLOCK, true), 0);
	blk = hva(f, HP_GPA, 2 * BLOCK);
	assert_int_equal(blk[0], 0xab);
	assert_int_equal(blk[2 * BLOCK - 1], 0xab);
	memset(blk, 0x11, 4096);
	assert_int_equal(pread(fd, buf, 1, 4096), 1);
	assert_int_equal(buf[0], 0xab);             /* the file never changes */
	assert_int_equal(guest_mem_hotplug_set(&f->mem, 0, BLOCK, false), 0);
	assert_int_equal(guest_mem_hotplug_set(&f->mem, 0, BLOCK, true), 0);
	blk = hva(f, HP_GPA, 2 * BLOCK);
	for (uint64_t i = 0; i < BLOCK; i += 4096)
		assert_int_equal(blk[i], 0);
	assert_int_equal(blk[BLOCK], 0xab);         /* the block left plugged keeps its bytes */
	assert_true(guest_mem_hotplug_plugged(f->mem.hp, BLOCK));
	assert_false(guest_mem_hotplug_plugged(f->mem.hp, 2 * BLOCK));
	assert_false(guest_mem_hotplug_plugged(f->mem.hp, HP_SIZE));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inaccessible_required, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requested_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plug_unplug_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plug_refused_by_the_vm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unplug_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_keeps_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_changed_between_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_file_backed, setup, teardown),
		cmocka_unit_test(test_region_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

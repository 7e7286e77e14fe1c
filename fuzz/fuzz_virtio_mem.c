/*
 * libFuzzer target for virtio-mem (src/virtio/mem/, and the hotplug
 * region under it, src/mem/guest_mem_hotplug.c): a hostile driver program
 * (fz_drv.h) against the device over a real region of 4 MiB at 4 GiB in
 * blocks of 4 KiB and KVM slots of 256 KiB (no VM: slots are only counted).
 *
 * Device step (opcode 5): a byte b, then by b % 5:
 *   0 a new requested size (u8 % 6 MiB: within the region, or 1 MiB past)
 *   1 a request written to RAM at (u16 offset): type u8, block u16 of the
 *     region (or, with b&8, a raw u64 address), nb_blocks u16 - so the
 *     fuzzer reaches the region without guessing its address
 *   2 the status read
 *   3 pause or resume (b&8)
 *   4 a snapshot: the record restored into a fresh device of the same
 *     region, then (u16 offset, u8 xor) applied to a copy, restored into
 *     another if its check accepts it
 *
 * Checked besides ASan/UBSan: the device's plugged size is the region's
 * count of plugged blocks, each slot's count is its blocks', plugged <=
 * usable <= region; a plugged block is reachable through guest_mem_ptr
 * and an unplugged one is not; every range given back (madvise) is whole
 * blocks of the region; the host's calls answer 0 or -EINVAL; a record
 * restores (0) into a fresh device that then plugs exactly the region's
 * plugged blocks and saves the same bytes; a mutated record the check
 * accepts applies, and its device's plugged size is the blocks it
 * plugged; and after each input an UNPLUG_ALL leaves nothing plugged.
 */
#include <errno.h>
#include <endian.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fz_drv.h"
#include "mem/guest_mem_hotplug.h"
#include "util/log.h"
#include "virtio/mem.h"

#define HP_SIZE (4u << 20)
#define HP_BLOCK 4096u
#define HP_SLOT (256u << 10)
#define CFG(off) (0x100 + (off))

static struct fz_drv drv;
static struct guest_hotplug *hp;

/* Every discard goes through here: whole blocks of the region, nothing else. */
int madvise(void *addr, size_t len, int advice)
{
	if (advice == MADV_DONTNEED && hp) {
		uintptr_t a = (uintptr_t)addr, lo = (uintptr_t)hp->hva;

		CHECK(a >= lo && a - lo < HP_SIZE && len <= HP_SIZE - (a - lo));
		CHECK(!((a - lo) % HP_BLOCK) && !(len % HP_BLOCK) && len);
	}
	return (int)syscall(SYS_madvise, addr, len, advice);
}

static int set_range(void *ctx, uint64_t off, uint64_t len, bool plug)
{
	return guest_mem_hotplug_set(ctx, off, len, plug);
}

static const struct virtio_mem_ops ops = { .set = set_range };

/* A restored device's side: the blocks it plugs, counted (no region under it). */
struct shadow {
	uint64_t map[HP_SIZE / HP_BLOCK / 64];
	uint64_t blocks;
};

static int shadow_set(void *ctx, uint64_t off, uint64_t len, bool plug)
{
	struct shadow *sh = ctx;

	CHECK(off % HP_BLOCK == 0 && len % HP_BLOCK == 0 && len && off < HP_SIZE &&
	      len <= HP_SIZE - off);
	for (uint64_t b = off / HP_BLOCK; b < (off + len) / HP_BLOCK; b++) {
		bool on = (sh->map[b / 64] >> (b % 64)) & 1;

		if (on == plug)
			continue;
		sh->map[b / 64] ^= 1ull << (b % 64);
		sh->blocks = plug ? sh->blocks + 1 : sh->blocks - 1;
	}
	return 0;
}

static const struct virtio_mem_ops shadow_ops = { .set = shadow_set };

static struct virtio_dev *shadow_dev(struct shadow *sh)
{
	struct virtio_env env = { .mem = &drv.gm };
	struct virtio_dev *dev;
	struct err err;

	memset(sh, 0, sizeof(*sh));
	CHECK(virtio_mem_create(&env, &(struct virtio_mem_config){
		.addr = hp->gpa, .region_size = HP_SIZE, .block_size = HP_BLOCK,
		.slot_size = HP_SLOT, .ops = &shadow_ops, .ctx = sh }, &dev, &err) == 0);
	return dev;
}

static uint8_t *mem_save(struct virtio_dev *dev, size_t *len)
{
	struct bytes_out o = bytes_out_growing();

	CHECK(dev->ops->save(dev, &o) == 0);
	CHECK(bytes_out_finish(&o, len) == 0);
	return o.buf;
}

/* Save, restore into a fresh device, and a mutated copy into another. */
static void snapshot_step(struct fz *in)
{
	static struct shadow sh1, sh2;
	struct virtio_dev *d1 = shadow_dev(&sh1), *d2;
	struct virtio_mem_status a, b;
	uint16_t at = fz_u16(in);
	uint8_t x = fz_u8(in), *rec, *again;
	size_t len, len2, cut;
	int ret;

	rec = mem_save(drv.dev, &len);
	CHECK(d1->ops->restore(d1, d1->vq, rec, len, false) == 0);
	CHECK(d1->ops->restore(d1, d1->vq, rec, len, true) == 0);
	CHECK(!memcmp(sh1.map, hp->plugged, sizeof(sh1.map)));
	virtio_mem_get_status(drv.dev, &a);
	virtio_mem_get_status(d1, &b);
	CHECK(a.plugged_size_mib == b.plugged_size_mib && a.requested_size_mib == b.requested_size_mib);
	again = mem_save(d1, &len2);
	CHECK(len2 == len && !memcmp(again, rec, len));
	free(again);
	d1->ops->destroy(d1);
	rec[at % len] ^= x;
	cut = (at & 0x8000) ? at % (len + 1) : len;
	d2 = shadow_dev(&sh2);
	ret = d2->ops->restore(d2, d2->vq, rec, cut, false);
	CHECK(ret == 0 || ret == -EINVAL || ret == -ENODATA || ret == -EPROTO);
	CHECK(sh2.blocks == 0);
	if (!ret) {
		CHECK(d2->ops->restore(d2, d2->vq, rec, cut, true) == 0);
		virtio_mem_get_status(d2, &b);
		again = mem_save(d2, &len2);
		CHECK(len2 == cut && !memcmp(again, rec, cut));
		free(again);
		CHECK(sh2.blocks * HP_BLOCK >> 20 == b.plugged_size_mib);
	}
	d2->ops->destroy(d2);
	free(rec);
}

static uint64_t cfg64(unsigned int off)
{
	return fz_rd(&drv, CFG(off)) | (uint64_t)fz_rd(&drv, CFG(off) + 4) << 32;
}

static void check_device(void)
{
	uint64_t plugged = 0, usable = cfg64(32), dev_plugged = cfg64(40);
	uint64_t per = HP_SLOT / HP_BLOCK;

	for (unsigned int s = 0; s < hp->nslots; s++) {
		uint32_t n = 0;

		for (uint64_t b = s * per; b < (s + 1) * per; b++) {
			bool on = (hp->plugged[b / 64] >> (b % 64)) & 1;

			n += on;
			CHECK(!!guest_mem_ptr(&drv.gm, hp->gpa + b * HP_BLOCK, HP_BLOCK) == on);
		}
		CHECK(n == hp->slot_plugged[s]);
		plugged += n;
	}
	CHECK(dev_plugged == plugged * HP_BLOCK);
	CHECK(dev_plugged <= usable && usable <= HP_SIZE);
}

static void request_step(struct fz *in, uint8_t b)
{
	uint8_t req[VIRTIO_MEM_REQ_SIZE] = { 0 };
	uint32_t at = fz_u16(in) % (FZ_RAM - sizeof(req));
	uint16_t type = fz_u8(in), block = fz_u16(in), nb;
	uint64_t addr = (b & 8) ? fz_u64(in) : hp->gpa + (uint64_t)(block % 1030) * HP_BLOCK;

	nb = fz_u16(in);
	type = htole16(type);
	addr = htole64(addr);
	nb = htole16(nb);
	memcpy(req, &type, 2);
	memcpy(req + 8, &addr, 8);
	memcpy(req + 16, &nb, 2);
	memcpy(drv.ram + at, req, sizeof(req));
}

static void mem_step(struct fz_drv *d, struct fz *in)
{
	uint8_t b = fz_u8(in);
	struct virtio_mem_status st;
	struct err err;
	int ret = 0;

	(void)d;
	switch (b % 5) {
	case 0:
		ret = virtio_mem_set_requested(drv.dev, fz_u8(in) % 6, &err);
		break;
	case 1:
		request_step(in, b);
		break;
	case 2:
		virtio_mem_get_status(drv.dev, &st);
		CHECK(st.total_size_mib == HP_SIZE >> 20 && st.slot_size_mib == 0);
		break;
	case 3:
		if (b & 8)
			virtio_dev_resume(drv.dev);
		else
			virtio_dev_pause(drv.dev);
		break;
	default:
		snapshot_step(in);
		break;
	}
	CHECK(ret == 0 || ret == -EINVAL);
	check_device();
}

static void mem_settle(struct fz_drv *d)
{
	(void)d;
	check_device();
}

/* A well-behaved driver's UNPLUG_ALL: afterwards nothing is plugged, whatever came before. */
static void unplug_all(void)
{
	struct virtq_desc req = { 0x8000, VIRTIO_MEM_REQ_SIZE, VIRTQ_DESC_F_NEXT, 1 };
	struct virtq_desc resp = { 0x8100, VIRTIO_MEM_RESP_SIZE, VIRTQ_DESC_F_WRITE, 0 };
	uint16_t type = htole16(VIRTIO_MEM_REQ_UNPLUG_ALL), head = 0, idx = 1, rtype;

	virtio_dev_resume(drv.dev);
	memset(drv.ram, 0, FZ_RAM);
	fz_wr(&drv, 0x070, 0);
	fz_wr(&drv, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	fz_wr(&drv, 0x024, 0);
	fz_wr(&drv, 0x020, 1u << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE);
	fz_wr(&drv, 0x024, 1);
	fz_wr(&drv, 0x020, 1);
	fz_wr(&drv, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		       VIRTIO_STATUS_FEATURES_OK);
	fz_wr(&drv, 0x030, 0);
	fz_wr(&drv, 0x038, 16);
	fz_wr(&drv, 0x080, 0);
	fz_wr(&drv, 0x084, 0);
	fz_wr(&drv, 0x090, 0x1000);
	fz_wr(&drv, 0x094, 0);
	fz_wr(&drv, 0x0a0, 0x2000);
	fz_wr(&drv, 0x0a4, 0);
	fz_wr(&drv, 0x044, 1);
	fz_wr(&drv, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		       VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	memcpy(drv.ram, &req, sizeof(req));
	memcpy(drv.ram + 16, &resp, sizeof(resp));
	memcpy(drv.ram + 0x8000, &type, 2);
	memcpy(drv.ram + 0x1000 + 4, &head, 2);
	memcpy(drv.ram + 0x1000 + 2, &idx, 2);
	fz_wr(&drv, 0x050, 0);
	memcpy(&rtype, drv.ram + 0x8100, 2);
	CHECK(le16toh(rtype) == VIRTIO_MEM_RESP_ACK);
	CHECK(cfg64(40) == 0);
	check_device();
}

static void setup(void)
{
	struct virtio_env env = { .mem = &drv.gm };
	struct virtio_dev *dev;
	struct err err;

	log_set_level(LOG_ERR);
	fz_drv_ram(&drv);
	drv.gm.slots_fd = -1;
	CHECK(guest_mem_hotplug_init(&drv.gm, HP_SIZE, HP_BLOCK, HP_SLOT) == 0);
	hp = drv.gm.hp;
	CHECK(virtio_mem_create(&env, &(struct virtio_mem_config){
		.addr = hp->gpa, .region_size = HP_SIZE, .block_size = HP_BLOCK,
		.slot_size = HP_SLOT, .ops = &ops, .ctx = &drv.gm }, &dev, &err) == 0);
	drv.dev_step = mem_step;
	drv.settle = mem_settle;
	fz_drv_attach(&drv, dev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };

	if (!hp)
		setup();
	virtio_dev_resume(drv.dev);
	fz_drv_run(&drv, &in);
	unplug_all();
	return 0;
}

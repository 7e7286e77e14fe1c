/*
 * libFuzzer target for virtio-mmio register sequences (src/core/bus.c,
 * src/virtio/mmio/mmio.c) on two devices attached as tests/unit/mmio_attach.h
 * does: virtio-rng at BASE and virtio-blk (a 64-sector image, io_uring)
 * at BASE + 4 KiB, no I/O thread, so status writes and QueueNotify run
 * inline. Guest RAM is 256 KiB at 0.
 *
 * The input is a list of records, each a control byte c and operands:
 *   c & 3        width: 1, 2, 4 or 8 bytes
 *   c & 4        write (else read)
 *   c & 8        the blk window (else rng)
 *   c >> 4       0-9: a register from the table below, u8 index;
 *                10-11: any offset below 0x200, u16;
 *                12-13: RAM poke: u32 offset, u8 n, n bytes;
 *                14: a racing write (fz.h): u16 at, u32 offset, u8 value;
 *                15: the whole driver initialisation (fz_drv.h) at once
 *   then, for an access, the value (u32, or u64 for width 8; unused by reads)
 *
 * Checked besides ASan/UBSan: MagicValue, Version and the interrupt
 * status read sane whatever came before, and blk has nothing in flight
 * after a reset.
 */
#include "core/eventloop.h"
#include "fz_drv.h"
#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/blk/priv.h"
#include "virtio/rng.h"

static const uint16_t regs[] = {
	0x000, 0x004, 0x008, 0x00c, 0x010, 0x014, 0x020, 0x024, 0x030, 0x034, 0x038,
	0x044, 0x050, 0x060, 0x064, 0x070, 0x080, 0x084, 0x090, 0x094, 0x0a0, 0x0a4,
	0x0ac, 0x0b0, 0x0b4, 0x0b8, 0x0bc, 0x0fc, 0x100, 0x104, 0x120, 0x13c,
};

static struct fz_drv rng_drv, blk_drv;
static struct virtio_blk *blk;
static struct eventloop loop;
static bool ready;

static void blk_settle(struct fz_drv *d)
{
	(void)d;
	while (blk->disk.inflight) {
		struct io_uring_cqe *cqe;

		blk_disk_kick(&blk->disk);
		if (io_uring_wait_cqe(blk->disk.ring, &cqe))
			break;
		blk_disk_on_event(&blk->disk, 0);
	}
}

static void setup(void)
{
	struct virtio_env env = { .loop = &loop, .mem = &rng_drv.gm };
	struct virtio_host host = { .vm_fd = -1 };
	char path[] = "/tmp/hearth-fuzz-mmio-XXXXXX", spec[64];
	struct err err;
	struct blk_config cfg;
	struct virtio_dev *dev;
	int fd;

	log_set_level(LOG_ERR);
	fz_drv_ram(&rng_drv);
	CHECK(eventloop_init(&loop) == 0);
	CHECK(virtio_rng_create(&env, &dev, &err) == 0);
	fz_drv_attach(&rng_drv, dev);

	fd = mkstemp(path);
	CHECK(fd >= 0 && ftruncate(fd, 64 * 512) == 0);
	close(fd);
	snprintf(spec, sizeof(spec), "path=%s", path);
	CHECK(virtio_blk_parse(spec, &cfg, &err) == 0);
	CHECK(virtio_blk_create(&env, &cfg, &dev, &err) == 0);
	virtio_blk_config_release(&cfg);
	unlink(path);
	blk = virtio_blk_from_dev(dev);
	/* The same bus and RAM, one window further. */
	blk_drv = rng_drv;
	host.bus = rng_drv.bus;
	blk_drv.dev = dev;
	blk_drv.base = FZ_BASE + VIRTIO_MMIO_SIZE;
	blk_drv.settle = blk_settle;
	CHECK(virtio_mmio_create(dev, &host, FZ_BASE + VIRTIO_MMIO_SIZE, 6, &blk_drv.t) == 0);
	ready = true;
}

static void record(struct fz *in)
{
	uint8_t c = fz_u8(in), kind = c >> 4, b[8];
	unsigned int w = 1u << (c & 3);
	bool write = c & 4;
	struct fz_drv *d = c & 8 ? &blk_drv : &rng_drv;
	uint64_t off, v;

	if (kind >= 12 && kind <= 13) {
		uint32_t at = fz_u32(in) % FZ_RAM;
		uint8_t n = fz_u8(in);

		fz_take(in, d->ram + at, n < FZ_RAM - at ? n : FZ_RAM - at);
		return;
	}
	if (kind == 14) {
		uint16_t at = fz_u16(in);
		uint32_t ro = fz_u32(in);

		fz_race_add(at % 512, ro, fz_u8(in));
		return;
	}
	if (kind == 15) {
		fz_drv_init(d, in);
		return;
	}
	off = kind < 10 ? regs[fz_u8(in) % (sizeof(regs) / sizeof(regs[0]))] : fz_u16(in) % 0x200;
	v = w == 8 ? fz_u64(in) : fz_u32(in);
	bus_data_put(b, w, v);
	bus_access(d->bus, BUS_MMIO, d->base + off, b, w, write);
	if (write && d->settle)
		d->settle(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };

	if (!ready)
		setup();
	memset(rng_drv.ram, 0, FZ_RAM);
	fz_race_begin(rng_drv.ram, FZ_RAM);
	/* Both devices start from a reset, as after the previous input. */
	fz_wr(&rng_drv, 0x070, 0);
	fz_wr(&blk_drv, 0x070, 0);
	for (int i = 0; i < 512 && in.n; i++)
		record(&in);
	blk_settle(&blk_drv);
	for (int i = 0; i < 2; i++) {
		struct fz_drv *d = i ? &blk_drv : &rng_drv;

		CHECK(fz_rd(d, 0x000) == 0x74726976);
		CHECK(fz_rd(d, 0x004) == 2);
		CHECK((fz_rd(d, 0x060) & ~3u) == 0);
	}
	fz_race_end();
	fz_wr(&blk_drv, 0x070, 0);
	CHECK(blk->disk.inflight == 0);
	return 0;
}

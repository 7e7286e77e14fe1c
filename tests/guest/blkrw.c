/*
 * blkrw: a guest that drives the first virtio-blk disk (virtio-mmio) itself,
 * for the qcow2 integration tests (tests/integration/run_qcow2_test.py):
 * the host checks what it wrote with `qemu-img compare`, so the guest
 * computes little (PVM interprets ring-0 code an instruction at a time).
 *
 * Command line "blk=copy" (the default): copies [0, 64K) to 8M and
 * [1M-32K, 1M+96K) to 9M (its reads, written back where the host sees
 * them), writes 256K of a pattern at 2M+512 (word k of it: PATTERN(k)),
 * write-zeroes 64K at 3M, flushes, reads the pattern back and compares,
 * then says "LAB blk_copy=ok" and powers off.
 * "blk=loop": for ever, round i writes the 4 KiB block at 16M + (i%64)*4K
 * full of the word i, flushes, and says "blk round i" (a snapshot, fork or
 * migration then goes on from the next round, each clone on its own disk).
 * Errors: "LAB blk_fail=WHERE" and a power off.
 */
#include "guest.h"

#define VIRTIO_BASE 0xd0000000ull
#define VIRTIO_STRIDE 0x1000ull
#define VIRTIO_SLOTS 32

#define R_MAGIC 0x000
#define R_DEVICE_ID 0x008
#define R_DRV_FEAT 0x020
#define R_DRV_FEAT_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_STATUS 0x070
#define R_DESC_LO 0x080
#define R_DESC_HI 0x084
#define R_DRIVER_LO 0x090
#define R_DRIVER_HI 0x094
#define R_DEVICE_LO 0x0a0
#define R_DEVICE_HI 0x0a4

#define S_ACK 1u
#define S_DRIVER 2u
#define S_DRIVER_OK 4u
#define S_FEATURES_OK 8u

#define ID_BLOCK 2u
#define F_FLUSH 9u
#define F_WRITE_ZEROES 14u

#define T_IN 0u
#define T_OUT 1u
#define T_FLUSH 4u
#define T_WZ 13u

#define QSIZE 8
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2

/* Rings, requests and buffers in RAM well above the image (loaded at 2 MiB). */
#define RING 0x1000000ull
#define HDR (RING + 0x2000)
#define STATUS (RING + 0x2100)
#define BUF (RING + 0x10000)      /* 256 KiB */
#define CHUNK 0x10000u            /* 64 KiB a request: under size_max without negotiating it */

#define PATTERN(k) (0x51c0000000000000ull ^ ((uint64_t)(k) * 0x9e3779b97f4a7c15ull))

static uint64_t dev;
static uint16_t avail_idx;

static uint64_t find_blk(void)
{
	for (unsigned int s = 0; s < VIRTIO_SLOTS; s++) {
		uint64_t b = VIRTIO_BASE + s * VIRTIO_STRIDE;

		if (mmio_read32(b + R_MAGIC) == 0x74726976 && mmio_read32(b + R_DEVICE_ID) == ID_BLOCK)
			return b;
	}
	return 0;
}

static __attribute__((noreturn)) void fail(const char *where)
{
	serial_puts("LAB blk_fail=");
	serial_puts(where);
	serial_puts("\n");
	guest_poweroff();
}

static void setup(void)
{
	dev = find_blk();
	if (!dev)
		fail("no_disk");
	mmio_write32(dev + R_STATUS, 0);
	mmio_write32(dev + R_STATUS, S_ACK);
	mmio_write32(dev + R_STATUS, S_ACK | S_DRIVER);
	mmio_write32(dev + R_DRV_FEAT_SEL, 0);
	mmio_write32(dev + R_DRV_FEAT, (1u << F_FLUSH) | (1u << F_WRITE_ZEROES));
	mmio_write32(dev + R_DRV_FEAT_SEL, 1);
	mmio_write32(dev + R_DRV_FEAT, 1);    /* VIRTIO_F_VERSION_1 */
	mmio_write32(dev + R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(mmio_read32(dev + R_STATUS) & S_FEATURES_OK))
		fail("features");
	memset((void *)RING, 0, 0x1000);
	mmio_write32(dev + R_QUEUE_SEL, 0);
	mmio_write32(dev + R_QUEUE_NUM, QSIZE);
	mmio_write32(dev + R_DESC_LO, (uint32_t)RING);
	mmio_write32(dev + R_DESC_HI, 0);
	mmio_write32(dev + R_DRIVER_LO, (uint32_t)(RING + 16 * QSIZE));
	mmio_write32(dev + R_DRIVER_HI, 0);
	mmio_write32(dev + R_DEVICE_LO, (uint32_t)(RING + 0x800));
	mmio_write32(dev + R_DEVICE_HI, 0);
	mmio_write32(dev + R_QUEUE_READY, 1);
	mmio_write32(dev + R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

static void put_desc(unsigned int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	volatile uint8_t *d = (volatile uint8_t *)(RING + 16 * i);

	*(volatile uint64_t *)d = addr;
	*(volatile uint32_t *)(d + 8) = len;
	*(volatile uint16_t *)(d + 12) = flags;
	*(volatile uint16_t *)(d + 14) = next;
}

/* One request, waited for by polling the used ring: its status byte. */
static uint8_t request(uint32_t type, uint64_t sector, uint64_t buf, uint32_t len, int in)
{
	volatile uint16_t *used = (volatile uint16_t *)(RING + 0x800 + 2);
	uint16_t before = *used;
	unsigned int n = 0;

	*(volatile uint32_t *)HDR = type;
	*(volatile uint32_t *)(HDR + 4) = 0;
	*(volatile uint64_t *)(HDR + 8) = sector;
	*(volatile uint8_t *)STATUS = 0xee;
	put_desc(n, HDR, 16, VRING_DESC_F_NEXT, 1);
	n++;
	if (len) {
		put_desc(n, buf, len, (uint16_t)(VRING_DESC_F_NEXT | (in ? VRING_DESC_F_WRITE : 0)),
			 (uint16_t)(n + 1));
		n++;
	}
	put_desc(n, STATUS, 1, VRING_DESC_F_WRITE, 0);
	*(volatile uint16_t *)(RING + 16 * QSIZE + 4 + 2 * (avail_idx % QSIZE)) = 0;
	__asm__ volatile("" ::: "memory");
	avail_idx++;
	*(volatile uint16_t *)(RING + 16 * QSIZE + 2) = avail_idx;
	__asm__ volatile("mfence" ::: "memory");
	mmio_write32(dev + R_QUEUE_NOTIFY, 0);
	while (*used == before)
		;
	return *(volatile uint8_t *)STATUS;
}

/* len bytes at byte offset off (a multiple of 512), CHUNK at a time. */
static void rw(uint32_t type, uint64_t off, uint64_t buf, uint32_t len, const char *where)
{
	for (uint32_t at = 0; at < len; at += CHUNK) {
		uint32_t n = len - at < CHUNK ? len - at : CHUNK;

		if (request(type, (off + at) / 512, buf + at, n, type == T_IN))
			fail(where);
	}
}

static int loop_mode(uint64_t zp)
{
	uint64_t p = mem32(zp + BP_CMD_LINE_PTR) | (uint64_t)mem32(zp + BP_EXT_CMD_LINE_PTR) << 32;

	for (uint64_t i = 0; p && mem8(p + i); i++)
		if (mem8(p + i) == 'b' && mem8(p + i + 1) == 'l' && mem8(p + i + 2) == 'k' &&
		    mem8(p + i + 3) == '=' && mem8(p + i + 4) == 'l')
			return 1;
	return 0;
}

static void copy_mode(void)
{
	volatile uint64_t *w = (volatile uint64_t *)BUF;

	rw(T_IN, 0, BUF, 0x10000, "read_0");
	rw(T_OUT, 8u << 20, BUF, 0x10000, "write_8m");
	rw(T_IN, (1u << 20) - 0x8000, BUF, 0x20000, "read_1m");
	rw(T_OUT, 9u << 20, BUF, 0x20000, "write_9m");
	for (unsigned int k = 0; k < 0x40000 / 8; k++)
		w[k] = PATTERN(k);
	rw(T_OUT, (2u << 20) + 512, BUF, 0x40000, "write_2m");
	/* Write-zeroes: one range of 128 sectors at 3M, no unmap flag. */
	*(volatile uint64_t *)BUF = (3u << 20) / 512;
	*(volatile uint32_t *)(BUF + 8) = 128;
	*(volatile uint32_t *)(BUF + 12) = 0;
	if (request(T_WZ, 0, BUF, 16, 0))
		fail("write_zeroes");
	if (request(T_FLUSH, 0, 0, 0, 0))
		fail("flush");
	for (unsigned int k = 0; k < 0x40000 / 8; k++)
		w[k] = 0;
	rw(T_IN, (2u << 20) + 512, BUF, 0x40000, "read_2m");
	for (unsigned int k = 0; k < 0x40000 / 8; k++)
		if (w[k] != PATTERN(k))
			fail("compare");
	serial_puts("LAB blk_copy=ok\n");
}

static __attribute__((noreturn)) void loop(void)
{
	volatile uint64_t *w = (volatile uint64_t *)BUF;

	for (uint64_t i = 0;; i++) {
		for (unsigned int k = 0; k < 512; k++)
			w[k] = i;
		rw(T_OUT, (16u << 20) + (i % 64) * 4096, BUF, 4096, "loop_write");
		if (request(T_FLUSH, 0, 0, 0, 0))
			fail("loop_flush");
		serial_puts("blk round ");
		serial_put_dec(i);
		serial_puts("\n");
		for (volatile uint32_t d = 0; d < 20000; d++)
			;
	}
}

void guest_main(uint64_t zp)
{
	setup();
	if (loop_mode(zp))
		loop();
	copy_mode();
	guest_poweroff();
}

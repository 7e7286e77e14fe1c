/*
 * libFuzzer target for fw_cfg (src/devices/fw_cfg.c, fw_cfg_dma.c,
 * fw_cfg_state.c) through bus_access, as a hostile guest drives it: the
 * selector and data ports at any width, the DMA register at any offset
 * and width, FWCfgDmaAccess structures anywhere in (or straddling the
 * end of) 64 KiB of guest RAM at 0 that the input also fills, and the
 * device's record saved, restored and corrupted. The device has DMA, the
 * legacy items, three files (one writable) and is made afresh per input.
 *
 * The input is a list of records, each an opcode byte and operands:
 *   0  selector write: u16 key, u8 width (1 or 2)
 *   1  data read: u8 width (1, 2, 4, 8)
 *   2  DMA register write: u8 offset (0-7), u8 width, u64 value
 *   3  a transfer: u16 RAM offset of the access, then its u32 control,
 *      u32 length, u64 address (written big-endian there), started by
 *      the two 32-bit halves
 *   4  RAM poke: u16 offset, u8 n, n bytes
 *   5  the record: saved, restored into the device, then a copy with
 *      u8 n byte flips (u16 at, u8 xor each) checked and applied if taken
 *   6  any port 0x50e-0x51d: u8 port, u8 width, u8 write, u32 value
 *
 * Checked besides ASan/UBSan: the signature and FW_CFG_ID read right by
 * ports and by DMA after any input, the read-only files never change,
 * every record saves, and a record the device saved restores.
 */
#include "core/bus.h"
#include "core/layout.h"
#include "devices/fw_cfg.h"
#include "fz.h"
#include "mem/guest_mem.h"
#include "util/log.h"

#define RAM (64u * 1024u)
#define STEPS 512

static const uint8_t file_a[] = "etc/acpi/tables go here";
static uint8_t file_big[5000];

static void be_put(uint8_t *p, uint64_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static unsigned int width(uint8_t w)
{
	return 1u << (w & 3);
}

static void port(struct bus *bus, uint16_t p, unsigned int w, bool write, uint64_t v)
{
	uint8_t b[8];

	bus_data_put(b, w, v);
	bus_access(bus, BUS_PIO, p, b, w, write);
}

static void record(struct fw_cfg *d, const struct component *c, struct fz *in)
{
	struct bytes_out o = bytes_out_growing();
	struct err err = ERR_INIT;
	size_t len;
	uint8_t n = fz_u8(in);

	CHECK(c->ops->save(c->obj, &o, &err) == 0);
	CHECK(bytes_out_finish(&o, &len) == 0);
	CHECK(c->ops->restore(c->obj, o.buf, len, false, &err) == 0);
	CHECK(c->ops->restore(c->obj, o.buf, len, true, &err) == 0);
	for (unsigned int i = 0; i < n % 8; i++) {
		uint16_t at = fz_u16(in);

		o.buf[at % len] ^= fz_u8(in);
	}
	if (c->ops->restore(c->obj, o.buf, len, false, &err) == 0)
		CHECK(c->ops->restore(c->obj, o.buf, len, true, &err) == 0);
	free(o.buf);
	(void)d;
}

static void step(struct bus *bus, struct fw_cfg *d, const struct component *c, uint8_t *ram,
		 struct fz *in)
{
	uint8_t op = fz_u8(in) % 7;

	switch (op) {
	case 0: {
		uint16_t key = fz_u16(in);

		port(bus, PORT_FW_CFG, fz_u8(in) & 1 ? 2 : 1, true, key);
		break;
	}
	case 1:
		port(bus, PORT_FW_CFG + 1, width(fz_u8(in)), false, 0);
		break;
	case 2: {
		uint8_t off = fz_u8(in) % 8, w = (uint8_t)width(fz_u8(in));

		port(bus, (uint16_t)(PORT_FW_CFG + FW_CFG_DMA_OFF + off),
		     off + w <= 8 ? w : 1, true, fz_u64(in));
		break;
	}
	case 3: {
		uint16_t at = fz_u16(in);
		uint8_t acc[16];

		be_put(acc, fz_u32(in), 4);
		be_put(acc + 4, fz_u32(in), 4);
		be_put(acc + 8, fz_u64(in), 8);
		/* What fits of it: an access straddling RAM's end is the guest's to make. */
		memcpy(ram + at, acc, at + 16u <= RAM ? 16u : RAM - at);
		port(bus, PORT_FW_CFG + FW_CFG_DMA_OFF, 4, true, 0);
		port(bus, PORT_FW_CFG + FW_CFG_DMA_OFF + 4, 4, true,
		     __builtin_bswap32((uint32_t)at));
		break;
	}
	case 4: {
		uint16_t at = fz_u16(in);
		uint8_t n = fz_u8(in);

		fz_take(in, ram + at, n < RAM - at ? n : RAM - at);
		break;
	}
	case 5:
		record(d, c, in);
		break;
	default: {
		uint16_t p = (uint16_t)(0x50e + fz_u8(in) % 16);
		unsigned int w = width(fz_u8(in));
		bool write = fz_u8(in) & 1;

		port(bus, p, w, write, fz_u32(in));
		break;
	}
	}
}

/* After the input: the items read right whatever came before, by both interfaces. */
static void check(struct bus *bus, struct fw_cfg *d, uint8_t *ram)
{
	uint8_t b[8];
	size_t len;

	port(bus, PORT_FW_CFG, 2, true, FW_CFG_SIGNATURE);
	for (unsigned int i = 0; i < 4; i++) {
		bus_access(bus, BUS_PIO, PORT_FW_CFG + 1, b, 1, false);
		CHECK(b[0] == "QEMU"[i]);
	}
	be_put(ram + 0x100, (uint32_t)FW_CFG_ID << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4);
	be_put(ram + 0x104, 4, 4);
	be_put(ram + 0x108, 0x200, 8);
	port(bus, PORT_FW_CFG + FW_CFG_DMA_OFF, 4, true, 0);
	port(bus, PORT_FW_CFG + FW_CFG_DMA_OFF + 4, 4, true, __builtin_bswap32(0x100));
	CHECK(ram[0x100] == 0 && ram[0x101] == 0 && ram[0x102] == 0 && ram[0x103] == 0);
	CHECK(ram[0x200] == (FW_CFG_VERSION | FW_CFG_VERSION_DMA) && ram[0x201] == 0);
	CHECK(fw_cfg_file_get(d, "etc/a", b, sizeof(b), &len) == 0 && len == sizeof(file_a) &&
	      !memcmp(b, file_a, sizeof(b)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *ram;
	struct fz in = { data, size };
	struct guest_mem gm = { .nregions = 1, .ram_bytes = RAM, .slots_fd = -1 };
	struct dev_env env = { .mem = &gm, .ncpus = 2, .ram_size = RAM, .max_ram = RAM };
	struct dev_resources res = { .pio_base = PORT_FW_CFG, .pio_size = FW_CFG_PORTS_DMA,
				     .gsi = -1 };
	struct err err = ERR_INIT;
	struct component c;
	struct fw_cfg *d;
	struct bus bus;

	if (!ram) {
		log_set_level(LOG_ERR);
		ram = malloc(RAM);
		for (unsigned int i = 0; i < sizeof(file_big); i++)
			file_big[i] = (uint8_t)(i * 31);
	}
	memset(ram, 0, RAM);
	gm.regions[0] = (struct guest_region){ 0, RAM, ram };
	bus_init(&bus);
	env.bus = &bus;
	CHECK(fw_cfg_create(&env, &res, &c, &err) == 0);
	d = c.obj;
	CHECK(fw_cfg_add_file(d, "etc/a", file_a, sizeof(file_a), 0, NULL, &err) == 0);
	CHECK(fw_cfg_add_file(d, "etc/big", file_big, sizeof(file_big), 0, NULL, &err) == 0);
	CHECK(fw_cfg_add_file(d, "etc/rw", file_a, 16, FW_CFG_FILE_WRITABLE, NULL, &err) == 0);
	for (int i = 0; i < STEPS && in.n; i++)
		step(&bus, d, &c, ram, &in);
	check(&bus, d, ram);
	{
		uint8_t big[sizeof(file_big)];
		size_t len;

		CHECK(fw_cfg_file_get(d, "etc/big", big, sizeof(big), &len) == 0);
		CHECK(len == sizeof(big) && !memcmp(big, file_big, len));
	}
	bus_destroy(&bus);
	c.ops->destroy(c.obj);
	return 0;
}

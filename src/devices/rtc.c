/*
 * MC146818 CMOS RTC: two ports, the index and the data (0x70 and 0x71 on
 * a PC; the caller places them). The clock
 * registers are computed from the host's UTC time on every read, so there
 * is no update cycle to emulate and nothing drifts. The guest cannot set
 * the clock: time writes are dropped. The rest is 128 bytes of NVRAM,
 * which starts out holding what firmware reads there on a QEMU PC (the
 * RAM's size, the CPUs, the equipment and boot order): SeaBIOS and OVMF
 * size RAM from it before they look at fw_cfg.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/platform.h"
#include "util/bytes.h"
#include "util/log.h"
#include "util/utc.h"

#define RTC_NVRAM_SIZE 128
#define RTC_INDEX_MASK 0x7f /* bit 7 of the index port masks NMI on a PC */

#define RTC_SECONDS 0x00
#define RTC_MINUTES 0x02
#define RTC_HOURS 0x04
#define RTC_WEEKDAY 0x06
#define RTC_DAY 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_C 0x0c
#define RTC_REG_D 0x0d
#define RTC_CENTURY 0x32 /* the IBM PC convention, named in the FADT */

#define REG_A_UIP 0x80
#define REG_A_DEFAULT 0x26 /* 32.768 kHz time base, 1024 Hz periodic rate */
#define REG_B_DM 0x04   /* binary rather than BCD */
#define REG_B_24H 0x02
#define REG_B_DEFAULT REG_B_24H
#define REG_D_VRT 0x80
#define HOUR_PM 0x80

/*
 * UIP rises 244 us before each update and stays up through the update
 * cycle (at most 1984 us). Showing it for that slice of each host second
 * keeps the promise guests rely on: after UIP reads 0 the time fields hold
 * still for at least 244 us. For the rest of the second it reads 0.
 */
#define RTC_UIP_WINDOW_NS (244000L + 1984000L)

struct rtc {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t nvram[RTC_NVRAM_SIZE];
};

static struct ratelimit rtc_rl = RATELIMIT_INIT(5);

/*
 * The bytes QEMU's pc_cmos_init (hw/i386/pc.c) and x86_rtc_set_cpus_count
 * write, at the offsets SeaBIOS (src/hw/rtc.h, fw/paravirt.c, boot.c) and
 * OVMF (PlatformInitLib's MemDetect.c) read them.
 */
#define CMOS_BASE_MEM 0x15      /* and 0x16: KiB of base memory, at most 640 */
#define CMOS_EXT_MEM 0x17       /* and 0x18: KiB from 1 MiB on, at most 0xffff */
#define CMOS_EXT_MEM_COPY 0x30  /* and 0x31: the same, where SeaBIOS reads it */
#define CMOS_EXT_MEM2 0x34      /* and 0x35: 64 KiB units from 16 MiB to the hole */
#define CMOS_HIGH_MEM 0x5b      /* to 0x5d: 64 KiB units above 4 GiB */
#define CMOS_SMP_COUNT 0x5f     /* CPUs less one */
#define CMOS_EQUIPMENT 0x14
#define CMOS_BOOTFLAG1 0x38     /* third boot device (high nibble), no floppy check (bit 0) */
#define CMOS_BOOTFLAG2 0x3d     /* second and first boot devices */

#define EQUIP_FPU 0x02          /* no floppy, and no PS/2 mouse: our i8042 has none */
/* QEMU's default order "cad" as its nibbles: disk 2, floppy 1, CD-ROM 3. */
#define BOOT_ORDER_12 0x12
#define BOOT_ORDER_3 0x30

#define KIB 1024ull
#define MIB (1024 * KIB)
#define FOUR_GIB 0x100000000ull

static void rtc_put16(struct rtc *dev, uint8_t reg, uint64_t v)
{
	dev->nvram[reg] = (uint8_t)v;
	dev->nvram[reg + 1] = (uint8_t)(v >> 8);
}

static uint64_t rtc_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* RAM below and above 4 GiB as the VM laid it out (mem/guest_mem.h), not as we'd guess. */
static void rtc_ram_split(const struct guest_mem *mem, uint64_t *below, uint64_t *above)
{
	*below = *above = 0;
	for (unsigned int i = 0; mem && i < mem->nregions && i < GUEST_MEM_MAX_REGIONS; i++) {
		uint64_t start = mem->regions[i].gpa, end = start + mem->regions[i].size;

		if (start < FOUR_GIB)
			*below += rtc_min(end, FOUR_GIB) - start;
		if (end > FOUR_GIB)
			*above += end - (start > FOUR_GIB ? start : FOUR_GIB);
	}
}

static void rtc_cmos_init(struct rtc *dev, const struct dev_env *env)
{
	uint64_t below, above, ext;

	rtc_ram_split(env->mem, &below, &above);
	rtc_put16(dev, CMOS_BASE_MEM, rtc_min(below / KIB, 640));
	ext = below > MIB ? rtc_min((below - MIB) / KIB, 0xffff) : 0;
	rtc_put16(dev, CMOS_EXT_MEM, ext);
	rtc_put16(dev, CMOS_EXT_MEM_COPY, ext);
	rtc_put16(dev, CMOS_EXT_MEM2,
		  below > 16 * MIB ? rtc_min((below - 16 * MIB) / (64 * KIB), 0xffff) : 0);
	/* Three bytes hold 1 TiB less 64 KiB; more must come from fw_cfg's e820. */
	above = rtc_min(above / (64 * KIB), 0xffffff);
	rtc_put16(dev, CMOS_HIGH_MEM, above);
	dev->nvram[CMOS_HIGH_MEM + 2] = (uint8_t)(above >> 16);
	/* As QEMU: past 255 CPUs the byte says 0, so old firmware fails plainly. */
	if (env->ncpus && env->ncpus <= 0xff)
		dev->nvram[CMOS_SMP_COUNT] = (uint8_t)(env->ncpus - 1);
	dev->nvram[CMOS_EQUIPMENT] = EQUIP_FPU;
	dev->nvram[CMOS_BOOTFLAG2] = BOOT_ORDER_12;
	dev->nvram[CMOS_BOOTFLAG1] = BOOT_ORDER_3;
}

static uint8_t rtc_to_bcd(unsigned int v)
{
	return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

static uint8_t rtc_encode(const struct rtc *dev, unsigned int v)
{
	return (dev->nvram[RTC_REG_B] & REG_B_DM) ? (uint8_t)v : rtc_to_bcd(v);
}

static uint8_t rtc_hours(const struct rtc *dev, int hour)
{
	unsigned int h12;

	if (dev->nvram[RTC_REG_B] & REG_B_24H)
		return rtc_encode(dev, (unsigned int)hour);
	/* 12-hour mode: 12 AM is midnight, bit 7 flags PM. */
	h12 = (unsigned int)(hour % 12 == 0 ? 12 : hour % 12);
	return rtc_encode(dev, h12) | (hour >= 12 ? HOUR_PM : 0);
}

static uint8_t rtc_read_clock(const struct rtc *dev, uint8_t reg)
{
	struct timespec ts;
	struct tm tm;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return 0;
	utc_from_epoch(ts.tv_sec, &tm);

	switch (reg) {
	case RTC_SECONDS:
		/* A leap second's :60 is not a value the MC146818 can hold. */
		return rtc_encode(dev, (unsigned int)(tm.tm_sec > 59 ? 59 : tm.tm_sec));
	case RTC_MINUTES:
		return rtc_encode(dev, (unsigned int)tm.tm_min);
	case RTC_HOURS:
		return rtc_hours(dev, tm.tm_hour);
	case RTC_WEEKDAY:
		return rtc_encode(dev, (unsigned int)tm.tm_wday + 1); /* Sunday is 1 */
	case RTC_DAY:
		return rtc_encode(dev, (unsigned int)tm.tm_mday);
	case RTC_MONTH:
		return rtc_encode(dev, (unsigned int)tm.tm_mon + 1);
	case RTC_YEAR:
		return rtc_encode(dev, (unsigned int)(tm.tm_year + 1900) % 100);
	case RTC_CENTURY:
		return rtc_encode(dev, (unsigned int)(tm.tm_year + 1900) / 100);
	case RTC_REG_A:
		return (dev->nvram[RTC_REG_A] & ~REG_A_UIP) |
		       (ts.tv_nsec >= 1000000000L - RTC_UIP_WINDOW_NS ? REG_A_UIP : 0);
	default:
		return 0;
	}
}

static bool rtc_is_clock(uint8_t reg)
{
	switch (reg) {
	case RTC_SECONDS:
	case RTC_MINUTES:
	case RTC_HOURS:
	case RTC_WEEKDAY:
	case RTC_DAY:
	case RTC_MONTH:
	case RTC_YEAR:
	case RTC_CENTURY:
	case RTC_REG_A:
		return true;
	default:
		return false;
	}
}

static uint8_t rtc_read_data(struct rtc *dev)
{
	uint8_t reg = dev->index;

	if (rtc_is_clock(reg))
		return rtc_read_clock(dev, reg);
	switch (reg) {
	case RTC_REG_C:
		/* No interrupt sources are wired, so no flags are ever raised. */
		return 0;
	case RTC_REG_D:
		return REG_D_VRT;
	default:
		return dev->nvram[reg];
	}
}

static void rtc_write_data(struct rtc *dev, uint8_t v)
{
	uint8_t reg = dev->index;

	switch (reg) {
	case RTC_REG_A:
		dev->nvram[reg] = v & ~REG_A_UIP;
		break;
	case RTC_REG_B:
		/* Format bits take effect at once since fields are computed per read. */
		dev->nvram[reg] = v;
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		if (rtc_is_clock(reg)) {
			log_ratelimited(&rtc_rl, LOG_DEBUG,
					"rtc: guest write to clock register 0x%02x ignored", reg);
			break;
		}
		dev->nvram[reg] = v;
		break;
	}
}

static void rtc_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct rtc *dev = opaque;

	pthread_mutex_lock(&dev->lock);
	for (unsigned int i = 0; i < len; i++) {
		uint64_t port = offset + i;
		/* The index register is write-only: the data bus floats. */
		data[i] = port == 1 ? rtc_read_data(dev) : 0xff;
	}
	pthread_mutex_unlock(&dev->lock);
}

static void rtc_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct rtc *dev = opaque;

	pthread_mutex_lock(&dev->lock);
	for (unsigned int i = 0; i < len; i++) {
		uint64_t port = offset + i;
		if (port == 0)
			dev->index = data[i] & RTC_INDEX_MASK;
		else if (port == 1)
			rtc_write_data(dev, data[i]);
	}
	pthread_mutex_unlock(&dev->lock);
}

static const struct bus_region_ops rtc_ops = {
	.read = rtc_read,
	.write = rtc_write,
};

#define RTC_TAG "CMOS"

static int rtc_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct rtc *dev = obj;

	pthread_mutex_lock(&dev->lock);
	bytes_put_tag(o, RTC_TAG, RTC_STATE_VERSION);
	bytes_put_u8(o, dev->index);
	bytes_put(o, dev->nvram, RTC_NVRAM_SIZE);
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

static int rtc_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct rtc *dev = obj;
	struct bytes_in r = bytes_in_init(in, len);
	uint8_t index, nvram[RTC_NVRAM_SIZE];
	int ret = bytes_get_tag(&r, RTC_TAG, RTC_STATE_VERSION);

	if (ret)
		return ret;
	index = bytes_get_u8(&r);
	bytes_get(&r, nvram, sizeof(nvram));
	ret = bytes_in_finish(&r);
	if (ret)
		return ret;
	/* As rtc_write_data stores them: no index past NVRAM, UIP never latched. */
	if ((index & ~RTC_INDEX_MASK) || (nvram[RTC_REG_A] & REG_A_UIP))
		return -EINVAL;
	if (!apply)
		return 0;
	pthread_mutex_lock(&dev->lock);
	dev->index = index;
	memcpy(dev->nvram, nvram, sizeof(nvram));
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

static void rtc_destroy(void *obj)
{
	struct rtc *dev = obj;

	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

static const struct component_ops rtc_component = {
	.save = rtc_save,
	.restore = rtc_restore,
	.destroy = rtc_destroy,
};

int rtc_create(const struct dev_env *env, const struct dev_resources *res,
	       struct component *out, struct err *err)
{
	struct rtc *dev = calloc(1, sizeof(*dev));
	int ret;

	if (!dev)
		return err_set(err, false, -ENOMEM, "out of memory");
	pthread_mutex_init(&dev->lock, NULL);
	dev->nvram[RTC_REG_A] = REG_A_DEFAULT;
	dev->nvram[RTC_REG_B] = REG_B_DEFAULT;
	rtc_cmos_init(dev, env);
	ret = dev_claim(env, BUS_PIO, res->pio_base, res->pio_size, &rtc_ops, dev, "rtc", err);
	if (ret) {
		rtc_destroy(dev);
		return ret;
	}
	*out = (struct component){ &rtc_component, dev };
	return 0;
}

#include "devices/boot_timer.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "util/log.h"

struct boot_timer {
	uint64_t start_ns, start_cpu_ns;
};

static struct ratelimit boot_timer_rl = RATELIMIT_INIT(4);

static uint64_t boot_timer_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void boot_timer_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	bus_data_put(data, len, 0);
}

static void boot_timer_write(void *opaque, uint64_t offset, const uint8_t *data,
			     unsigned int len)
{
	struct boot_timer *t = opaque;
	uint64_t us, cpu_us;

	/* As Firecracker's: one byte, at offset 0, the magic value. */
	if (len != 1 || offset != 0 || data[0] != BOOT_TIMER_MAGIC)
		return;
	us = (boot_timer_clock(CLOCK_MONOTONIC) - t->start_ns) / 1000;
	cpu_us = (boot_timer_clock(CLOCK_PROCESS_CPUTIME_ID) - t->start_cpu_ns) / 1000;
	log_ratelimited(&boot_timer_rl, LOG_INFO,
			"Guest-boot-time = %6llu us %llu ms, %6llu CPU us %llu CPU ms",
			(unsigned long long)us, (unsigned long long)(us / 1000),
			(unsigned long long)cpu_us, (unsigned long long)(cpu_us / 1000));
}

static const struct bus_region_ops boot_timer_ops = {
	.read = boot_timer_read,
	.write = boot_timer_write,
};

static const struct component_ops boot_timer_component = {
	.save = dev_bare_save,
	.restore = dev_bare_restore,
	.destroy = free,
};

int boot_timer_create(const struct dev_env *env, const struct dev_resources *res,
		      struct component *out, struct err *err)
{
	struct boot_timer *t = calloc(1, sizeof(*t));
	int ret;

	if (!t)
		return err_set(err, false, -ENOMEM, "out of memory");
	t->start_ns = boot_timer_clock(CLOCK_MONOTONIC);
	t->start_cpu_ns = boot_timer_clock(CLOCK_PROCESS_CPUTIME_ID);
	ret = dev_claim(env, BUS_MMIO, res->mmio_base, BOOT_TIMER_SIZE, &boot_timer_ops, t,
			"boot-timer", err);
	if (ret) {
		free(t);
		return ret;
	}
	*out = (struct component){ &boot_timer_component, t };
	return 0;
}

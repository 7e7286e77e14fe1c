/* What every legacy device shares: claiming its place on the bus, the bare record. */
#include "devices/device.h"

#include <errno.h>

#include "util/bytes.h"

int dev_claim(const struct dev_env *env, enum bus_space space, uint64_t base, uint64_t len,
	      const struct bus_region_ops *ops, void *dev, const char *name, struct err *err)
{
	const char *what = space == BUS_PIO ? "ports" : "MMIO";
	int ret;

	if (!env->bus)
		return 0;
	ret = bus_register(env->bus, space, base, len, ops, dev, name);
	if (ret == -EEXIST && len == 1)
		return err_set(err, true, ret, "%s 0x%llx is taken by another device",
			       space == BUS_PIO ? "port" : "MMIO", (unsigned long long)base);
	if (ret == -EEXIST)
		return err_set(err, true, ret, "%s 0x%llx-0x%llx are taken by another device",
			       what, (unsigned long long)base, (unsigned long long)(base + len - 1));
	if (ret)
		return err_set(err, false, ret, "%s 0x%llx-0x%llx: cannot register", what,
			       (unsigned long long)base, (unsigned long long)(base + len - 1));
	return 0;
}

#define DEV_BARE_TAG "LGCY"
#define DEV_BARE_STATE_VERSION 1u

int dev_bare_save(void *obj, struct bytes_out *o, struct err *err)
{
	bytes_put_tag(o, DEV_BARE_TAG, DEV_BARE_STATE_VERSION);
	return 0;
}

int dev_bare_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	return bytes_check_bare(in, len, DEV_BARE_TAG, DEV_BARE_STATE_VERSION);
}

#include "snapshot/host.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "util/bytes.h"

#define HOST_TAG "HOST"

int snap_host_save(const struct snap_host *h, struct bytes_out *o)
{
	if (h->ncpuid > SNAP_HOST_MAX_CPUID || h->ncaps > SNAP_HOST_MAX_CAPS)
		return -EINVAL;
	bytes_put_tag(o, HOST_TAG, SNAP_HOST_VERSION);
	bytes_put_u32(o, h->ncpuid);
	for (unsigned int i = 0; i < h->ncpuid; i++) {
		const struct snap_cpuid_leaf *l = &h->cpuid[i];

		bytes_put_u32(o, l->function);
		bytes_put_u32(o, l->index);
		bytes_put_u32(o, l->flags);
		bytes_put_u32(o, l->eax);
		bytes_put_u32(o, l->ebx);
		bytes_put_u32(o, l->ecx);
		bytes_put_u32(o, l->edx);
	}
	bytes_put_u32(o, h->ncaps);
	for (unsigned int i = 0; i < h->ncaps; i++) {
		bytes_put_u32(o, h->caps[i].cap);
		bytes_put_u32(o, h->caps[i].value);
	}
	return 0;
}

int snap_host_restore(struct snap_host *h, const void *in, size_t len)
{
	struct bytes_in r = bytes_in_init(in, len);
	int ret = bytes_get_tag(&r, HOST_TAG, SNAP_HOST_VERSION);

	if (ret)
		return ret;
	memset(h, 0, sizeof(*h));
	h->ncpuid = bytes_get_u32(&r);
	if (h->ncpuid > SNAP_HOST_MAX_CPUID)
		return -EINVAL;
	for (unsigned int i = 0; i < h->ncpuid; i++) {
		struct snap_cpuid_leaf *l = &h->cpuid[i];

		l->function = bytes_get_u32(&r);
		l->index = bytes_get_u32(&r);
		l->flags = bytes_get_u32(&r);
		l->eax = bytes_get_u32(&r);
		l->ebx = bytes_get_u32(&r);
		l->ecx = bytes_get_u32(&r);
		l->edx = bytes_get_u32(&r);
	}
	h->ncaps = bytes_get_u32(&r);
	if (h->ncaps > SNAP_HOST_MAX_CAPS)
		return r.short_read ? -ENODATA : -EINVAL;
	for (unsigned int i = 0; i < h->ncaps; i++) {
		h->caps[i].cap = bytes_get_u32(&r);
		h->caps[i].value = bytes_get_u32(&r);
	}
	return bytes_in_finish(&r);
}

static const struct snap_cpuid_leaf *snap_host_leaf(const struct snap_host *h, uint32_t fn,
						    uint32_t index)
{
	for (unsigned int i = 0; i < h->ncpuid; i++)
		if (h->cpuid[i].function == fn && h->cpuid[i].index == index)
			return &h->cpuid[i];
	return NULL;
}

/*
 * The feature registers a running guest may have acted on. Other leaves
 * (topology, cache, brand) describe the machine and may differ.
 */
static const struct {
	uint32_t function, index;
	bool eax, ebx, ecx, edx;
} feature_leaves[] = {
	{ 0x1, 0, false, false, true, true },
	{ 0x7, 0, false, true, true, true },
	{ 0x7, 1, true, false, false, false },
	{ 0xd, 1, true, false, false, false },
	{ 0x80000001, 0, false, false, true, true },
};

static int snap_host_missing(struct err *err, uint32_t fn, uint32_t index,
			     const char *reg, uint32_t bits)
{
	return err_set(err, true, -EINVAL, "needs CPUID 0x%" PRIx32 ".%" PRIu32 " %s bits 0x%"
		       PRIx32 ", the host lacks them", fn, index, reg, bits);
}

static int snap_host_check_cpuid(const struct snap_host *need, const struct snap_host *have,
				 struct err *err)
{
	const struct snap_cpuid_leaf *n = snap_host_leaf(need, 0, 0);
	const struct snap_cpuid_leaf *h = snap_host_leaf(have, 0, 0);

	if (n && (!h || n->ebx != h->ebx || n->ecx != h->ecx || n->edx != h->edx))
		return err_set(err, true, -EINVAL, "was taken on another CPU vendor");
	for (size_t i = 0; i < sizeof(feature_leaves) / sizeof(feature_leaves[0]); i++) {
		uint32_t fn = feature_leaves[i].function, idx = feature_leaves[i].index;
		static const struct snap_cpuid_leaf none;
		uint32_t lack;

		n = snap_host_leaf(need, fn, idx);
		if (!n)
			continue;
		h = snap_host_leaf(have, fn, idx);
		if (!h)
			h = &none;
		if (feature_leaves[i].eax && (lack = n->eax & ~h->eax))
			return snap_host_missing(err, fn, idx, "eax", lack);
		if (feature_leaves[i].ebx && (lack = n->ebx & ~h->ebx))
			return snap_host_missing(err, fn, idx, "ebx", lack);
		if (feature_leaves[i].ecx && (lack = n->ecx & ~h->ecx))
			return snap_host_missing(err, fn, idx, "ecx", lack);
		if (feature_leaves[i].edx && (lack = n->edx & ~h->edx))
			return snap_host_missing(err, fn, idx, "edx", lack);
	}
	return 0;
}

int snap_host_check(const struct snap_host *need, const struct snap_host *have, struct err *err)
{
	int ret = snap_host_check_cpuid(need, have, err);

	if (ret)
		return ret;
	for (unsigned int i = 0; i < need->ncaps; i++) {
		uint32_t got = 0;

		for (unsigned int j = 0; j < have->ncaps; j++)
			if (have->caps[j].cap == need->caps[i].cap)
				got = have->caps[j].value;
		if (got < need->caps[i].value)
			return err_set(err, true, -EINVAL, "needs KVM capability %" PRIu32 " at %"
				       PRIu32 ", the host has %" PRIu32, need->caps[i].cap,
				       need->caps[i].value, got);
	}
	return 0;
}

#include "vcpu/vcpu_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytes.h"

#define VCPU_TAG "VCPU"

void vcpu_state_release(struct vcpu_snap *s)
{
	free(s->xsave);
	free(s->msrs);
	s->xsave = NULL;
	s->msrs = NULL;
	s->xsave_len = 0;
	s->nmsrs = 0;
}

static void put_part(struct bytes_out *o, const char *tag, const void *data, size_t len)
{
	bytes_put(o, tag, BYTES_TAG_SIZE);
	bytes_put_u32(o, (uint32_t)len);
	bytes_put(o, data, len);
}

int vcpu_state_save(const struct vcpu_snap *s, struct bytes_out *o)
{
	if (s->xsave_len < sizeof(struct kvm_xsave) || s->xsave_len > VCPU_XSAVE_MAX ||
	    !s->xsave || s->nmsrs > VCPU_STATE_MAX_MSRS || (s->nmsrs && !s->msrs))
		return -EINVAL;
	bytes_put_tag(o, VCPU_TAG, VCPU_STATE_VERSION);
	put_part(o, "REGS", &s->regs, sizeof(s->regs));
	put_part(o, "SREG", &s->sregs, sizeof(s->sregs));
	put_part(o, "XSAV", s->xsave, s->xsave_len);
	put_part(o, "XCRS", &s->xcrs, sizeof(s->xcrs));
	put_part(o, "DBRG", &s->debugregs, sizeof(s->debugregs));
	put_part(o, "EVNT", &s->events, sizeof(s->events));
	put_part(o, "MPST", &s->mp_state, sizeof(s->mp_state));
	put_part(o, "LAPC", &s->lapic, sizeof(s->lapic));
	bytes_put(o, "MSRS", BYTES_TAG_SIZE);
	bytes_put_u32(o, 4 + 12 * s->nmsrs);
	bytes_put_u32(o, s->nmsrs);
	for (uint32_t i = 0; i < s->nmsrs; i++) {
		bytes_put_u32(o, s->msrs[i].index);
		bytes_put_u64(o, s->msrs[i].data);
	}
	return 0;
}

/*
 * Reads the next part's header: -ENODATA when cut short, -EINVAL when it
 * is another part or its length is not in [min, max].
 */
static int get_part(struct bytes_in *in, const char *tag, uint32_t min, uint32_t max,
		    uint32_t *len)
{
	char got[BYTES_TAG_SIZE];

	bytes_get(in, got, sizeof(got));
	*len = bytes_get_u32(in);
	if (in->short_read)
		return -ENODATA;
	if (memcmp(got, tag, BYTES_TAG_SIZE) || *len < min || *len > max)
		return -EINVAL;
	/* Known now to be in range; a part longer than what is left is truncation. */
	if (*len > bytes_in_left(in))
		return -ENODATA;
	return 0;
}

/* A part holding one struct, exactly its size. */
static int get_fixed(struct bytes_in *in, const char *tag, void *data, uint32_t size)
{
	uint32_t len;
	int ret = get_part(in, tag, size, size, &len);

	if (ret)
		return ret;
	bytes_get(in, data, size);
	return 0;
}

static int get_msrs(struct bytes_in *in, struct vcpu_snap *s)
{
	uint32_t len, n;
	int ret = get_part(in, "MSRS", 4, 4 + 12 * VCPU_STATE_MAX_MSRS, &len);

	if (ret)
		return ret;
	n = bytes_get_u32(in);
	if (n > VCPU_STATE_MAX_MSRS || len != 4 + 12 * n)
		return -EINVAL;
	s->msrs = calloc(n ? n : 1, sizeof(*s->msrs));
	if (!s->msrs)
		return -ENOMEM;
	s->nmsrs = n;
	for (uint32_t i = 0; i < n; i++) {
		s->msrs[i].index = bytes_get_u32(in);
		s->msrs[i].data = bytes_get_u64(in);
	}
	return 0;
}

int vcpu_state_restore(struct vcpu_snap *s, const void *in, size_t len)
{
	struct bytes_in r = bytes_in_init(in, len);
	uint32_t xlen;
	int ret;

	memset(s, 0, sizeof(*s));
	ret = bytes_get_tag(&r, VCPU_TAG, VCPU_STATE_VERSION);
	if (!ret)
		ret = get_fixed(&r, "REGS", &s->regs, sizeof(s->regs));
	if (!ret)
		ret = get_fixed(&r, "SREG", &s->sregs, sizeof(s->sregs));
	if (!ret)
		ret = get_part(&r, "XSAV", sizeof(struct kvm_xsave), VCPU_XSAVE_MAX, &xlen);
	if (!ret) {
		s->xsave = malloc(xlen);
		if (!s->xsave)
			ret = -ENOMEM;
		s->xsave_len = xlen;
	}
	if (!ret) {
		bytes_get(&r, s->xsave, xlen);
		ret = get_fixed(&r, "XCRS", &s->xcrs, sizeof(s->xcrs));
	}
	if (!ret)
		ret = get_fixed(&r, "DBRG", &s->debugregs, sizeof(s->debugregs));
	if (!ret)
		ret = get_fixed(&r, "EVNT", &s->events, sizeof(s->events));
	if (!ret)
		ret = get_fixed(&r, "MPST", &s->mp_state, sizeof(s->mp_state));
	if (!ret)
		ret = get_fixed(&r, "LAPC", &s->lapic, sizeof(s->lapic));
	if (!ret)
		ret = get_msrs(&r, s);
	if (!ret)
		ret = bytes_in_finish(&r);
	/* KVM_SET_XCRS would refuse it too, but not before the rest was set. */
	if (!ret && s->xcrs.nr_xcrs > KVM_MAX_XCRS)
		ret = -EINVAL;
	if (ret)
		vcpu_state_release(s);
	return ret;
}

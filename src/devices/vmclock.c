#include "devices/vmclock.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytes.h"

#define VMCLOCK_TAG "VMCK"
#define VMCLOCK_VERSION 1u

_Static_assert(sizeof(struct vmclock_abi) == 112, "the ABI's 112 bytes");
_Static_assert(offsetof(struct vmclock_abi, disruption_marker) == 16, "ABI offset");
_Static_assert(offsetof(struct vmclock_abi, flags) == 24, "ABI offset");
_Static_assert(offsetof(struct vmclock_abi, clock_status) == 34, "ABI offset");
_Static_assert(offsetof(struct vmclock_abi, counter_value) == 40, "ABI offset");
_Static_assert(offsetof(struct vmclock_abi, vm_generation_counter) == 104, "ABI offset");

struct vmclock {
	struct vmclock_abi *page; /* the guest's view: written here only */
};

/* Bumps what a restored guest must see moved, seq_count odd meanwhile (the ABI's protocol). */
static void vmclock_disrupt(struct vmclock *v)
{
	struct vmclock_abi *p = v->page;
	uint32_t seq = __atomic_load_n(&p->seq_count, __ATOMIC_RELAXED);

	__atomic_store_n(&p->seq_count, seq | 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&p->disruption_marker, p->disruption_marker + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&p->vm_generation_counter, p->vm_generation_counter + 1,
			 __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&p->seq_count, (seq | 1) + 1, __ATOMIC_RELAXED);
}

static int vmclock_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct vmclock *v = obj;

	(void)err;
	bytes_put_tag(o, VMCLOCK_TAG, VMCLOCK_VERSION);
	bytes_put_u64(o, __atomic_load_n(&v->page->vm_generation_counter, __ATOMIC_RELAXED));
	bytes_put_u64(o, __atomic_load_n(&v->page->disruption_marker, __ATOMIC_RELAXED));
	return 0;
}

/* The counters as saved, then bumped: the restored guest's clock was disrupted. */
static int vmclock_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct vmclock *v = obj;
	struct bytes_in r = bytes_in_init(in, len);
	uint64_t gen, marker;
	int ret = bytes_get_tag(&r, VMCLOCK_TAG, VMCLOCK_VERSION);

	(void)err;
	if (ret)
		return ret;
	gen = bytes_get_u64(&r);
	marker = bytes_get_u64(&r);
	ret = bytes_in_finish(&r);
	if (ret || !apply)
		return ret;
	v->page->vm_generation_counter = gen;
	v->page->disruption_marker = marker;
	vmclock_disrupt(v);
	return 0;
}

static const struct component_ops vmclock_component = {
	.save = vmclock_save,
	.restore = vmclock_restore,
	.destroy = free,
};

int vmclock_create(const struct dev_env *env, const struct dev_resources *res,
		   struct component *out, struct err *err)
{
	struct vmclock *v;

	if (!env->vmclock_page || res->mmio_size < sizeof(struct vmclock_abi))
		return err_set(err, false, -EINVAL, "no page for VMClock");
	v = calloc(1, sizeof(*v));
	if (!v)
		return err_set(err, false, -ENOMEM, "out of memory");
	v->page = (struct vmclock_abi *)env->vmclock_page;
	memset(v->page, 0, sizeof(*v->page));
	v->page->magic = VMCLOCK_MAGIC;
	v->page->size = (uint32_t)res->mmio_size;
	v->page->version = 1;
	v->page->counter_id = VMCLOCK_COUNTER_INVALID;
	v->page->clock_status = VMCLOCK_STATUS_UNKNOWN;
	v->page->flags = VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT;
	*out = (struct component){ &vmclock_component, v };
	return 0;
}

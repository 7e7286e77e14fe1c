#include "devices/vmgenid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/bytes.h"
#include "util/log.h"

#define VMGENID_TAG "VGID"
#define VMGENID_VERSION 1u

struct vmgenid {
	uint8_t *id;          /* the guest's 16 bytes, its page's first: written here only */
	uint64_t gpa;         /* where the guest finds them (the DSDT's ADDR) */
	struct irq_line irq;  /* the GED's line: an edge is Notify(VGEN, 0x80) */
	int owed;             /* a restore's notification, not raised yet (atomic) */
};

/*
 * 16 bytes from the host kernel's CSPRNG, written over the guest's: a
 * generation no other VM, no earlier clone of the same snapshot, has.
 * Written whole or not at all.
 */
static int vmgenid_generate(struct vmgenid *g, struct err *err)
{
	uint8_t fresh[VMGENID_SIZE];
	size_t got = 0;

	while (got < sizeof(fresh)) {
		ssize_t n = getrandom(fresh + got, sizeof(fresh) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(err, false, -errno, "VMGenID: getrandom: %s",
				       strerror(errno));
		got += (size_t)n;
	}
	memcpy(g->id, fresh, sizeof(fresh));
	return 0;
}

bool vmgenid_notify(struct vmgenid *g)
{
	int ret;

	if (!g || !__atomic_exchange_n(&g->owed, 0, __ATOMIC_ACQ_REL))
		return false;
	/* The GED's interrupt is edge-triggered (boot/acpi_vmgenid.c): one pulse. */
	ret = irq_line_set(&g->irq, 1);
	if (!ret)
		ret = irq_line_set(&g->irq, 0);
	if (ret)
		log_warn("VMGenID: interrupt %u not raised (%s): the guest reads its new "
			 "generation only when told", g->irq.gsi, strerror(-ret));
	return !ret;
}

static int vmgenid_save(void *obj, struct bytes_out *o, struct err *err)
{
	const struct vmgenid *g = obj;

	(void)err;
	bytes_put_tag(o, VMGENID_TAG, VMGENID_VERSION);
	bytes_put_u64(o, g->gpa);
	bytes_put_u32(o, g->irq.gsi);
	return 0;
}

/*
 * The place the guest's DSDT (in the memory file) names must be this
 * VM's; the generation is never the file's: every restore writes a new
 * one and owes the guest its notification.
 */
static int vmgenid_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct vmgenid *g = obj;
	struct bytes_in r = bytes_in_init(in, len);
	uint64_t gpa;
	uint32_t gsi;
	int ret = bytes_get_tag(&r, VMGENID_TAG, VMGENID_VERSION);

	if (ret)
		return ret;
	gpa = bytes_get_u64(&r);
	gsi = bytes_get_u32(&r);
	ret = bytes_in_finish(&r);
	if (ret)
		return ret;
	if (gpa != g->gpa || gsi != g->irq.gsi) {
		log_warn("VMGenID: the snapshot's is at 0x%llx on line %u, this VM's at 0x%llx on "
			 "line %u", (unsigned long long)gpa, gsi, (unsigned long long)g->gpa,
			 g->irq.gsi);
		return -EINVAL;
	}
	if (!apply)
		return 0;
	ret = vmgenid_generate(g, err);
	if (ret) {
		log_err("%s", err->msg);
		return ret;
	}
	__atomic_store_n(&g->owed, 1, __ATOMIC_RELEASE);
	return 0;
}

static const struct component_ops vmgenid_component = {
	.save = vmgenid_save,
	.restore = vmgenid_restore,
	.destroy = free,
};

int vmgenid_create(const struct dev_env *env, const struct dev_resources *res,
		   struct component *out, struct err *err)
{
	struct vmgenid *g;
	int ret;

	if (!env->vmgenid_page || res->mmio_size < VMGENID_SIZE || res->gsi < 0)
		return err_set(err, false, -EINVAL, "no page or interrupt line for VMGenID");
	g = calloc(1, sizeof(*g));
	if (!g)
		return err_set(err, false, -ENOMEM, "out of memory");
	g->id = env->vmgenid_page;
	g->gpa = res->mmio_base;
	g->irq = dev_irq(env, res);
	ret = vmgenid_generate(g, err);
	if (ret)
		goto err_free;
	*out = (struct component){ &vmgenid_component, g };
	return 0;

err_free:
	free(g);
	return ret;
}

/*
 * The registry: every component of a VM (core/component.h) under a kind
 * and an id: the VM-wide KVM state ("vm"), each vCPU ("0", "1" ...), each
 * device ("com1", "rootfs", "eth0" ...) with the resources it occupies,
 * and the memory's dirty log ("memory"). Pause, resume, snapshots,
 * metrics and teardown walk it instead of knowing any component.
 */
#ifndef HEARTH_VMM_REGISTRY_H
#define HEARTH_VMM_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/component.h"
#include "core/eventloop.h"
#include "vmm/config.h"

/*
 * What a component is, in the order a restore applies their state: the
 * irqchip, PIT and clock before the vCPUs (their LAPICs route through
 * it), the vCPUs before the devices (whose restore raises the lines they
 * had pending), the dirty log last (a save takes the pages the devices'
 * saves marked). The registry keeps its entries in this order.
 */
enum comp_kind {
	COMP_VM,
	COMP_VCPU,
	COMP_DEVICE,
	COMP_MEMORY,
};

/*
 * A device's name is its own id (a drive's drive_id, a NIC's iface_id,
 * "com1"); Firecracker gives drives, NICs and the rest ids of their own,
 * so two devices of different types may share a name. The registry's id,
 * unique within its kind, is then the name for the first device that
 * has it and "<type>:<name>" (the type without "virtio-") for the ones
 * entered after it, the same on every build of the same config: it names
 * the device's section in a snapshot.
 */
#define REG_ID_MAX (VM_ID_MAX + 7)

struct reg_entry {
	enum comp_kind kind;
	char id[REG_ID_MAX + 1];  /* unique within its kind */
	char name[VM_ID_MAX + 1]; /* the component's own id */
	const char *type;         /* "serial", "virtio-blk", "vcpu" ...: static */
	struct dev_resources res; /* where a device sits; none for the others */
	struct component comp;
	/*
	 * A part newer than some snapshots (the PCI root): one without its
	 * record restores it as it was built, in its reset state.
	 */
	bool optional;
};

struct registry {
	struct reg_entry *entries;
	unsigned int n, cap;
};

void registry_init(struct registry *r);
/* Destroys every component, the last entry first, and empties r. */
void registry_destroy(struct registry *r);

/*
 * Adds a component that is fully built, after the others of its kind;
 * res may be NULL (no resources). -EEXIST when its kind has the id (for
 * a device: a device of its type has that name),
 * -EINVAL for an empty or long id, -ENOMEM. On failure nothing is added
 * and the caller still owns c.
 */
int registry_add(struct registry *r, enum comp_kind kind, const char *id, const char *type,
		 const struct dev_resources *res, const struct component *c);
struct reg_entry *registry_find(struct registry *r, enum comp_kind kind, const char *id);
/*
 * Takes e out (pointers to entries after it move) and destroys its
 * component: a device unplugged from a running VM. On the thread its
 * ops run on, with nothing else walking r.
 */
void registry_remove(struct registry *r, struct reg_entry *e);
/* The device of that type whose own id is name, or NULL. */
struct reg_entry *registry_find_device(struct registry *r, const char *type, const char *name);

/*
 * Every pause (resume) op of the components of one kind, in order; all
 * are called even after a failure, and the first -errno is returned. On
 * the thread that kind's ops run on (registry_each).
 */
int registry_pause(struct registry *r, enum comp_kind kind);
int registry_resume(struct registry *r, enum comp_kind kind);

/*
 * fn(e, ctx, err) for every entry, in order, each on the thread its ops
 * run on: a device's on the I/O thread that serves it (loop), the others'
 * on this one (the KVM state is read where the seccomp filter allows it:
 * the api thread, or the io thread before the sandbox seals). Stops at
 * the first failure and returns it.
 */
int registry_each(struct registry *r, struct eventloop *loop,
		  int (*fn)(struct reg_entry *e, void *ctx, struct err *err), void *ctx,
		  struct err *err);

unsigned int registry_counters(const struct reg_entry *e, struct dev_counter *out,
			       unsigned int max);

#endif

/*
 * The one contract every part of a VM keeps: each legacy device, each
 * virtio device (through its transport), each vCPU, the VM-wide KVM state
 * and the memory's dirty log. Whoever owns them (vmm/registry.h) walks
 * them through it, and only through it, to pause and resume the VM, to
 * take and load a snapshot, to read counters and to tear down: a new
 * part joins those by implementing these ops, and a component knows
 * nothing of the VM or of who walks it. The model is Cloud Hypervisor's
 * Pausable and Snapshottable (its vm-migration crate).
 */
#ifndef HEARTH_CORE_COMPONENT_H
#define HEARTH_CORE_COMPONENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/counters.h"
#include "util/bytes.h"
#include "util/err.h"

/*
 * Every op takes the component's obj. Where an op runs is the owner's
 * business (a device's on the I/O thread that serves it); none blocks on
 * the guest. An op may be NULL where the text says so.
 */
struct component_ops {
	/*
	 * Stop taking work from the guest, letting work in flight complete,
	 * and take it up again. 0 or -errno. NULL: nothing to stop.
	 */
	int (*pause)(void *obj);
	int (*resume)(void *obj);
	/*
	 * The state, paused, as one record appended to o: a tag and a version
	 * (bytes_put_tag), then the fields (util/bytes.h). Called once per
	 * snapshot: the dirty log's save takes the pages it names. 0, or
	 * -errno (-EBUSY: not now, work in flight; never dropped), with err
	 * filled when there is more to say than the errno.
	 */
	int (*save)(void *obj, struct bytes_out *o, struct err *err);
	/*
	 * A record save wrote, exactly [in, in+len), in two steps. apply
	 * false checks it against the component as it is and changes nothing:
	 * 0, -ENODATA (cut short), -EPROTO (another version) or -EINVAL
	 * (another component's, a value no save writes, bytes left over).
	 * apply true comes only after every record of the snapshot passed its
	 * check, with the same bytes, and takes the state up, raising what
	 * it had pending again; it fails only on the host's side (KVM,
	 * libslirp), with err filled.
	 */
	int (*restore)(void *obj, const void *in, size_t len, bool apply, struct err *err);
	/* Frees the component and what it owns. NULL: its owner frees it. */
	void (*destroy)(void *obj);
	/* Up to max counters into out; returns how many. NULL: it counts nothing. */
	unsigned int (*counters)(void *obj, struct dev_counter *out, unsigned int max);
};

/* A component as its constructor hands it out: its ops and itself. */
struct component {
	const struct component_ops *ops;
	void *obj;
};

/*
 * Where a device sits: the caller chooses (vmm/devices.c's table), the
 * device registers what it is given and nothing else.
 */
struct dev_resources {
	uint16_t pio_base;        /* the first port; 0: none */
	uint16_t pio_size;
	uint64_t mmio_base;       /* 0: none */
	uint32_t mmio_size;
	int gsi;                  /* the interrupt line it raises; -1: none */
};

#endif

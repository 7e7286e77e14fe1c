/*
 * Where a snapshot keeps each kind of component's record (vmm/registry.h):
 * the VM-wide state in the "vm" section, each vCPU's in a "vcpu" section
 * under its index, each device's in a "device" section under its id; the
 * dirty log's is the memory file's business, in no section.
 */
#ifndef HEARTH_SNAPSHOT_RECORDS_H
#define HEARTH_SNAPSHOT_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/registry.h"

struct snap_record_kind {
	uint32_t section;         /* SNAP_SEC_*; 0: not in the state file */
	uint32_t version;         /* the section header's version, as ever written */
};

const struct snap_record_kind *snap_record_kind(enum comp_kind kind);
/* The component in messages: "device 'rootfs'", "vcpu0", "the VM", "the dirty log". */
void snap_record_who(const struct reg_entry *e, char *out, size_t len);

#endif

#include "snapshot/records.h"

#include <stdio.h>

#include "snapshot/format.h"
#include "vcpu/vcpu_state.h"
#include "vmm/vm_state.h"

static const struct snap_record_kind kinds[] = {
	[COMP_VM] = { SNAP_SEC_VM, VM_STATE_VERSION },
	[COMP_VCPU] = { SNAP_SEC_VCPU, VCPU_STATE_VERSION },
	[COMP_DEVICE] = { SNAP_SEC_DEVICE, 1 },
	[COMP_MEMORY] = { 0, 0 },
};

const struct snap_record_kind *snap_record_kind(enum comp_kind kind)
{
	return &kinds[kind];
}

void snap_record_who(const struct reg_entry *e, char *out, size_t len)
{
	switch (e->kind) {
	case COMP_VM:
		snprintf(out, len, "the VM");
		break;
	case COMP_VCPU:
		snprintf(out, len, "vcpu%s", e->id);
		break;
	case COMP_DEVICE:
		snprintf(out, len, "device '%s'", e->id);
		break;
	case COMP_MEMORY:
		snprintf(out, len, "the dirty log");
		break;
	}
}

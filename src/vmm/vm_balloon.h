/*
 * The running VM's balloon (virtio/balloon.h): its target, its statistics
 * and free page hinting, as Firecracker's PATCH and GET /balloon... after
 * boot. The model's side (whether there is one, its config) is the
 * control surface's.
 */
#ifndef HEARTH_VMM_VM_BALLOON_H
#define HEARTH_VMM_VM_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"
#include "virtio/balloon.h"
#include "vmm/vm.h"

enum vm_balloon_op {
	VM_BALLOON_TARGET,
	VM_BALLOON_STATS_INTERVAL,
	VM_BALLOON_STATS,
	VM_BALLOON_HINT_START,
	VM_BALLOON_HINT_STATUS,
	VM_BALLOON_HINT_STOP,
};

struct vm_balloon_req {
	enum vm_balloon_op op;
	uint32_t amount_mib;
	uint16_t interval_s;
	bool ack_on_stop;
};

/* What the reads answer. */
struct vm_balloon_answer {
	struct balloon_stats stats;
	struct balloon_hint_status hint;
};

/*
 * Runs req on the device, on the I/O thread. 0, or -errno with err in
 * the device's words (Firecracker's after "Balloon: "); -ENODEV when the
 * VM has no balloon.
 */
int vm_balloon_do(struct vm *vm, const struct vm_balloon_req *req, struct vm_balloon_answer *ans,
		  struct err *err);

#endif

/*
 * The VM behind the balloon's live actions (ctl_vm_ops.balloon): the
 * action's words into the running device's request, the reads' answers
 * into Firecracker's JSON.
 */
#include "host/host.h"

#include <errno.h>
#include <stdlib.h>

#include "fcjson/config_json_balloon.h"
#include "vmm/vm_balloon.h"

int host_balloon(void *ctx, const struct ctl_balloon_req *req, json_t **out,
			struct err *err)
{
	static const struct {
		enum ctl_type type;
		enum vm_balloon_op op;
	} ops[] = {
		{ CTL_PATCH_BALLOON, VM_BALLOON_TARGET },
		{ CTL_PATCH_BALLOON_STATS, VM_BALLOON_STATS_INTERVAL },
		{ CTL_GET_BALLOON_STATS, VM_BALLOON_STATS },
		{ CTL_BALLOON_HINT_START, VM_BALLOON_HINT_START },
		{ CTL_BALLOON_HINT_STATUS, VM_BALLOON_HINT_STATUS },
		{ CTL_BALLOON_HINT_STOP, VM_BALLOON_HINT_STOP },
	};
	struct host *h = ctx;
	struct vm_balloon_req r = { .amount_mib = req->amount_mib, .interval_s = req->interval_s,
				    .ack_on_stop = req->ack_on_stop };
	struct vm_balloon_answer *ans;
	size_t i;
	int ret;

	*out = NULL;
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]) && ops[i].type != req->type; i++)
		;
	if (i == sizeof(ops) / sizeof(ops[0]))
		return err_set(err, false, -EINVAL, "balloon action %d unknown", (int)req->type);
	r.op = ops[i].op;
	/* The statistics are a few hundred bytes: off the api thread's stack. */
	ans = calloc(1, sizeof(*ans));
	if (!ans)
		return err_set(err, false, -ENOMEM, "out of memory");
	ret = vm_balloon_do(&h->run.vm, &r, ans, err);
	if (!ret && r.op == VM_BALLOON_STATS)
		*out = config_json_dump_balloon_stats(&ans->stats);
	else if (!ret && r.op == VM_BALLOON_HINT_STATUS)
		*out = config_json_dump_balloon_hinting(&ans->hint);
	if (!ret && (r.op == VM_BALLOON_STATS || r.op == VM_BALLOON_HINT_STATUS) && !*out)
		ret = err_set(err, false, -ENOMEM, "out of memory");
	free(ans);
	return ret;
}

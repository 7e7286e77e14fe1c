/*
 * PUT /fork and PUT /reset (Hearth's; docs/api.md "Fork and reset"): the
 * rows of the handler's table, which pause a running VM around the
 * host's work (host/fork.c) and resume it as asked.
 */
#include "control/model.h"

#include <errno.h>

#include "util/log.h"
#include "vmm/refusal.h"

/*
 * Fork and reset work on a paused VM: a running one is paused for them
 * and resumed after (fork: unless its body says "template": "Paused").
 */
static int paused_then(struct ctl *ctl, bool resume_after, json_t **out, struct err *err,
		       int (*fn)(struct ctl *ctl, const struct ctl_action *a, json_t **out,
				 struct err *err), const struct ctl_action *a)
{
	struct err perr = ERR_INIT;
	int ret = ctl_pause(ctl, a, out, err);

	if (ret)
		return ret;
	ret = fn(ctl, a, out, err);
	/* The action's outcome is the answer; a failed resume is logged in its words. */
	if (resume_after && ctl_resume(ctl, a, out, &perr))
		log_warn("%s", perr.msg);
	return ret;
}

static int fork_run(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	return ctl->vm->fork(ctl->vm_ctx, &ctl->cfg, a->body, a->len, out, err);
}

int ctl_fork(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	bool was_running = ctl->state == CTL_RUNNING;

	char why[512];

	/* The VM's own reason first: no host could fork it. */
	if (vm_refusal(&ctl->cfg, VM_OP_FORK, why, sizeof(why)))
		return err_set(err, true, -EOPNOTSUPP, "%s", why);
	if (!ctl->vm->fork)
		return err_set(err, true, -EOPNOTSUPP, "fork: not supported by this host");
	bool resume_after = a->fork.template_state < 0 ? was_running : a->fork.template_state == 1;
	int ret;

	/* A guest that ran since the last fork, or runs after this one, changed its RAM. */
	if (was_running)
		ctl->epoch++;
	ret = paused_then(ctl, resume_after, out, err, fork_run, a);
	if (resume_after)
		ctl->epoch++;
	return ret;
}

static int reset_run(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	return ctl->vm->reset(ctl->vm_ctx, out, err);
}

int ctl_reset(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	if (!ctl->vm->reset)
		return err_set(err, true, -EOPNOTSUPP, "reset: not supported by this host");
	return paused_then(ctl, ctl->state == CTL_RUNNING, out, err, reset_run, a);
}

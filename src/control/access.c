/* The handler as the process host reaches it (control.h, "What the process host asks"). */
#include "control/control.h"

int ctl_with_model(struct ctl *ctl, int (*fn)(void *ctx, struct vm_config *cfg,
					      enum ctl_state state), void *ctx)
{
	int ret;

	pthread_mutex_lock(&ctl->lock);
	ret = fn(ctx, &ctl->cfg, ctl->state);
	pthread_mutex_unlock(&ctl->lock);
	return ret;
}

const struct vm_config *ctl_config(const struct ctl *ctl)
{
	return &ctl->cfg;
}

uint64_t ctl_epoch(const struct ctl *ctl)
{
	return ctl->epoch;
}

struct mmds *ctl_mmds(const struct ctl *ctl)
{
	return ctl->mmds;
}

void ctl_set_load_failure_fatal(struct ctl *ctl, bool fatal)
{
	ctl->load_failure_fatal = fatal;
}

bool ctl_migrate_outgoing_end(struct ctl *ctl)
{
	bool moved;

	pthread_mutex_lock(&ctl->lock);
	ctl->mig_outgoing = false;
	moved = ctl->mig_moved;
	pthread_mutex_unlock(&ctl->lock);
	return moved;
}

void ctl_exit(struct ctl *ctl, int code)
{
	ctl->vm->exit(ctl->vm_ctx, code);
}

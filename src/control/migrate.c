/*
 * Live migration's rows of the handler's table (docs/migration.md): what
 * a VM must be to move, what the two ends refuse while one is under way,
 * and the source's switch-over, which pauses the VM, has the rest sent
 * and runs the VM here again only when the destination never may.
 */
#include "control/model.h"

#include <errno.h>
#include <string.h>

#include "util/log.h"
#include "vmm/refusal.h"

const char *ctl_migrate_refuses(const struct ctl *ctl, const struct ctl_action *a, bool reads)
{
	enum ctl_type t = a->type;

	/* PUT /fork counts as a read for the fork's epoch, but its clones run a VM. */
	reads = reads && t != CTL_FORK;
	/*
	 * The stream brings the VM, which runs only on the source's GO: until
	 * then (and, after a failure, until the instance ends) nothing may
	 * configure, start, resume, fork or save it. Only the reads, and the
	 * migration's own load from its memfds, which no request can name.
	 */
	if (ctl->mig_incoming && !reads && !(t == CTL_SNAPSHOT_LOAD && a->load.from_fds))
		return "a live migration is coming in: the instance is its (GET /migrate)";
	if (ctl->mig_moved && (t == CTL_RESUME || t == CTL_MIGRATE || t == CTL_FORK ||
			       t == CTL_RESET || t == CTL_SNAPSHOT_CREATE))
		return "the VM migrated: it runs on the destination (or may), never here again";
	if (ctl->mig_outgoing) {
		/* What would change the VM or its memory behind the stream's back. */
		switch (t) {
		case CTL_MIGRATE: case CTL_FORK: case CTL_RESET: case CTL_SNAPSHOT_CREATE:
		case CTL_PUT_DRIVE: case CTL_PUT_NET: case CTL_PUT_PMEM: case CTL_DELETE_DRIVE:
		case CTL_DELETE_NET: case CTL_DELETE_PMEM: case CTL_PATCH_HOTPLUG:
		case CTL_PUT_PASSTHROUGH: case CTL_DELETE_PASSTHROUGH:
		/*
		 * The destination keeps the model the prelude gave it: a limiter, an
		 * image's size or the balloon changed now would be lost there.
		 */
		case CTL_PATCH_DRIVE: case CTL_PATCH_NET: case CTL_PATCH_PMEM:
		case CTL_PATCH_BALLOON: case CTL_PATCH_BALLOON_STATS:
			return "a live migration is under way (GET /migrate)";
		default:
			return NULL;
		}
	}
	return NULL;
}

int ctl_migrate(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	char why[512];
	int ret;

	if (!ctl->vm->migrate)
		return err_set(err, true, -EOPNOTSUPP, "migrate: not supported by this instance");
	if (vm_refusal(&ctl->cfg, VM_OP_MIGRATE, why, sizeof(why)))
		return err_set(err, true, -EOPNOTSUPP, "%s", why);
	/* A huge page is placed whole: post-copy's 4 KiB requests and zero pages do not fit. */
	if (a->migrate.postcopy && ctl->cfg.machine.huge_pages == VM_HUGE_PAGES_2M)
		return err_set(err, true, -EOPNOTSUPP, "migrate: postcopy: not for a VM whose RAM "
			       "is in 2 MiB hugetlbfs pages (pre-copy moves it)");
	ret = ctl->vm->migrate(ctl->vm_ctx, &ctl->cfg, &a->migrate, err);
	if (!ret)
		ctl->mig_outgoing = true;
	return ret;
}

int ctl_migrate_incoming(struct ctl *ctl, const struct ctl_action *a, json_t **out,
			 struct err *err)
{
	int ret;

	if (!ctl->vm->migrate_incoming)
		return err_set(err, true, -EOPNOTSUPP, "migrate/incoming: not supported by this "
			       "instance");
	/* As a snapshot load: the stream's VM would silently replace what was configured. */
	if (ctl->boot_path)
		return err_set(err, true, -EINVAL, "migrate/incoming: not allowed after "
			       "configuring boot-specific resources (a fresh instance receives)");
	ret = ctl->vm->migrate_incoming(ctl->vm_ctx, &a->migrate, err);
	if (!ret)
		ctl->mig_incoming = true;
	return ret;
}

int ctl_migrate_get(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	if (!ctl->vm->migrate_get)
		return err_set(err, true, -EOPNOTSUPP, "migrate: not supported by this instance");
	return ctl->vm->migrate_get(ctl->vm_ctx, out);
}

int ctl_migrate_switch(struct ctl *ctl, const struct ctl_action *a, json_t **out,
		       struct err *err)
{
	bool was_running = ctl->state == CTL_RUNNING, sent_go = false;
	struct err perr = ERR_INIT;
	int ret;

	/* The host knows whether its thread has a migration to switch over. */
	if (!ctl->vm->migrate_switch)
		return err_set(err, false, -EINVAL, "migrate: no migration to switch over");
	ret = ctl_pause(ctl, a, out, err);
	if (ret)
		return ret;
	ret = ctl->vm->migrate_switch(ctl->vm_ctx, &ctl->cfg, &sent_go, err);
	if (!ret || sent_go) {
		/* Never twice: once the destination may run it, this VM stays paused for good. */
		ctl->mig_moved = true;
		ctl->mig_outgoing = false;
		return ret;
	}
	ctl->mig_outgoing = false;
	if (was_running && ctl_resume(ctl, a, out, &perr))
		log_warn("%s", perr.msg);
	return ret;
}

/* The prelude: the VM's state now, a short pause (it runs on at once if it ran). */
int ctl_migrate_prelude(struct ctl *ctl, const struct ctl_action *a, json_t **out,
			struct err *err)
{
	bool was_running = ctl->state == CTL_RUNNING;
	struct err perr = ERR_INIT;
	int ret;

	if (!ctl->vm->migrate_prelude)
		return err_set(err, false, -EINVAL, "migrate: no migration to begin");
	ret = ctl_pause(ctl, a, out, err);
	if (ret)
		return ret;
	ret = ctl->vm->migrate_prelude(ctl->vm_ctx, &ctl->cfg, err);
	if (was_running && ctl_resume(ctl, a, out, &perr))
		log_warn("%s", perr.msg);
	return ret;
}

/* An incoming migration ended: the instance is its VM's, or a failed one's. */
void ctl_migrate_incoming_done(struct ctl *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	ctl->mig_incoming = false;
	pthread_mutex_unlock(&ctl->lock);
}

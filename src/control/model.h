/*
 * Inside the control surface: the signature every row of the handler's
 * table runs, and the rows that change the machine model (model.c). Each
 * runs under the handler's lock once the table allowed it; 0, or -errno
 * with err, and the model as it was.
 */
#ifndef HEARTH_CONTROL_MODEL_H
#define HEARTH_CONTROL_MODEL_H

#include <jansson.h>

#include "control/control.h"
#include "util/err.h"

typedef int (*ctl_run_fn)(struct ctl *ctl, const struct ctl_action *a, json_t **out,
			  struct err *err);

/* The PUTs and PATCH /machine-config: a->body through the model's codec. */
int ctl_model_put(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err);
/*
 * What Firecracker's deserializer would refuse in a->body of a PUT
 * ctl_model_put takes, decoded on a scratch model, for a PUT refused for
 * the state: Firecracker reads the body first. 0 when the body would be
 * read, else -EINVAL with its words in err.
 */
int ctl_model_body_fault(struct ctl *ctl, const struct ctl_action *a, struct err *err);
/*
 * Firecracker's PartialDrive and PartialNetworkInterface: checked
 * against the model, then (after boot) applied to the running device,
 * and only once that worked to the model, so GET /vm/config always
 * describes the running devices.
 */
int ctl_model_patch_drive(struct ctl *ctl, const struct ctl_action *a, json_t **out,
			  struct err *err);
int ctl_model_patch_net(struct ctl *ctl, const struct ctl_action *a, json_t **out,
			struct err *err);
/* Firecracker's PmemDeviceUpdateConfig, the same way; without a rate_limiter nothing changes. */
int ctl_model_patch_pmem(struct ctl *ctl, const struct ctl_action *a, json_t **out,
			 struct err *err);

/* metadata.c: GET, PUT and PATCH /mmds, on ctl->mmds. */
int ctl_mmds_get(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err);
int ctl_mmds_put(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err);

/* hotplug.c: GET and PATCH /hotplug/memory, on the running device through ctl->vm. */
int ctl_hotplug_live(struct ctl *ctl, const struct ctl_action *a, json_t **out,
		     struct err *err);
/*
 * plug.c: PUT /drives (and /network-interfaces, /pmem) in any state:
 * the model's before boot, PCI hotplug after it; DELETE of the three
 * after boot (Firecracker 1.16's device hotplug).
 */
/* PATCH /vm's two (control.c): a no-op in the state asked for, as in Firecracker. */
int ctl_pause(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err);
int ctl_resume(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err);
/* PUT /fork and PUT /reset (fork.c): the VM paused around the host's work. */
int ctl_fork(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err);
int ctl_reset(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err);
/* migrate.c: live migration's actions (docs/migration.md). */
int ctl_migrate(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err);
int ctl_migrate_incoming(struct ctl *ctl, const struct ctl_action *a, json_t **out,
			 struct err *err);
int ctl_migrate_get(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err);
int ctl_migrate_switch(struct ctl *ctl, const struct ctl_action *a, json_t **out,
		       struct err *err);
int ctl_migrate_prelude(struct ctl *ctl, const struct ctl_action *a, json_t **out,
			struct err *err);
/* Why a migration refuses a (NULL: it does not). */
const char *ctl_migrate_refuses(const struct ctl *ctl, const struct ctl_action *a, bool reads);
int ctl_plug(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err);
int ctl_unplug(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err);
/*
 * PUT /device-passthrough before boot (the model's), after it a plug of
 * a device passed through at start and unplugged since; DELETE after
 * boot unplugs one (vmm/vm_pci_hotplug.h).
 */
int ctl_plug_vfio(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err);
int ctl_unplug_vfio(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err);

/* balloon.c: GET /balloon from the model; the live device's actions through ctl->vm. */
int ctl_balloon_get(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err);
int ctl_balloon_live(struct ctl *ctl, const struct ctl_action *a, json_t **out,
		     struct err *err);

#endif

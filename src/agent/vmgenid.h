/*
 * Hearing that the VM was cloned or restored. Linux's vmgenid driver
 * (5.18 and later; Debian's 6.1) reseeds the kernel's RNG when the ACPI
 * VMGenID changes and, since 5.19, sends a uevent ("NEW_VMGENID=1") on
 * its device: the agent listens for it on a NETLINK_KOBJECT_UEVENT
 * socket, which needs no polling and no /dev/mem access to the VMGenID
 * buffer. SIGUSR1 means the same (for a guest without the driver, and
 * for tests). Either marks the identity stale (init_stale): the host's
 * POST /init with the clone's identity follows in any case.
 */
#ifndef HEARTH_AGENT_VMGENID_H
#define HEARTH_AGENT_VMGENID_H

#include <stdbool.h>
#include <stddef.h>

struct agent;
struct vmgenid;

/* Listens for both; a missing uevent socket is logged, not fatal. 0 or -errno. */
int vmgenid_watch(struct agent *a, struct vmgenid **out);
void vmgenid_stop(struct agent *a, struct vmgenid *v);
/* Whether one uevent message (NUL-separated "KEY=value" strings) says the generation changed. */
bool vmgenid_uevent_says_new(const char *msg, size_t len);

#endif

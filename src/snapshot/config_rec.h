/*
 * The "config" section: the machine model that built the VM, as JSON.
 * {"vm": Firecracker's full config (GET /vm/config without the logger
 * and metrics, which belong to a process, not to a VM; its CPU template
 * too, machine-config's cpu_template or the custom one as "cpu-config",
 * so a restore builds the same CPUID and refuses a host that cannot
 * take it), "hearth": what
 * Firecracker's shape cannot say: each NIC's backend (tap or user-mode,
 * its hostfwd rules) and the KVM device path}.
 */
#ifndef HEARTH_SNAPSHOT_CONFIG_REC_H
#define HEARTH_SNAPSHOT_CONFIG_REC_H

#include <stddef.h>

#include "util/err.h"
#include "vmm/config.h"

#define SNAP_CONFIG_VERSION 1u

/* A malloc'ed NUL-terminated JSON text in *out; 0 or -ENOMEM. */
int snap_config_save(const struct vm_config *c, char **out, size_t *len);
/*
 * Fills c (vm_config_init'ed) from a record: 0, or -EINVAL with err. A
 * key a save never writes (a serial, logger or metrics section) is
 * refused. The host paths it fills in (drive images, TAP names, forwards,
 * the vsock socket, the KVM path) are what the VM had: a restore replaces
 * every one of them (snap_load_host) before anything is opened.
 */
int snap_config_restore(struct vm_config *c, const void *in, size_t len, struct err *err);

#endif

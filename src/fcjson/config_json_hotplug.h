/*
 * Firecracker's memory hotplug objects (its vmm_config/memory_hotplug.rs
 * and VirtioMemStatus): MemoryHotplugConfig (PUT /hotplug/memory, the
 * config file's "memory-hotplug", GET /vm/config), MemoryHotplugSizeUpdate
 * (PATCH /hotplug/memory) and the status GET /hotplug/memory answers.
 * Words as its deserializer's; the values are checked by
 * vm_config_set_hotplug.
 */
#ifndef HEARTH_FCJSON_CONFIG_JSON_HOTPLUG_H
#define HEARTH_FCJSON_CONFIG_JSON_HOTPLUG_H

#include <stdint.h>

#include <jansson.h>

#include "util/err.h"
#include "virtio/mem.h"
#include "vmm/config.h"

/* MemoryHotplugConfig into c (0, or -EINVAL with "memory-hotplug: ..."; c changes only on 0). */
int config_json_hotplug(struct vm_config *c, json_t *o, struct err *err);
/* The config as GET /vm/config has it; null when there is none. */
json_t *config_json_dump_hotplug(const struct vm_hotplug *h);
/* MemoryHotplugSizeUpdate: requested_size_mib. */
int config_json_hotplug_update(json_t *o, uint32_t *requested_mib, struct err *err);
/* GET /hotplug/memory: Firecracker's VirtioMemStatus. */
json_t *config_json_dump_hotplug_status(const struct virtio_mem_status *s);

#endif

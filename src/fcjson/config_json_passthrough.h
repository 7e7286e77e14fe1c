/*
 * Firecracker's DevicePassthroughConfig (its VFIO branch's
 * vmm_config/device_passthrough.rs): the body of PUT
 * /device-passthrough/{id}, {"id": ID, "sbdf": "DDDD:BB:DD.F"}. Words as
 * its deserializer's; the device goes into the model as Hearth's VFIO
 * device at /sys/bus/pci/devices/<sbdf> (vm_config_put_vfio), which
 * GET /vm/config shows in "pci": {"vfio": [...]}.
 */
#ifndef HEARTH_FCJSON_CONFIG_JSON_PASSTHROUGH_H
#define HEARTH_FCJSON_CONFIG_JSON_PASSTHROUGH_H

#include <jansson.h>

#include "util/err.h"
#include "vmm/config.h"

/*
 * o into c; path_id (the PUT's {id}) must match its id. A malformed sbdf
 * is serde's custom error at the value ("Invalid device passthrough SBDF:
 * X (what is wrong)"); the model's refusals come as "device-passthrough:
 * ...". 0, or -errno with err.
 */
int config_json_passthrough(struct vm_config *c, json_t *o, const char *path_id,
			    struct err *err);

#endif

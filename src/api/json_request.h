/*
 * The API's own JSON: Firecracker's PartialDrive and PartialNetworkInterface
 * (PATCH /drives/{id}, /network-interfaces/{id}). A request's body and the
 * config objects themselves are the model's codec (vmm/config_json.h).
 */
#ifndef HEARTH_API_JSON_REQUEST_H
#define HEARTH_API_JSON_REQUEST_H

#include <stddef.h>

#include <jansson.h>

#include "util/err.h"
#include "vmm/config.h"

/*
 * PartialDrive and PartialNetworkInterface. path_id is the id in the URL,
 * which the body's must match. p borrows strings from o: use it before
 * o is freed. 0 or -EINVAL with err.
 */
int api_json_patch_drive(json_t *o, const char *path_id, struct vm_drive_patch *p, struct err *err);
int api_json_patch_net(json_t *o, const char *path_id, struct vm_net_patch *p, struct err *err);

#endif

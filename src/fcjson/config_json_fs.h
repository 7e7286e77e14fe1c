/*
 * Hearth's virtio-fs objects (not Firecracker's, which has no virtio-fs):
 * {"id": ID, "tag": TAG, "socket": PATH} for PUT /fs/{id}, the config
 * file's "fs" array and GET /vm/config. The values are checked by
 * vm_config_put_fs (vmm/config_fs.c).
 */
#ifndef HEARTH_FCJSON_CONFIG_JSON_FS_H
#define HEARTH_FCJSON_CONFIG_JSON_FS_H

#include <jansson.h>

#include "util/err.h"
#include "vmm/config.h"

/* One object into c; path_id (PUT's) must match its id. 0, or -EINVAL with err. */
int config_json_fs(struct vm_config *c, json_t *o, const char *path_id, struct err *err);
/* GET /vm/config's "fs": every device; NULL on no memory. */
json_t *config_json_dump_fs(const struct vm_config *c);

#endif

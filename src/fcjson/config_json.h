/*
 * Firecracker's JSON objects to and from the machine model (vmm/config.h).
 * The config file (--config-file) and the API's PUT bodies both come
 * through here, so the same bad input gets the same message: each one
 * starts with the object's name as in the config file ("machine-config:
 * unknown field 'foo'"), and the values themselves are checked by
 * vm_config's setters.
 */
#ifndef HEARTH_FCJSON_CONFIG_JSON_H
#define HEARTH_FCJSON_CONFIG_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util/err.h"
#include "vmm/config.h"

/*
 * A request's body as one JSON object; NULL with one line in err when it
 * is not one, in Firecracker's words (serde_json's, wrapped as its
 * api_server does). strct is serde's name for what the body should be
 * ("struct BootSourceConfig"). In config_json_body.c.
 */
json_t *config_json_body(const char *body, size_t len, const char *strct, struct err *err);

/* Every function returns 0, or -EINVAL / -ENOMEM with one line in err; c changes only on 0. */
int config_json_boot_source(struct vm_config *c, json_t *o, struct err *err);
/* patch: fields left out keep their values (PATCH); otherwise they take the defaults (PUT). */
int config_json_machine(struct vm_config *c, json_t *o, bool patch, struct err *err);
/* path_id: the id in the URL, which drive_id must match; NULL for the config file. */
int config_json_drive(struct vm_config *c, json_t *o, const char *path_id, struct err *err);
int config_json_net(struct vm_config *c, json_t *o, const char *path_id, struct err *err);
/* Firecracker's HugePageConfig names: "None", "Transparent", "2M". -EINVAL for another. */
int config_json_huge_pages(const char *s, enum vm_huge_pages *out);
const char *config_json_huge_pages_name(enum vm_huge_pages h);
int config_json_vsock(struct vm_config *c, json_t *o, struct err *err);
int config_json_entropy(struct vm_config *c, json_t *o, struct err *err);

/* A whole config file (FullVmConfiguration), into a fresh model. */
int config_json_full(struct vm_config *c, json_t *root, struct err *err);
/* Reads and parses FILE; messages name it ("FILE: machine-config: ..."). */
int config_json_load_file(struct vm_config *c, const char *path, struct err *err);

/* New references (NULL on ENOMEM). */
json_t *config_json_dump_machine(const struct vm_config *c);
json_t *config_json_dump_full(const struct vm_config *c);

#endif

/*
 * The override flags of the API's client commands, `hearth fork` and
 * `hearth migrate --incoming`, as the JSON a request body carries
 * (PUT /fork's spec, PUT /migrate/incoming): --drive-override and
 * --pmem-override ID=ro:PATH|ID=rw:PATH, --drive-backing ID=FILE|ID=header,
 * --net-override ID=tap=NAME|ID=user[,...].
 */
#ifndef HEARTH_CLI_OVERRIDES_H
#define HEARTH_CLI_OVERRIDES_H

#include <jansson.h>

#include "util/err.h"
#include "util/opt.h"

/* First in a command's option struct: the handlers below get the struct as ctx. */
struct cli_overrides {
	const char *cmd;                 /* what begins every refusal ("fork") */
	json_t *drives, *pmem, *nets;    /* the overrides, as the body has them */
	/* --firmware FILE, --firmware-vars FILE (argv): a firmware VM's firmware_override. */
	const char *firmware, *firmware_vars;
};

/* 0, or -ENOMEM said in e. */
int cli_overrides_init(struct cli_overrides *o, const char *cmd, struct err *e);
void cli_overrides_release(struct cli_overrides *o);
/* OPT_CALL handlers: --drive-override and --pmem-override; --net-override. */
int cli_overrides_image(void *ctx, const struct opt *o, const char *val, struct err *e);
int cli_overrides_net(void *ctx, const struct opt *o, const char *val, struct err *e);
/* --firmware and --firmware-vars: their values kept for cli_overrides_put. */
int cli_overrides_firmware(void *ctx, const struct opt *o, const char *val, struct err *e);
/* --drive-backing ID=FILE|ID=header: a qcow2 drive's chain, after its --drive-override. */
int cli_overrides_backing(void *ctx, const struct opt *o, const char *val, struct err *e);
/* The overrides given into body (drive_overrides, pmem_overrides, network_overrides, firmware_override). */
void cli_overrides_put(const struct cli_overrides *o, json_t *body);
/*
 * JSON carries text only: a flag's value that is no UTF-8 is refused by
 * name (NULL passes). 0 or -EINVAL with e.
 */
int cli_text_ok(const char *cmd, const char *flag, const char *s, struct err *e);

#endif

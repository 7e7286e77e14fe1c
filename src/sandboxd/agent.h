/*
 * The server's own calls to a sandbox's agent (src/agent, envd's API),
 * through the VM's hybrid vsock: /health until it answers, and POST
 * /init with the sandbox's identity after every fork or restore. The
 * agent is guest code: only its status codes are looked at.
 */
#ifndef HEARTH_SANDBOXD_AGENT_H
#define HEARTH_SANDBOXD_AGENT_H

#include "sandboxd/priv.h"

/*
 * GET /health until it is 2xx, or timeout_ms, or the VM's end, or the
 * server's (-ECANCELED). 0 or -errno with e.
 */
int sbx_agent_wait(struct sbx *s, const struct sbx_vm *vm, int timeout_ms, struct err *e);
/*
 * POST /init: b's token, env vars, id, the time, the template's user and
 * working directory; then an authenticated GET /envs, which a stale agent
 * (one that heard of the fork only after the /init) refuses with 503:
 * the /init is sent again then, a bounded number of times. held: the
 * token the agent holds already (a restore's: its snapshot's sandbox's),
 * which /init needs; NULL for a template's clone, which has none.
 */
int sbx_agent_init(struct sbx *s, const struct sbx_box *b, const struct sbx_vm *vm,
		   const char *held, struct err *e);
/* The /init body for b (sbx_agent_init's); NULL when out of memory. Freed by the caller. */
char *sbx_agent_init_body(const struct sbx_box *b, int64_t now_ms);

#endif

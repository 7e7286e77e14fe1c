/*
 * The sandbox server (`hearth sandboxes`, docs/sandboxes.md): E2B's REST
 * API over Hearth's VMs, and envd's endpoint proxied to each sandbox's
 * agent. An orchestrator process: it runs no VM itself, it spawns `hearth
 * serve` processes (its own binary, /proc/self/exe) and drives them
 * through Hearth's API on their Unix sockets. A template is booted once
 * and paused as a fork template; a sandbox is a clone of it, or a restore
 * of a snapshot (pause, fork, snapshots).
 */
#ifndef HEARTH_SANDBOXD_SANDBOXD_H
#define HEARTH_SANDBOXD_SANDBOXD_H

#include <stdbool.h>

#include "util/err.h"

struct sbx_config {
	const char *listen;           /* ADDR:PORT of E2B's API */
	const char *envd_listen;      /* ADDR:PORT of envd's endpoint; NULL: listen's port + 1 */
	const char *api_key_file;     /* the one key X-API-Key must carry */
	const char *templates_dir;    /* a directory per template (template.json) */
	const char *run_dir;          /* sockets, clones, snapshots; NULL: a new one under /tmp */
	const char *exe;              /* the hearth binary the VMs run: /proc/self/exe */
	unsigned int max_sandboxes;
	unsigned int default_timeout_s;
	unsigned int max_timeout_s;
	unsigned int boot_timeout_s;  /* a template's boot to its agent's answer */
	unsigned int op_timeout_s;    /* one Hearth or agent request */
	unsigned int api_threads;
	/* --jail-uids FIRST-LAST, --jail-gid G: every VM jailed (count 0: none). */
	unsigned int jail_uid_first, jail_uid_count, jail_gid;
	bool jail_gid_set;
};

/*
 * Serves until SIGINT or SIGTERM, then ends every VM it started. 0, or
 * -errno with e filled (e->usage: a flag or file at fault).
 */
int sbx_main(const struct sbx_config *cfg, struct err *e);

#endif

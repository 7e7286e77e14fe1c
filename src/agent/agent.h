/*
 * hearth-agent: the guest side of Hearth's E2B sandboxes, an HTTP server
 * speaking envd's API (its REST routes and its Connect-RPC services
 * process.Process and filesystem.Filesystem) so that E2B's SDKs drive a
 * Hearth VM as they drive an E2B sandbox. One thread, one event loop
 * (loop.h); this is the state every part reads: the configuration and
 * the sandbox's identity, which POST /init sets and a VM generation
 * change (vmgenid.c) puts in doubt.
 */
#ifndef HEARTH_AGENT_AGENT_H
#define HEARTH_AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/env.h"

/* The envd release whose API this agent serves (what the host reports as envdVersion). */
#define AGENT_ENVD_VERSION "0.5.7"

struct agent_loop;
struct agent_http;
struct proc_table;
struct watch_table;
struct vmgenid;

struct agent_cfg {
	const char *default_user;     /* who runs what names no user ("user") */
	size_t max_body;              /* an RPC's or /init's body, in bytes */
	uint64_t max_upload;          /* one POST /files body, in bytes */
	unsigned int max_conns;
	unsigned int idle_s;
	const char *spool_dir;        /* where a multipart upload waits to be read */
	bool decode_only;             /* fuzzing: decode every request, carry none out */
	bool keep_clock;              /* /init's timestamp never sets the clock (tests, or another service keeps it) */
	const char *warm_shell;       /* run once as SHELL -l -c true before serving (warm.h); NULL: not */
};

struct agent {
	struct agent_cfg cfg;
	struct agent_loop *loop;
	struct agent_http *http;
	struct env_vars env;          /* the default environment (POST /init's envVars) */
	char *token;                  /* X-Access-Token's value, or NULL: none needed */
	char *default_user;           /* POST /init's defaultUser, or NULL: cfg's */
	char *default_workdir;        /* POST /init's defaultWorkdir, or NULL: the user's home */
	int64_t last_init_ns;         /* the latest /init timestamp applied (ns since the epoch) */
	bool initialized;
	/*
	 * The VM generation changed (a fork or a restore) since the last
	 * /init: the identity is the parent's, so nothing but /health and
	 * /init is served until the host sends the clone's own.
	 */
	bool stale;
	struct proc_table *procs;
	struct watch_table *watches;
	struct vmgenid *vmgenid;
};

/* The user a request names none for: /init's, else the configured one. */
const char *agent_default_user(const struct agent *a);

/*
 * Builds the agent on loop (cfg copied, its strings not) and serves
 * nothing yet: http_listen/http_add_conn on a->http. 0 or -errno.
 */
int agent_create(struct agent **out, struct agent_loop *loop, const struct agent_cfg *cfg);
/* Kills nothing: running processes are left to the guest. */
void agent_destroy(struct agent *a);

#endif

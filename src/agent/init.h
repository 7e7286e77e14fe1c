/*
 * The sandbox's identity: POST /init (envd's body: envVars, accessToken,
 * timestamp, defaultUser, defaultWorkdir; and sandboxId, Hearth's, which
 * becomes E2B_SANDBOX_ID), GET /envs, and what a VM generation change
 * does to it (init_stale). The host calls POST /init after every boot,
 * fork and restore with the clone's own values; a /init whose timestamp
 * is not newer than the last one applied changes nothing (a late retry
 * must not undo a newer identity). The clock is set from the timestamp
 * when it is more than 50 ms behind or 5 s ahead, as envd does.
 * Accepted and ignored: volumeMounts, hyperloopIP, lifecycleID, caBundle.
 */
#ifndef HEARTH_AGENT_INIT_H
#define HEARTH_AGENT_INIT_H

#include <stdint.h>

struct agent;
struct http_conn;
struct http_req;

void init_post(struct agent *a, struct http_conn *c, struct http_req *r);
void init_envs(struct agent *a, struct http_conn *c, struct http_req *r);
/*
 * The VM was cloned or restored (VMGenID changed): until the next /init,
 * the agent serves only /health and /init.
 */
void init_stale(struct agent *a, const char *why);
/* RFC 3339 ("2024-05-01T10:00:00.5+02:00") into ns since the epoch: 0, -EINVAL or -ERANGE. */
int init_parse_time(const char *s, int64_t *ns);

#endif

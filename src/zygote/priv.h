/*
 * The zygote's parts (zygote/zygote.c, zygote/request.c): its state,
 * and the check of a request before any clone is made.
 */
#ifndef HEARTH_ZYGOTE_PRIV_H
#define HEARTH_ZYGOTE_PRIV_H

#include <jansson.h>

#include "api/json_fork.h"
#include "host/process.h"
#include "util/err.h"

#define ZYGOTE_BODY_MAX (16u << 20)
/* The whole request's, within the template's wait for the answer (host/fork.c's 120 s). */
#define ZYGOTE_READY_TIMEOUT_MS 110000

struct zygote {
	int sock;
	int dir;                     /* --fork-dir, O_PATH */
	char *dir_path;              /* its absolute path, to open it again in the zygote's namespace */
	struct host_sandbox sb;       /* the template's flags, for each clone's own sandbox */
	const char *kvm_path;
};

/*
 * fds: the request, state and memory memfds. The request read again and
 * parsed into f (json_fork_release it; *body holds its strings), checked
 * whole: sealed memfds, overrides against the state's devices, paths
 * beneath the directory, MMDS sizes. 0, or -errno with err (usage: the
 * request's fault, a 400).
 */
int zygote_read_request(const struct zygote *z, const int fds[3], struct fork_req *f,
			json_t **body, struct err *err);

#endif

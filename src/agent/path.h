/*
 * Paths as envd takes them: "" is the default workdir (POST /init's) or
 * the user's home, "~" and "~/x" are under the home, a relative path is
 * under the home (cleaned: "." and ".." taken out, as Go's filepath.Join
 * does), an absolute one is used as given. A path with a NUL, or longer
 * than PATH_MAX, is refused.
 */
#ifndef HEARTH_AGENT_PATH_H
#define HEARTH_AGENT_PATH_H

#include <limits.h>
#include <sys/types.h>

#include "agent/rpc.h"
#include "agent/user.h"

/* in (len bytes) for user u into out (PATH_MAX bytes). 0, or -1 with e (invalid_argument). */
int path_resolve(const char *in, size_t len, const struct agent_user *u, const char *workdir,
		 char *out, struct rpc_err *e);
/* Lexical cleaning of an absolute path in place: "//", "/./" and "x/.." gone. */
void path_clean(char *p);
/* The directory that holds p (cleaned) into out (PATH_MAX bytes): "/" for "/a". */
void path_parent(const char *p, char *out);
/* The last element into out, as Go's filepath.Base ("/" for "/"). */
void path_base(const char *p, char *out, size_t n);
/*
 * Makes dir and every missing parent (mode 0755) with the caller's
 * credentials (user_enter first). 0 or -errno; -ENOTDIR when one is a file.
 */
int path_mkdirs(const char *dir);

#endif

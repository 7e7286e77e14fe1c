/*
 * Users, as the guest's /etc/passwd and /etc/group name them (read with
 * fgetpwent and fgetgrent: the agent is static, and NSS modules cannot
 * be loaded into a static program), and acting as one.
 *
 * The agent runs as root and does every file system operation a request
 * asks for with the requesting user's credentials: setfsuid/setfsgid and
 * setgroups around the call (user_enter, user_leave). The kernel then
 * checks each open, mkdir, rename and inotify watch as it would for the
 * user, and what is created belongs to the user, without a process per
 * request; it is safe because the agent has one thread (setfsuid is per
 * thread, the groups per process). A fsuid other than 0 also clears the
 * file capabilities (CAP_DAC_OVERRIDE, CAP_FOWNER, ...) until it is 0
 * again. Not run as root, the agent acts as itself for everyone.
 */
#ifndef HEARTH_AGENT_USER_H
#define HEARTH_AGENT_USER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define USER_MAX_GROUPS 256

struct agent_user {
	char name[256];
	uid_t uid;
	gid_t gid;
	char home[PATH_MAX];
	char shell[256];
	gid_t groups[USER_MAX_GROUPS];   /* the primary group first */
	int ngroups;
};

/* Where the users are read from (tests point them elsewhere). */
extern const char *user_passwd_path;
extern const char *user_group_path;

/* name's entry and groups into u: 0, -ENOENT (no such user), -EINVAL (a bad name) or -errno. */
int user_lookup(const char *name, struct agent_user *u);
/* Whether the agent can act as another user (it is root). */
bool user_can_switch(void);
/* Acts as u for file system calls until user_leave. 0 or -errno (then nothing changed). */
int user_enter(const struct agent_user *u);
void user_leave(void);
/* uid's name (or the number when none), cached; the same for a group. */
void user_name_of(uid_t uid, char *out, size_t n);
void group_name_of(gid_t gid, char *out, size_t n);

#endif

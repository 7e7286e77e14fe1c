/* Users and acting as one (user.h). */
#include "agent/user.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

const char *user_passwd_path = "/etc/passwd";
const char *user_group_path = "/etc/group";

/* Names looked up for listings: a directory of a thousand files has a handful of owners. */
#define NAME_CACHE 16

struct name_cache {
	struct {
		unsigned int id;
		char name[64];
		bool used;
	} e[NAME_CACHE];
	unsigned int next;
	struct timespec mtime;
	ino_t ino;
};

static struct name_cache uid_cache, gid_cache;

bool user_can_switch(void)
{
	return geteuid() == 0;
}

/* The supplementary groups that list name, after the primary gid. */
static int user_groups(struct agent_user *u)
{
	FILE *f = fopen(user_group_path, "re");
	struct group *g;

	u->groups[0] = u->gid;
	u->ngroups = 1;
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while ((g = fgetgrent(f)) && u->ngroups < USER_MAX_GROUPS) {
		if (g->gr_gid == u->gid)
			continue;
		for (char **m = g->gr_mem; m && *m; m++)
			if (!strcmp(*m, u->name)) {
				u->groups[u->ngroups++] = g->gr_gid;
				break;
			}
	}
	fclose(f);
	return 0;
}

int user_lookup(const char *name, struct agent_user *u)
{
	FILE *f;
	struct passwd *pw;
	int ret = -ENOENT;

	if (!name[0] || strlen(name) >= sizeof(u->name))
		return -EINVAL;
	f = fopen(user_passwd_path, "re");
	if (!f)
		return -errno;
	while ((pw = fgetpwent(f))) {
		if (strcmp(pw->pw_name, name))
			continue;
		if (strlen(pw->pw_dir) >= sizeof(u->home) || strlen(pw->pw_shell) >= sizeof(u->shell)) {
			ret = -ENAMETOOLONG;
			break;
		}
		snprintf(u->name, sizeof(u->name), "%s", pw->pw_name);
		snprintf(u->home, sizeof(u->home), "%s", pw->pw_dir[0] ? pw->pw_dir : "/");
		snprintf(u->shell, sizeof(u->shell), "%s", pw->pw_shell);
		u->uid = pw->pw_uid;
		u->gid = pw->pw_gid;
		ret = 0;
		break;
	}
	fclose(f);
	return ret ? ret : user_groups(u);
}

static gid_t saved_groups[USER_MAX_GROUPS];
static int nsaved = -1;

int user_enter(const struct agent_user *u)
{
	if (!user_can_switch())
		return 0;
	if (nsaved < 0) {
		nsaved = getgroups(USER_MAX_GROUPS, saved_groups);
		if (nsaved < 0)
			nsaved = 0;
	}
	if (setgroups((size_t)u->ngroups, u->groups))
		return -errno;
	setfsgid(u->gid);
	setfsuid(u->uid);
	/* setfsuid says nothing of a failure but through the value it leaves. */
	if ((uid_t)setfsuid((uid_t)-1) != u->uid || (gid_t)setfsgid((gid_t)-1) != u->gid) {
		user_leave();
		return -EPERM;
	}
	return 0;
}

void user_leave(void)
{
	if (!user_can_switch())
		return;
	setfsuid(geteuid());
	setfsgid(getegid());
	if (nsaved >= 0)
		setgroups((size_t)nsaved, saved_groups);
}

/* Forgets every name once the file changed. */
static void cache_check(struct name_cache *c, const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return;
	if (st.st_ino == c->ino && st.st_mtim.tv_sec == c->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == c->mtime.tv_nsec)
		return;
	memset(c->e, 0, sizeof(c->e));
	c->ino = st.st_ino;
	c->mtime = st.st_mtim;
}

static bool cache_get(struct name_cache *c, unsigned int id, char *out, size_t n)
{
	for (unsigned int i = 0; i < NAME_CACHE; i++)
		if (c->e[i].used && c->e[i].id == id) {
			snprintf(out, n, "%s", c->e[i].name);
			return true;
		}
	return false;
}

static void cache_put(struct name_cache *c, unsigned int id, const char *name)
{
	unsigned int i = c->next++ % NAME_CACHE;

	c->e[i].id = id;
	c->e[i].used = true;
	snprintf(c->e[i].name, sizeof(c->e[i].name), "%s", name);
}

void user_name_of(uid_t uid, char *out, size_t n)
{
	FILE *f;
	struct passwd *pw;

	cache_check(&uid_cache, user_passwd_path);
	if (cache_get(&uid_cache, uid, out, n))
		return;
	snprintf(out, n, "%u", (unsigned int)uid);
	f = fopen(user_passwd_path, "re");
	while (f && (pw = fgetpwent(f)))
		if (pw->pw_uid == uid) {
			snprintf(out, n, "%s", pw->pw_name);
			break;
		}
	if (f)
		fclose(f);
	cache_put(&uid_cache, uid, out);
}

void group_name_of(gid_t gid, char *out, size_t n)
{
	FILE *f;
	struct group *g;

	cache_check(&gid_cache, user_group_path);
	if (cache_get(&gid_cache, gid, out, n))
		return;
	snprintf(out, n, "%u", (unsigned int)gid);
	f = fopen(user_group_path, "re");
	while (f && (g = fgetgrent(f)))
		if (g->gr_gid == gid) {
			snprintf(out, n, "%s", g->gr_name);
			break;
		}
	if (f)
		fclose(f);
	cache_put(&gid_cache, gid, out);
}

/*
 * The jailer's cgroups (jailer_cgroup.c), v1 and v2, as Firecracker's
 * jailer places its process: the hierarchies found in /proc/mounts, a
 * cgroup named after the jail's id under the parent cgroup in each one a
 * --cgroup file needs, each FILE=VALUE written there, then the pid added.
 * With v2 and no --cgroup, the process moves into the parent cgroup when
 * that exists. Messages are the jailer's.
 */
#ifndef HEARTH_JAILER_CGROUP_H
#define HEARTH_JAILER_CGROUP_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

#define JAILER_CGROUP_MAX 16          /* hierarchies (v1: one per controller) */
#define JAILER_CGROUP_PROPS_MAX 64    /* --cgroup values in all */

struct jailer_cgroup_prop {
	const char *file, *value;   /* point into the caller's strings (argv) */
	char controller[64];
};

struct jailer_cgroup_group {
	char controller[64];        /* v1: its controller; v2: "unified" */
	char path[PATH_MAX];        /* <hierarchy>/<parent>/<id> */
	unsigned int depth;         /* v1: components of <parent>, for inheriting values */
	struct jailer_cgroup_prop *props[JAILER_CGROUP_PROPS_MAX];
	size_t nprops;
};

struct jailer_cgroup_conf {
	unsigned int version;
	char unified[PATH_MAX];     /* v2's mount point; "" when none */
	char *v1_dirs[JAILER_CGROUP_MAX], *v1_opts[JAILER_CGROUP_MAX];
	size_t nv1;
	char avail[256];            /* v2: <unified>/cgroup.controllers, space-separated */
	struct jailer_cgroup_prop props[JAILER_CGROUP_PROPS_MAX];
	size_t nprops;
	struct jailer_cgroup_group groups[JAILER_CGROUP_MAX];
	size_t ngroups;
};

/*
 * The hierarchies of version ver in mounts (a /proc/mounts). 0, or
 * -ENOENT with "Hierarchy not found: ..." in e. Free with jailer_cgroup_free.
 */
int jailer_cgroup_init(struct jailer_cgroup_conf *c, unsigned int ver, const char *mounts, struct err *e);
void jailer_cgroup_free(struct jailer_cgroup_conf *c);
/*
 * v2 without --cgroup: the process moves into <unified>/<parent> when it
 * exists ("Failed to move process to cgroup (...)" otherwise).
 */
int jailer_cgroup_move_to_parent(const struct jailer_cgroup_conf *c, const char *parent, pid_t pid, struct err *e);
/* One --cgroup FILE=VALUE for the cgroup <parent>/<id>: checked, and kept for jailer_cgroup_setup. */
int jailer_cgroup_add(struct jailer_cgroup_conf *c, const char *arg, const char *id, const char *parent,
	    struct err *e);
/* Every cgroup made and its values written, then pid added to each. */
int jailer_cgroup_setup(const struct jailer_cgroup_conf *c, pid_t pid, struct err *e);

#endif

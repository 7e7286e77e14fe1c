/*
 * The binary run as `jailer` (jailer.c): Firecracker 1.16's jailer command
 * line, parsed by its rules and refused in its words (args.c).
 * Every message here is the jailer's, word for word: orchestrators and
 * Firecracker's own tests match them. None of this touches the host; the
 * checks that read the filesystem (the exec file, the chroot base, the
 * cgroup hierarchies) are jailer.c's and jailer_cgroup.c's.
 */
#ifndef HEARTH_JAILER_ARGS_H
#define HEARTH_JAILER_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

/* The jailer's limits and defaults. */
#define JAILER_ID_MAX 64
#define JAILER_DEFAULT_BASE "/srv/jailer"
#define JAILER_DEFAULT_NOFILE 2048

/* What the command line said; strings point into argv. */
struct jailer_args {
	const char *id, *exec_file, *uid, *gid;
	const char *chroot_base;        /* JAILER_DEFAULT_BASE unless given */
	const char *netns;              /* NULL: not given */
	const char *cgroup_version;     /* "1" unless given */
	const char *parent_cgroup;      /* NULL: the exec file's name */
	bool daemonize, new_pid_ns;
	bool help, version;             /* --help (-h) or --version: nothing else was parsed */
	const char **cgroups;           /* each --cgroup's value, in order */
	size_t ncgroups;
	const char **rlimits;           /* each --resource-limit's value, in order */
	size_t nrlimits;
	char **extra;                   /* what follows "--", for the exec file */
	int nextra;
};

/* The limits --resource-limit sets: fsize only when given, no-file 2048 unless given. */
struct jailer_rlimits {
	bool have_fsize;
	uint64_t fsize;
	uint64_t nofile;
};

/*
 * The jailer's parser (Firecracker's utils::arg_parser): "--name VALUE"
 * only, a value may not begin with "--", the first "--" ends the options,
 * --help or --version anywhere before it wins. 0, or -EINVAL with
 * "Failed to parse arguments: ..." in e. a is filled either way; free it
 * with jailer_args_free.
 */
int jailer_args_parse(int argc, char **argv, struct jailer_args *a, struct err *e);
void jailer_args_free(struct jailer_args *a);

/* --help's text (after "Jailer vX\n\n"), as the jailer formats it. */
void jailer_args_help(FILE *out);

/* "Invalid instance ID: ...": 1 to 64 characters, letters, digits and '-'. */
int jailer_check_id(const char *id, struct err *e);
/* A u32 as Rust parses one ('+' allowed, nothing else). 0 or -EINVAL. */
int jailer_parse_u32(const char *s, uint32_t *out);
/* --uid and --gid: "Invalid uid: X", "Invalid gid: X". */
int jailer_parse_ids(const struct jailer_args *a, uint32_t *uid, uint32_t *gid, struct err *e);
/* A relative path with no "..", and not "." first: what --parent-cgroup and a cgroup file may be. */
bool jailer_relpath_ok(const char *path);
/* --parent-cgroup (or the exec file's name when absent), checked. */
int jailer_parent_cgroup(const struct jailer_args *a, const char *exec_name, const char **out,
			 struct err *e);
/* --cgroup-version, a u8: "X is an invalid cgroup version specifier". */
int jailer_cgroup_version(const struct jailer_args *a, unsigned int *ver, struct err *e);
/*
 * One --cgroup FILE=VALUE: FILE copied to file (size n), *value into arg.
 * "Invalid format for cgroups: ARG", "Cgroup invalid file: ARG".
 */
int jailer_cgroup_split(const char *arg, char *file, size_t n, const char **value,
			struct err *e);
/* The controller a cgroup file belongs to (before its first '.'): "Cgroup invalid file: F". */
int jailer_cgroup_controller(const char *file, char *out, size_t n, struct err *e);
/* Every --resource-limit, in order; the last of a kind wins. */
int jailer_rlimits_parse(const struct jailer_args *a, struct jailer_rlimits *r, struct err *e);

/* An io::Error as Rust prints it: "No such file or directory (os error 2)". */
const char *jailer_os_error(int err, char *buf, size_t n);

#endif

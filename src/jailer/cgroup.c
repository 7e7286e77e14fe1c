/* The jailer's cgroups, v1 and v2 (jailer_cgroup.h). */
#include "jailer/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jailer/args.h"

/* Whether the mount's device field is one the jailer's pattern takes ([a-z2]*). */
static bool device_ok(const char *dev)
{
	for (; *dev; dev++)
		if (!((*dev >= 'a' && *dev <= 'z') || *dev == '2'))
			return false;
	return true;
}

int jailer_cgroup_init(struct jailer_cgroup_conf *c, unsigned int ver, const char *mounts, struct err *e)
{
	char line[4096], eb[128];
	FILE *f;

	memset(c, 0, sizeof(*c));
	c->version = ver;
	f = fopen(mounts, "re");
	if (!f)
		return err_set(e, false, -errno, "Failed to open file %s: %s", mounts,
			       jailer_os_error(errno, eb, sizeof(eb)));
	while (fgets(line, sizeof(line), f)) {
		char dev[64], dir[PATH_MAX], type[16], opts[1024];

		if (sscanf(line, "%63s %4095s %15s %1023s", dev, dir, type, opts) != 4 ||
		    !device_ok(dev))
			continue;
		/* v2: the first cgroup2 mount is the unified hierarchy. */
		if (ver == 2 && !strcmp(type, "cgroup2")) {
			snprintf(c->unified, sizeof(c->unified), "%s", dir);
			break;
		}
		if (ver == 1 && !strcmp(type, "cgroup") && c->nv1 < JAILER_CGROUP_MAX) {
			c->v1_dirs[c->nv1] = strdup(dir);
			c->v1_opts[c->nv1] = strdup(opts);
			if (!c->v1_dirs[c->nv1] || !c->v1_opts[c->nv1]) {
				fclose(f);
				jailer_cgroup_free(c);
				return err_set(e, false, -ENOMEM, "%s", strerror(ENOMEM));
			}
			c->nv1++;
		}
	}
	fclose(f);
	if (!c->unified[0] && !c->nv1)
		return err_set(e, true, -ENOENT, "Hierarchy not found: No hierarchy found for this "
			       "cgroup version.");
	return 0;
}

void jailer_cgroup_free(struct jailer_cgroup_conf *c)
{
	for (size_t i = 0; i < c->nv1; i++) {
		free(c->v1_dirs[i]);
		free(c->v1_opts[i]);
	}
	c->nv1 = 0;
}

/* Writes s and a newline, as the jailer writes every cgroup file (created when missing). */
static int write_line(const char *path, const char *s, struct err *e)
{
	char eb[128];
	size_t n = strlen(s);
	int fd, ret = 0;
	char *buf;

	buf = malloc(n + 2);
	if (!buf)
		return err_set(e, false, -ENOMEM, "%s", strerror(ENOMEM));
	memcpy(buf, s, n);
	buf[n] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, n + 1) != (ssize_t)(n + 1))
		ret = -errno;
	if (fd >= 0 && close(fd) && !ret)
		ret = -errno;
	free(buf);
	if (ret)
		return err_set(e, false, ret, "Failed to write to %s: %s", path,
			       jailer_os_error(-ret, eb, sizeof(eb)));
	return 0;
}

/* The file's text without its last character (the jailer's readln). */
static int read_line(const char *path, char *out, size_t n, struct err *e)
{
	char eb[128];
	ssize_t got;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, false, -errno, "Failed to read file %s into a string: %s", path,
			       jailer_os_error(errno, eb, sizeof(eb)));
	got = read(fd, out, n - 1);
	if (got < 0) {
		int ret = -errno;

		close(fd);
		return err_set(e, false, ret, "Failed to read file %s into a string: %s", path,
			       jailer_os_error(-ret, eb, sizeof(eb)));
	}
	close(fd);
	out[got > 0 ? got - 1 : 0] = '\0';
	return 0;
}

/* mkdir -p, as the jailer's create_dir_all. */
static int mkdir_all(const char *path, struct err *e)
{
	char buf[PATH_MAX], eb[128];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; ; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return err_set(e, false, -errno, "Failed to create directory %s: %s", path,
				       jailer_os_error(errno, eb, sizeof(eb)));
		*p = c;
		if (!c)
			break;
	}
	return 0;
}

int jailer_cgroup_move_to_parent(const struct jailer_cgroup_conf *c, const char *parent, pid_t pid, struct err *e)
{
	char dir[PATH_MAX], procs[PATH_MAX + 16], num[24], eb[128];
	struct stat st;
	int fd, n, ret = 0;

	if (!c->unified[0])
		return err_set(e, true, -ENOENT, "Hierarchy not found: cgroupsv2 hierarchy missing");
	if (snprintf(dir, sizeof(dir), "%s/%s", c->unified, parent) >= (int)sizeof(dir))
		return err_set(e, true, -ENAMETOOLONG, "Failed to move process to cgroup (%s/%s): "
			       "%s", c->unified, parent, jailer_os_error(ENAMETOOLONG, eb, sizeof(eb)));
	/* A parent that is not there is not an error: the process stays where it is. */
	if (stat(dir, &st))
		return 0;
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	n = snprintf(num, sizeof(num), "%d", (int)pid);
	fd = open(procs, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, num, (size_t)n) != n)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	if (ret)
		return err_set(e, false, ret, "Failed to move process to cgroup (%s): %s.\nHint: If "
			       "you intended to create a child cgroup under %s, pass any --cgroup "
			       "parameters.", dir, jailer_os_error(-ret, eb, sizeof(eb)), dir);
	return 0;
}

/* Whether name is one of list's items (sep-separated). */
static bool list_has(const char *list, const char *name, const char *sep)
{
	size_t n = strlen(name);

	for (const char *p = list; *p; ) {
		size_t len = strcspn(p, sep);

		if (len == n && !strncmp(p, name, n))
			return true;
		p += len;
		p += strspn(p, sep);
	}
	return false;
}

/* The cgroup kept for key, made on first use at <hier>/<parent>/<id>. */
static struct jailer_cgroup_group *group_for(struct jailer_cgroup_conf *c, const char *key, const char *hier,
				   const char *id, const char *parent, struct err *e)
{
	struct jailer_cgroup_group *g;
	unsigned int depth = 0;

	for (size_t i = 0; i < c->ngroups; i++)
		if (!strcmp(c->groups[i].controller, key))
			return &c->groups[i];
	if (c->ngroups == JAILER_CGROUP_MAX) {
		err_set(e, true, -E2BIG, "Cgroup invalid file: %s (too many hierarchies)", key);
		return NULL;
	}
	g = &c->groups[c->ngroups++];
	snprintf(g->controller, sizeof(g->controller), "%s", key);
	snprintf(g->path, sizeof(g->path), "%s/%s/%s", hier, parent, id);
	for (const char *p = parent; *p; ) {
		size_t len = strcspn(p, "/");

		depth += len > 0;
		p += len;
		p += strspn(p, "/");
	}
	g->depth = depth;
	return g;
}

int jailer_cgroup_add(struct jailer_cgroup_conf *c, const char *arg, const char *id, const char *parent,
	    struct err *e)
{
	struct jailer_cgroup_prop *p;
	struct jailer_cgroup_group *g;
	char file[256];
	const char *value, *hier = NULL;
	int ret;

	if (c->nprops == JAILER_CGROUP_PROPS_MAX)
		return err_set(e, true, -E2BIG, "Invalid format for cgroups: %s (too many)", arg);
	ret = jailer_cgroup_split(arg, file, sizeof(file), &value, e);
	if (ret)
		return ret;
	p = &c->props[c->nprops];
	p->file = arg;
	p->value = value;
	ret = jailer_cgroup_controller(file, p->controller, sizeof(p->controller), e);
	if (ret)
		return ret;
	if (c->version == 1) {
		/* The mount whose options name the controller. */
		for (size_t i = 0; !hier && i < c->nv1; i++)
			if (list_has(c->v1_opts[i], p->controller, ","))
				hier = c->v1_dirs[i];
		if (!hier)
			return err_set(e, true, -ENOENT, "Controller %s is unavailable",
				       p->controller);
		g = group_for(c, p->controller, hier, id, parent, e);
	} else {
		char path[PATH_MAX + 32];

		if (!c->unified[0])
			return err_set(e, true, -ENOENT, "Hierarchy not found: cgroupsv2 hierarchy "
				       "missing");
		/* What the root offers: a controller not there cannot be enabled below it. */
		if (!c->ngroups) {
			snprintf(path, sizeof(path), "%s/cgroup.controllers", c->unified);
			if (read_line(path, c->avail, sizeof(c->avail), &(struct err)ERR_INIT))
				c->avail[0] = '\0';
		}
		g = group_for(c, "unified", c->unified, id, parent, e);
		if (g && !list_has(c->avail, p->controller, " \n"))
			return err_set(e, true, -ENOENT, "Controller %s is unavailable",
				       p->controller);
	}
	if (!g)
		return -E2BIG;
	g->props[g->nprops++] = p;
	c->nprops++;
	return 0;
}

/* A prop's file name, the FILE of FILE=VALUE. */
static void prop_file(const struct jailer_cgroup_prop *p, char *out, size_t n)
{
	size_t len = strcspn(p->file, "=");

	snprintf(out, n, "%.*s", (int)len, p->file);
}

/*
 * v1: a new cgroup starts with some files empty (cpuset.cpus, .mems),
 * and the kernel refuses tasks until they are set: the parent's value is
 * copied down first, from as far up as needed.
 */
static int inherit(const char *path, const char *file, unsigned int depth, struct err *e)
{
	char parent[PATH_MAX], src[PATH_MAX + 256], dst[PATH_MAX + 256], line[4096];
	char *slash;
	int ret;

	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	if (slash)
		*slash = '\0';
	snprintf(src, sizeof(src), "%s/%s", parent, file);
	ret = read_line(src, line, sizeof(line), e);
	if (ret)
		return ret;
	if (!line[0] && depth > 0) {
		inherit(parent, file, depth - 1, &(struct err)ERR_INIT);
		ret = read_line(src, line, sizeof(line), e);
		if (ret)
			return ret;
	}
	if (!line[0])
		return err_set(e, false, -EINVAL, "Failed to inherit cgroups configurations from "
			       "file %s in path %s", file, path);
	snprintf(dst, sizeof(dst), "%s/%s", path, file);
	return write_line(dst, line, e);
}

/* v2: the controller enabled in subtree_control from the top down to dir. */
static int enable_down_to(const char *dir, const char *controller, struct err *e)
{
	char ctl[PATH_MAX + 32], up[PATH_MAX], plus[80];
	struct stat st;
	char *slash;
	int ret;

	snprintf(ctl, sizeof(ctl), "%s/cgroup.subtree_control", dir);
	if (stat(ctl, &st))
		return 0;
	snprintf(plus, sizeof(plus), "+%s", controller);
	snprintf(up, sizeof(up), "%s", dir);
	slash = strrchr(up, '/');
	if (slash && slash != up) {
		*slash = '\0';
		ret = enable_down_to(up, controller, e);
		if (ret)
			return ret;
	}
	return write_line(ctl, plus, e);
}

static int group_write(const struct jailer_cgroup_conf *c, const struct jailer_cgroup_group *g, struct err *e)
{
	char file[256], path[PATH_MAX + 256], parent[PATH_MAX];
	const char *enabled[JAILER_CGROUP_PROPS_MAX];
	size_t nenabled = 0;
	int ret;

	ret = mkdir_all(g->path, e);
	if (ret)
		return ret;
	snprintf(parent, sizeof(parent), "%s", g->path);
	*strrchr(parent, '/') = '\0';
	for (size_t i = 0; i < g->nprops; i++) {
		const struct jailer_cgroup_prop *p = g->props[i];
		bool done = false;

		prop_file(p, file, sizeof(file));
		if (c->version == 1) {
			ret = inherit(g->path, file, g->depth, e);
		} else {
			for (size_t k = 0; k < nenabled; k++)
				done = done || !strcmp(enabled[k], p->controller);
			ret = done ? 0 : enable_down_to(parent, p->controller, e);
			if (!done)
				enabled[nenabled++] = p->controller;
		}
		if (ret)
			return ret;
		snprintf(path, sizeof(path), "%s/%s", g->path, file);
		ret = write_line(path, p->value, e);
		if (ret)
			return ret;
	}
	return 0;
}

int jailer_cgroup_setup(const struct jailer_cgroup_conf *c, pid_t pid, struct err *e)
{
	char path[PATH_MAX + 32], num[24];
	int ret;

	for (size_t i = 0; i < c->ngroups; i++) {
		ret = group_write(c, &c->groups[i], e);
		if (ret)
			return ret;
	}
	snprintf(num, sizeof(num), "%d", (int)pid);
	for (size_t i = 0; i < c->ngroups; i++) {
		snprintf(path, sizeof(path), "%s/%s", c->groups[i].path,
			 c->version == 1 ? "tasks" : "cgroup.procs");
		ret = write_line(path, num, e);
		if (ret)
			return ret;
	}
	return 0;
}

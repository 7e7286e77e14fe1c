#include "sandbox/policy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util/opt.h"

/* Ids Linux reserves: -1 means "unchanged" to setresuid, and 65535 is the overflow id. */
static int parse_id(const char *flag, const char *s, unsigned long *out, struct err *err)
{
	uint64_t v;

	if (opt_parse_uint(s, 0, 65534, &v) || v == 0)
		return err_set(err, true, -EINVAL, "%s '%s': not a user or group id in 1..65534 "
			       "(the jail drops root: 0 is refused)", flag, s);
	*out = (unsigned long)v;
	return 0;
}

int sandbox_opts_parse(bool no_sandbox, bool no_seccomp, const char *jail, const char *uid,
		       const char *gid, uid_t euid, struct sandbox_opts *o, struct err *err)
{
	unsigned long u = 0, g = 0;
	struct stat st;

	memset(o, 0, sizeof(*o));
	o->off = no_sandbox;
	o->seccomp_off = no_seccomp;
	if (!jail && !uid && !gid)
		return 0;
	if (!jail || !uid || !gid)
		return err_set(err, true, -EINVAL, "--jail DIR, --uid U and --gid G go together "
			       "(missing %s)", !jail ? "--jail" : !uid ? "--uid" : "--gid");
	if (no_sandbox)
		return err_set(err, true, -EINVAL, "--jail and --no-sandbox contradict each other");
	if (euid != 0)
		return err_set(err, true, -EINVAL, "--jail needs root (it chroots and changes "
			       "user); without root Hearth sandboxes itself in namespaces, no flag "
			       "needed");
	if (jail[0] != '/' || stat(jail, &st) || !S_ISDIR(st.st_mode))
		return err_set(err, true, -EINVAL, "--jail '%s': not an absolute path to a "
			       "directory", jail);
	if (!strcmp(jail, "/"))
		return err_set(err, true, -EINVAL, "--jail '/': the jail must be a directory of "
			       "its own");
	if (parse_id("--uid", uid, &u, err) || parse_id("--gid", gid, &g, err))
		return -EINVAL;
	o->jail = jail;
	o->uid = (uid_t)u;
	o->gid = (gid_t)g;
	return 0;
}

int sandbox_pidns_parse(bool new_pid_ns, const char *pid_file, const char *name,
			struct sandbox_opts *o, struct err *err)
{
	int n;

	if (!new_pid_ns)
		return pid_file ? err_set(err, true, -EINVAL, "--pid-file goes with --new-pid-ns "
					  "(the pid it names is the PID namespace's first "
					  "process)") : 0;
	if (o->off)
		return err_set(err, true, -EINVAL, "--new-pid-ns and --no-sandbox contradict each "
			       "other: the PID namespace is part of the sandbox");
	if (pid_file && !*pid_file)
		return err_set(err, true, -EINVAL, "--pid-file needs a non-empty path");
	if (!pid_file && !o->jail)
		return err_set(err, true, -EINVAL, "--new-pid-ns needs --pid-file PATH: where "
			       "Hearth writes the pid of the process that runs the VM (with "
			       "--jail DIR, DIR/%s.pid)", name);
	if (pid_file)
		n = snprintf(o->pid_file, sizeof(o->pid_file), "%s", pid_file);
	else
		n = snprintf(o->pid_file, sizeof(o->pid_file), "%s/%s.pid", o->jail, name);
	if (n < 0 || (size_t)n >= sizeof(o->pid_file))
		return err_set(err, true, -EINVAL, "--pid-file: path too long");
	o->new_pid_ns = true;
	return 0;
}

/* a is b, or a directory above it. */
static bool path_covers(const char *a, const char *b)
{
	size_t n = strlen(a);

	if (strncmp(a, b, n))
		return false;
	return b[n] == '\0' || b[n] == '/' || (n == 1 && a[0] == '/');
}

int sandbox_path_abs(const char *path, const char *cwd, char *out, size_t outlen)
{
	size_t n;
	int w;

	if (!path || !*path)
		return -EINVAL;
	if (path[0] == '/') {
		w = snprintf(out, outlen, "%s", path);
	} else {
		if (!cwd || cwd[0] != '/')
			return -EINVAL;
		w = snprintf(out, outlen, "%s%s%s", cwd, cwd[strlen(cwd) - 1] == '/' ? "" : "/",
			     path);
	}
	if (w < 0 || (size_t)w >= outlen)
		return -ENAMETOOLONG;
	/* "dir/" and "dir" are one rule. */
	n = strlen(out);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	return 0;
}

static int paths_add(struct sandbox_paths *l, const char *path, bool dir, bool ro,
		     const char *cwd)
{
	char abs[sizeof(l->p[0].path)];
	unsigned int i, j;
	int ret = sandbox_path_abs(path, cwd, abs, sizeof(abs));

	if (ret)
		return ret;
	for (i = 0; i < l->n; i++) {
		if (l->p[i].dir ? path_covers(l->p[i].path, abs) : !strcmp(l->p[i].path, abs)) {
			l->p[i].dir |= dir && !strcmp(l->p[i].path, abs);
			l->p[i].ro &= ro;
			return 0;
		}
	}
	/* A directory swallows what it covers: one bind mount, one Landlock rule. */
	if (dir) {
		for (i = j = 0; i < l->n; i++) {
			if (!path_covers(abs, l->p[i].path))
				l->p[j++] = l->p[i];
			else
				ro &= l->p[i].ro;
		}
		l->n = j;
	}
	if (l->n == SANDBOX_MAX_PATHS)
		return -ENOSPC;
	snprintf(l->p[l->n].path, sizeof(l->p[l->n].path), "%s", abs);
	l->p[l->n].dir = dir;
	l->p[l->n].ro = ro;
	l->n++;
	return 0;
}

int sandbox_paths_add(struct sandbox_paths *l, const char *path, bool dir, const char *cwd)
{
	return paths_add(l, path, dir, false, cwd);
}

int sandbox_paths_add_ro(struct sandbox_paths *l, const char *path, bool dir, const char *cwd)
{
	return paths_add(l, path, dir, true, cwd);
}

int sandbox_paths_add_parent(struct sandbox_paths *l, const char *file, const char *cwd)
{
	char abs[sizeof(l->p[0].path)];
	char *slash;
	int ret = sandbox_path_abs(file, cwd, abs, sizeof(abs));

	if (ret)
		return ret;
	slash = strrchr(abs, '/');
	if (slash == abs)
		slash[1] = '\0';
	else
		*slash = '\0';
	return sandbox_paths_add(l, abs, true, cwd);
}

const char *const sandbox_shared_dirs[] = { "/", "/run", "/tmp", "/var/run", "/dev" };
const unsigned int sandbox_nshared_dirs = sizeof(sandbox_shared_dirs) /
					  sizeof(sandbox_shared_dirs[0]);

const char *sandbox_dir_shared(const char *dir, const char *const *shared, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (shared[i] && shared[i][0] == '/' && path_covers(dir, shared[i]))
			return shared[i];
	return NULL;
}

bool sandbox_needs_host_net(const struct vm_config *cfg)
{
	for (unsigned int i = 0; i < cfg->nnets; i++)
		if (cfg->nets[i].dev.backend == NET_USER)
			return true;
	return false;
}

int sandbox_paths_from_config(struct sandbox_paths *l, const struct vm_config *cfg,
			      const char *cwd)
{
	int ret = 0;

	for (unsigned int i = 0; !ret && i < cfg->ndrives; i++)
		if (cfg->drives[i].path_on_host)
			ret = paths_add(l, cfg->drives[i].path_on_host, false,
					cfg->drives[i].is_read_only, cwd);
	/* A read-only pmem file is opened O_RDONLY and mapped PROT_READ: no more is granted. */
	for (unsigned int i = 0; !ret && i < cfg->npmem; i++)
		ret = paths_add(l, cfg->pmem[i].path_on_host, false, cfg->pmem[i].read_only, cwd);
	if (!ret && cfg->vsock.present)
		ret = sandbox_paths_add(l, cfg->vsock.uds_path ? cfg->vsock.uds_path
							       : "/dev/vhost-vsock", false, cwd);
	if (!ret && sandbox_needs_host_net(cfg))
		ret = sandbox_paths_add_ro(l, "/etc/resolv.conf", false, cwd);
	/* Only a NIC that may go on vhost-net when the VM is built (virtio/net/vhost.c). */
	for (unsigned int i = 0; !ret && i < cfg->nnets; i++)
		if (!vm_config_net_no_vhost(cfg, &cfg->nets[i])) {
			ret = sandbox_paths_add(l, "/dev/vhost-net", false, cwd);
			break;
		}
	return ret;
}

unsigned long sandbox_nofile_limit(unsigned long highest_fd, unsigned long old_hard)
{
	unsigned long want = highest_fd + 1 + SANDBOX_NOFILE_SPARE;

	if (want < SANDBOX_NOFILE_MIN)
		want = SANDBOX_NOFILE_MIN;
	return want < old_hard ? want : old_hard;
}

unsigned long sandbox_nproc_limit(unsigned int vcpus)
{
	return (unsigned long)vcpus + SANDBOX_NPROC_SPARE;
}

/*
 * The binary run as `jailer`: Firecracker 1.16's jailer, step by step as
 * its docs/jailer.md and src/jailer state them, so that an orchestrator
 * that starts `jailer --id ID --exec-file firecracker ... -- ARGS` gets
 * the same layout, cgroups, limits, namespaces, pid file and process, and
 * the same refusals (one line on stderr, exit 1). The exec file is
 * normally Hearth itself, copied in as `firecracker`, which then runs as
 * it does under that name. docs/jailer.md maps each step.
 */
#include "jailer/jailer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "jailer/args.h"
#include "jailer/cgroup.h"
#include "jailer/copy.h"
#include "hearth-config.h"
#include "sandbox/jail.h"
#include "sandbox/jail_fs.h"
#include "sandbox/pidns.h"
#include "util/log.h"

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif

/* The jailer's exit status for every refusal (a Rust main returning its error). */
#define JAILER_EXIT_ERR 1
/* A panic: what the jailer does when it cannot sanitize itself. */
#define JAILER_EXIT_PANIC 101

/* The jail's directories, the process's own (the API socket goes in /run by default). */
static const char *const jailer_dirs[] = { "", "dev", "dev/net", "run" };

struct jailer {
	const struct jailer_args *a;
	char exec_path[PATH_MAX];
	const char *exec_name;
	char chroot[PATH_MAX];
	uint32_t uid, gid;
	struct jailer_cgroup_conf cg;
	bool cg_used;               /* cg was set up by jailer_cgroup_init (jailer_cgroup_free it) */
	bool have_cg;               /* --cgroup values to write */
	struct jailer_rlimits rl;
	struct jail_node nodes[JAIL_NODES_MAX];
	size_t nnodes;
	uint64_t start_us, start_cpu_us, cpu_us;
};

static uint64_t now_us(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

bool jailer_is_argv0(const char *argv0)
{
	const char *base = argv0 ? strrchr(argv0, '/') : NULL;

	return argv0 && !strcmp(base ? base + 1 : argv0, "jailer");
}

/* The exec file: canonical, a regular file; its name names the jail's directory. */
static int jailer_exec_file(struct jailer *j, struct err *e)
{
	char eb[128];
	struct stat st;

	if (!realpath(j->a->exec_file, j->exec_path))
		return err_set(e, true, -errno, "Failed to canonicalize path %s: %s",
			       j->a->exec_file, jailer_os_error(errno, eb, sizeof(eb)));
	if (stat(j->exec_path, &st) || !S_ISREG(st.st_mode))
		return err_set(e, true, -EINVAL, "%s is not a file", j->exec_path);
	j->exec_name = strrchr(j->exec_path, '/') + 1;
	return 0;
}

static int jailer_chroot_dir(struct jailer *j, struct err *e)
{
	char base[PATH_MAX], eb[128];
	struct stat st;

	if (!realpath(j->a->chroot_base, base))
		return err_set(e, true, -errno, "Failed to canonicalize path %s: %s",
			       j->a->chroot_base, jailer_os_error(errno, eb, sizeof(eb)));
	if (stat(base, &st) || !S_ISDIR(st.st_mode))
		return err_set(e, true, -ENOTDIR, "%s is not a directory", base);
	if (snprintf(j->chroot, sizeof(j->chroot), "%s/%s/%s/root", strcmp(base, "/") ? base : "",
		     j->exec_name, j->a->id) >= (int)sizeof(j->chroot))
		return err_set(e, true, -ENAMETOOLONG, "Failed to create directory %s/%s/%s/root: "
			       "%s", base, j->exec_name, j->a->id,
			       jailer_os_error(ENAMETOOLONG, eb, sizeof(eb)));
	return 0;
}

/* The cgroups, checked in the jailer's order (and the v2 move to the parent, done now as it does). */
static int jailer_cgroups(struct jailer *j, struct err *e)
{
	const char *parent;
	unsigned int ver;
	int ret;

	ret = jailer_parent_cgroup(j->a, j->exec_name, &parent, e);
	if (!ret)
		ret = jailer_cgroup_version(j->a, &ver, e);
	if (ret)
		return ret;
	if (!j->a->ncgroups && ver == 2) {
		ret = jailer_cgroup_init(&j->cg, 2, "/proc/mounts", e);
		if (ret)
			return ret;
		j->cg_used = true;
		return jailer_cgroup_move_to_parent(&j->cg, parent, getpid(), e);
	}
	if (!j->a->ncgroups)
		return 0;
	ret = jailer_cgroup_init(&j->cg, ver, "/proc/mounts", e);
	if (ret)
		return ret;
	j->cg_used = true;
	j->have_cg = true;
	for (size_t i = 0; !ret && i < j->a->ncgroups; i++)
		ret = jailer_cgroup_add(&j->cg, j->a->cgroups[i], j->a->id, parent, e);
	return ret;
}

/* Env::new's checks, in its order: the first refusal is the jailer's first. */
static int jailer_check(struct jailer *j, struct err *e)
{
	int ret;

	ret = jailer_check_id(j->a->id, e);
	if (!ret)
		ret = jailer_exec_file(j, e);
	if (!ret)
		ret = jailer_chroot_dir(j, e);
	if (!ret)
		ret = jailer_parse_ids(j->a, &j->uid, &j->gid, e);
	if (!ret)
		ret = jailer_cgroups(j, e);
	if (!ret)
		ret = jailer_rlimits_parse(j->a, &j->rl, e);
	return ret;
}

/* mkdir -p path. */
static int mkdir_all(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(buf, mode) && errno != EEXIST ? -errno : 0;
}

static int jailer_netns(const char *path, struct err *e)
{
	char eb[128];
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, false, -errno, "Failed to open file %s: %s", path,
			       jailer_os_error(errno, eb, sizeof(eb)));
	if (setns(fd, CLONE_NEWNET))
		ret = err_set(e, false, -errno, "Failed to join network namespace: netns: %s",
			      jailer_os_error(errno, eb, sizeof(eb)));
	close(fd);
	return ret;
}

static int jailer_rlimit(int resource, uint64_t v, const char *what, struct err *e)
{
	struct rlimit rl = { .rlim_cur = v, .rlim_max = v };

	if (setrlimit(resource, &rl))
		return err_set(e, false, -errno, "Failed to set limit for resource: %s", what);
	return 0;
}

/*
 * The jail's own directories (0700, the jailed user's) and device nodes,
 * after the pivot as Firecracker's jailer makes them. Its user owned the
 * jail's root before this start and may have left links anywhere in it:
 * each directory is walked without following one (jail_fs.h), changed
 * through its fd, and refused when it is not a directory of the jail.
 */
static int jailer_populate(const struct jailer *j, struct err *e)
{
	const char *failed, *bad;
	char eb[128];
	int root, ret;

	root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return err_set(e, false, -errno, "Failed to open the jail's root: %s",
			       jailer_os_error(errno, eb, sizeof(eb)));
	for (size_t i = 0; i < sizeof(jailer_dirs) / sizeof(jailer_dirs[0]); i++) {
		const char *jp = jailer_dirs[i];
		int fd = jail_dir_at(root, jp, 0700, &bad);

		if (fd < 0) {
			ret = err_set(e, fd == -ELOOP || fd == -ENOTDIR || fd == -EXDEV, fd,
				      "Failed to create directory /%s: %s%s", jp,
				      jailer_os_error(-fd, eb, sizeof(eb)),
				      fd == -ELOOP ? " (a symlink in the jail is never followed)" :
				      fd == -EXDEV ? " (a mount in the jail is never entered)" : "");
			goto err_root;
		}
		ret = 0;
		if (fchmod(fd, 0700))
			ret = err_set(e, false, -errno, "Failed to change permissions on /%s: %s", jp,
				      jailer_os_error(errno, eb, sizeof(eb)));
		else if (fchown(fd, j->uid, j->gid))
			ret = err_set(e, false, -errno, "Failed to change owner for /%s: %s", jp,
				      jailer_os_error(errno, eb, sizeof(eb)));
		close(fd);
		if (ret)
			goto err_root;
	}
	ret = jail_make_nodes(root, j->nodes, j->nnodes, j->uid, j->gid, &failed);
	if (ret)
		err_set(e, false, ret, "Failed to create /%s via mknod inside the jail: %s",
			failed, jailer_os_error(-ret, eb, sizeof(eb)));
err_root:
	close(root);
	return ret;
}

/* A new mount namespace whose root is the jail: the jailer's pivot_root, step by step. */
static int jailer_pivot(const char *dir, struct err *e)
{
	char eb[128];

	if (unshare(CLONE_NEWNS))
		return err_set(e, false, -errno, "Failed to unshare into new mount namespace: %s",
			       jailer_os_error(errno, eb, sizeof(eb)));
	/* Slave, not private: the host's unmounts still reach the jail's copy. */
	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL))
		return err_set(e, false, -errno, "Failed to change the propagation type to slave: "
			       "%s", jailer_os_error(errno, eb, sizeof(eb)));
	/* pivot_root wants a mount point. */
	if (mount(dir, dir, NULL, MS_BIND | MS_REC, NULL))
		return err_set(e, false, -errno, "Failed to bind mount the jail root directory: %s",
			       jailer_os_error(errno, eb, sizeof(eb)));
	if (chdir(dir))
		return err_set(e, false, -errno, "Failed to change current directory: %s",
			       jailer_os_error(errno, eb, sizeof(eb)));
	if (mkdir("old_root", 0600))
		return err_set(e, false, -errno, "Failed to create the jail root directory before "
			       "pivoting root: %s", jailer_os_error(errno, eb, sizeof(eb)));
	if (syscall(SYS_pivot_root, ".", "old_root"))
		return err_set(e, false, -errno, "Failed to pivot root: %s",
			       jailer_os_error(errno, eb, sizeof(eb)));
	if (chdir("/"))
		return err_set(e, false, -errno, "Failed to chdir into chroot directory: %s",
			       jailer_os_error(errno, eb, sizeof(eb)));
	if (umount2("old_root", MNT_DETACH))
		return err_set(e, false, -errno, "Failed to unmount the old jail root: %s",
			       jailer_os_error(errno, eb, sizeof(eb)));
	if (rmdir("old_root"))
		return err_set(e, false, -errno, "Failed to remove old jail root directory: %s",
			       jailer_os_error(errno, eb, sizeof(eb)));
	return 0;
}

/*
 * The jailer's double fork: the first child is no group leader, so its
 * setsid works; the second is no session leader, so it can never gain a
 * controlling terminal. Only the grandchild returns.
 */
static int jailer_daemonize(struct jailer *j, int dev_null, struct err *e)
{
	char eb[128];
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return err_set(e, false, -errno, "Failed to daemonize: %s",
			       jailer_os_error(errno, eb, sizeof(eb)));
	if (pid)
		_exit(0);
	if (setsid() < 0)
		return err_set(e, false, -errno, "Failed to daemonize: setsid: %s",
			       jailer_os_error(errno, eb, sizeof(eb)));
	j->cpu_us += now_us(CLOCK_PROCESS_CPUTIME_ID);
	pid = fork();
	if (pid < 0)
		return err_set(e, false, -errno, "Failed to daemonize: %s",
			       jailer_os_error(errno, eb, sizeof(eb)));
	if (pid)
		_exit(0);
	for (int fd = 0; fd < 3; fd++)
		if (dup2(dev_null, fd) < 0)
			return err_set(e, false, -errno, "Failed to duplicate fd: %s",
				       jailer_os_error(errno, eb, sizeof(eb)));
	close(dev_null);
	j->cpu_us += now_us(CLOCK_PROCESS_CPUTIME_ID);
	return 0;
}

/* Drops to uid:gid and execs /<exec file name> with the jailer's arguments, then the caller's. */
static int jailer_exec(const struct jailer *j, struct err *e)
{
	char prog[PATH_MAX], t0[24], t1[24], t2[24], eb[128];
	const char *what;
	char **argv;
	int n = 0, ret;

	snprintf(prog, sizeof(prog), "/%s", j->exec_name);
	argv = calloc((size_t)j->a->nextra + 10, sizeof(*argv));
	if (!argv)
		return err_set(e, false, -ENOMEM, "Failed to exec into Firecracker: %s",
			       jailer_os_error(ENOMEM, eb, sizeof(eb)));
	snprintf(t0, sizeof(t0), "%llu", (unsigned long long)j->start_us);
	snprintf(t2, sizeof(t2), "%llu", (unsigned long long)j->cpu_us);
	argv[n++] = prog;
	argv[n++] = "--id";
	argv[n++] = (char *)j->a->id;
	argv[n++] = "--start-time-us";
	argv[n++] = t0;
	argv[n++] = "--start-time-cpu-us";
	argv[n++] = t1;
	argv[n++] = "--parent-cpu-time-us";
	argv[n++] = t2;
	for (int i = 0; i < j->a->nextra; i++)
		argv[n++] = j->a->extra[i];
	ret = jail_drop(j->uid, j->gid, &what);
	if (ret) {
		free(argv);
		return err_set(e, false, ret, "Failed to exec into Firecracker: %s",
			       jailer_os_error(-ret, eb, sizeof(eb)));
	}
	/* This process's CPU time so far, as the exec file's own start. */
	snprintf(t1, sizeof(t1), "%llu", (unsigned long long)now_us(CLOCK_PROCESS_CPUTIME_ID));
	execve(prog, argv, (char *[]){ NULL });
	ret = -errno;
	free(argv);
	return err_set(e, false, ret, "Failed to exec into Firecracker: %s",
		       jailer_os_error(-ret, eb, sizeof(eb)));
}

/* <exec file name>.pid in the jail's root: made new, never replaced. */
static int jailer_pid_file(const struct jailer *j, char *path, size_t n, struct err *e)
{
	char eb[128];
	int fd;

	snprintf(path, n, "/%s.pid", j->exec_name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_set(e, false, -errno, "Failed to open file %s: %s", path,
			       jailer_os_error(errno, eb, sizeof(eb)));
	return fd;
}

/*
 * The last steps, in the jail: the pid file, a new PID namespace when
 * asked (the process started leaves once its child's pid is written,
 * pidns.h), the exec. Returns only on failure.
 */
static int jailer_finish(struct jailer *j, struct err *e)
{
	char path[PATH_MAX + 8], num[24], eb[128];
	int fd, len, ret;

	fd = jailer_pid_file(j, path, sizeof(path), e);
	if (fd < 0)
		return fd;
	if (j->a->new_pid_ns) {
		/*
		 * pid 1 of the namespace handles SIGHUP: were it still in the
		 * session of a leader that exits, it would take that as a stop.
		 * pidns_split moves it to a session of its own before the
		 * jailer exits (--daemonize's double fork left no leader).
		 */
		if (pidns_unshare()) {
			close(fd);
			return err_set(e, false, -errno, "Failed cloning into a new child process: %s",
				       jailer_os_error(errno, eb, sizeof(eb)));
		}
		ret = pidns_split(fd, path, e);
		if (ret)
			return err_set(e, false, ret, "Failed cloning into a new child process: %s",
				       jailer_os_error(-ret, eb, sizeof(eb)));
		return jailer_exec(j, e);
	}
	len = snprintf(num, sizeof(num), "%d", (int)getpid());
	if (write(fd, num, (size_t)len) != len) {
		close(fd);
		return err_set(e, false, -EIO, "Failed to write to %s: %s", path,
			       jailer_os_error(errno ? errno : EIO, eb, sizeof(eb)));
	}
	close(fd);
	return jailer_exec(j, e);
}

/* The exec file and its runtime, copied in through an fd of the jail's root (jail_fs.h). */
static int jailer_copy(const struct jailer *j, struct err *e)
{
	char eb[128];
	int root, ret;

	root = open(j->chroot, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root < 0)
		return err_set(e, false, -errno, "Failed to open %s: %s", j->chroot,
			       jailer_os_error(errno, eb, sizeof(eb)));
	ret = jailer_copy_exec(j->exec_path, root, j->chroot, j->exec_name, j->uid, j->gid, e);
	if (!ret)
		ret = jailer_copy_runtime(root, j->chroot, j->exec_path, e);
	close(root);
	return ret;
}

/* Env::run: every step that changes the host, in the jailer's order. Returns only on failure. */
static int jailer_run(struct jailer *j, struct err *e)
{
	char eb[128];
	int dev_null = -1, ret;

	ret = mkdir_all(j->chroot, 0755);
	if (ret)
		return err_set(e, false, ret, "Failed to create directory %s: %s", j->chroot,
			       jailer_os_error(-ret, eb, sizeof(eb)));
	ret = jailer_copy(j, e);
	if (!ret && j->a->netns)
		ret = jailer_netns(j->a->netns, e);
	if (!ret && j->rl.have_fsize)
		ret = jailer_rlimit(RLIMIT_FSIZE, j->rl.fsize, "size of file", e);
	if (!ret)
		ret = jailer_rlimit(RLIMIT_NOFILE, j->rl.nofile, "number of file descriptors", e);
	if (!ret && j->have_cg)
		ret = jailer_cgroup_setup(&j->cg, getpid(), e);
	if (ret)
		return ret;
	/* Opened now: the jail has no /dev/null, nor /proc/misc for the nodes' numbers. */
	j->nnodes = jail_nodes(j->nodes);
	if (j->a->daemonize) {
		dev_null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (dev_null < 0)
			return err_set(e, false, -errno, "Failed to open /dev/null: %s",
				       jailer_os_error(errno, eb, sizeof(eb)));
	}
	ret = jailer_pivot(j->chroot, e);
	if (!ret)
		ret = jailer_populate(j, e);
	if (ret)
		goto err_null;
	j->cpu_us = now_us(CLOCK_PROCESS_CPUTIME_ID) - j->start_cpu_us;
	if (dev_null >= 0) {
		ret = jailer_daemonize(j, dev_null, e);
		dev_null = -1;
		if (ret)
			return ret;
	}
	return jailer_finish(j, e);
err_null:
	if (dev_null >= 0)
		close(dev_null);
	return ret;
}

/* No fd but stdio, no environment: nothing of the caller's reaches the jail. */
static int jailer_sanitize(void)
{
	if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_UNSHARE))
		return -errno;
	return clearenv() ? -ENOMEM : 0;
}

int jailer_main(int argc, char **argv)
{
	struct jailer j = { .start_us = now_us(CLOCK_MONOTONIC),
			    .start_cpu_us = now_us(CLOCK_PROCESS_CPUTIME_ID) };
	struct err e = ERR_INIT;
	struct jailer_args a;
	char eb[128];
	int ret;

	ret = jailer_sanitize();
	if (ret) {
		fprintf(stderr, "Failed to sanitize the Jailer process: Failed to call close range "
			"syscall: %s\n", jailer_os_error(-ret, eb, sizeof(eb)));
		return JAILER_EXIT_PANIC;
	}
	ret = jailer_args_parse(argc, argv, &a, &e);
	if (!ret && a.help) {
		printf("Jailer v%s\n\n", HEARTH_FIRECRACKER_VERSION);
		jailer_args_help(stdout);
		printf("\n\nAny arguments after the -- separator will be supplied to the jailed "
		       "binary.\n\n");
	} else if (!ret && a.version) {
		printf("Jailer v%s\n\n", HEARTH_FIRECRACKER_VERSION);
	} else if (!ret) {
		j.a = &a;
		ret = jailer_check(&j, &e);
		if (!ret)
			ret = jailer_run(&j, &e);
	}
	if (j.cg_used)
		jailer_cgroup_free(&j.cg);
	jailer_args_free(&a);
	if (!ret)
		return HEARTH_EXIT_OK;
	fprintf(stderr, "%s\n", e.msg);
	return JAILER_EXIT_ERR;
}

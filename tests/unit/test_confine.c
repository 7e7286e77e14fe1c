/*
 * The process sandbox (src/sandbox/confine.h), without KVM: the pure
 * decisions (flags, the paths kept reachable, the limits, the probe's
 * verdicts), then the real thing in a child process: seal as the io
 * thread does before the vCPUs start, and run the sandbox probe. Sealed,
 * every attempt must be refused and the drive's directory still
 * reachable; with the sandbox and the filters off, every attempt must
 * succeed, so the test can fail.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>
#include <linux/io_uring.h>

#include <cmocka.h>
#include <seccomp.h>
#include <sys/prctl.h>

#include "sandbox/confine.h"
#include "sandbox/landlock.h"
#include "sandbox/policy.h"
#include "sandbox/probe.h"
#include "sandbox/sandbox.h"
#include "util/log.h"
#include "util/thread_hook.h"

static int parse(bool no_sandbox, const char *jail, const char *uid, const char *gid,
		 uid_t euid, struct sandbox_opts *o, struct err *err)
{
	return sandbox_opts_parse(no_sandbox, false, jail, uid, gid, euid, o, err);
}

static void test_opts(void **state)
{
	struct sandbox_opts o;
	struct err err;

	(void)state;
	assert_int_equal(parse(false, NULL, NULL, NULL, 1000, &o, &err), 0);
	assert_false(o.off);
	assert_null(o.jail);
	assert_int_equal(parse(true, NULL, NULL, NULL, 1000, &o, &err), 0);
	assert_true(o.off);
	/* Each jail error names its problem. */
	assert_int_equal(parse(false, "/tmp", "1000", NULL, 0, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "missing --gid"));
	assert_int_equal(parse(false, NULL, "1000", "1000", 0, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "missing --jail"));
	assert_int_equal(parse(false, "/tmp", "1000", "1000", 1000, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "needs root"));
	assert_int_equal(parse(true, "/tmp", "1000", "1000", 0, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "contradict"));
	assert_int_equal(parse(false, "tmp", "1000", "1000", 0, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'tmp'"));
	assert_int_equal(parse(false, "/nonexistent-jail", "1000", "1000", 0, &o, &err), -EINVAL);
	assert_int_equal(parse(false, "/", "1000", "1000", 0, &o, &err), -EINVAL);
	assert_int_equal(parse(false, "/tmp", "0", "1000", 0, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "--uid '0'"));
	assert_int_equal(parse(false, "/tmp", "1000", "65535", 0, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "--gid '65535'"));
	assert_int_equal(parse(false, "/tmp", "10x", "1000", 0, &o, &err), -EINVAL);
	assert_int_equal(parse(false, "/tmp", "-1", "1000", 0, &o, &err), -EINVAL);
	assert_int_equal(parse(false, "/tmp", "1001", "1002", 0, &o, &err), 0);
	assert_string_equal(o.jail, "/tmp");
	assert_int_equal(o.uid, 1001);
	assert_int_equal(o.gid, 1002);
}

/* --new-pid-ns's pid file: --pid-file, else the jailer's JAIL/NAME.pid; never without the sandbox. */
static void test_pidns_opts(void **state)
{
	struct sandbox_opts o;
	struct err err;

	(void)state;
	assert_int_equal(parse(false, NULL, NULL, NULL, 1000, &o, &err), 0);
	assert_int_equal(sandbox_pidns_parse(false, NULL, "hearth", &o, &err), 0);
	assert_false(o.new_pid_ns);
	assert_int_equal(sandbox_pidns_parse(false, "p", "hearth", &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "--pid-file goes with --new-pid-ns"));
	assert_int_equal(sandbox_pidns_parse(true, NULL, "hearth", &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "DIR/hearth.pid"));
	assert_int_equal(sandbox_pidns_parse(true, "", "hearth", &o, &err), -EINVAL);
	assert_int_equal(sandbox_pidns_parse(true, "run/vm.pid", "hearth", &o, &err), 0);
	assert_true(o.new_pid_ns);
	assert_string_equal(o.pid_file, "run/vm.pid");
	assert_int_equal(parse(false, "/tmp", "1001", "1002", 0, &o, &err), 0);
	assert_int_equal(sandbox_pidns_parse(true, NULL, "firecracker", &o, &err), 0);
	assert_string_equal(o.pid_file, "/tmp/firecracker.pid");
	assert_int_equal(parse(true, NULL, NULL, NULL, 0, &o, &err), 0);
	assert_int_equal(sandbox_pidns_parse(true, "p", "hearth", &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "--no-sandbox"));
	assert_false(o.new_pid_ns);
}

static void test_paths(void **state)
{
	static struct sandbox_paths l;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(sandbox_paths_add(&l, "", true, "/w"), -EINVAL);
	assert_int_equal(sandbox_paths_add(&l, "rel", true, NULL), -EINVAL);
	assert_int_equal(sandbox_paths_add(&l, "/a/b/file", false, "/w"), 0);
	assert_int_equal(sandbox_paths_add(&l, "snap/", true, "/w"), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.p[1].path, "/w/snap");
	/* Covered: nothing new. */
	assert_int_equal(sandbox_paths_add(&l, "/w/snap/x", true, "/w"), 0);
	assert_int_equal(sandbox_paths_add(&l, "/a/b/file", false, "/w"), 0);
	assert_int_equal(l.n, 2);
	/* Not covered: /a/bc is no child of /a/b. */
	assert_int_equal(sandbox_paths_add(&l, "/a/bc", true, "/w"), 0);
	assert_int_equal(l.n, 3);
	/* A parent swallows what it covers. */
	assert_int_equal(sandbox_paths_add(&l, "/a", true, "/w"), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.p[0].path, "/w/snap");
	assert_string_equal(l.p[1].path, "/a");
	assert_true(l.p[1].dir);
	assert_int_equal(sandbox_paths_add_parent(&l, "disk.img", "/data/vm"), 0);
	assert_string_equal(l.p[2].path, "/data/vm");
	assert_int_equal(sandbox_paths_add_parent(&l, "/top", "/w"), 0);
	assert_string_equal(l.p[0].path, "/");
	assert_int_equal(l.n, 1);
	memset(&l, 0, sizeof(l));
	for (int i = 0; i < SANDBOX_MAX_PATHS; i++) {
		char p[32];

		snprintf(p, sizeof(p), "/d%d", i);
		assert_int_equal(sandbox_paths_add(&l, p, true, "/"), 0);
	}
	assert_int_equal(sandbox_paths_add(&l, "/one-more", true, "/"), -ENOSPC);
}

static void test_paths_from_config(void **state)
{
	static struct sandbox_paths l;
	struct vm_config c;

	(void)state;
	memset(&l, 0, sizeof(l));
	vm_config_init(&c);
	c.ndrives = 2;
	c.drives[0].path_on_host = "/images/root.ext4";
	c.drives[1].path_on_host = "data.img";
	c.vsock.present = true;
	c.vsock.uds_path = "/run/vm1/v.sock";
	assert_false(sandbox_needs_host_net(&c));
	assert_int_equal(sandbox_paths_from_config(&l, &c, "/home/u"), 0);
	/* The files themselves, never their directories. */
	assert_int_equal(l.n, 3);
	assert_string_equal(l.p[0].path, "/images/root.ext4");
	assert_string_equal(l.p[1].path, "/home/u/data.img");
	assert_string_equal(l.p[2].path, "/run/vm1/v.sock");
	for (unsigned int i = 0; i < l.n; i++)
		assert_false(l.p[i].dir);
	/* vhost vsock reopens its device; user networking reads resolv.conf. */
	memset(&l, 0, sizeof(l));
	c.ndrives = 0;
	c.vsock.uds_path = NULL;
	c.nnets = 1;
	c.nets[0].dev.backend = NET_USER;
	assert_true(sandbox_needs_host_net(&c));
	assert_int_equal(sandbox_paths_from_config(&l, &c, "/"), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.p[0].path, "/dev/vhost-vsock");
	assert_false(l.p[0].dir);
	assert_string_equal(l.p[1].path, "/etc/resolv.conf");
	c.nets[0].dev.backend = NET_TAP;
	assert_false(sandbox_needs_host_net(&c));
	/* A TAP NIC that may go on vhost-net gets its device; one that may not, nothing. */
	memset(&l, 0, sizeof(l));
	c.vsock.present = false;
	snprintf(c.nets[0].id, sizeof(c.nets[0].id), "eth0");
	assert_int_equal(sandbox_paths_from_config(&l, &c, "/"), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.p[0].path, "/dev/vhost-net");
	assert_false(l.p[0].ro);
	c.nets[0].rx_rate_limiter.bandwidth = (struct rl_bucket_config){ .set = true,
		.size = 1000, .refill_time = 100 };
	memset(&l, 0, sizeof(l));
	assert_int_equal(sandbox_paths_from_config(&l, &c, "/"), 0);
	assert_int_equal(l.n, 0);
	c.nets[0].rx_rate_limiter.bandwidth = (struct rl_bucket_config){ 0 };
	c.nets[0].dev.vhost = NET_VHOST_OFF;
	assert_int_equal(sandbox_paths_from_config(&l, &c, "/"), 0);
	assert_int_equal(l.n, 0);
	c.nets[0].dev.vhost = NET_VHOST_AUTO;
	c.machine.track_dirty_pages = true;
	assert_int_equal(sandbox_paths_from_config(&l, &c, "/"), 0);
	assert_int_equal(l.n, 0);
	c.machine.track_dirty_pages = false;
	c.vsock.present = true;
	c.nnets = 0;
	/* pmem files: read only where the device is. */
	memset(&l, 0, sizeof(l));
	c.vsock.present = false;
	c.npmem = 2;
	c.pmem[0].path_on_host = "/img/ro.ext4";
	c.pmem[0].read_only = true;
	c.pmem[1].path_on_host = "rw.img";
	assert_int_equal(sandbox_paths_from_config(&l, &c, "/w"), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.p[0].path, "/img/ro.ext4");
	assert_true(l.p[0].ro);
	assert_string_equal(l.p[1].path, "/w/rw.img");
	assert_false(l.p[1].ro);
	c.npmem = 0;
}

static void test_limits(void **state)
{
	(void)state;
	assert_int_equal(sandbox_nofile_limit(10, 1u << 20), SANDBOX_NOFILE_MIN);
	assert_int_equal(sandbox_nofile_limit(2000, 1u << 20), 2001 + SANDBOX_NOFILE_SPARE);
	/* Never above the hard limit it had: lowering is all setrlimit may do. */
	assert_int_equal(sandbox_nofile_limit(2000, 1500), 1500);
	assert_int_equal(sandbox_nproc_limit(4), 4 + SANDBOX_NPROC_SPARE);
}

static void test_outcome(void **state)
{
	char b[64];

	(void)state;
	probe_outcome(0, b, sizeof(b));
	assert_string_equal(b, "allowed");
	probe_outcome(EACCES << 8, b, sizeof(b));
	assert_string_equal(b, "refused (EACCES)");
	probe_outcome(HEARTH_EXIT_SECCOMP << 8, b, sizeof(b));
	assert_string_equal(b, "refused (seccomp)");
	probe_outcome(SIGSYS, b, sizeof(b));
	assert_string_equal(b, "refused (seccomp)");
	probe_outcome(255 << 8, b, sizeof(b));
	assert_string_equal(b, "error (exit 255)");
	probe_outcome(SIGSEGV, b, sizeof(b));
	assert_string_equal(b, "error (killed by signal 11)");
}

/* Whether this kernel lets the sandbox hide anything at all. */
static bool kernel_can_confine(void)
{
	int st;
	pid_t pid = fork();

	if (pid == 0)
		syscall(SYS_exit_group, unshare(CLONE_NEWUSER | CLONE_NEWNS) ? 1 : 0);
	waitpid(pid, &st, 0);
	return landlock_abi() > 0 || (WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

#define PROBE_LINES 8

/* A kernel with no namespaces and no Landlock, as far as this process can tell. */
static int kernel_without_sandboxing(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int ret;

	if (!ctx)
		return -ENOMEM;
	ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 0);
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(landlock_create_ruleset), 0);
	if (!ret)
		ret = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ? -errno : 0;
	if (!ret)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	return ret;
}

struct probe_out {
	char text[4096];
	int status;
};

/* The stand-in for `hearth serve`'s api thread: in service before the seal, then on call. */
struct fake_api {
	int cmd[2], res[2];
	pid_t target;
	bool seccomp;
};

#define SECCOMP_REFUSED (-1)

static void *fake_api_thread(void *arg)
{
	struct fake_api *a = arg;
	char c;
	int e;

	pthread_setname_np(pthread_self(), "api");
	e = thread_hook_enter(THREAD_API) ? 255 : 0;
	if (write(a->res[1], &e, sizeof(e)) != sizeof(e) || e)
		return NULL;
	/* After the seal: signal 0 to the test's process outside, as the audit's tgkill did. */
	if (read(a->cmd[0], &c, 1) != 1)
		return NULL;
	/* Under the api filter tgkill reaches Hearth's own pid only: the trap would end us. */
	if (a->seccomp)
		e = SECCOMP_REFUSED;
	else
		e = syscall(SYS_tgkill, a->target, a->target, 0) ? errno : 0;
	if (write(a->res[1], &e, sizeof(e)) != sizeof(e))
		return NULL;
	return NULL;
}

static const char *verdict(int e)
{
	return e == SECCOMP_REFUSED ? "refused (seccomp)" : e ? strerrorname_np(e) : "allowed";
}

/* What the io thread sees once sealed: a Unix socket beside the API socket, named. */
static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int e;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	e = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ? errno : 0;
	close(fd);
	return e;
}

/*
 * A child seals as the io thread does, with a drive and the API socket in
 * dir and an api thread in service since before the seal (as `hearth
 * serve` has); it reports whether it can still reach the drive, connect
 * to dir/neighbour.sock, and signal outside from the api thread, then
 * enters the io thread's hook: the probe, then the io filter.
 */
static void run_sealed(bool sandbox, bool seccomp, bool bare_kernel, const char *dir,
		       pid_t outside, struct probe_out *out)
{
	int pipefd[2];
	ssize_t n, got = 0;
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sandbox_opts o = { .off = !sandbox, .seccomp_off = !seccomp, .probe = true };
		struct fake_api a = { .target = outside, .seccomp = seccomp };
		char drive[96], api_sock[96], neighbour[96];
		struct err err;
		struct vm_config c;
		pthread_t t;
		int fd, e;

		close(pipefd[0]);
		dup2(pipefd[1], STDERR_FILENO);
		log_set_level(bare_kernel ? LOG_WARN : LOG_ERR);
		if (bare_kernel && kernel_without_sandboxing())
			_exit(89);
		if (seccomp && sandbox_init(&err))
			_exit(90);
		snprintf(drive, sizeof(drive), "%s/disk.img", dir);
		snprintf(api_sock, sizeof(api_sock), "%s/api.sock", dir);
		snprintf(neighbour, sizeof(neighbour), "%s/neighbour.sock", dir);
		o.api_sock = api_sock;
		if (sandbox_prepare(&o, &err))
			_exit(91);
		if (pipe(a.cmd) || pipe(a.res) || pthread_create(&t, NULL, fake_api_thread, &a) ||
		    read(a.res[0], &e, sizeof(e)) != sizeof(e) || e)
			_exit(94);
		vm_config_init(&c);
		c.ndrives = 1;
		c.drives[0].path_on_host = drive;
		c.machine.vcpu_count = 1;
		if (sandbox_seal(&c, &err)) {
			fprintf(stderr, "seal: %s\n", err.msg);
			_exit(92);
		}
		fd = open(drive, O_RDWR | O_CLOEXEC);
		fprintf(stderr, "drive: %s\n", fd >= 0 ? "reachable" : strerror(errno));
		fprintf(stderr, "neighbour: %s\n", verdict(connect_unix(neighbour)));
		if (write(a.cmd[1], "s", 1) != 1 || read(a.res[0], &e, sizeof(e)) != sizeof(e))
			_exit(95);
		fprintf(stderr, "api thread signal: %s\n", verdict(e));
		fflush(stderr);
		if (thread_hook_enter(THREAD_IO))
			_exit(93);
		syscall(SYS_exit_group, 0);
	}
	close(pipefd[1]);
	while (got < (ssize_t)sizeof(out->text) - 1 &&
	       (n = read(pipefd[0], out->text + got, sizeof(out->text) - 1 - (size_t)got)) > 0)
		got += n;
	out->text[got] = '\0';
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &out->status, 0), pid);
}

/* dir and what is in it: the drive, and the sockets the probe leaves. */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) > 0)
			unlink(p);
	if (d)
		closedir(d);
	rmdir(dir);
}

/* The test's own process outside the sandbox: a `sleep`, and a listener beside the API socket. */
struct outside {
	pid_t sleeper;
	int listen_fd;
	char path[96];
};

static void outside_start(struct outside *o, const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	o->sleeper = fork();
	assert_true(o->sleeper >= 0);
	if (o->sleeper == 0) {
		execlp("sleep", "sleep", "600", (char *)NULL);
		_exit(127);
	}
	snprintf(o->path, sizeof(o->path), "%s/neighbour.sock", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", o->path);
	o->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(o->listen_fd >= 0);
	assert_int_equal(bind(o->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(o->listen_fd, 8), 0);
}

static void outside_stop(struct outside *o)
{
	kill(o->sleeper, SIGKILL);
	waitpid(o->sleeper, NULL, 0);
	close(o->listen_fd);
	unlink(o->path);
}

static int count_lines(const char *text, const char *verdict)
{
	int n = 0;

	for (const char *l = text; (l = strstr(l, "probe: ")); l++) {
		const char *end = strchr(l, '\n');
		const char *v = strstr(l, verdict);

		if (v && (!end || v < end))
			n++;
	}
	return n;
}

static int count(const char *text, const char *what)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, what)); p++)
		n++;
	return n;
}

/*
 * No namespaces, no Landlock: one warning line for each, the rest of the
 * sandbox still sealed (seccomp, limits, capabilities), nothing fails.
 */
static void test_degrade(void **state)
{
	char dir[] = "/tmp/hearth-confine-XXXXXX";
	char path[64];
	struct probe_out out;
	struct outside o;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/disk.img", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	outside_start(&o, dir);
	run_sealed(true, true, true, dir, o.sleeper, &out);
	outside_stop(&o);
	remove_dir(dir);
	print_message("%s", out.text);
	assert_true(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 0);
	assert_int_equal(count(out.text, "hearth: warning: "), 2);
	assert_int_equal(count(out.text, "hearth: warning: sandbox: no "), 2);
	assert_non_null(strstr(out.text, "namespaces (unshare: Operation not permitted)"));
	assert_non_null(strstr(out.text, "warning: sandbox: no Landlock (kernel ABI 0): filesystem "
					 "not restricted\n"));
	assert_non_null(strstr(out.text, "drive: reachable"));
	/* Nothing hides the host's files now; seccomp still stands. */
	assert_non_null(strstr(out.text, "probe: open /etc/passwd: allowed"));
	assert_non_null(strstr(out.text, "probe: execve /proc/self/exe: refused (seccomp)"));
	/* The api thread's share of the probe ran too, at the seal. */
	assert_non_null(strstr(out.text, "probe: api thread: connect unix socket beside the API "
					 "socket: refused (seccomp)"));
	assert_non_null(strstr(out.text, "probe: done"));
}

/* The pure rule: a directory, or one above it, that others share. */
static void test_shared_rule(void **state)
{
	static const char *const shared[] = { "/", "/run", "/tmp", "/home/u" };

	(void)state;
	assert_string_equal(sandbox_dir_shared("/tmp", shared + 1, 3), "/tmp");
	assert_string_equal(sandbox_dir_shared("/home", shared + 1, 3), "/home/u");
	assert_string_equal(sandbox_dir_shared("/", shared + 1, 3), "/run");
	assert_null(sandbox_dir_shared("/tmp/vm1", shared + 1, 3));
	assert_null(sandbox_dir_shared("/runx", shared + 1, 3));
	assert_null(sandbox_dir_shared("/home/u/vm", shared + 1, 3));
	assert_string_equal(sandbox_dir_shared("/", shared, 1), "/");
	assert_null(sandbox_dir_shared("/srv/vm", shared, 1));
}

/*
 * Keeping a shared directory is refused with one line naming it and why,
 * as named or through a link (/var/run), and so is one above it; a
 * directory of the VM's own inside /tmp is kept.
 */
static void test_shared_refused(void **state)
{
	static const char *const refused[] = { "/tmp", "/run", "/var/run", "/", "/var", "/dev",
					       "/tmp/", "/tmp/.." };
	char dir[] = "/tmp/hearth-confine-XXXXXX";
	char home[] = "/tmp/hearth-home-XXXXXX";
	struct err err;

	(void)state;
	for (unsigned int i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		err = (struct err)ERR_INIT;
		assert_int_equal(sandbox_allow_dir(refused[i], &err), -EPERM);
		print_message("%s: %s\n", refused[i], err.msg);
		assert_true(err.usage);
		assert_non_null(strstr(err.msg, "other programs share"));
		assert_non_null(strstr(err.msg, "exposes /"));
	}
	err = (struct err)ERR_INIT;
	assert_int_equal(sandbox_allow_dir("/run", &err), -EPERM);
	assert_non_null(strstr(err.msg, "would keep /run, which exposes /run"));
	assert_non_null(mkdtemp(dir));
	assert_non_null(mkdtemp(home));
	setenv("HOME", home, 1);
	assert_int_equal(sandbox_allow_dir(home, &err), -EPERM);
	assert_non_null(strstr(err.msg, home));
	assert_int_equal(sandbox_allow_dir(dir, &err), 0);
	rmdir(dir);
	rmdir(home);
}

static void test_probe(void **state)
{
	char dir[] = "/tmp/hearth-confine-XXXXXX";
	char path[64];
	struct probe_out on, off, walls;
	struct outside o;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/disk.img", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	outside_start(&o, dir);

	run_sealed(false, false, false, dir, o.sleeper, &off);
	run_sealed(true, true, false, dir, o.sleeper, &on);
	run_sealed(true, false, false, dir, o.sleeper, &walls);
	outside_stop(&o);
	remove_dir(dir);
	print_message("sandbox off:\n%ssandbox on:\n%ssandbox on, seccomp off:\n%s", off.text,
		      on.text, walls.text);

	assert_true(WIFEXITED(off.status) && WEXITSTATUS(off.status) == 0);
	assert_int_equal(count_lines(off.text, ": allowed"), PROBE_LINES);
	assert_non_null(strstr(off.text, "drive: reachable"));
	/* Without a sandbox both are reachable: the checks below can fail. */
	assert_non_null(strstr(off.text, "neighbour: allowed"));
	assert_non_null(strstr(off.text, "api thread signal: allowed"));

	assert_true(WIFEXITED(on.status) && WEXITSTATUS(on.status) == 0);
	assert_non_null(strstr(on.text, "probe: done"));
	assert_non_null(strstr(on.text, "drive: reachable"));
	/* seccomp alone refuses execve, ptrace and the ioctl wherever it runs. */
	assert_non_null(strstr(on.text, "execve /proc/self/exe: refused"));
	assert_non_null(strstr(on.text, "ioctl SIOCGIFCONF: refused"));
	assert_non_null(strstr(on.text, "io_uring_setup: refused (seccomp)"));
#if defined(__SANITIZE_ADDRESS__)
	/*
	 * LeakSanitizer ptraces the process at exit: sanitizer builds allow
	 * ptrace on every thread (allow.c) and stay dumpable (harden.c).
	 */
	assert_non_null(strstr(on.text, "ptrace PTRACE_SEIZE hearth: allowed"));
	const int ptrace_refused = 0;
	/* The sealed root keeps /proc for LeakSanitizer, read only: its write line is refused. */
	const int proc_refused = 1;
#else
	assert_non_null(strstr(on.text, "ptrace PTRACE_SEIZE hearth: refused"));
	const int ptrace_refused = 1;
	const int proc_refused = 0;
#endif
	if (!kernel_can_confine()) {
		print_message("no Landlock and no namespaces here: open and connect not checked\n");
		return;
	}
	/*
	 * The API socket's directory (the drive's too) is not in the sealed
	 * root: a socket beside it is out of reach. The api thread, in
	 * service since before the seal, is inside the same sandbox: it
	 * signals nothing outside.
	 */
	assert_non_null(strstr(on.text, "neighbour: ENOENT"));
	assert_null(strstr(on.text, "api thread signal: allowed"));
	assert_non_null(strstr(on.text, "api thread signal: "));
	assert_int_equal(count_lines(on.text, ": refused"),
			 PROBE_LINES - 1 + ptrace_refused + 2 + proc_refused);
	/* ... and the one writable kept path, the drive, opened for writing (probe_kept). */
	assert_non_null(strstr(on.text, "disk.img: allowed"));
	assert_int_equal(count_lines(on.text, ": allowed"), 1 - ptrace_refused + 1);
	/*
	 * Without seccomp the sandbox's own walls still hold: only the ioctl
	 * and a ring of its own (which seccomp alone refuses) get through.
	 */
	assert_true(WIFEXITED(walls.status) && WEXITSTATUS(walls.status) == 0);
	assert_non_null(strstr(walls.text, "drive: reachable"));
	assert_non_null(strstr(walls.text, "neighbour: ENOENT"));
	assert_null(strstr(walls.text, "api thread signal: allowed"));
	assert_non_null(strstr(walls.text, "ioctl SIOCGIFCONF: allowed"));
	assert_non_null(strstr(walls.text, "io_uring_setup: allowed"));
	assert_non_null(strstr(walls.text, "probe: api thread: connect unix socket beside the API "
					   "socket: refused (ENOENT)"));
	assert_int_equal(count_lines(walls.text, ": refused"),
			 PROBE_LINES - 3 + ptrace_refused + 2 + proc_refused);
	assert_null(strstr(walls.text, "(seccomp)"));
}

/* A ring of the caller's own, unfenced: 0 when made, else its errno. */
static int make_ring(void)
{
	struct io_uring_params p;
	int fd;

	memset(&p, 0, sizeof(p));
	fd = (int)syscall(SYS_io_uring_setup, 2, &p);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

/* A thread of a PCI VM that is in service since before the seal (`hearth serve`'s api). */
struct ring_thread {
	enum thread_kind kind;
	int go[2], res[2];
};

static void *ring_thread(void *arg)
{
	struct ring_thread *t = arg;
	char c;
	int e;

	pthread_setname_np(pthread_self(), t->kind == THREAD_API ? "api" : "vcpu0");
	e = thread_hook_enter(t->kind) ? 255 : 0;
	if (t->kind == THREAD_API && write(t->res[1], &e, sizeof(e)) != sizeof(e))
		return NULL;
	/* The api thread waits for the seal; a vCPU starts after it, as Hearth's do. */
	if (t->kind == THREAD_API && read(t->go[0], &c, 1) != 1)
		return NULL;
	if (!e)
		e = make_ring();
	if (write(t->res[1], &e, sizeof(e)) != sizeof(e))
		return NULL;
	return NULL;
}

/*
 * A child seals a PCI VM (with a device passed through too, so that every
 * extension of every list is on) as the io thread does, sandboxed or
 * not, then one thread of kind tries to make an io_uring ring: its exit
 * status and stderr into out.
 */
static void run_pci_ring(bool sandbox, bool seccomp, enum thread_kind kind, struct probe_out *out)
{
	int pipefd[2];
	ssize_t n, got = 0;
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sandbox_opts o = { .off = !sandbox, .seccomp_off = !seccomp };
		struct ring_thread t = { .kind = kind };
		struct vm_config c;
		struct err err;
		pthread_t th;
		int e = 0;

		close(pipefd[0]);
		dup2(pipefd[1], STDERR_FILENO);
		log_set_level(LOG_ERR);
		prctl(PR_SET_NAME, "io");
		if ((seccomp && sandbox_init(&err)) || sandbox_prepare(&o, &err) ||
		    pipe(t.go) || pipe(t.res))
			_exit(90);
		if (kind == THREAD_API && (pthread_create(&th, NULL, ring_thread, &t) ||
					   read(t.res[0], &e, sizeof(e)) != sizeof(e) || e))
			_exit(91);
		vm_config_init(&c);
		c.pci = true;
		c.nvfio = 1;
		c.machine.vcpu_count = 1;
		if (sandbox_seal(&c, &err)) {
			fprintf(stderr, "seal: %s\n", err.msg);
			_exit(92);
		}
		if (kind == THREAD_IO) {
			if (thread_hook_enter(THREAD_IO))
				_exit(93);
			e = make_ring();
		} else {
			if ((kind == THREAD_VCPU && pthread_create(&th, NULL, ring_thread, &t)) ||
			    (kind == THREAD_API && write(t.go[1], "g", 1) != 1) ||
			    read(t.res[0], &e, sizeof(e)) != sizeof(e))
				_exit(94);
		}
		syscall(SYS_exit_group, e);
	}
	close(pipefd[1]);
	while (got < (ssize_t)sizeof(out->text) - 1 &&
	       (n = read(pipefd[0], out->text + got, sizeof(out->text) - 1 - (size_t)got)) > 0)
		got += n;
	out->text[got] = '\0';
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &out->status, 0), pid);
}

/*
 * Audit F1: on a PCI VM no thread makes an io_uring ring once sealed (a
 * plugged disk's was made with the VM): the io thread, whose PCI
 * hotplug extension used to allow io_uring_setup, the api thread and a
 * vCPU with its VFIO extension, sandboxed or under seccomp alone
 * (--no-sandbox, firecracker without --jail). Each trap ends the process
 * with the SIGSYS line; without the filters the ring is made, so the
 * test can fail.
 */
static void test_pci_vm_no_ring(void **state)
{
	static const enum thread_kind kinds[] = { THREAD_IO, THREAD_API, THREAD_VCPU };
	static const char *const names[] = { "io", "api", "vcpu0" };

	(void)state;
	for (unsigned int k = 0; k < 3; k++) {
		for (int sandbox = 1; sandbox >= 0; sandbox--) {
			struct probe_out out;
			char line[128];

			run_pci_ring(sandbox, true, kinds[k], &out);
			print_message("%s, %s: status 0x%x %s", names[k], sandbox ? "sandboxed" :
				      "seccomp only", out.status, out.text);
			snprintf(line, sizeof(line), "hearth: seccomp: thread %s made forbidden "
				 "syscall 425 (io_uring_setup); exiting\n", names[k]);
			assert_true(WIFEXITED(out.status));
			assert_int_equal(WEXITSTATUS(out.status), HEARTH_EXIT_SECCOMP);
			assert_non_null(strstr(out.text, line));
		}
		/* Neither sandbox nor filters: the same thread makes its ring. */
		{
			struct probe_out out;

			run_pci_ring(false, false, kinds[k], &out);
			if (!WIFEXITED(out.status) || WEXITSTATUS(out.status) != 0)
				fail_msg("%s, unfiltered: status 0x%x %s", names[k], out.status, out.text);
		}
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opts),
		cmocka_unit_test(test_pidns_opts),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_paths_from_config),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_outcome),
		cmocka_unit_test(test_shared_rule),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_degrade),
		cmocka_unit_test(test_pci_vm_no_ring),
		/* Last: what it keeps stays in this process's list. */
		cmocka_unit_test(test_shared_refused),
	};

	/* The probe's execve attempt runs this binary again: it must only exit 0. */
	if (argc > 1 && !strcmp(argv[1], "--version"))
		return 0;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The process sandbox (src/sandbox/confine.h), without KVM: the pure
 * decisions (flags, the paths kept reachable, the limits, the probe's
 * verdicts), then the real thing in a child process: seal as the io
 * thread does before the vCPUs start, and run the sandbox probe. Sealed,
 * every attempt must be refused and the drive's directory still
 * reachable; with the sandbox and the filters off, every attempt must
 * succeed, so the test can fail.
 */
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

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
	assert_int_equal(l.n, 3);
	assert_string_equal(l.p[0].path, "/images");
	assert_string_equal(l.p[1].path, "/home/u");
	assert_string_equal(l.p[2].path, "/run/vm1");
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
	c.nnets = 0;
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

#define PROBE_LINES 5

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

/*
 * A child seals as the io thread does (a drive in dir), reports whether
 * it can still reach the drive, then enters the io thread's hook: the
 * probe, then the io filter.
 */
static void run_sealed(bool sandbox, bool seccomp, bool bare_kernel, const char *dir,
		       struct probe_out *out)
{
	int pipefd[2];
	ssize_t n, got = 0;
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sandbox_opts o = { .off = !sandbox, .seccomp_off = !seccomp, .probe = true };
		char drive[256];
		struct err err;
		struct vm_config c;
		int fd;

		close(pipefd[0]);
		dup2(pipefd[1], STDERR_FILENO);
		log_set_level(bare_kernel ? LOG_WARN : LOG_ERR);
		if (bare_kernel && kernel_without_sandboxing())
			_exit(89);
		if (seccomp && sandbox_init(&err))
			_exit(90);
		if (sandbox_prepare(&o, &err))
			_exit(91);
		snprintf(drive, sizeof(drive), "%s/disk.img", dir);
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
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/disk.img", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	run_sealed(true, true, true, dir, &out);
	unlink(path);
	rmdir(dir);
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
	assert_non_null(strstr(out.text, "probe: done"));
}

/*
 * A directory the VM uses may be where the new root is staged (/tmp):
 * sealed, a file made there must land in the host's /tmp.
 */
static void stage_dir_bound(bool all_candidates)
{
	static const char *const cand[] = { "/tmp", "/mnt", "/run", "/var/tmp", "/media",
					    "/srv", "/opt" };
	char name[64];
	int st;
	pid_t pid;

	snprintf(name, sizeof(name), "/tmp/hearth-confine-stage-%d", (int)getpid());
	unlink(name);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sandbox_opts o = { .seccomp_off = true };
		struct err err;
		struct vm_config c;
		int fd;

		log_set_level(LOG_ERR);
		vm_config_init(&c);
		c.machine.vcpu_count = 1;
		/* All of them: the stage can only be one that is bound in too. */
		for (unsigned int i = 0; all_candidates && i < sizeof(cand) / sizeof(cand[0]); i++)
			if (sandbox_allow_dir(cand[i]))
				_exit(90);
		if (sandbox_allow_dir("/tmp") || sandbox_prepare(&o, &err) ||
		    sandbox_seal(&c, &err))
			_exit(91);
		fd = open(name, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		syscall(SYS_exit_group, fd < 0 ? errno : 0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(access(name, F_OK), 0);
	unlink(name);
}

static void test_stage_dir_bound(void **state)
{
	(void)state;
	stage_dir_bound(false);
	stage_dir_bound(true);
}

static void test_probe(void **state)
{
	char dir[] = "/tmp/hearth-confine-XXXXXX";
	char path[64];
	struct probe_out on, off, walls;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/disk.img", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);

	run_sealed(false, false, false, dir, &off);
	run_sealed(true, true, false, dir, &on);
	run_sealed(true, false, false, dir, &walls);
	unlink(path);
	rmdir(dir);
	print_message("sandbox off:\n%ssandbox on:\n%ssandbox on, seccomp off:\n%s", off.text,
		      on.text, walls.text);

	assert_true(WIFEXITED(off.status) && WEXITSTATUS(off.status) == 0);
	assert_int_equal(count_lines(off.text, ": allowed"), PROBE_LINES);
	assert_non_null(strstr(off.text, "drive: reachable"));

	assert_true(WIFEXITED(on.status) && WEXITSTATUS(on.status) == 0);
	assert_non_null(strstr(on.text, "probe: done"));
	assert_non_null(strstr(on.text, "drive: reachable"));
	/* seccomp alone refuses execve, ptrace and the ioctl wherever it runs. */
	assert_non_null(strstr(on.text, "execve /proc/self/exe: refused"));
	assert_non_null(strstr(on.text, "ioctl SIOCGIFCONF: refused"));
#if defined(__SANITIZE_ADDRESS__)
	/*
	 * LeakSanitizer ptraces the process at exit: sanitizer builds allow
	 * ptrace on every thread (allow.c) and stay dumpable (harden.c).
	 */
	assert_non_null(strstr(on.text, "ptrace PTRACE_SEIZE hearth: allowed"));
	const int ptrace_refused = 0;
#else
	assert_non_null(strstr(on.text, "ptrace PTRACE_SEIZE hearth: refused"));
	const int ptrace_refused = 1;
#endif
	if (!kernel_can_confine()) {
		print_message("no Landlock and no namespaces here: open and connect not checked\n");
		return;
	}
	assert_int_equal(count_lines(on.text, ": refused"), PROBE_LINES - 1 + ptrace_refused);
	/* Without seccomp the sandbox's own walls still hold: only the ioctl gets through. */
	assert_true(WIFEXITED(walls.status) && WEXITSTATUS(walls.status) == 0);
	assert_non_null(strstr(walls.text, "drive: reachable"));
	assert_non_null(strstr(walls.text, "ioctl SIOCGIFCONF: allowed"));
	assert_int_equal(count_lines(walls.text, ": refused"), PROBE_LINES - 2 + ptrace_refused);
	assert_null(strstr(walls.text, "(seccomp)"));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opts),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_paths_from_config),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_outcome),
		cmocka_unit_test(test_stage_dir_bound),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_degrade),
	};

	/* The probe's execve attempt runs this binary again: it must only exit 0. */
	if (argc > 1 && !strcmp(argv[1], "--version"))
		return 0;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

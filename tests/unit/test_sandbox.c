/*
 * The per-thread seccomp filters, without KVM: a child process installs a
 * thread kind's filter and makes a syscall. A forbidden one must end the
 * child with HEARTH_EXIT_SECCOMP and one stderr line naming the thread and
 * the syscall; an allowed one must pass; and without the filter (what
 * --no-seccomp gives) the forbidden call must succeed, so these tests can fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <seccomp.h>

#include "mem/guest_mem.h"
#include "mem/guest_mem_hotplug.h"
#include "mem/guest_mem_uffd.h"
#include "sandbox/allow.h"
#include "sandbox/compile.h"
#include "sandbox/sandbox.h"
#include "util/log.h"
#include "util/thread_hook.h"
#include "util/uds.h"

enum probe {
	PROBE_SOCKET,         /* socket(AF_UNIX): the io thread's, nobody else's */
	PROBE_KVM_RUN,        /* ioctl(-1, KVM_RUN): allowed on a vCPU (EBADF) */
	PROBE_KVM_CREATE_VM,  /* ioctl(-1, KVM_CREATE_VM): setup only, nobody's */
	PROBE_MMAP_EXEC,      /* mmap(PROT_EXEC): nobody's */
	PROBE_MMAP,           /* mmap(PROT_READ|PROT_WRITE): malloc's, everybody's */
	PROBE_OPEN_CREATE,    /* openat(O_CREAT): the api thread's only */
	PROBE_OPEN_READ,      /* openat(O_RDONLY) of an existing file: io and api */
	PROBE_TGKILL_SELF,    /* tgkill(own pid, own tid, 0): everybody's */
	PROBE_TGKILL_OTHER,   /* tgkill(the test's pid, 0): another process, nobody's */
	PROBE_HOTPLUG_UNPLUG, /* a Uffd restore's hotplug block unplugged: the io thread's */
	PROBE_IO_URING_SETUP, /* a ring of its own, unfenced: nobody's, on a PCI VM too */
};

/* The child's filters have what a PCI VM with a device passed through adds (confine.c). */
/* The name each kind's thread has in the tests (a trap's report names it). */
static const char *kind_name(enum thread_kind kind)
{
	switch (kind) {
	case THREAD_VCPU:
		return "vcpu7";
	case THREAD_IO:
		return "io";
	case THREAD_MIGRATE:
		return "migrate";
	default:
		return "api";
	}
}

static bool probe_pci_vm;

/* PROBE_HOTPLUG_UNPLUG's memory, set up before the filter as a restore sets it up. */
static struct guest_mem probe_gm;

/* The test process, for PROBE_TGKILL_OTHER (getppid is on no list). */
static pid_t test_pid;

/* Runs the probe; 0 when the syscall itself came back (success or an errno). */
static int probe_run(enum probe p)
{
	void *m;
	int fd;

	switch (p) {
	case PROBE_SOCKET:
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		return fd >= 0 ? 0 : 1;
	case PROBE_KVM_RUN:
		return ioctl(-1, KVM_RUN, 0) < 0 && errno == EBADF ? 0 : 1;
	case PROBE_KVM_CREATE_VM:
		return ioctl(-1, KVM_CREATE_VM, 0) < 0 && errno == EBADF ? 0 : 1;
	case PROBE_MMAP_EXEC:
	case PROBE_MMAP:
		m = mmap(NULL, 4096, PROT_READ | (p == PROBE_MMAP_EXEC ? PROT_EXEC : PROT_WRITE),
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return m != MAP_FAILED ? 0 : 1;
	case PROBE_OPEN_CREATE:
		fd = open("/proc/self/nonexistent", O_WRONLY | O_CREAT, 0600);
		return 0;   /* reaching here at all is the point: it fails with ENOENT/EACCES */
	case PROBE_OPEN_READ:
		fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
		return fd >= 0 ? 0 : 1;
	case PROBE_TGKILL_SELF:
		return syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), 0) ? 1 : 0;
	case PROBE_TGKILL_OTHER:
		/* Signal 0 to the test itself, a process of the same user: allowed unfiltered. */
		return syscall(SYS_tgkill, test_pid, test_pid, 0) ? 1 : 0;
	case PROBE_IO_URING_SETUP: {
		struct io_uring_params params;

		memset(&params, 0, sizeof(params));
		fd = (int)syscall(SYS_io_uring_setup, 2, &params);
		return fd >= 0 ? 0 : 1;
	}
	case PROBE_HOTPLUG_UNPLUG:
		/* Unplugging takes the range out of the userfaultfd (UFFDIO_UNREGISTER), then gives it back. */
		if (guest_mem_hotplug_set(&probe_gm, 0, 2u << 20, true) ||
		    guest_mem_hotplug_set(&probe_gm, 0, 2u << 20, false))
			return 1;
		/* Out of the userfaultfd: this touch is the kernel's zero page, no handler asked. */
		return probe_gm.hp->hva[0] == 0 ? 0 : 1;
	}
	return 1;
}

/* What a probe needs made before the filter; 0, or the child gives up. */
static int probe_setup(enum probe p)
{
	if (p != PROBE_HOTPLUG_UNPLUG)
		return 0;
	if (guest_mem_init(&probe_gm, 1u << 20) ||
	    guest_mem_hotplug_init(&probe_gm, 128u << 20, 2u << 20, 128u << 20))
		return -1;
	/* Where the kernel refuses this process a userfaultfd, the unplug is plain MADV_DONTNEED. */
	if (guest_mem_uffd_register(&probe_gm) < 0)
		log_warn("test_sandbox: no userfaultfd here; the unplug probe runs without one");
	return 0;
}

struct outcome {
	int status;      /* exit code, or -1 if killed by a signal */
	char err[512];   /* the child's stderr */
};

/* In a child: names the thread, installs kind's filter unless filtered is false, probes. */
static void run_child(enum thread_kind kind, bool filtered, enum probe p, struct outcome *o)
{
	int pipefd[2];
	pid_t pid;
	int st;
	ssize_t n, got = 0;

	assert_int_equal(pipe(pipefd), 0);
	test_pid = getpid();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct err err;

		close(pipefd[0]);
		dup2(pipefd[1], STDERR_FILENO);
		prctl(PR_SET_NAME, kind_name(kind));
		if (probe_setup(p))
			_exit(98);
		if (filtered && sandbox_init(&err))
			_exit(99);
		if (filtered && probe_pci_vm) {
			sandbox_allow_pci_hotplug();
			sandbox_allow_vfio();
		}
		if (filtered && (sandbox_build_all(&err) || thread_hook_enter(kind)))
			_exit(99);
		_exit(probe_run(p));
	}
	close(pipefd[1]);
	memset(o, 0, sizeof(*o));
	while ((n = read(pipefd[0], o->err + got, sizeof(o->err) - 1 - (size_t)got)) > 0)
		got += n;
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	o->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect_allowed(enum thread_kind kind, enum probe p)
{
	struct outcome o;

	run_child(kind, true, p, &o);
	if (o.status != 0)
		fail_msg("kind %d probe %d: status %d, stderr '%s'", kind, p, o.status, o.err);
	assert_string_equal(o.err, "");
}

static void expect_trapped(enum thread_kind kind, enum probe p, const char *line)
{
	struct outcome o;

	run_child(kind, true, p, &o);
	if (o.status != HEARTH_EXIT_SECCOMP)
		fail_msg("kind %d probe %d: status %d, stderr '%s'", kind, p, o.status, o.err);
	/* Exactly one line, and the expected one. */
	assert_string_equal(o.err, line);
	/* Without the filter (--no-seccomp) the same call goes through. */
	run_child(kind, false, p, &o);
	assert_int_equal(o.status, 0);
	assert_string_equal(o.err, "");
}

static void test_vcpu(void **state)
{
	(void)state;
	expect_allowed(THREAD_VCPU, PROBE_KVM_RUN);
	expect_allowed(THREAD_VCPU, PROBE_MMAP);
	expect_trapped(THREAD_VCPU, PROBE_SOCKET,
		       "hearth: seccomp: thread vcpu7 made forbidden syscall 41 (socket); exiting\n");
	/* ioctl is allowed by request number, not as a whole. */
	expect_trapped(THREAD_VCPU, PROBE_KVM_CREATE_VM,
		       "hearth: seccomp: thread vcpu7 made forbidden syscall 16 (ioctl); exiting\n");
	expect_trapped(THREAD_VCPU, PROBE_MMAP_EXEC,
		       "hearth: seccomp: thread vcpu7 made forbidden syscall 9 (mmap); exiting\n");
	expect_trapped(THREAD_VCPU, PROBE_OPEN_READ,
		       "hearth: seccomp: thread vcpu7 made forbidden syscall 257 (openat); exiting\n");
}

static void test_io(void **state)
{
	(void)state;
	expect_allowed(THREAD_IO, PROBE_SOCKET);
	expect_allowed(THREAD_IO, PROBE_OPEN_READ);
	expect_trapped(THREAD_IO, PROBE_KVM_RUN,
		       "hearth: seccomp: thread io made forbidden syscall 16 (ioctl); exiting\n");
	expect_trapped(THREAD_IO, PROBE_OPEN_CREATE,
		       "hearth: seccomp: thread io made forbidden syscall 257 (openat); exiting\n");
	/* virtio-mem's unplug after a Uffd restore (the lab found it trapped). */
	expect_allowed(THREAD_IO, PROBE_HOTPLUG_UNPLUG);
}

static void test_api(void **state)
{
	(void)state;
	expect_allowed(THREAD_API, PROBE_OPEN_CREATE);
	expect_trapped(THREAD_API, PROBE_SOCKET,
		       "hearth: seccomp: thread api made forbidden syscall 41 (socket); exiting\n");
	expect_trapped(THREAD_API, PROBE_KVM_RUN,
		       "hearth: seccomp: thread api made forbidden syscall 16 (ioctl); exiting\n");
}

/* Live migration's thread: its sockets, never a vCPU's ioctls, never new code. */
static void test_migrate(void **state)
{
	(void)state;
	expect_allowed(THREAD_MIGRATE, PROBE_SOCKET);
	expect_allowed(THREAD_MIGRATE, PROBE_MMAP);
	expect_trapped(THREAD_MIGRATE, PROBE_KVM_RUN,
		       "hearth: seccomp: thread migrate made forbidden syscall 16 (ioctl); exiting\n");
	expect_trapped(THREAD_MIGRATE, PROBE_OPEN_READ,
		       "hearth: seccomp: thread migrate made forbidden syscall 257 (openat); "
		       "exiting\n");
	expect_trapped(THREAD_MIGRATE, PROBE_MMAP_EXEC,
		       "hearth: seccomp: thread migrate made forbidden syscall 9 (mmap); exiting\n");
}

/*
 * A thread signals Hearth's own threads only: Landlock scopes signals
 * only from ABI 6 on, and with no PID namespace the filter is what keeps
 * a sealed Hearth from signalling another process of its user.
 */
static void test_tgkill_self_only(void **state)
{
	(void)state;
	for (int k = 0; k < THREAD_KINDS; k++) {
		enum thread_kind kind = (enum thread_kind)k;
		const char *name = kind_name(kind);
		char line[128];

		expect_allowed(kind, PROBE_TGKILL_SELF);
		snprintf(line, sizeof(line),
			 "hearth: seccomp: thread %s made forbidden syscall 234 (tgkill); exiting\n", name);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
		/* The sanitizer runtime's own list allows any tgkill (allow.c): test builds only. */
		(void)line;
		expect_allowed(kind, PROBE_TGKILL_OTHER);
#else
		expect_trapped(kind, PROBE_TGKILL_OTHER, line);
#endif
	}
}

/*
 * Audit F1: no thread makes an io_uring ring of its own once filtered,
 * on a plain VM or a PCI one (whose io thread's extension used to allow
 * io_uring_setup for a plugged disk's ring, now made with the VM), with
 * every list's extension on. Such a ring is no fenced disk ring: its SQEs
 * open, create and rename what the filters refuse as syscalls.
 */
static void test_io_uring_setup_nobody(void **state)
{
	(void)state;
	for (int pci = 0; pci < 2; pci++) {
		probe_pci_vm = pci;
		for (int k = 0; k < THREAD_KINDS; k++) {
			enum thread_kind kind = (enum thread_kind)k;
			char line[128];

			snprintf(line, sizeof(line), "hearth: seccomp: thread %s made forbidden syscall "
				 "425 (io_uring_setup); exiting\n",
				 kind_name(kind));
			expect_trapped(kind, PROBE_IO_URING_SETUP, line);
		}
	}
	probe_pci_vm = false;
}

static void *filtered_thread(void *arg)
{
	(void)arg;
	return (void *)(long)thread_hook_enter(THREAD_VCPU);
}

/* A filter is the installing thread's alone (no TSYNC): the others keep their own. */
static void test_per_thread(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct err err;
		pthread_t t;
		void *ret;

		if (sandbox_init(&err) || sandbox_build_all(&err) || pthread_create(&t, NULL, filtered_thread, NULL))
			_exit(99);
		pthread_join(t, &ret);
		if (ret)
			_exit(98);
		/* socket() is forbidden to a vCPU, but this thread never took its filter. */
		_exit(probe_run(PROBE_SOCKET));
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/*
 * The main thread, under the io filter, can still end the process the
 * ordinary way (exit(), atexit handlers, a sanitizer's leak check at
 * exit), as hearth does when it returns from main().
 */
static void test_exit_under_filter(void **state)
{
	struct outcome o;

	(void)state;
	for (int k = THREAD_IO; k == THREAD_IO; k++) {
		int pipefd[2], st;
		pid_t pid;
		ssize_t n, got = 0;

		assert_int_equal(pipe(pipefd), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct err err;

			close(pipefd[0]);
			dup2(pipefd[1], STDERR_FILENO);
			if (sandbox_init(&err) || sandbox_build_all(&err) || thread_hook_enter((enum thread_kind)k))
				_exit(99);
			exit(0);
		}
		close(pipefd[1]);
		memset(&o, 0, sizeof(o));
		while ((n = read(pipefd[0], o.err + got, sizeof(o.err) - 1 - (size_t)got)) > 0)
			got += n;
		close(pipefd[0]);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail_msg("kind %d: status 0x%x, stderr '%s'", k, st, o.err);
	}
}

struct trap_arg {
	enum thread_kind kind;
	const char *name;
	int go;        /* set once the main thread is under its own filter */
};

/* Installs kind's filter on this thread and makes a syscall no filter has. */
static void *trap_thread(void *arg)
{
	struct trap_arg *a = arg;

	prctl(PR_SET_NAME, a->name);
	if (thread_hook_enter(a->kind))
		_exit(99);
	while (!__atomic_load_n(&a->go, __ATOMIC_ACQUIRE))
		sched_yield();
	ioctl(-1, KVM_CREATE_VM, 0);
	return NULL;
}

/*
 * A trap skips all unwinding, so the handler removes the API socket
 * itself (here a plain file stands for it): on the api and io threads,
 * whose filters allow unlink, directly; a vCPU's does not, and the main
 * thread (the io thread, under its own filter) does it on the vCPU's
 * behalf. Still exit 148 and one line, the trapping thread's.
 */
static void expect_socket_removed(enum thread_kind kind, const char *name)
{
	struct trap_arg a = { kind, name, 1 };
	char dir[] = "/tmp/hearth-sigsys-XXXXXX", path[64], line[160];
	struct err err;
	struct outcome o;
	int pipefd[2], fd, st;
	ssize_t n, got = 0;
	pid_t pid;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/api.sock", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pthread_t t;

		close(pipefd[0]);
		dup2(pipefd[1], STDERR_FILENO);
		uds_set_exit_unlink(path);
		if (sandbox_init(&err) || sandbox_build_all(&err))
			_exit(99);
		if (kind != THREAD_VCPU)
			trap_thread(&a);
		/* As in hearth: the vCPU starts, then the main thread takes the io filter. */
		a.go = 0;
		prctl(PR_SET_NAME, "io");
		if (pthread_create(&t, NULL, trap_thread, &a) || thread_hook_enter(THREAD_IO))
			_exit(98);
		__atomic_store_n(&a.go, 1, __ATOMIC_RELEASE);
		pthread_join(t, NULL);
		_exit(97);
	}
	close(pipefd[1]);
	memset(&o, 0, sizeof(o));
	while ((n = read(pipefd[0], o.err + got, sizeof(o.err) - 1 - (size_t)got)) > 0)
		got += n;
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != HEARTH_EXIT_SECCOMP)
		fail_msg("%s: status 0x%x, stderr '%s'", name, st, o.err);
	snprintf(line, sizeof(line),
		 "hearth: seccomp: thread %s made forbidden syscall 16 (ioctl); exiting\n", name);
	assert_string_equal(o.err, line);
	if (access(path, F_OK) == 0)
		fail_msg("%s: the socket is still there after the trap", name);
	assert_int_equal(rmdir(dir), 0);
}

static void test_trap_removes_socket(void **state)
{
	(void)state;
	expect_socket_removed(THREAD_API, "api");
	expect_socket_removed(THREAD_IO, "io");
	expect_socket_removed(THREAD_VCPU, "vcpu0");
}

/*
 * sandbox_init states libseccomp's base API level rather than let it probe
 * the kernel (0.2 ms on the first answer's path): sound only while the
 * level changes none of the programs Hearth exports and loads itself.
 */
static void test_level_free(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sock_fprog probed[THREAD_KINDS], base;
		int ok = seccomp_api_get() >= 1;

		for (int k = 0; ok && k < THREAD_KINDS; k++)
			ok = !sandbox_export((enum thread_kind)k, &probed[k]);
		ok = ok && !seccomp_api_set(1) && seccomp_api_get() == 1;
		for (int k = 0; ok && k < THREAD_KINDS; k++) {
			ok = !sandbox_export((enum thread_kind)k, &base) && base.len == probed[k].len &&
			     !memcmp(base.filter, probed[k].filter, base.len * sizeof(*base.filter));
			free(base.filter);
		}
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/*
 * The programs the build compiled (compile.h) are libseccomp's own for any
 * pid: each kind's copy, its pid filled in, is the program sandbox_compile
 * makes now, instruction for instruction, for this test's pid, pid 1
 * (--new-pid-ns) and the largest pid there is.
 */
static void test_precompiled(void **state)
{
	const uint32_t pids[] = { (uint32_t)getpid(), 1, 4194304 };
	unsigned int nsan;

	(void)state;
	sandbox_list_sanitizer(&nsan);
	assert_int_equal(seccomp_api_set(1), 0);
	for (int k = 0; k < THREAD_KINDS; k++) {
		/* Every tgkill is allowed in a sanitizer build: no pid to compare there. */
		assert_true(nsan ? sandbox_precompiled[k].pid_at == -1
				 : sandbox_precompiled[k].pid_at >= 0);
		for (size_t i = 0; i < sizeof(pids) / sizeof(pids[0]); i++) {
			struct sock_fprog pre, now;

			assert_int_equal(sandbox_precompiled_get((enum thread_kind)k, pids[i], &pre), 0);
			assert_int_equal(sandbox_compile((enum thread_kind)k, false, false, pids[i],
							 &now), 0);
			if (pre.len != now.len ||
			    memcmp(pre.filter, now.filter, now.len * sizeof(*now.filter)))
				fail_msg("%s, pid %u: the build's program differs from libseccomp's now",
					 sandbox_list_get((enum thread_kind)k)->kind, pids[i]);
			/* The pid is in the program: another pid's differs. */
			free(pre.filter);
			assert_int_equal(sandbox_precompiled_get((enum thread_kind)k, pids[i] + 1,
								 &pre), 0);
			assert_int_equal(!memcmp(pre.filter, now.filter,
						 now.len * sizeof(*now.filter)), !!nsan);
			free(pre.filter);
			free(now.filter);
		}
		/* An extension's program is not the build's: compiled (sandbox.c). */
		if (k != THREAD_API && k != THREAD_MIGRATE) {
			struct sock_fprog pre, ext;

			assert_int_equal(sandbox_precompiled_get((enum thread_kind)k, 1, &pre), 0);
			assert_int_equal(sandbox_compile((enum thread_kind)k, k == THREAD_IO,
							 k == THREAD_VCPU, 1, &ext), 0);
			assert_true(ext.len > pre.len);
			free(pre.filter);
			free(ext.filter);
		}
	}
}

/* The sizes docs/security.md quotes, and the vCPU's bound. */
static void test_sizes(void **state)
{
	(void)state;
	assert_true(sandbox_list_size(sandbox_list_get(THREAD_VCPU)) <= 30);
	for (int k = 0; k < THREAD_KINDS; k++)
		assert_true(sandbox_list_size(sandbox_list_get((enum thread_kind)k)) > 0);
	assert_null(sandbox_list_get(THREAD_KINDS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vcpu),
		cmocka_unit_test(test_io),
		cmocka_unit_test(test_api),
		cmocka_unit_test(test_migrate),
		cmocka_unit_test(test_tgkill_self_only),
		cmocka_unit_test(test_io_uring_setup_nobody),
		cmocka_unit_test(test_per_thread),
		cmocka_unit_test(test_exit_under_filter),
		cmocka_unit_test(test_trap_removes_socket),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_level_free),
		cmocka_unit_test(test_precompiled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

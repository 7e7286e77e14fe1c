/*
 * The zygote's deny list (src/sandbox/zygote.c), in a child process that
 * installs it as the zygote does: each refused call is one the kernel
 * answers otherwise without the filter (an exec of /bin/true, reading its
 * own memory through process_vm_readv, a file handle for "/", its process
 * keyring, getpid through int 0x80), which test_without checks, so each
 * check fails without the filter; and what a clone needs on its way to its
 * own seal still works (fork, unshare of nothing, an io_uring's setup
 * reaching the kernel, mount(2) reaching it). int 0x80 depends on the
 * kernel: test_without proves whether it has IA32 emulation at all, and
 * test_refused asserts what the filter must then make of the call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/allow.h"
#include "sandbox/compile.h"
#include "sandbox/zygote.h"

/* What each step saw, by bit: set when the step went as the filter says it must. */
enum {
	SAW_EXECVE = 1 << 0,
	SAW_VM_READV = 1 << 1,
	SAW_HANDLE = 1 << 2,
	SAW_KEYCTL = 1 << 3,
	SAW_FORK = 1 << 4,
	SAW_UNSHARE = 1 << 5,
	SAW_URING = 1 << 6,
	SAW_MOUNT = 1 << 7,
	SAW_ALL = (1 << 8) - 1,
};

/* What getpid through int 0x80 did, in a child (a kernel without IA32 emulation kills it). */
enum int80 {
	INT80_WORKS = 1,        /* the i386 table answered with the pid */
	INT80_EPERM,            /* refused with EPERM (a filter's answer) */
	INT80_FAULT,            /* SIGSEGV: this kernel has no i386 table at all */
	INT80_OTHER,
};

/* getpid through the i386 table (its number 20); -errno as the kernel returns it. */
static long getpid_int80(void)
{
	long ret = 20;

	__asm__ volatile("int $0x80" : "+a"(ret) : : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

/*
 * Some kernels are built or booted without IA32 emulation: there int 0x80
 * is a general protection fault, never a system call, filtered or not. So
 * the call is made in a child of its own, and its end says which.
 */
static enum int80 int80_probe(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		long r = getpid_int80();

		_exit(r == -EPERM ? INT80_EPERM : r == (long)getpid() ? INT80_WORKS : INT80_OTHER);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return INT80_OTHER;
	if (WIFSIGNALED(st))
		return WTERMSIG(st) == SIGSEGV ? INT80_FAULT : INT80_OTHER;
	return WIFEXITED(st) ? (enum int80)WEXITSTATUS(st) : INT80_OTHER;
}

/*
 * Each step, in the child under the filter when confine is set; writes
 * the bits to fd, then what int 0x80 did (its check is the caller's: what
 * it must do depends on the kernel, which the run without the filter shows).
 */
static void steps(int fd, bool confine)
{
	unsigned int saw = 0, int80;
	char *const argv[] = { "true", NULL };
	char src[16] = "zygote", dst[16] = "";
	struct iovec l = { dst, sizeof(dst) }, r = { src, sizeof(src) };
	struct { struct file_handle h; unsigned char b[128]; } fh = { .h.handle_bytes = 128 };
	int mnt_id;
	pid_t pid;

	if (confine && sandbox_zygote_confine(&(struct err)ERR_INIT))
		_exit(2);
	pid = fork();
	if (pid == 0) {
		execve("/bin/true", argv, NULL);
		_exit(errno == EPERM ? 3 : 4);
	}
	if (pid > 0) {
		int st;

		saw |= SAW_FORK;
		if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
		    WEXITSTATUS(st) == (confine ? 3 : 0))
			saw |= SAW_EXECVE;
	}
	if ((process_vm_readv(getpid(), &l, 1, &r, 1, 0) < 0 && errno == EPERM) == confine)
		saw |= SAW_VM_READV;
	if ((name_to_handle_at(AT_FDCWD, "/", &fh.h, &mnt_id, 0) < 0 && errno == EPERM) == confine)
		saw |= SAW_HANDLE;
	if ((syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 0) < 0 &&
	     errno == EPERM) == confine)
		saw |= SAW_KEYCTL;
	int80 = int80_probe();
	if (!unshare(0))
		saw |= SAW_UNSHARE;
	/* Bad arguments: the kernel's own answer, never the filter's EPERM. */
	if (syscall(SYS_io_uring_setup, 0, NULL) < 0 && errno != EPERM)
		saw |= SAW_URING;
	/* As root, ENOENT; unprivileged, the kernel's own EPERM, the same with or without. */
	if (mount(NULL, "/nonexistent-zygote-test", NULL, MS_REMOUNT, NULL) < 0 &&
	    (errno != EPERM || getuid() != 0))
		saw |= SAW_MOUNT;
	if (write(fd, &saw, sizeof(saw)) != (ssize_t)sizeof(saw) ||
	    write(fd, &int80, sizeof(int80)) != (ssize_t)sizeof(int80))
		_exit(5);
	_exit(0);
}

/* The steps' bits, and what int 0x80 did in *int80. */
static unsigned int run_steps(bool confine, enum int80 *int80)
{
	unsigned int saw = 0, i80 = 0;
	int p[2], st;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		steps(p[1], confine);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &saw, sizeof(saw)), (ssize_t)sizeof(saw));
	assert_int_equal(read(p[0], &i80, sizeof(i80)), (ssize_t)sizeof(i80));
	close(p[0]);
	*int80 = (enum int80)i80;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return saw;
}

/*
 * The control: without the filter every refused call works here, so the
 * next test means it. int 0x80 either works (the kernel has IA32
 * emulation) or faults (it has none, as on kernels built or booted
 * without it): a refusal, or anything else, without a filter is wrong.
 */
static void test_without(void **state)
{
	enum int80 int80;

	(void)state;
	assert_int_equal(run_steps(false, &int80), SAW_ALL);
	assert_true(int80 == INT80_WORKS || int80 == INT80_FAULT);
	if (int80 == INT80_FAULT)
		print_message("this kernel has no IA32 emulation (int 0x80 faults unfiltered): "
			      "the filter must leave it a fault\n");
}

/*
 * Under the filter: where the kernel has an i386 table, its getpid is
 * refused (EPERM); where it has none, int 0x80 still faults, never
 * reaching a table, which is what the filter's refusal of other
 * architectures exists to ensure.
 */
static void test_refused(void **state)
{
	enum int80 control, int80;

	(void)state;
	run_steps(false, &control);
	assert_int_equal(run_steps(true, &int80), SAW_ALL);
	assert_int_equal(int80, control == INT80_WORKS ? INT80_EPERM : INT80_FAULT);
}

/* The list in force: no entry twice, and a sanitizer build keeps ptrace for LeakSanitizer. */
static void test_list(void **state)
{
	unsigned int n;
	const int *nr = sandbox_list_zygote_denied(&n);
	bool has_ptrace = false;

	(void)state;
	assert_true(n >= 40);
	for (unsigned int i = 0; i < n; i++) {
		has_ptrace |= nr[i] == SYS_ptrace;
		for (unsigned int j = i + 1; j < n; j++)
			assert_int_not_equal(nr[i], nr[j]);
	}
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
	assert_false(has_ptrace);
#else
	assert_true(has_ptrace);
#endif
}

/* The build's copy (what the zygote installs) is libseccomp's program for the list, bit for bit. */
static void test_precompiled(void **state)
{
	struct sock_fprog prog;

	(void)state;
	assert_int_equal(sandbox_compile_zygote(&prog), 0);
	assert_int_equal(prog.len, sandbox_precompiled_zygote.len);
	assert_int_equal(sandbox_precompiled_zygote.pid_at, -1);
	assert_memory_equal(prog.filter, sandbox_precompiled_zygote.insns,
			    prog.len * sizeof(*prog.filter));
	free(prog.filter);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_without),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_precompiled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The zygote's deny list (src/sandbox/zygote.c), in a child process that
 * installs it as the zygote does: each refused call is one the kernel
 * answers otherwise without the filter (an exec of /bin/true, reading its
 * own memory through process_vm_readv, a file handle for "/", its process
 * keyring, getpid through int 0x80), which test_without checks, so each
 * check fails without the filter; and what a
 * clone needs on its way to its own seal still works (fork, unshare of
 * nothing, an io_uring's setup reaching the kernel, mount(2) reaching it).
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
	SAW_INT80 = 1 << 4,
	SAW_FORK = 1 << 5,
	SAW_UNSHARE = 1 << 6,
	SAW_URING = 1 << 7,
	SAW_MOUNT = 1 << 8,
	SAW_ALL = (1 << 9) - 1,
};

/* getpid through the i386 table (its number 20); -errno as the kernel returns it. */
static long getpid_int80(void)
{
	long ret = 20;

	__asm__ volatile("int $0x80" : "+a"(ret) : : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

/* Each step, in the child under the filter when confine is set; writes the bits to fd. */
static void steps(int fd, bool confine)
{
	unsigned int saw = 0;
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
	if ((getpid_int80() == -EPERM) == confine)
		saw |= SAW_INT80;
	if (!unshare(0))
		saw |= SAW_UNSHARE;
	/* Bad arguments: the kernel's own answer, never the filter's EPERM. */
	if (syscall(SYS_io_uring_setup, 0, NULL) < 0 && errno != EPERM)
		saw |= SAW_URING;
	/* As root, ENOENT; unprivileged, the kernel's own EPERM, the same with or without. */
	if (mount(NULL, "/nonexistent-zygote-test", NULL, MS_REMOUNT, NULL) < 0 &&
	    (errno != EPERM || getuid() != 0))
		saw |= SAW_MOUNT;
	if (write(fd, &saw, sizeof(saw)) != (ssize_t)sizeof(saw))
		_exit(5);
	_exit(0);
}

static unsigned int run_steps(bool confine)
{
	unsigned int saw = 0;
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
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return saw;
}

/* The control: without the filter every refused call works here, so the next test means it. */
static void test_without(void **state)
{
	(void)state;
	assert_int_equal(run_steps(false), SAW_ALL);
}

static void test_refused(void **state)
{
	(void)state;
	assert_int_equal(run_steps(true), SAW_ALL);
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

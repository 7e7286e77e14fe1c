/*
 * The zygote (docs/api.md "Fork and reset"): a process a template forks
 * when it starts with --fork-dir, before its API thread and its VM exist,
 * and which makes that template's clones. A clone is forked from here, so
 * it starts with Hearth loaded, linked and initialised, and no exec: it
 * sandboxes itself and restores the template's state and RAM from the
 * memfds the template sent, as `hearth restore` would from files.
 *
 * The template is sealed and may be a compromised guest's; what it sends
 * is checked again here. The request is re-read in full; every path a
 * clone is given must resolve beneath --fork-dir (openat2 RESOLVE_BENEATH,
 * so no "..", absolute path or symlink leads out of it), which the
 * template cannot write; the memfds must be sealed against writes. A
 * request refused here leaves no clone; a clone that fails to start gets
 * its siblings of that request killed and their sockets removed.
 */
#include "zygote/zygote.h"
#include "zygote/priv.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/json_fork.h"
#include "vcpu/cpuid.h"
#include "vmm/vm.h"
#include "api/server.h"
#include "host/fork_proto.h"
#include "host/host.h"
#include "migrate/tls.h"
#include "sandbox/zygote.h"
#include "util/log.h"
#include "util/uds.h"

#define CLONE_MMAP_THRESHOLD (8 * 1024)

/* In the clone: its own sandbox, then `hearth restore` of the memfds, to its end. */
static void clone_main(const struct zygote *z, const struct fork_req *f, unsigned int i,
		       const int fds[3], int ready, int go)
{
	const struct fork_clone *c = &f->clones[i];
	struct snap_load_req load = c->load;
	struct host_sandbox sb = z->sb;
	char *mmds;
	int code;

	signal(SIGCHLD, SIG_DFL);
	/*
	 * A device's buffer (the serial port's, vsock's, a queue's) is mapped
	 * on its own, zero pages until written: from the heap, calloc would
	 * write every page of it, a page of this clone's own each. A request
	 * the heap's free top can hold never reaches the threshold: the top
	 * is cut back and padded by no more than the threshold.
	 */
	mallopt(M_MMAP_THRESHOLD, CLONE_MMAP_THRESHOLD);
	mallopt(M_TOP_PAD, CLONE_MMAP_THRESHOLD);
	malloc_trim(0);
	close(z->sock);
	setpgid(0, 0);
	if (fchdir(z->dir) < 0)
		_exit(HEARTH_EXIT_FAILURE);
	close(z->dir);
	close(fds[0]);
	load.from_fds = true;
	load.state_fd = fds[1];
	load.mem_fd = fds[2];
	load.snapshot_path = "(fork)";
	load.mem_path = "(fork)";
	load.track_dirty_pages = true;     /* a reset costs what the clone wrote */
	load.resume_vm = false;            /* all at once, when go ends (cli.c's clone_go) */
	load.kvm_path = z->kvm_path;
	load.serial_out_path = c->serial_out;
	/* Inside the template's jail and namespaces already: the clone's own on top. */
	sb.jail = sb.uid = sb.gid = NULL;
	sb.new_pid_ns = false;
	sb.pid_file = NULL;
	sb.api_sock = c->api_sock;
	sb.snapshot_dir = NULL;
	/* A clone has no migration thread: the template's TLS files are not read again. */
	sb.migrate_tls = NULL;
	sb.tls_out = NULL;
	sb.uid_shared = true;
	code = host_sandbox_enter(&sb);
	if (code) {
		if (write(ready, "Eits sandbox failed (see its log)", 33) < 0)
			code = HEARTH_EXIT_FAILURE;
		_exit(code);
	}
	/* Its MMDS store, its identity: dumped once, for the store to parse as PUT /mmds would. */
	mmds = c->mmds ? json_dumps(c->mmds, JSON_COMPACT) : NULL;
	if (c->mmds && !mmds) {
		if (write(ready, "Eout of memory for its mmds", 27) < 0)
			_exit(HEARTH_EXIT_FAILURE);
		_exit(HEARTH_EXIT_FAILURE);
	}
	exit(host_process_run(&(struct host_opts){ .restore = &load, .kvm_path = z->kvm_path,
					       .report_ready = true, .ready_fd = ready,
					       .go_fd = go, .go_resume = f->resume,
					       .metadata_text = mmds },
			  NULL, c->api_sock, API_DEFAULT_MAX_PAYLOAD));
}

static void reply(const struct zygote *z, uint64_t seq, enum fork_kind kind, const char *text)
{
	size_t n = strlen(text) + 1;
	char *buf = malloc(sizeof(struct fork_msg) + n);
	struct fork_msg m = { FORK_MAGIC, kind, seq };
	int ret;

	if (!buf)
		return;
	if (n > FORK_ANSWER_MAX - sizeof(m))
		n = FORK_ANSWER_MAX - sizeof(m);
	memcpy(buf, &m, sizeof(m));
	memcpy(buf + sizeof(m), text, n);
	ret = uds_send_fds(z->sock, buf, sizeof(m) + n, NULL, 0);
	if (ret)
		log_warn("fork: cannot answer the template: %s", strerror(-ret));
	free(buf);
}

/* Those clones of a request that failed: killed, and what they made removed. */
static void undo(const struct zygote *z, const struct fork_req *f, const pid_t *pids,
		 unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	for (unsigned int i = 0; i < n; i++) {
		if (pids[i] > 0)
			waitpid(pids[i], NULL, 0);
		unlinkat(z->dir, f->clones[i].api_sock, 0);
		if (f->clones[i].load.vsock_uds_path)
			unlinkat(z->dir, f->clones[i].load.vsock_uds_path, 0);
	}
}

static uint64_t mono_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

/*
 * Waits for every clone's word (want: 'P' built, 'K' serving) until the
 * request's deadline (mono_us), one for both words: 0, or the first
 * failure's in err.
 */
static int await(const struct fork_req *f, const int *ready, char want, uint64_t deadline,
		 struct err *err)
{
	struct pollfd *p = calloc(f->n, sizeof(*p));
	unsigned int left = f->n;
	int ret = 0;

	if (!p)
		return err_set(err, false, -ENOMEM, "fork: out of memory");
	for (unsigned int i = 0; i < f->n; i++)
		p[i] = (struct pollfd){ ready[i], POLLIN, 0 };
	while (left && !ret) {
		uint64_t now = mono_us();
		int n = now >= deadline ? 0 : poll(p, f->n, (int)((deadline - now) / 1000 + 1));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = err_set(err, false, -ETIMEDOUT, "fork: %u clones did not start in "
				      "%d s", left, ZYGOTE_READY_TIMEOUT_MS / 1000);
			break;
		}
		for (unsigned int i = 0; i < f->n && !ret; i++) {
			char word[sizeof(err->msg)];
			ssize_t r;

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			r = read(p[i].fd, word, sizeof(word) - 1);
			if (r == 1 && word[0] == want) {
				p[i].fd = -1;
				left--;
				continue;
			}
			word[r > 0 ? r : 0] = '\0';
			ret = err_set(err, true, -EINVAL, "fork: clone %u did not start: %s", i,
				      r > 1 ? word + 1 : "it exited");
		}
	}
	free(p);
	return ret;
}

static char *answer_json(const struct fork_req *f, const pid_t *pids, uint64_t took_us)
{
	json_t *a = json_array(), *o;
	char *s;

	for (unsigned int i = 0; a && i < f->n; i++)
		json_array_append_new(a, json_pack("{s:I, s:i, s:s}", "index", (json_int_t)i,
						   "pid", (int)pids[i], "api_sock",
						   f->clones[i].api_sock));
	o = json_pack("{s:o, s:I}", "clones", a, "took_us", (json_int_t)took_us);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

/*
 * The request's book (each clone's pid and the read end of its pipe),
 * mapped MADV_DONTFORK: what this process writes between two forks lands
 * in no clone. In a page a clone shared, the write would leave that clone
 * a copy of its own (docs/api.md "Fork and reset").
 */
static size_t book_size(unsigned int n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return ((size_t)n * (sizeof(pid_t) + sizeof(int)) + page - 1) & ~(page - 1);
}

static void *book_map(unsigned int n, pid_t **pids, int **ready)
{
	void *p = mmap(NULL, book_size(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (madvise(p, book_size(n), MADV_DONTFORK)) {
		munmap(p, book_size(n));
		return NULL;
	}
	*pids = p;
	*ready = (int *)((pid_t *)p + n);
	return p;
}

static void book_unmap(void *p, unsigned int n)
{
	if (p)
		munmap(p, book_size(n));
}

/*
 * The read ends are numbered one after another (want: the next number; -1,
 * the first), so a clone closes its elder siblings' with one close_range
 * and no read of the book. pipe2 gives them so already (each write end is
 * closed before the next pipe); otherwise the read end is moved there.
 */
static int ready_place(int pfd[2], int want, struct err *err)
{
	int fd;

	if (want < 0 || pfd[0] == want)
		return 0;
	fd = fcntl(pfd[0], F_DUPFD_CLOEXEC, want);
	if (fd == want) {
		close(pfd[0]);
		pfd[0] = fd;
		return 0;
	}
	if (fd >= 0)
		close(fd);
	close(pfd[0]);
	close(pfd[1]);
	return err_set(err, false, -EMFILE, "fork: descriptor %d, wanted for a clone's pipe, is "
		       "taken", want);
}

static void serve_one(const struct zygote *z, uint64_t seq, const int fds[3])
{
	uint64_t start = mono_us();
	struct err err = ERR_INIT;
	struct fork_req f;
	json_t *body = NULL;
	pid_t *pids = NULL;
	int *ready = NULL, go[2] = { -1, -1 }, first = -1, ret;
	void *book = NULL;
	unsigned int made = 0;
	char *text;

	ret = zygote_read_request(z, fds, &f, &body, &err);
	if (ret) {
		reply(z, seq, err.usage ? FORK_USAGE : FORK_FAILED, err.msg);
		json_decref(body);
		return;
	}
	book = book_map(f.n, &pids, &ready);
	if (!book) {
		ret = err_set(&err, false, -ENOMEM, "fork: out of memory");
		goto out;
	}
	/* Every clone holds the read end; a byte each from the write end, ours, starts them. */
	if (pipe2(go, O_CLOEXEC) < 0) {
		ret = err_set(&err, false, -errno, "fork: pipe: %s", strerror(errno));
		goto out;
	}
	for (; made < f.n; made++) {
		int pfd[2];
		pid_t pid;

		if (pipe2(pfd, O_CLOEXEC) < 0) {
			ret = err_set(&err, false, -errno, "fork: pipe: %s", strerror(errno));
			break;
		}
		ret = ready_place(pfd, made ? first + (int)made : -1, &err);
		if (ret)
			break;
		if (!made)
			first = pfd[0];
		pid = fork();
		if (pid == 0) {
			/* Its elder siblings' read ends, from first on (the book is not in a clone). */
			if (made)
				close_range((unsigned int)first, (unsigned int)first + made - 1, 0);
			close(pfd[0]);
			close(go[1]);
			clone_main(z, &f, made, fds, pfd[1], go[0]);
		}
		pids[made] = pid;
		close(pfd[1]);
		ready[made] = pfd[0];
		if (pids[made] < 0) {
			ret = err_set(&err, false, -errno, "fork: fork: %s", strerror(errno));
			close(pfd[0]);
			break;
		}
	}
	/* Built, all of them, before any guest runs: then started together, and serving. */
	if (!ret)
		ret = await(&f, ready, 'P', start + ZYGOTE_READY_TIMEOUT_MS * 1000ull, &err);
	if (ret)
		undo(z, &f, pids, made);     /* killed before the words below could start them */
	/*
	 * A byte each starts them (n is at most 1000, within a pipe's buffer);
	 * the end alone, as when this process dies, is an abort to a clone.
	 */
	for (unsigned int i = 0; !ret && i < f.n; i++)
		if (write(go[1], "G", 1) != 1) {
			ret = err_set(&err, false, -errno, "fork: cannot start the clones: %s",
				      strerror(errno));
			undo(z, &f, pids, made);
		}
	if (go[1] >= 0) {
		close(go[1]);
		go[1] = -1;
	}
	if (!ret) {
		ret = await(&f, ready, 'K', start + ZYGOTE_READY_TIMEOUT_MS * 1000ull, &err);
		if (ret)
			undo(z, &f, pids, made);
	}
out:
	for (unsigned int i = 0; i < 2; i++)
		if (go[i] >= 0)
			close(go[i]);
	for (unsigned int i = 0; ready && i < made; i++)
		close(ready[i]);
	if (ret) {
		reply(z, seq, err.usage ? FORK_USAGE : FORK_FAILED, err.msg);
	} else {
		text = answer_json(&f, pids, mono_us() - start);
		reply(z, seq, text ? FORK_OK : FORK_FAILED, text ? text : "fork: out of memory");
		free(text);
	}
	book_unmap(book, f.n);
	json_fork_release(&f);
	json_decref(body);
}

/*
 * The directory again, through this namespace's mounts: the descriptor
 * opened before the unshare holds the template's mount, which the
 * template's pivot detaches, and a clone whose working directory is on a
 * detached mount has none getcwd can name (its sandbox then cannot list
 * the VM's relative paths). The namespace is a copy made just now, so
 * the path finds the same directory; it is checked to be.
 */
static void zygote_dir_again(struct zygote *z)
{
	struct stat a, b;
	int fd = z->dir_path ? open(z->dir_path, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;

	if (fd < 0)
		return;
	if (!fstat(fd, &a) && !fstat(z->dir, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		close(z->dir);
		z->dir = fd;
	} else {
		close(fd);
	}
}

/*
 * What every clone would ask the host for, asked once here: they inherit
 * the answers (KVM's CPUID table, the host's address width), each a row
 * of CPUID exits when the host is itself a VM.
 */
static void zygote_warm(const struct zygote *z)
{
	int fd = open(z->kvm_path ? z->kvm_path : "/dev/kvm", O_RDWR | O_CLOEXEC);
	struct kvm_cpuid2 *c = NULL;

	(void)vm_host_phys_bits();
	if (fd < 0)
		return;
	if (!cpuid_get_supported(fd, &c))
		free(c);
	close(fd);
}

static void zygote_main(struct zygote *z, pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	prctl(PR_SET_NAME, "hearth-zygote");
	/*
	 * GnuTLS, which the template loaded for --migrate-tls before its jail
	 * hid the library: no clone migrates, so none maps it. The template
	 * reads its credentials only after this process was forked.
	 */
	tls_lib_unload();
	/*
	 * A mount namespace of its own, before the template may seal: the
	 * seal's pivot_root moves the root of every process in its namespace,
	 * and the clones need the filesystem the template started with. The
	 * template waits for this byte. Without namespaces (none could be
	 * made, or --no-sandbox) there is no pivot either.
	 */
	if (!z->sb.no_sandbox && !unshare(CLONE_NEWNS)) {
		mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL);
		zygote_dir_again(z);
	}
	/*
	 * What no clone ever needs, given up before the first request is read
	 * (sandbox/zygote.h); without it the template does not start, as a
	 * seal that fails fails the start.
	 */
	if (!z->sb.no_seccomp) {
		struct err e = ERR_INIT;

		if (sandbox_zygote_confine(&e)) {
			log_err("fork: %s", e.msg);
			_exit(1);
		}
	}
	if (write(z->sock, "Z", 1) != 1)
		_exit(0);
	zygote_warm(z);
	/* Clones that end are reaped by the kernel; their starts are followed by pipes. */
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int fds[UDS_MAX_FDS];
		unsigned int nfds = UDS_MAX_FDS;
		struct fork_msg m;
		ssize_t got = uds_recv_fds(z->sock, &m, sizeof(m), fds, &nfds);

		if (got == 0 || (got < 0 && got != -EMSGSIZE && got != -EINTR))
			_exit(0);      /* the template is gone */
		if (got == (ssize_t)sizeof(m) && m.magic == FORK_MAGIC && m.kind == FORK_REQUEST &&
		    nfds == 3)
			serve_one(z, m.seq, fds);
		else if (got > 0)
			reply(z, got >= (ssize_t)sizeof(m) ? m.seq : 0, FORK_FAILED,
			      "fork: the zygote got a malformed request");
		for (unsigned int i = 0; i < nfds; i++)
			close(fds[i]);
	}
}

int zygote_start(const char *fork_dir, const struct host_sandbox *sb, const char *kvm_path,
		     int *sock, struct err *err)
{
	struct zygote z = { .sb = *sb, .kvm_path = kvm_path };
	pid_t parent = getpid(), pid;
	int sv[2];
	char ok;

	z.dir = open(fork_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (z.dir < 0)
		return err_set(err, true, -errno, "--fork-dir '%s': %s", fork_dir,
			       strerror(errno));
	z.dir_path = realpath(fork_dir, NULL);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		close(z.dir);
		free(z.dir_path);
		return err_set(err, false, -errno, "fork: socketpair: %s", strerror(errno));
	}
	pid = fork();
	if (pid < 0) {
		close(z.dir);
		free(z.dir_path);
		close(sv[0]);
		close(sv[1]);
		return err_set(err, false, -errno, "fork: cannot start the zygote: %s",
			       strerror(errno));
	}
	if (pid == 0) {
		close(sv[0]);
		z.sock = sv[1];
		zygote_main(&z, parent);
	}
	close(z.dir);
	free(z.dir_path);
	close(sv[1]);
	if (read(sv[0], &ok, 1) != 1 || ok != 'Z') {
		close(sv[0]);
		return err_set(err, false, -EPIPE, "fork: the zygote did not start");
	}
	*sock = sv[0];
	log_debug("fork: the zygote is pid %d, its directory %s", (int)pid, fork_dir);
	return 0;
}

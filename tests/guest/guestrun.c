/*
 * guestrun: runs one command (hearth booting a test guest), performs a
 * scripted list of steps while it runs, and reports what happened as text
 * lines on stdout. run_guest_test.py uses it both on the host and inside
 * the lab's L1, where there is no Python: the checks stay in Python, only
 * the place the process runs in differs.
 *
 *   guestrun [--stdin pipe|tty|null|FILE] [--timeout SEC] [STEP...] -- CMD [ARG...]
 *
 * Steps, in order:
 *   --wait-line LINE  until LINE is a whole line of CMD's stdout
 *   --sleep MS        keep collecting output for MS milliseconds
 *   --alive           fails if CMD has exited
 *   --tasks N         until CMD's threads named vcpu0..vcpuN-1 exist, then
 *                     their names (all of CMD's threads)
 *   --send HEX        write these bytes to CMD's stdin (a pipe or a tty)
 *   --signal NUM      send CMD this signal
 * After the steps (or the first step that fails, after a SIGKILL) it waits
 * for CMD to exit. Each wait gives up after --timeout seconds (60): a hang
 * guard, not a speed check.
 *
 * Report, one item a line (stdout and stderr of CMD in base64 chunks, with
 * length and CRC-32 so a line garbled on a serial console is detected):
 *   GUESTRUN step N KIND ok | failed WHY | NAME,NAME... (tasks)
 *   GUESTRUN exit code=N | signal=N | timeout
 *   GUESTRUN out <base64>...   GUESTRUN out-end len=KEPT total=SEEN crc=XXXXXXXX
 *   GUESTRUN err <base64>...   GUESTRUN err-end len=KEPT total=SEEN crc=XXXXXXXX
 *   GUESTRUN done
 * Exit 0 once the report is out, 2 on a usage error, 1 if CMD could not be
 * started.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OUTPUT_CAP (256 * 1024) /* per stream; more is counted, not kept */
#define MAX_STEPS 32

enum step_kind { STEP_WAIT_LINE, STEP_SLEEP, STEP_ALIVE, STEP_TASKS, STEP_SEND, STEP_SIGNAL };

static const char *const step_names[] = {
	"wait-line", "sleep", "alive", "tasks", "send", "signal",
};

struct step {
	enum step_kind kind;
	const char *arg;
	long num;
};

struct buf {
	char *data;
	size_t len;   /* kept */
	size_t total; /* seen */
	int fd;       /* -1 at EOF */
};

struct proc {
	pid_t pid;
	int status;
	bool reaped;
	int in_fd; /* pipe write end or pty master; -1 for null or a file */
	struct buf out, err;
};

static uint64_t clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int buf_fill(struct buf *b)
{
	char chunk[16384];
	ssize_t n = read(b->fd, chunk, sizeof(chunk));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) { /* EOF, or an error that ends the stream just as well */
		close(b->fd);
		b->fd = -1;
		return 0;
	}
	b->total += (size_t)n;
	if (b->len + (size_t)n > OUTPUT_CAP)
		n = (ssize_t)(OUTPUT_CAP - b->len);
	if (n > 0) {
		char *p = realloc(b->data, b->len + (size_t)n + 1);

		if (!p)
			return -ENOMEM;
		memcpy(p + b->len, chunk, (size_t)n);
		b->data = p;
		b->len += (size_t)n;
		b->data[b->len] = '\0';
	}
	return 0;
}

/*
 * Collects output and reaps CMD for at most ms milliseconds, in short ticks:
 * CMD's exit is noticed by waitpid, not by poll.
 */
static void proc_pump(struct proc *p, int ms)
{
	struct pollfd fds[2];
	struct buf *bufs[2];
	int n = 0, tick = ms < 50 ? ms : 50;

	if (!p->reaped && waitpid(p->pid, &p->status, WNOHANG) == p->pid)
		p->reaped = true;
	for (int i = 0; i < 2; i++) {
		struct buf *b = i ? &p->err : &p->out;

		if (b->fd >= 0) {
			fds[n] = (struct pollfd){ .fd = b->fd, .events = POLLIN };
			bufs[n++] = b;
		}
	}
	if (n == 0) {
		usleep((useconds_t)tick * 1000);
		return;
	}
	if (poll(fds, (nfds_t)n, tick) <= 0)
		return;
	for (int i = 0; i < n; i++)
		if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
			buf_fill(bufs[i]);
}

static bool proc_finished(const struct proc *p)
{
	return p->reaped && p->out.fd < 0 && p->err.fd < 0;
}

/* Whether line is a whole line of the output, carriage returns dropped. */
static bool buf_has_line(const struct buf *b, const char *line)
{
	size_t want = strlen(line), start = 0;

	if (!b->data)
		return false;
	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] != '\n')
			continue;
		size_t k = 0;
		bool same = true;

		for (size_t j = start; j < i && same; j++) {
			if (b->data[j] == '\r')
				continue;
			same = k < want && b->data[j] == line[k];
			k++;
		}
		if (same && k == want)
			return true;
		start = i + 1;
	}
	return false;
}

/* The vcpuN threads of pid as a bit set, and all thread names joined by ','. */
static uint64_t tasks_read(pid_t pid, char *names, size_t size)
{
	char path[64];
	uint64_t ids = 0;
	DIR *d;
	struct dirent *e;
	size_t used = 0;

	names[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char comm[64] = "";
		FILE *f;
		unsigned int id;
		char *nl;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/comm", (int)pid, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
		nl = strchr(comm, '\n');
		if (nl)
			*nl = '\0';
		for (char *c = comm; *c; c++)
			if (*c <= ' ' || *c == ',' || *c > '~')
				*c = '?';
		if (sscanf(comm, "vcpu%u", &id) == 1 && id < 64)
			ids |= 1ull << id;
		used += (size_t)snprintf(names + used, size - used, "%s%s", used ? "," : "", comm);
		if (used >= size)
			used = size - 1;
	}
	closedir(d);
	return ids;
}

static int hex_decode(const char *hex, unsigned char *out, size_t size)
{
	size_t n = strlen(hex);

	if (n % 2 || n / 2 > size)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (unsigned char)v;
	}
	return (int)(n / 2);
}

static int fd_write_all(int fd, const unsigned char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Runs one step; prints its report line. Returns false when it failed. */
static bool step_run(struct proc *p, const struct step *s, int n, int timeout_s)
{
	uint64_t deadline = clock_ms() + (uint64_t)timeout_s * 1000;
	const char *name = step_names[s->kind];
	char names[1024];
	unsigned char bytes[256];
	int len, err;

	switch (s->kind) {
	case STEP_WAIT_LINE:
		while (!buf_has_line(&p->out, s->arg)) {
			if (proc_finished(p)) {
				printf("GUESTRUN step %d %s failed exited\n", n, name);
				return false;
			}
			if (clock_ms() >= deadline) {
				printf("GUESTRUN step %d %s failed timeout\n", n, name);
				return false;
			}
			proc_pump(p, 100);
		}
		break;
	case STEP_SLEEP:
		deadline = clock_ms() + (uint64_t)s->num;
		while (clock_ms() < deadline)
			proc_pump(p, (int)(deadline - clock_ms()));
		break;
	case STEP_ALIVE:
		proc_pump(p, 0);
		if (p->reaped) {
			printf("GUESTRUN step %d %s failed exited\n", n, name);
			return false;
		}
		break;
	case STEP_TASKS:
		for (;;) {
			uint64_t want = s->num >= 64 ? ~0ull : (1ull << s->num) - 1;

			if (tasks_read(p->pid, names, sizeof(names)) == want || p->reaped ||
			    clock_ms() >= deadline)
				break;
			proc_pump(p, 100);
		}
		printf("GUESTRUN step %d %s %s\n", n, name, names[0] ? names : "-");
		return true;
	case STEP_SEND:
		len = hex_decode(s->arg, bytes, sizeof(bytes));
		err = len < 0 ? len : p->in_fd < 0 ? -EBADF : fd_write_all(p->in_fd, bytes, (size_t)len);
		if (err) {
			printf("GUESTRUN step %d %s failed %s\n", n, name, strerror(-err));
			return false;
		}
		break;
	case STEP_SIGNAL:
		if (kill(p->pid, (int)s->num) < 0) {
			printf("GUESTRUN step %d %s failed %s\n", n, name, strerror(errno));
			return false;
		}
		break;
	}
	printf("GUESTRUN step %d %s ok\n", n, name);
	return true;
}

static uint32_t crc32_compute(const unsigned char *data, size_t len)
{
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < len; i++) {
		crc ^= data[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

static void report_stream(const char *tag, const struct buf *b)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *d = (const unsigned char *)b->data;

	for (size_t off = 0; off < b->len; off += 57) {
		size_t n = b->len - off < 57 ? b->len - off : 57;

		printf("GUESTRUN %s ", tag);
		for (size_t i = 0; i < n; i += 3) {
			uint32_t v = (uint32_t)d[off + i] << 16;

			if (i + 1 < n)
				v |= (uint32_t)d[off + i + 1] << 8;
			if (i + 2 < n)
				v |= d[off + i + 2];
			putchar(b64[v >> 18 & 63]);
			putchar(b64[v >> 12 & 63]);
			putchar(i + 1 < n ? b64[v >> 6 & 63] : '=');
			putchar(i + 2 < n ? b64[v & 63] : '=');
		}
		putchar('\n');
	}
	printf("GUESTRUN %s-end len=%zu total=%zu crc=%08x\n", tag, b->len, b->total,
	       b->len ? crc32_compute(d, b->len) : 0u);
}

static int stdin_open(const char *mode, int *child_fd, int *parent_fd)
{
	int fds[2];

	*parent_fd = -1;
	if (!strcmp(mode, "pipe")) {
		if (pipe2(fds, O_CLOEXEC) < 0)
			return -errno;
		*child_fd = fds[0];
		*parent_fd = fds[1];
		return 0;
	}
	if (!strcmp(mode, "tty")) {
		char name[128];
		int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

		if (master < 0)
			return -errno;
		if (grantpt(master) < 0 || unlockpt(master) < 0 ||
		    ptsname_r(master, name, sizeof(name)) != 0) {
			close(master);
			return -EIO;
		}
		*child_fd = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (*child_fd < 0) {
			close(master);
			return -errno;
		}
		*parent_fd = master;
		return 0;
	}
	*child_fd = open(!strcmp(mode, "null") ? "/dev/null" : mode, O_RDONLY | O_CLOEXEC);
	return *child_fd < 0 ? -errno : 0;
}

/* Starts argv with stdin as mode says and stdout/stderr on pipes. */
static int proc_start(struct proc *p, const char *mode, char **argv)
{
	int in_child = -1, outp[2], errp[2];
	int err = stdin_open(mode, &in_child, &p->in_fd);

	if (err)
		return err;
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
		return -errno;
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (p->pid == 0) {
		sigset_t none;

		/* Whatever the shell that started us ignored (a background job
		 * ignores SIGINT), CMD starts with default signal handling. */
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(in_child, 0) < 0 || dup2(outp[1], 1) < 0 || dup2(errp[1], 2) < 0)
			_exit(127);
		execvp(argv[0], argv);
		dprintf(2, "guestrun: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in_child);
	close(outp[1]);
	close(errp[1]);
	p->out.fd = outp[0];
	p->err.fd = errp[0];
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: guestrun [--stdin pipe|tty|null|FILE] [--timeout SEC] "
			"[--wait-line LINE|--sleep MS|--alive|--tasks N|--send HEX|--signal NUM]... "
			"-- CMD [ARG...]\n");
	return 2;
}

static int steps_parse(int argc, char **argv, struct step *steps, int *nsteps,
		       const char **mode, int *timeout_s)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		const char *opt = argv[i];
		bool bare = !strcmp(opt, "--alive");
		const char *val = bare ? NULL : i + 1 < argc ? argv[++i] : NULL;
		struct step s = { .arg = val, .num = val ? strtol(val, NULL, 0) : 0 };

		if (!bare && !val)
			return -EINVAL;
		if (!strcmp(opt, "--stdin")) {
			*mode = val;
			continue;
		}
		if (!strcmp(opt, "--timeout")) {
			*timeout_s = (int)s.num;
			continue;
		}
		if (!strcmp(opt, "--wait-line"))
			s.kind = STEP_WAIT_LINE;
		else if (!strcmp(opt, "--sleep"))
			s.kind = STEP_SLEEP;
		else if (bare)
			s.kind = STEP_ALIVE;
		else if (!strcmp(opt, "--tasks"))
			s.kind = STEP_TASKS;
		else if (!strcmp(opt, "--send"))
			s.kind = STEP_SEND;
		else if (!strcmp(opt, "--signal"))
			s.kind = STEP_SIGNAL;
		else
			return -EINVAL;
		if (*nsteps == MAX_STEPS)
			return -E2BIG;
		steps[(*nsteps)++] = s;
	}
	if (i + 1 >= argc || *timeout_s <= 0)
		return -EINVAL;
	return i + 1;
}

int main(int argc, char **argv)
{
	struct step steps[MAX_STEPS];
	struct proc p = { .out.fd = -1, .err.fd = -1, .in_fd = -1 };
	const char *mode = "pipe";
	int nsteps = 0, timeout_s = 60, cmd, err;
	uint64_t deadline;

	cmd = steps_parse(argc, argv, steps, &nsteps, &mode, &timeout_s);
	if (cmd < 0)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	err = proc_start(&p, mode, argv + cmd);
	if (err) {
		fprintf(stderr, "guestrun: cannot start %s: %s\n", argv[cmd], strerror(-err));
		return 1;
	}
	for (int i = 0; i < nsteps; i++) {
		if (!step_run(&p, &steps[i], i + 1, timeout_s)) {
			if (!p.reaped)
				kill(p.pid, SIGKILL);
			break;
		}
		fflush(stdout);
	}
	deadline = clock_ms() + (uint64_t)timeout_s * 1000;
	while (!proc_finished(&p) && clock_ms() < deadline)
		proc_pump(&p, 100);
	if (!p.reaped) {
		kill(p.pid, SIGKILL);
		waitpid(p.pid, &p.status, 0);
		printf("GUESTRUN exit timeout\n");
	} else if (WIFEXITED(p.status)) {
		printf("GUESTRUN exit code=%d\n", WEXITSTATUS(p.status));
	} else {
		printf("GUESTRUN exit signal=%d\n", WTERMSIG(p.status));
	}
	/* Whatever is left in the pipes (a killed CMD) is still reported. */
	deadline = clock_ms() + (uint64_t)timeout_s * 1000;
	while ((p.out.fd >= 0 || p.err.fd >= 0) && clock_ms() < deadline)
		proc_pump(&p, 100);
	if (p.in_fd >= 0)
		close(p.in_fd);
	report_stream("out", &p.out);
	report_stream("err", &p.err);
	printf("GUESTRUN done\n");
	free(p.out.data);
	free(p.err.data);
	return 0;
}

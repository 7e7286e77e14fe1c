/*
 * bench/apibench.c: the driver of bench/api.py, built static by it and run
 * on the host and inside L1 (which has no Python).  CLOCK_MONOTONIC, in µs.
 *
 *   apibench ready N -- KIND SOCK ARGV... [-- KIND SOCK ARGV...]...
 *       N rounds; each round runs every command once, in order (so the VMMs
 *       are interleaved): fork + exec ARGV (stdin /dev/null, stdout and
 *       stderr /dev/null), then try connect() on SOCK every 50 µs and, once
 *       it connects, ask: KIND http sends `GET /` and waits for a 200
 *       answer; KIND qmp reads QEMU's greeting, sends qmp_capabilities and
 *       waits for its return.  Prints
 *           APIB ready i=R cmd=C kind=KIND us=T  (C: the command's index from 0;
 *                                                 T: before fork -> answer)
 *       then SIGTERM, wait, unlink SOCK.
 *
 *   apibench boot TIMEOUT_S KIND SOCK [BOOT_SOURCE_JSON MACHINE_JSON] -- ARGV...
 *       One boot.  fork + exec ARGV with stdout on a pipe (the guest's
 *       serial) and stderr in /tmp/apibench.err; wait until SOCK answers
 *       (as above), then for KIND http PUT /boot-source and
 *       /machine-config, then "go": PUT /actions InstanceStart (http) or
 *       QMP cont (qmp).  Reads the serial until the guest's /init prints
 *       its first line ("LAB init"), then on to EOF (the guest powers off
 *       and the VMM exits).  Prints
 *           APIB boot kind=K ready_us= config_us= go_us= answer_us= init_us= rc=
 *       every value since before fork except answer_us (go -> the answer
 *       to the go request) and the go->init time, which is init_us - go_us.
 *       KIND exec: no socket (SOCK is ignored), no requests: exec -> /init,
 *       the VMM started with its whole VM on the command line.
 *
 *   apibench serve SOCK
 *       The floor for `ready`: binds, listens and answers every request
 *       with 200 and `{}`, nothing else (SIGTERM ends it).
 *
 * Exit 0, or 1 when a run failed (a line `APIB fail ...` says what).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define POLL_US 50
#define READY_TIMEOUT_US (60 * 1000000LL)

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static pid_t spawn(char **argv, int out_fd, int err_fd)
{
	pid_t pid = fork();

	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(out_fd >= 0 ? out_fd : null, 1);
		dup2(err_fd >= 0 ? err_fd : null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Connects to SOCK, retrying every POLL_US until deadline (or the child died). */
static int connect_poll(const char *path, pid_t child, long long deadline)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timespec ts = { 0, POLL_US * 1000 };

	strncpy(a.sun_path, path, sizeof(a.sun_path) - 1);
	while (now_us() < deadline) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		close(fd);
		if (child > 0 && waitpid(child, NULL, WNOHANG) == child)
			return -2;
		nanosleep(&ts, NULL);
	}
	return -1;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One HTTP request with Connection: close; returns the status or -1. */
static int http(const char *sock, const char *method, const char *path, const char *body)
{
	char req[4096], resp[4096];
	size_t got = 0;
	int fd, n, status = -1;

	fd = connect_poll(sock, 0, now_us() + 5000000);
	if (fd < 0)
		return -1;
	if (body)
		n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: localhost\r\n"
			     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
			     "Connection: close\r\n\r\n%s", method, path, strlen(body), body);
	else
		n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: localhost\r\n"
			     "Connection: close\r\n\r\n", method, path);
	if (write_all(fd, req, (size_t)n) == 0) {
		for (;;) {
			ssize_t r = read(fd, resp + got, sizeof(resp) - 1 - got);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			got += (size_t)r;
			resp[got] = 0;
			if (strstr(resp, "\r\n\r\n") || got == sizeof(resp) - 1)
				break;
		}
		resp[got] = 0;
		if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
			status = -1;
	}
	close(fd);
	return status;
}

/* Reads QMP lines from fd until one has "return" (1) or "error" (0); -1 on EOF. */
static int qmp_wait(int fd)
{
	char buf[8192];
	size_t got = 0;

	for (;;) {
		ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);
		char *nl;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
		buf[got] = 0;
		while ((nl = strchr(buf, '\n'))) {
			*nl = 0;
			if (strstr(buf, "\"return\""))
				return 1;
			if (strstr(buf, "\"error\""))
				return 0;
			got -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, got + 1);
		}
		if (got == sizeof(buf) - 1)
			got = 0;
	}
}

/* Waits for SOCK to answer.  http: the fd is closed (-> 0); qmp: the QMP fd. */
static int ready(const char *kind, const char *sock, pid_t child)
{
	long long deadline = now_us() + READY_TIMEOUT_US;

	if (!strcmp(kind, "http")) {
		/* connect_poll first: http() itself would not notice a dead child. */
		int fd = connect_poll(sock, child, deadline);
		int st;

		if (fd < 0)
			return -1;
		close(fd);
		st = http(sock, "GET", "/", NULL);
		return st == 200 ? 0 : -1;
	} else {
		static const char caps[] = "{\"execute\": \"qmp_capabilities\"}\n";
		int fd = connect_poll(sock, child, deadline);
		char greet[4096];
		size_t got = 0;

		if (fd < 0)
			return -1;
		/* The greeting: one line starting {"QMP". */
		while (!memchr(greet, '\n', got)) {
			ssize_t r = read(fd, greet + got, sizeof(greet) - got);

			if (r <= 0 || (got += (size_t)r) == sizeof(greet)) {
				close(fd);
				return -1;
			}
		}
		if (write_all(fd, caps, sizeof(caps) - 1) || qmp_wait(fd) != 1) {
			close(fd);
			return -1;
		}
		return fd;
	}
}

static void stop(pid_t pid, int *rc)
{
	int st = 0;
	long long deadline = now_us() + 10000000;

	kill(pid, SIGTERM);
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (now_us() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			break;
		}
		usleep(1000);
	}
	if (rc)
		*rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

struct cmd {
	const char *kind, *sock;
	char **argv;
};

/* Splits "-- KIND SOCK ARGV... -- KIND SOCK ARGV..." in place. */
static int parse_cmds(int argc, char **argv, struct cmd *c, int max)
{
	int n = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--"))
			continue;
		argv[i] = NULL;
		if (i + 3 >= argc || n == max)
			return -1;
		c[n].kind = argv[i + 1];
		c[n].sock = argv[i + 2];
		c[n].argv = &argv[i + 3];
		n++;
	}
	return n;
}

static int cmd_ready(int rounds, struct cmd *c, int n)
{
	int fails = 0;

	for (int r = 1; r <= rounds; r++) {
		for (int i = 0; i < n; i++) {
			long long t0, t1;
			pid_t pid;
			int fd, rc;

			unlink(c[i].sock);
			t0 = now_us();
			pid = spawn(c[i].argv, -1, -1);
			fd = ready(c[i].kind, c[i].sock, pid);
			t1 = now_us();
			if (fd > 0)
				close(fd);
			stop(pid, &rc);
			unlink(c[i].sock);
			if (fd < 0) {
				out("APIB fail ready i=%d cmd=%d kind=%s rc=%d\n", r, i, c[i].kind, rc);
				fails++;
			} else {
				out("APIB ready i=%d cmd=%d kind=%s us=%lld\n", r, i, c[i].kind, t1 - t0);
			}
			usleep(20000);
		}
	}
	return fails ? 1 : 0;
}

/* The guest's serial: a pipe from the VMM's stdout; keeps the last bytes. */
struct serial {
	int fd;
	char tail[1024];        /* the last bytes read, for a failure report */
	size_t n;
	bool eof;
};

/* Reads until NEEDLE (returns 1; its arrival time in *t), EOF (0) or deadline (-1). */
static int serial_until(struct serial *s, const char *needle, long long deadline, long long *t)
{
	size_t nl = needle ? strlen(needle) : 0;

	while (!s->eof) {
		struct pollfd p = { s->fd, POLLIN, 0 };
		long long left = deadline - now_us();
		char buf[4096];
		ssize_t r;

		if (left <= 0)
			return -1;
		if (poll(&p, 1, (int)(left / 1000) + 1) <= 0)
			continue;
		r = read(s->fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			s->eof = true;
			break;
		}
		if (t)
			*t = now_us();
		/* the last bytes, searched whole: finds a needle split across reads */
		if ((size_t)r >= sizeof(s->tail)) {
			memcpy(s->tail, buf + r - (sizeof(s->tail) - 1), sizeof(s->tail) - 1);
			s->n = sizeof(s->tail) - 1;
		} else {
			size_t keep = s->n + (size_t)r > sizeof(s->tail) - 1 ?
				      sizeof(s->tail) - 1 - (size_t)r : s->n;

			memmove(s->tail, s->tail + s->n - keep, keep);
			memcpy(s->tail + keep, buf, (size_t)r);
			s->n = keep + (size_t)r;
		}
		s->tail[s->n] = 0;
		if (needle && memmem(s->tail, s->n, needle, nl))
			return 1;
	}
	return 0;
}

static void print_tail(const char *what, const char *path, struct serial *s)
{
	char buf[1024];
	char *line, *save;
	int fd;
	ssize_t n;

	out("APIB fail %s\n", what);
	if (s) {
		for (line = strtok_r(s->tail, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
			/* not "LAB init": L1's lab_run would take it for a boot of its own */
			char *l = strstr(line, "LAB ");

			if (l)
				memcpy(l, "L2: ", 4);
			out("APIB serial| %s\n", line);
		}
	}
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
				out("APIB stderr| %s\n", line);
		}
	}
}

#define ERR_PATH "/tmp/apibench.err"

static int cmd_boot(int timeout_s, const char *kind, const char *sock, const char *boot_source,
		    const char *machine, char **argv)
{
	static const char cont[] = "{\"execute\": \"cont\"}\n";
	long long deadline, t0, t_ready, t_cfg, t_go, t_ans, t_init = 0;
	struct serial s = { 0 };
	int pfd[2], efd, fd, rc = -1, st, ok;
	pid_t pid;
	bool exec_only = !strcmp(kind, "exec");

	if (!exec_only)
		unlink(sock);
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		perror("pipe");
		return 1;
	}
	efd = open(ERR_PATH, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	t0 = now_us();
	deadline = t0 + timeout_s * 1000000LL;
	pid = spawn(argv, pfd[1], efd);
	close(pfd[1]);
	close(efd);
	s.fd = pfd[0];
	if (exec_only) {
		/* No control plane: exec -> /init, as bench/bench.py measures it. */
		fd = 0;
		t_ready = t_cfg = t_go = t_ans = t0;
		goto serial;
	}
	fd = ready(kind, sock, pid);
	t_ready = now_us();
	if (fd < 0) {
		stop(pid, &rc);
		print_tail("boot: the socket never answered", ERR_PATH, &s);
		out("APIB boot kind=%s rc=%d failed=ready\n", kind, rc);
		return 1;
	}
	if (!strcmp(kind, "http")) {
		st = http(sock, "PUT", "/boot-source", boot_source);
		ok = st == 204;
		if (ok)
			ok = (st = http(sock, "PUT", "/machine-config", machine)) == 204;
		t_cfg = t_go = now_us();
		if (ok)
			ok = (st = http(sock, "PUT", "/actions",
					"{\"action_type\": \"InstanceStart\"}")) == 204;
	} else {
		t_cfg = t_go = now_us();
		ok = write_all(fd, cont, sizeof(cont) - 1) == 0 && qmp_wait(fd) == 1;
		st = ok ? 0 : -1;
	}
	t_ans = now_us();
	if (!ok) {
		if (fd > 0)
			close(fd);
		stop(pid, &rc);
		print_tail("boot: a request failed", ERR_PATH, &s);
		out("APIB boot kind=%s rc=%d failed=request status=%d\n", kind, rc, st);
		return 1;
	}
serial:
	ok = serial_until(&s, "LAB init", deadline, &t_init) == 1;
	if (ok)
		serial_until(&s, NULL, deadline, NULL);   /* on to the guest's poweroff */
	if (fd > 0)
		close(fd);
	if (!s.eof || !ok) {
		stop(pid, &rc);
	} else {
		waitpid(pid, &st, 0);
		rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
	close(s.fd);
	if (!exec_only)
		unlink(sock);
	if (!ok) {
		print_tail("boot: no /init line", ERR_PATH, &s);
		out("APIB boot kind=%s rc=%d failed=init\n", kind, rc);
		return 1;
	}
	out("APIB boot kind=%s ready_us=%lld config_us=%lld go_us=%lld answer_us=%lld init_us=%lld rc=%d\n",
	    kind, t_ready - t0, t_cfg - t0, t_go - t0, t_ans - t_go, t_init - t0, rc);
	return 0;
}

/* The floor: a static program that only binds, listens and answers 200. */
static int cmd_serve(const char *path)
{
	static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
				  "Connection: close\r\n\r\n{}";
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strncpy(a.sun_path, path, sizeof(a.sun_path) - 1);
	unlink(path);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 16))
		return 1;
	for (;;) {
		char buf[4096];
		size_t got = 0;
		int c = accept(l, NULL, NULL);

		if (c < 0)
			continue;
		for (;;) {
			ssize_t r = read(c, buf + got, sizeof(buf) - 1 - got);

			if (r <= 0)
				break;
			got += (size_t)r;
			buf[got] = 0;
			if (strstr(buf, "\r\n\r\n") || got == sizeof(buf) - 1) {
				write_all(c, ans, sizeof(ans) - 1);
				break;
			}
		}
		close(c);
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: apibench ready N -- KIND SOCK ARGV... [-- KIND SOCK ARGV...]...\n"
			"       apibench boot TIMEOUT_S KIND SOCK [BOOT_SOURCE MACHINE] -- ARGV...\n"
			"       apibench serve SOCK\n");
	return 2;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && !strcmp(argv[1], "serve"))
		return cmd_serve(argv[2]);
	if (argc > 2 && !strcmp(argv[1], "ready")) {
		struct cmd c[8];
		int n;

		if (argc < 4 || strcmp(argv[3], "--"))
			return usage();
		n = parse_cmds(argc - 3, argv + 3, c, 8);
		if (n <= 0)
			return usage();
		return cmd_ready(atoi(argv[2]), c, n);
	}
	if (argc > 6 && !strcmp(argv[1], "boot")) {
		const char *kind = argv[3], *sock = argv[4], *bs = NULL, *mc = NULL;
		int i = 5;

		if (strcmp(argv[i], "--")) {
			if (argc < 9)
				return usage();
			bs = argv[5];
			mc = argv[6];
			i = 7;
		}
		if (strcmp(argv[i], "--") || i + 1 >= argc)
			return usage();
		if (!strcmp(kind, "http") && !bs)
			return usage();
		return cmd_boot(atoi(argv[2]), kind, sock, bs, mc, &argv[i + 1]);
	}
	return usage();
}

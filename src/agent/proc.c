/* The agent's processes (proc.h): their table, output, input, end and followers. */
#include "agent/proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/loop.h"
#include "agent/pjson.h"

#define PROC_MAX 1024u
#define PROC_MAX_FOLLOWERS 64u
/* Output is read and sent in pieces this big (envd's: 32 KiB from pipes, 16 KiB from a terminal). */
#define PROC_PIPE_CHUNK (32u << 10)
#define PROC_PTY_CHUNK (16u << 10)
/* Input waiting for a process that does not read, at most. */
#define PROC_MAX_STDIN (4u << 20)
#define PROC_RETAIN_MS 30000u
#define PROC_MAX_RETAINED 256u

struct proc {
	struct agent *a;
	struct proc *prev, *next;
	uint32_t pid;
	int pidfd, out_fd, err_fd, in_fd;
	struct loop_fd wpid, wout, werr, win;
	bool pty;
	char *tag;
	json_t *config;
	struct rpc_stream *subs[PROC_MAX_FOLLOWERS];
	unsigned int nsubs;
	char *inq;                 /* input not yet taken by the process */
	size_t inq_len, inq_off;
	bool stdin_closing;        /* CloseStdin: once the queue is out */
	bool exited, killed, paused;
	int code, status;          /* waitid's si_code and si_status */
	struct loop_timer deadline;
};

struct retained {
	uint32_t pid;
	char *tag;
	json_t *end;
	uint64_t until_ns;
};

struct proc_table {
	struct proc *list;
	unsigned int n;
	struct retained kept[PROC_MAX_RETAINED];
	unsigned int nkept;
};

int proc_table_create(struct proc_table **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

uint32_t proc_pid(const struct proc *p)
{
	return p->pid;
}

static void close_watched(struct proc *p, struct loop_fd *w, int *fd)
{
	loop_fd_del(p->a->loop, w);
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void proc_free(void *opaque)
{
	struct proc *p = opaque;

	free(p->tag);
	free(p->inq);
	json_decref(p->config);
	free(p);
}

/* Closes p's fds and takes it out of the table; its followers are the caller's. */
static void proc_unlink(struct proc *p)
{
	struct proc_table *t = p->a->procs;

	loop_timer_cancel(p->a->loop, &p->deadline);
	close_watched(p, &p->wpid, &p->pidfd);
	close_watched(p, &p->wout, &p->out_fd);
	close_watched(p, &p->werr, &p->err_fd);
	close_watched(p, &p->win, &p->in_fd);
	if (p->prev)
		p->prev->next = p->next;
	else
		t->list = p->next;
	if (p->next)
		p->next->prev = p->prev;
	t->n--;
	if (loop_defer(p->a->loop, proc_free, p))
		proc_free(p);
}

void proc_table_destroy(struct proc_table *t)
{
	if (!t)
		return;
	while (t->list) {
		struct proc *p = t->list;

		for (unsigned int i = 0; i < p->nsubs; i++) {
			p->subs[i]->ops = NULL;
			rpc_stream_finish(p->subs[i], NULL);
		}
		p->nsubs = 0;
		proc_unlink(p);
	}
	for (unsigned int i = 0; i < t->nkept; i++) {
		free(t->kept[i].tag);
		json_decref(t->kept[i].end);
	}
	free(t);
}

/* Drops what has outlived its 30 s. */
static void retained_expire(struct proc_table *t)
{
	uint64_t now = loop_now_ns();

	for (unsigned int i = 0; i < t->nkept;) {
		if (t->kept[i].until_ns > now) {
			i++;
			continue;
		}
		free(t->kept[i].tag);
		json_decref(t->kept[i].end);
		t->kept[i] = t->kept[--t->nkept];
	}
}

json_t *proc_retained(struct agent *a, uint32_t pid, const char *tag, uint32_t *pid_out)
{
	struct proc_table *t = a->procs;

	retained_expire(t);
	for (unsigned int i = 0; i < t->nkept; i++)
		if (tag ? t->kept[i].tag && !strcmp(t->kept[i].tag, tag) : t->kept[i].pid == pid) {
			*pid_out = t->kept[i].pid;
			return t->kept[i].end;
		}
	return NULL;
}

static void retain(struct proc *p, json_t *end)
{
	struct proc_table *t = p->a->procs;
	struct retained *r;

	retained_expire(t);
	if (t->nkept == PROC_MAX_RETAINED) {
		/* The oldest goes: a flood of short commands must not hold memory for 30 s each. */
		free(t->kept[0].tag);
		json_decref(t->kept[0].end);
		t->kept[0] = t->kept[--t->nkept];
	}
	r = &t->kept[t->nkept++];
	r->pid = p->pid;
	r->tag = p->tag ? strdup(p->tag) : NULL;
	r->end = json_incref(end);
	r->until_ns = loop_now_ns() + PROC_RETAIN_MS * 1000000ull;
}

/* Sends msg (taken) to every follower. */
static void broadcast(struct proc *p, json_t *msg)
{
	for (unsigned int i = 0; msg && i < p->nsubs; i++)
		rpc_stream_send(p->subs[i], json_incref(msg));
	json_decref(msg);
}

/* The EndEvent, as envd's: exitCode (-1 for a signal), exited, status, error unless success. */
static json_t *end_event(const struct proc *p)
{
	char status[96];
	bool exited = p->code == CLD_EXITED;
	json_t *end;

	proc_status_string(p->code, p->status, status, sizeof(status));
	end = json_pack("{s:i, s:b, s:s}", "exitCode", exited ? p->status : -1, "exited", exited,
			"status", status);
	if (end && !(exited && p->status == 0))
		json_object_set_new(end, "error", json_string(status));
	return end;
}

/* The process ended and its output closed: the end to everyone, and p goes. */
static void proc_finish(struct proc *p)
{
	json_t *end = end_event(p);

	for (unsigned int i = 0; i < p->nsubs; i++) {
		struct rpc_stream *s = p->subs[i];

		if (end)
			rpc_stream_send(s, json_pack("{s:{s:O}}", "event", "end", end));
		s->ops = NULL;
		rpc_stream_finish(s, NULL);
	}
	p->nsubs = 0;
	if (end)
		retain(p, end);
	json_decref(end);
	proc_unlink(p);
}

static void read_output(struct proc *p, int *fd, struct loop_fd *w, const char *kind);

/* Ends p once it exited and nothing more can come (or it was killed: what is there is taken). */
static void proc_maybe_finish(struct proc *p)
{
	if (!p->exited)
		return;
	if (p->killed) {
		/* One last read of what is already there; what a surviving child writes later is lost. */
		if (p->out_fd >= 0)
			read_output(p, &p->out_fd, &p->wout, p->pty ? "pty" : "stdout");
		if (p->err_fd >= 0)
			read_output(p, &p->err_fd, &p->werr, "stderr");
		close_watched(p, &p->wout, &p->out_fd);
		close_watched(p, &p->werr, &p->err_fd);
	}
	if (p->out_fd < 0 && p->err_fd < 0)
		proc_finish(p);
}

/* Stops or resumes reading p's output as its followers keep up. */
static void proc_pace(struct proc *p)
{
	bool full = false;

	for (unsigned int i = 0; i < p->nsubs; i++)
		full |= rpc_stream_full(p->subs[i]);
	if (full == p->paused)
		return;
	p->paused = full;
	loop_fd_mod(p->a->loop, &p->wout, full ? 0 : EPOLLIN);
	loop_fd_mod(p->a->loop, &p->werr, full ? 0 : EPOLLIN);
}

static void read_output(struct proc *p, int *fd, struct loop_fd *w, const char *kind)
{
	size_t size = p->pty ? PROC_PTY_CHUNK : PROC_PIPE_CHUNK;
	char *buf = malloc(size), *b64;
	ssize_t n;

	if (!buf)
		return;
	do
		n = read(*fd, buf, size);
	while (n < 0 && errno == EINTR);
	if (n > 0 && p->nsubs) {
		b64 = b64_encode(buf, (size_t)n);
		if (b64)
			broadcast(p, json_pack("{s:{s:{s:s}}}", "event", "data", kind, b64));
		free(b64);
	}
	free(buf);
	/* EOF, or EIO: a terminal whose other side every process closed. */
	if (n == 0 || (n < 0 && errno != EAGAIN))
		close_watched(p, w, fd);
}

static void out_readable(void *opaque, uint32_t events)
{
	struct proc *p = opaque;

	read_output(p, &p->out_fd, &p->wout, p->pty ? "pty" : "stdout");
	proc_pace(p);
	proc_maybe_finish(p);
}

static void err_readable(void *opaque, uint32_t events)
{
	struct proc *p = opaque;

	read_output(p, &p->err_fd, &p->werr, "stderr");
	proc_pace(p);
	proc_maybe_finish(p);
}

static void pid_readable(void *opaque, uint32_t events)
{
	struct proc *p = opaque;
	siginfo_t si = { 0 };

	if (waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG) || !si.si_pid)
		return;
	p->exited = true;
	p->code = si.si_code;
	p->status = si.si_status;
	close_watched(p, &p->wpid, &p->pidfd);
	loop_timer_cancel(p->a->loop, &p->deadline);
	proc_maybe_finish(p);
}

static void in_writable(void *opaque, uint32_t events);

/* Writes what is queued for stdin: the rest waits for the pipe to take it. */
static void stdin_flush(struct proc *p)
{
	while (p->in_fd >= 0 && p->inq_off < p->inq_len) {
		ssize_t n = write(p->in_fd, p->inq + p->inq_off, p->inq_len - p->inq_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			/* The process closed its stdin: what it did not take is dropped. */
			p->inq_off = p->inq_len;
			break;
		}
		p->inq_off += (size_t)n;
	}
	if (p->inq_off == p->inq_len) {
		p->inq_off = p->inq_len = 0;
		loop_fd_del(p->a->loop, &p->win);
		if (p->stdin_closing)
			close_watched(p, &p->win, &p->in_fd);
	} else if (p->win.fd < 0 && loop_fd_add(p->a->loop, &p->win, p->in_fd, EPOLLOUT,
						in_writable, p)) {
		p->inq_off = p->inq_len = 0;
	}
}

static void in_writable(void *opaque, uint32_t events)
{
	stdin_flush(opaque);
}

static void proc_deadline(void *opaque)
{
	struct proc *p = opaque;

	/* The Start's timeout is the command's: envd kills it then, and so does the agent. */
	if (!p->exited) {
		kill(-(pid_t)p->pid, SIGKILL);
		p->killed = true;
	}
}

static void follower_detach(struct rpc_stream *s, bool deadline)
{
	struct proc *p = s->owner;

	for (unsigned int i = 0; i < p->nsubs; i++)
		if (p->subs[i] == s) {
			p->subs[i] = p->subs[--p->nsubs];
			break;
		}
	proc_pace(p);
}

static void follower_drained(struct rpc_stream *s)
{
	proc_pace(s->owner);
}

static const struct rpc_stream_ops follower_ops = {
	.keepalive_json = "{\"event\":{\"keepalive\":{}}}",
	.detach = follower_detach,
	.drained = follower_drained,
};

int proc_follow(struct proc *p, struct rpc_stream *s, struct rpc_err *e)
{
	if (p->nsubs == PROC_MAX_FOLLOWERS)
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "more than %u streams follow process %u",
				PROC_MAX_FOLLOWERS, p->pid);
	p->subs[p->nsubs++] = s;
	s->ops = &follower_ops;
	s->owner = p;
	return 0;
}

int proc_start(struct agent *a, const struct proc_spec *spec, const struct agent_user *u,
	       uint64_t timeout_ms, struct proc **out, struct rpc_err *e)
{
	struct proc_spawn_args args = { .cmd = spec->cmd, .envp = spec->env, .cwd = spec->cwd,
					.user = u, .pty = spec->pty, .cols = spec->cols,
					.rows = spec->rows, .stdin_open = spec->stdin_open };
	struct proc_spawned sp;
	char why[PATH_MAX + 128];
	char **argv;
	struct proc *p;
	int ret;

	*out = NULL;
	if (a->procs->n >= PROC_MAX)
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "more than %u processes", PROC_MAX);
	p = calloc(1, sizeof(*p));
	argv = calloc(spec->nargs + 2, sizeof(*argv));
	if (!p || !argv) {
		free(p);
		free(argv);
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	}
	argv[0] = spec->cmd;
	memcpy(argv + 1, spec->args, spec->nargs * sizeof(*argv));
	args.argv = argv;
	ret = proc_spawn(&args, &sp, why, sizeof(why));
	free(argv);
	if (ret) {
		free(p);
		return rpc_fail(e, RPC_INVALID_ARGUMENT, "error starting process '%s': %s", spec->cmd,
				why);
	}
	*p = (struct proc){ .a = a, .pid = (uint32_t)sp.pid, .pidfd = sp.pidfd,
			    .out_fd = sp.out_fd, .err_fd = sp.err_fd, .in_fd = sp.in_fd,
			    .pty = spec->pty, .wpid.fd = -1, .wout.fd = -1, .werr.fd = -1,
			    .win.fd = -1 };
	p->tag = spec->tag ? strdup(spec->tag) : NULL;
	p->config = json_incref(spec->config);
	/* Once added, the process is watched whatever else fails: it runs already. */
	if (loop_fd_add(a->loop, &p->wpid, p->pidfd, EPOLLIN, pid_readable, p) ||
	    loop_fd_add(a->loop, &p->wout, p->out_fd, EPOLLIN, out_readable, p) ||
	    (p->err_fd >= 0 && loop_fd_add(a->loop, &p->werr, p->err_fd, EPOLLIN, err_readable, p))) {
		kill(-(pid_t)p->pid, SIGKILL);
		rpc_fail(e, RPC_INTERNAL, "cannot watch process %u", p->pid);
		p->killed = true;
	}
	p->next = a->procs->list;
	if (p->next)
		p->next->prev = p;
	a->procs->list = p;
	a->procs->n++;
	if (timeout_ms)
		loop_timer_arm(a->loop, &p->deadline, timeout_ms, proc_deadline, p);
	if (p->killed)
		return -1;
	*out = p;
	return 0;
}

struct proc *proc_find(struct agent *a, uint32_t pid, const char *tag, struct rpc_err *e)
{
	for (struct proc *p = a->procs->list; p; p = p->next)
		if (tag ? p->tag && !strcmp(p->tag, tag) : p->pid == pid)
			return p;
	if (tag)
		rpc_fail(e, RPC_NOT_FOUND, "process with tag %s not found", tag);
	else
		rpc_fail(e, RPC_NOT_FOUND, "process with pid %u not found", pid);
	return NULL;
}

int proc_input(struct proc *p, bool pty, const uint8_t *d, size_t n, struct rpc_err *e)
{
	char *nq;

	if (p->pty && !pty)
		return rpc_fail(e, RPC_INTERNAL,
				"error writing to stdin: tty assigned to process, input should be written to the pty, not the stdin");
	if (!p->pty && pty)
		return rpc_fail(e, RPC_INTERNAL,
				"error writing to tty: tty not assigned to process, input should be written to the stdin, not the tty");
	if (p->in_fd < 0 || p->stdin_closing)
		return rpc_fail(e, RPC_INTERNAL, "error writing to stdin: stdin not enabled or closed");
	if (p->inq_len - p->inq_off + n > PROC_MAX_STDIN)
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED,
				"process %u has %zu bytes of input it did not read yet", p->pid,
				p->inq_len - p->inq_off);
	if (!n)
		return 0;
	nq = realloc(p->inq, p->inq_len + n);
	if (!nq)
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	memcpy(nq + p->inq_len, d, n);
	p->inq = nq;
	p->inq_len += n;
	stdin_flush(p);
	return 0;
}

int proc_close_stdin(struct proc *p, struct rpc_err *e)
{
	if (p->pty)
		return rpc_fail(e, RPC_UNKNOWN,
				"error closing stdin: cannot close stdin for PTY process, send Ctrl+D (0x04) instead");
	p->stdin_closing = true;
	stdin_flush(p);
	return 0;
}

int proc_signal(struct proc *p, int sig, struct rpc_err *e)
{
	/* The group: a shell's children would otherwise keep running, and keep its output open. */
	if (kill(-(pid_t)p->pid, sig) && errno != ESRCH && kill((pid_t)p->pid, sig) &&
	    errno != ESRCH)
		return rpc_fail(e, RPC_INTERNAL, "error sending signal: %s", strerror(errno));
	p->killed = true;
	proc_maybe_finish(p);
	return 0;
}

int proc_resize(struct proc *p, uint16_t cols, uint16_t rows, struct rpc_err *e)
{
	struct winsize ws = { .ws_col = cols, .ws_row = rows };

	if (!p->pty || p->out_fd < 0)
		return rpc_fail(e, RPC_INTERNAL, "error resizing tty: tty not assigned to process");
	if (ioctl(p->out_fd, TIOCSWINSZ, &ws))
		return rpc_fail(e, RPC_INTERNAL, "error resizing tty: %s", strerror(errno));
	return 0;
}

json_t *proc_list(struct agent *a)
{
	json_t *list = json_array();

	for (struct proc *p = a->procs->list; list && p; p = p->next) {
		json_t *info = json_pack("{s:O, s:I}", "config", p->config, "pid", (json_int_t)p->pid);

		if (info && p->tag)
			json_object_set_new(info, "tag", json_string(p->tag));
		if (!info || json_array_append_new(list, info)) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

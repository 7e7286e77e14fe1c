/*
 * The processes the agent started (process.Process): each with its
 * output read off pipes or a pseudo-terminal, sent as events to every
 * stream that follows it (the Start that made it, any Connect), its
 * stdin queued, and its end (reaped through a pidfd, once its output
 * closed) sent to them all and kept 30 s for a late Connect. A process
 * runs in its own session and process group, as its user, in its
 * directory, with the default environment and its own; SIGTERM and
 * SIGKILL go to its whole group, so a shell's children go with it.
 */
#ifndef HEARTH_AGENT_PROC_H
#define HEARTH_AGENT_PROC_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/rpc.h"
#include "agent/user.h"

struct agent;
struct proc;
struct proc_table;

/* What Start asks for, decoded. */
struct proc_spec {
	char *cmd;
	char **args;                  /* nargs strings */
	size_t nargs;
	char **env;                   /* "KEY=value", nenv of them */
	size_t nenv;
	char *cwd;                    /* NULL: the default workdir or the home */
	bool pty;
	uint16_t cols, rows;
	char *tag;                    /* NULL: none */
	bool stdin_open;              /* a pipe for stdin (else /dev/null) */
	json_t *config;               /* the ProcessConfig as sent, for List */
};

int proc_table_create(struct proc_table **out);
/* Ends every stream; the processes are left running (they are the guest's). */
void proc_table_destroy(struct proc_table *t);

/* Starts spec as u (timeout_ms: SIGKILL after, 0 none). 0 with *out, or -1 with e. */
int proc_start(struct agent *a, const struct proc_spec *spec, const struct agent_user *u,
	       uint64_t timeout_ms, struct proc **out, struct rpc_err *e);
/* The live process by pid (tag NULL) or tag; NULL with e (not_found). */
struct proc *proc_find(struct agent *a, uint32_t pid, const char *tag, struct rpc_err *e);
/* A finished one's EndEvent ({"exitCode", ...}) kept for late Connects, with its pid; or NULL. */
json_t *proc_retained(struct agent *a, uint32_t pid, const char *tag, uint32_t *pid_out);
uint32_t proc_pid(const struct proc *p);
/* s follows p from now on (p's stream ops). 0, or -1 with e. */
int proc_follow(struct proc *p, struct rpc_stream *s, struct rpc_err *e);
/* Queues input for p's stdin (pty false) or terminal (pty true). 0, or -1 with e. */
int proc_input(struct proc *p, bool pty, const uint8_t *d, size_t n, struct rpc_err *e);
int proc_close_stdin(struct proc *p, struct rpc_err *e);
/* SIGTERM or SIGKILL to p's process group. 0, or -1 with e. */
int proc_signal(struct proc *p, int sig, struct rpc_err *e);
int proc_resize(struct proc *p, uint16_t cols, uint16_t rows, struct rpc_err *e);
/* [{"config", "pid", "tag"}, ...] for List. */
json_t *proc_list(struct agent *a);

/* proc_spawn.c: the fork and exec, for proc.c. */
/* A process's PATH when the agent has none (proc_rpc.c, warm.c). */
#define PROC_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct proc_spawn_args {
	const char *cmd;
	char *const *argv;
	char *const *envp;
	const char *cwd;
	const struct agent_user *user;
	bool pty;
	uint16_t cols, rows;
	bool stdin_open;
};

struct proc_spawned {
	int pid;
	int pidfd;
	int out_fd;       /* stdout, or the terminal */
	int err_fd;       /* stderr, or -1 with a terminal */
	int in_fd;        /* stdin, a second fd on the terminal, or -1 */
};

/* 0 with out filled, or -errno with why (Go's words: "fork/exec /bin/x: ..."). */
int proc_spawn(const struct proc_spawn_args *args, struct proc_spawned *out, char *why,
	       size_t n);
/* Go's ProcessState.String() for a wait status: "exit status 1", "signal: killed". */
void proc_status_string(int code, int status, char *out, size_t n);

#endif

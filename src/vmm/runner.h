/*
 * The process around a VM: its event loop (this thread, named "io"), the
 * signals that stop it, the console on stdin/stdout, and at most one VM.
 * The process host (src/host/host.c) stands on it for every command
 * that runs a VM, so they all stop, report and tear down the same way.
 */
#ifndef HEARTH_VMM_RUNNER_H
#define HEARTH_VMM_RUNNER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/eventloop.h"
#include "util/err.h"
#include "vmm/config.h"
#include "vmm/console.h"
#include "vmm/vm.h"

/*
 * Called on the io thread once the VM has opened everything it opens at
 * start and before its vCPUs run: the process sandbox (src/sandbox) seals
 * itself there, and the vCPU threads inherit what it did. Non-zero fails
 * the start with err.
 */
typedef int (*runner_seal_fn)(const struct vm_config *cfg, struct err *err);

struct runner {
	struct eventloop loop;      /* the process's: the VM only adds its fds */
	runner_seal_fn seal;        /* set by the owner after runner_init; NULL: none */
	bool have_vm;               /* written on the loop's thread only */
	struct console con;
	bool raw_term;
	int sig_fd;
	int fatal_fd;               /* read end: runner_signals.c's kill()ed SIGSEGV/SIGBUS/SIGILL */
	int sig_exit;               /* non-zero: a signal's exit code (runner_signals.c) */
	bool sig_seen[NSIG];        /* Firecracker's signals gauges */
	uint64_t sigpipes;          /* and its sigpipe counter */
	bool joined;                /* runner_join ran: the vCPUs are gone */
	int code;                   /* its exit code */
	bool in_loop;               /* runner_loop has begun: the io filter goes on with the VM */
	/* Last, 20 KiB: the fields above share a page (util/trim.h). */
	struct vm vm;
};

/* The loop and the signals that stop it (runner_signals.c). 0 or -errno with err. */
int runner_init(struct runner *r, struct err *err);
/*
 * runner_signals.c: the signals the loop reads, as Firecracker's handlers
 * take them (SIGINT, SIGTERM stop; SIGHUP, SIGBUS, SIGSEGV, SIGXFSZ,
 * SIGXCPU and SIGILL stop with its line; SIGPIPE is counted). 0 or -errno.
 */
int runner_signals_init(struct runner *r);
void runner_signals_destroy(struct runner *r);
/* The set blocked in every thread and read by the loop; a thread made earlier blocks it too. */
void runner_signals_mask(sigset_t *mask);
/*
 * Builds the VM, attaches the console and starts the vCPUs, on the loop's
 * thread (callable from any thread, before or while the loop runs).
 * 0, or -errno with err filled; nothing is left behind on failure.
 */
int runner_start_vm(struct runner *r, const struct vm_config *cfg, struct err *err);
/*
 * A restore: the VM's RAM comes from mem, apply loads the snapshot's
 * state into the VM vm_create_from built (on the loop's thread, before
 * any vCPU runs; 0, or -errno with err filled, and the VM is then torn
 * down), and paused leaves it as after vm_pause.
 */
struct runner_restore {
	const struct vm_mem_file *mem;
	int (*apply)(void *ctx, struct vm *vm, struct err *err);
	void *ctx;
	bool paused;
	/*
	 * Devices and vCPUs paused before the records go in (a migration's
	 * prelude: RAM is still zero, and a device started by its record would
	 * walk rings that read as empty). paused is then implied.
	 */
	bool pause_first;
};

/* runner_start_vm for a restore; nothing is left behind on failure. */
int runner_restore_vm(struct runner *r, const struct vm_config *cfg,
		      const struct runner_restore *rs, struct err *err);

/* Dispatches until the VM stops or a signal arrives. */
void runner_loop(struct runner *r);
/*
 * Stops the VM (if it still runs) and joins its vCPUs, leaving its devices
 * in place for a last look (metrics). Returns the exit code: the VM's
 * (enum hearth_exit), or HEARTH_EXIT_STOPPED when no VM ran. Idempotent.
 */
int runner_join(struct runner *r);
/*
 * Joins (runner_join) and tears the VM down, restores the terminal, frees the loop.
 * Returns the exit code: the VM's (enum hearth_exit), or
 * HEARTH_EXIT_STOPPED when no VM ran.
 */
int runner_finish(struct runner *r);

#endif

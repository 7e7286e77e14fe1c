/*
 * `hearth run`: its flags into the machine model (vmm/config.h). Also the
 * top of the command line: `hearth --help`, `hearth --version`, and the
 * refusal of a command nobody else took.
 */
#ifndef HEARTH_CLI_RUN_H
#define HEARTH_CLI_RUN_H

#include <stdbool.h>
#include <stdio.h>

#include "util/err.h"
#include "util/opt.h"
#include "vmm/config.h"

enum cli_action { CLI_RUN, CLI_HELP, CLI_VERSION };

struct cli_config {
	enum cli_action action;
	int verbose;
	/* What `run` boots; filled through vm_config's setters. */
	struct vm_config vm;
	/* --kernel, --initrd, --cmdline as given (argv): the boot source is set from all three at the end. */
	const char *kernel, *initrd, *cmdline;
	/* --firmware, --firmware-vars as given (argv): a firmware boot instead (run_firmware.c). */
	const char *firmware, *firmware_vars;
	bool rng_given;             /* --rng or --no-rng on the command line (--flat turns it off) */
	const char *kernel_cache;   /* --kernel-cache DIR as given (argv); NULL: none */
	/* --api-sock: also serve the API for this VM (points into argv); NULL: none. */
	const char *api_sock;
	bool mem_merge;             /* --mem-merge: guest RAM offered to KSM (vmm/vm_ram.h) */
	bool no_seccomp;            /* --no-seccomp: no per-thread filters (src/sandbox) */
	bool no_sandbox;            /* --no-sandbox: no process sandbox (src/sandbox) */
	const char *snapshot_dir;   /* --snapshot-dir: kept writable by the sandbox; NULL: none */
	const char *migrate_dir;    /* --migrate-dir: kept by the sandbox for PUT /migrate; NULL: none */
	bool migrate_net;           /* --migrate-net: the host's network kept, for a tcp: migration */
	const char *migrate_tls;    /* --migrate-tls DIR: the migration's TLS credentials; NULL: none */
	const char *fork_dir;       /* --fork-dir: PUT /fork's clones beneath it; NULL: no forks */
	const char *fork_taps;      /* --fork-taps PREFIX: the TAPs a clone may be given; NULL: none */
	bool fork_hostfwd;          /* --fork-hostfwd: a clone's user-mode NIC may forward ports */
	/* --jail DIR --uid U --gid G as given (argv): src/sandbox checks them; NULL: not given. */
	const char *jail, *jail_uid, *jail_gid;
	bool new_pid_ns;            /* --new-pid-ns: the VM as pid 1 of a PID namespace */
	const char *pid_file;       /* --pid-file: where its pid goes; NULL: not given */
};

/*
 * Parses argv. Returns 0, or -EINVAL with one line in e (a usage error).
 * Either way cli_run_release() frees cfg.
 */
int cli_run_parse(int argc, char **argv, struct cli_config *cfg, struct err *e);
void cli_run_release(struct cli_config *cfg);
void cli_run_usage(FILE *out);

/*
 * The device flags (run_devices.c), entries of run's option table: ctx is
 * the cli_config, val the spec (for --rng and --debug-exit NULL without
 * "=SPEC"). 0, or -EINVAL with "FLAG 'SPEC': why" in e.
 */
int cli_run_disk(void *ctx, const struct opt *o, const char *val, struct err *e);
int cli_run_net(void *ctx, const struct opt *o, const char *val, struct err *e);
int cli_run_vsock(void *ctx, const struct opt *o, const char *val, struct err *e);
/* --device vfio=PATH[,id=NAME]: a host PCI device passed through (pci/vfio.h). */
int cli_run_device(void *ctx, const struct opt *o, const char *val, struct err *e);
int cli_run_fs(void *ctx, const struct opt *o, const char *val, struct err *e);
int cli_run_rng(void *ctx, const struct opt *o, const char *val, struct err *e);
int cli_run_debug_exit(void *ctx, const struct opt *o, const char *val, struct err *e);
/*
 * run_firmware.c: --smbios serial=S,uuid=U,product=P (a ',' inside a
 * value written ',,', as QEMU's -smbios); and the firmware boot checked
 * and set once every flag is read (it turns --pci on).
 */
int cli_run_smbios(void *ctx, const struct opt *o, const char *val, struct err *e);
int cli_run_firmware_finish(struct cli_config *cfg, struct err *e);
/* --debugcon[ [port=P][,out=PATH]] (val NULL: the defaults) and --flat FILE[,addr=A][,entry=E][,mode=M]. */
int cli_run_debugcon(void *ctx, const struct opt *o, const char *val, struct err *e);
int cli_run_flat(void *ctx, const struct opt *o, const char *val, struct err *e);
/* Puts the flag and value it came from before the model's message in e; returns ret. */
int cli_run_flag_fail(const char *flag, const char *val, int ret, struct err *e);

#endif

/*
 * What the sandbox server's parts share: the server, its templates, its
 * sandboxes and the VM processes behind them. One mutex (sbx.lock) guards
 * the lists and every field a list walker reads; a sandbox whose VM is
 * being changed (made, paused, restored, forked, killed) is `busy`, and
 * the one thread that set it works on it without the lock. Nothing here
 * trusts a guest: what an agent answers is only ever a status checked.
 */
#ifndef HEARTH_SANDBOXD_PRIV_H
#define HEARTH_SANDBOXD_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "sandboxd/sandboxd.h"
#include "util/err.h"

#define SBX_ID_LEN 20          /* E2B's: lower-case letters and digits */
#define SBX_TOKEN_LEN 40       /* 20 random bytes, hex */
#define SBX_PATH 108           /* a Unix socket's path, with its NUL */
#define SBX_ENVD_PORT 49983    /* envd's port, the agent's vsock port */
#define SBX_ENVD_VERSION "0.5.7"
#define SBX_TPL_ID_MAX 64
#define SBX_MAX_API_THREADS 16

enum sbx_state { SBX_CREATING, SBX_RUNNING, SBX_PAUSED };

/* Snapshot files (vm.snap, vm.mem in dir), kept while a VM maps them or a sandbox is paused on them. */
struct sbx_snap {
	unsigned int refs;
	char dir[SBX_PATH];
	char token[SBX_TOKEN_LEN + 1];  /* what the agent in it holds: a restore's /init needs it */
};

/* --jail-uids, --jail-gid: the users VMs are jailed as (jail.c). */
struct sbx_jail {
	pthread_mutex_t lock;
	bool on;
	uid_t first;
	unsigned int count;
	gid_t gid;
	uint8_t *used;              /* count entries: 1 while a VM (and its clones) runs as it */
};

/* One `hearth serve` process and its files. */
struct sbx_vm {
	pid_t pid;                  /* 0: none */
	int pidfd;
	char dir[SBX_PATH];         /* where it runs: its sockets, its log, its --snapshot-dir */
	char root[SBX_PATH];        /* jailed: its jail (dir is ROOT/vm), a clone's its template's */
	uid_t uid;                  /* jailed: its user, a clone's its template's */
	struct sbx_jail *jail;      /* the range uid came from, given back at its end (NULL: none) */
	char api_sock[SBX_PATH];
	char vsock[SBX_PATH];       /* its hybrid vsock's socket: the agent's way in */
	char snap_dir[SBX_PATH];    /* its --snapshot-dir (a clone's: its template's) */
	char log[SBX_PATH];         /* a clone's COM1 file, in its template's directory */
	bool own_dir;               /* dir is this VM's alone: removed with it */
	struct sbx_snap *base;      /* restored from it (NULL: a clone) */
};

enum sbx_tpl_kind { SBX_TPL_BOOT, SBX_TPL_SNAP };
enum sbx_tpl_state { SBX_TPL_COLD, SBX_TPL_BOOTING, SBX_TPL_READY, SBX_TPL_FAILED };

struct sbx_tpl {
	struct sbx_tpl *next;
	char id[SBX_TPL_ID_MAX + 1];
	enum sbx_tpl_kind kind;
	enum sbx_tpl_state state;
	char why[ERR_MSG_MAX];      /* FAILED: the boot's error */
	/* template.json (a snapshot template: its source's) */
	char *kernel, *initrd, *rootfs, *cmdline, *user, *workdir;
	unsigned int vcpus, mem_mib;
	uint64_t disk_bytes;
	/* SBX_TPL_BOOT, READY: the paused template in dir, its clones beneath it */
	unsigned int index;
	struct sbx_vm vm;
	char rootfs_link[SBX_PATH]; /* the image inside the fork dir, which clones name */
	unsigned int clones;        /* made so far (names nothing; counted for the log) */
	/* SBX_TPL_SNAP: its files */
	struct sbx_snap *snap;
};

struct sbx_box {
	struct sbx_box *next;
	char id[SBX_ID_LEN + 1];
	char token[SBX_TOKEN_LEN + 1];
	struct sbx_tpl *tpl;        /* templates live as long as the server */
	json_t *metadata;           /* object of strings */
	json_t *envs;               /* object of strings */
	int64_t started_ms, end_ms; /* epoch ms; end_ms: when the timeout ends it */
	enum sbx_state state;
	bool busy;
	bool auto_pause;            /* a timeout pauses it instead of killing it */
	unsigned int gen;           /* restores so far: names each one's directory */
	struct sbx_vm vm;           /* RUNNING */
	struct sbx_snap *paused;    /* PAUSED: its snapshot */
	uint64_t cpu_ticks;         /* the last metrics sample: the VM's CPU time */
	int64_t cpu_at_ms;
};

struct sbx {
	struct sbx_config cfg;
	char run[SBX_PATH - 48];    /* room behind it for a clone's socket names */
	char key[256];
	size_t key_len;
	char templates[4096];       /* --templates, absolute: the VMs run elsewhere */
	struct sbx_jail jail;
	pthread_mutex_t lock;
	pthread_cond_t cond;        /* a sandbox or template changed */
	struct sbx_box *boxes;
	unsigned int nboxes;
	struct sbx_tpl *tpls;
	unsigned int ntpls;
	unsigned int seq;           /* snapshot directories, restores */
	bool stopping;
	int stop_fd;                /* an eventfd: readable once stopping */
	int api_fd, envd_fd;
};

/* registry.c: the lists, and the ids and tokens. */
int64_t sbx_now_ms(void);
/*
 * Whether SIGINT or SIGTERM came (lock not held): a loop that waits on a
 * guest (its agent's /health, an /init) ends then, so that the server's
 * end does not wait out --boot-timeout or --op-timeout.
 */
bool sbx_stopping(struct sbx *s);
/* n random characters of alphabet into out (NUL-terminated). 0 or -errno. */
int sbx_random_str(char *out, size_t n, const char *alphabet);
/* A new CREATING sandbox of tpl, busy, in the list (lock held). -EAGAIN when full. */
int sbx_box_add(struct sbx *s, struct sbx_tpl *tpl, struct sbx_box **out);
/* Takes b out of the list and frees it (lock held; its VM already ended). */
void sbx_box_remove(struct sbx *s, struct sbx_box *b);
/* The sandbox id names, CREATING ones left out (lock held). */
struct sbx_box *sbx_box_find(struct sbx *s, const char *id);
/*
 * Waits (lock held) until id's sandbox is not busy, then makes it busy:
 * 0 with *out; -ENOENT when there is none (or it went while waiting);
 * -ETIMEDOUT past op_timeout.
 */
int sbx_box_claim(struct sbx *s, const char *id, struct sbx_box **out);
/* Not busy any more (lock held); wakes the waiters. */
void sbx_box_release(struct sbx *s, struct sbx_box *b);
/* Any thread: one reference fewer (atomic); the last removes the files. */
void sbx_snap_put(struct sbx_snap *snap);
static inline void sbx_snap_get(struct sbx_snap *snap)
{
	__atomic_add_fetch(&snap->refs, 1, __ATOMIC_ACQ_REL);
}
/* A fresh directory under the run directory: RUN/KIND-N. 0 or -errno. */
int sbx_new_dir(struct sbx *s, const char *kind, char *out, size_t len);

/* vm.c: `hearth serve` processes. */
/*
 * Starts EXE serve --api-sock DIR/api.sock --snapshot-dir DIR/snap [args]
 * in vm->dir (made by the caller), its output to DIR/log, and waits for
 * its API to answer. 0 or -errno with e.
 */
int sbx_vm_spawn(struct sbx *s, struct sbx_vm *vm, const char *const *args, struct err *e);
/* Tracks a process someone else started (a clone): its pidfd. 0 or -errno. */
int sbx_vm_adopt(struct sbx_vm *vm, pid_t pid, struct err *e);
/* Ends it (SIGKILL), waits for it, removes its sockets (and its directory when its own). */
void sbx_vm_kill(struct sbx_vm *vm);
bool sbx_vm_alive(const struct sbx_vm *vm);
/* Reaps every child that ended (the server is a subreaper: clones come back to it). */
void sbx_vm_reap(void);

/* jail.c: each VM's jail (--jail-uids), and its files. */
int sbx_jail_init(struct sbx_jail *j, const struct sbx_config *cfg);
void sbx_jail_fini(struct sbx_jail *j);
/* Jailed: the run directory must allow the jails' device nodes (not nodev). 0 or -errno. */
int sbx_jail_check_run(const struct sbx *s, struct err *e);
/*
 * A new directory for a VM (RUN/KIND-N; made busy): jailed, its root,
 * vm->dir = ROOT/vm its user's, and a uid of the range taken for it
 * (-EAGAIN when every one runs a VM). 0 or -errno with e.
 */
int sbx_vm_dir(struct sbx *s, const char *kind, struct sbx_vm *vm, struct err *e);
/* Gives vm's uid back to its range (once its processes are gone). */
void sbx_jail_give(struct sbx_vm *vm);
/* host as the VM names it: inside its jail, host without the jail's root. */
const char *sbx_vm_in(const struct sbx_vm *vm, const char *host);
/* Jailed: path (made by the server in vm->dir) becomes the VM's user's. */
int sbx_jail_own(const struct sbx *s, const struct sbx_vm *vm, const char *path,
		 struct err *e);
/*
 * from placed at to for a VM to read: a link (jailed: of a world-readable
 * file), else a reflink or a copy (jailed: root's, mode 0440, the jail's
 * group). 0 or -errno with e.
 */
int sbx_jail_place(const struct sbx *s, const char *from, const char *to, struct err *e);
/*
 * Jailed: the file name in dir, written by a VM's user, must be a regular
 * file with one link; it becomes root's, mode 0440, the jail's group, for
 * other jails to read. 0 or -errno with e.
 */
int sbx_jail_seal(const struct sbx *s, int dir, const char *name, struct err *e);
/* Removes dir and what is in it, nothing followed (a jailed VM wrote there). */
void sbx_remove_tree(const char *dir);

#endif

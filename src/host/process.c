/* The process that runs a VM: its sandbox's entry, then the host and the API (process.h). */
#include "host/process.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/server.h"
#include "disk/qcow2.h"
#include "migrate/tls.h"
#include "sandbox/confine.h"
#include "sandbox/policy.h"
#include "sandbox/sandbox.h"
#include "util/log.h"
#include "util/trim.h"
#include "vmm/logger.h"
#include "vmm/runner.h"

/* A directory the sealed process keeps; a bad one is a usage error naming its flag. */
static int keep(const char *flag, const char *path, struct err *e)
{
	struct err why = ERR_INIT;
	int ret = sandbox_allow_dir(path, &why);

	if (!ret)
		return 0;
	return err_set(e, true, ret, "%s '%s': %s", flag, path, why.msg);
}

/* --snapshot-dir and --migrate-dir, the directories written after the seal. */
static int keep_dirs(const struct host_sandbox *s, struct err *e)
{
	int ret = s->snapshot_dir ? keep("--snapshot-dir", s->snapshot_dir, e) : 0;

	if (!ret && s->migrate_dir)
		ret = keep("--migrate-dir", s->migrate_dir, e);
	return ret;
}

int host_sandbox_enter(const struct host_sandbox *s)
{
	const char *probe = getenv("HEARTH_SANDBOX_PROBE");
	struct err e = ERR_INIT;
	struct sandbox_opts so;

	/* The per-thread filters, before any thread starts. */
	if (s->no_seccomp) {
		log_debug("seccomp filters are off (--no-seccomp)");
	} else if (sandbox_init(&e)) {
		return log_fail(&e);
	}
	/* The process sandbox, after the filters are built; bad --jail values are usage errors. */
	if (sandbox_opts_parse(s->no_sandbox, s->no_seccomp, s->jail, s->uid, s->gid, geteuid(),
			       &so, &e)) {
		e.usage = true;
		return log_fail(&e);
	}
	if (sandbox_pidns_parse(s->new_pid_ns, s->pid_file,
				s->firecracker ? "firecracker" : "hearth", &so, &e))
		return log_fail(&e);
	so.probe = probe && !strcmp(probe, "1");
	so.no_nics = s->no_nics;
	so.api_sock = s->api_sock;
	so.uid_shared = s->uid_shared;
	so.migrate_net = s->migrate_net;
	/*
	 * The API socket's directory is not kept: the socket is bound before
	 * the seal (host_process_run) and served from its fd. Snapshots are
	 * written after the seal, into a directory it must keep. A jail's
	 * directories are the jail's: named after it is entered (below).
	 */
	if (!so.jail && keep_dirs(s, &e))
		return log_fail(&e);
	/* GnuTLS from the host's library directories, before a jail hides them. */
	if (s->migrate_tls && tls_lib_load(&e))
		return log_fail(&e);
	/*
	 * zlib for a qcow2 image's compressed clusters, likewise: the images
	 * are opened inside the jail, where the host's libz is not. Without
	 * it only compressed clusters fail (by name, when read).
	 */
	if (so.jail && qcow2_inflate_load(&e)) {
		log_warn("%s", e.msg);
		e = (struct err)ERR_INIT;
	}
	if (sandbox_prepare(&so, &e))
		return log_fail(&e);
	/* Inside the jail now: "/snap" is DIR/snap, a relative one resolves from its root. */
	if (so.jail && keep_dirs(s, &e))
		return log_fail(&e);
	return 0;
}

int host_sandbox_tls(const struct host_sandbox *s)
{
	struct err e = ERR_INIT;

	if (!s->migrate_tls)
		return 0;
	*s->tls_out = tls_creds_load(s->migrate_tls, &e);
	return *s->tls_out ? 0 : log_fail(&e);
}

/* A clone tells its zygote how its start went (host_opts.report_ready): once, then closed. */
static int ready_say(const struct host_opts *o, const struct err *e, int code)
{
	char line[sizeof(e->msg) + 1];
	int n;

	if (!o->report_ready || o->ready_fd < 0)
		return code;
	n = e ? snprintf(line, sizeof(line), "E%s", e->msg) : snprintf(line, sizeof(line), "K");
	if (write(o->ready_fd, line, (size_t)n) < 0)
		log_warn("fork: cannot tell the zygote: %s", strerror(errno));
	close(o->ready_fd);
	return code;
}

/*
 * A fork's clone (host_opts.go_fd): built and paused, it says so and
 * waits for its start, a byte the zygote writes for each clone once all
 * are built; the pipe's end alone (the zygote gone) is an abort. Then it
 * resumes as the request asked: the guests of a fork start together,
 * none running while the others are still being made. Its API serves
 * only after: a client that connects early waits in the socket's backlog
 * rather than racing the resume on the control lock (the API thread
 * would wait, holding it, for a loop that is not running yet).
 */
static int clone_go(struct host *h, const struct host_opts *o, struct err *e)
{
	char c;
	ssize_t r;

	if (write(o->ready_fd, "P", 1) != 1)
		return err_set(e, false, -errno, "fork: cannot tell the zygote: %s", strerror(errno));
	do
		r = read(o->go_fd, &c, 1);
	while (r < 0 && errno == EINTR);
	close(o->go_fd);
	if (r != 1 || c != 'G')
		return err_set(e, false, -EPIPE, "fork: the zygote went before starting this clone");
	if (!o->go_resume)
		return 0;
	return ctl_handle(&h->ctl, &(struct ctl_action){ .type = CTL_RESUME }, NULL, e);
}

/* host_close, the struct freed, then the exit line. */
static int host_end(const struct host_opts *o, struct host *h, int code)
{
	code = host_close(h, code);
	free(h);
	return host_exit_line(o, code);
}

int host_process_run(const struct host_opts *o, struct vm_config *boot, const char *api_sock,
		 size_t max_payload)
{
	struct api_server *srv = NULL;
	struct err e = ERR_INIT;
	struct stat st;
	struct host *hp;
	int ret;

	/*
	 * Firecracker never replaces what is at its socket's path, stale or
	 * not, and says so in its log: its tests and orchestrators read that
	 * line. hearth serve replaces a stale socket (uds_listen).
	 */
	/* Firecracker's start-up refusals go to its log file too: it is opened first. */
	if (o->product && o->logger.log_path &&
	    (o->metadata || (api_sock && !lstat(api_sock, &st))))
		vm_logger_apply(&o->logger, &e);
	if (o->product && host_metadata_check(o, &e))
		return host_exit_line(o, ready_say(o, &e, log_fail(&e)));
	if (api_sock && o->product && !lstat(api_sock, &st)) {
		err_set(&e, false, -EADDRINUSE, "Failed to open the API socket at: %s. Check that "
			"it is not already used.", api_sock);
		return host_exit_line(o, ready_say(o, &e, log_fail(&e)));
	}
	/*
	 * The runner's signals wait, blocked, for its signalfd from before the
	 * socket exists: a SIGTERM or SIGPIPE sent once it is there (an
	 * orchestrator's cue) would otherwise take the default action, ending
	 * the process without its exit, until runner_init blocks them.
	 */
	sigset_t sigs;

	/* Ignored first: made so later, it would discard one pending. */
	signal(SIGPIPE, SIG_IGN);
	runner_signals_mask(&sigs);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/*
	 * The socket first: a VM booted at once seals the sandbox in
	 * host_open, and the sealed root keeps no directory to bind it in.
	 */
	if (api_sock) {
		ret = api_server_listen(&srv, api_sock, max_payload, &e);
		if (ret) {
			/* A path taken or unfit is the user's. */
			e.usage = ret == -EEXIST || ret == -EINVAL;
			return host_exit_line(o, ready_say(o, &e, log_fail(&e)));
		}
	}
	/* Without a socket nothing can plug a device in: no rings wait for one. */
	if (boot && !api_sock)
		boot->no_plug = true;
	/*
	 * Nothing to boot: the API thread installs its filter while the host
	 * is made (host_open then neither forks nor seals).
	 */
	if (srv && !o->config_file && !o->restore && !boot && api_server_begin(srv, &e)) {
		api_server_stop(srv);
		return host_exit_line(o, ready_say(o, &e, log_fail(&e)));
	}
	/*
	 * Every thread kind's seccomp filter before a VM can start: at once
	 * when one may boot in host_open, else once the API answers (the
	 * API thread builds its own first), which is not held up by the rest.
	 */
	if ((!srv || o->config_file || o->restore || boot) && sandbox_build_all(&e)) {
		api_server_stop(srv);
		return host_exit_line(o, ready_say(o, &e, log_fail(&e)));
	}
	/* A clone of a fork has no migration thread: it would cost every clone a thread. */
	struct host_opts oo = *o;

	oo.migrate = api_sock && !o->report_ready;
	/*
	 * Off the stack, 51 KiB: in a clone, whose malloc maps a request this
	 * size on its own, zero pages, of which it writes only those it fills
	 * (trim.h), where on the stack it would write them all.
	 */
	hp = calloc(1, sizeof(*hp));
	if (!hp) {
		api_server_stop(srv);
		err_set(&e, false, -ENOMEM, "out of memory");
		return host_exit_line(o, ready_say(o, &e, log_fail(&e)));
	}
	if (host_open(hp, &oo, boot, &e)) {
		if (o->product && hp->failed_building)
			api_server_stop_started(srv);
		else
			api_server_stop(srv);
		free(hp);
		return host_exit_line(o, ready_say(o, &e, log_fail(&e)));
	}
	/* A fork's clone starts with its siblings, before its API serves (clone_go). */
	if (o->report_ready && o->go_fd >= 0 && clone_go(hp, o, &e)) {
		api_server_stop(srv);
		return host_end(o, hp, ready_say(o, &e, log_fail(&e)));
	}
	if (srv) {
		ret = api_server_serve(srv, &hp->ctl, &e);
		if (ret) {
			/* A VM booted already is joined. */
			api_server_stop(srv);
			return host_end(o, hp, ready_say(o, &e, log_fail(&e)));
		}
		host_measure_startup(hp, o);
		if (sandbox_build_all(&e)) {
			api_server_stop(srv);
			return host_end(o, hp, ready_say(o, &e, log_fail(&e)));
		}
	}
	ready_say(o, NULL, 0);
	/* Setup's dead frames below this one and its freed heap: no longer this VM's. */
	trim_after_setup();
	host_run(hp);
	/* No request may reach the VM from here on. */
	api_server_stop(srv);
	return host_end(o, hp, -1);
}


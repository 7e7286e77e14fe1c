#include "cli/restore.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/server.h"
#include "cli/cli.h"
#include "fcjson/config_json.h"
#include "util/log.h"

void cli_restore_usage(FILE *out)
{
	fputs("usage: hearth restore --snapshot FILE --mem FILE|--mem-uffd SOCKET\n"
	      "                      [--drive-override ID=ro:PATH|ID=rw:PATH]...\n"
	      "                      [--drive-backing ID=FILE|ID=header]...\n"
	      "                      [--pmem-override ID=ro:PATH|ID=rw:PATH]...\n"
	      "                      [--net-override ID=tap=NAME|ID=user[,...]]...\n"
	      "                      [--vsock-override PATH | --vsock-cid CID] [--kvm PATH]\n"
	      "                      [--firmware FILE [--firmware-vars FILE]]\n"
	      "                      [--api-sock PATH] [--huge-pages None|2M|Transparent]\n"
	      "                      [--resume] [--track-dirty-pages] [--clock-realtime]\n"
	      "                      [--mem-merge] [--no-seccomp] [--no-sandbox]\n"
	      "                      [--new-pid-ns --pid-file PATH]\n"
	      "                      [-v|-q]\n"
	      "  Restores a snapshot taken with PUT /snapshot/create (or hearth snapshot).\n"
	      "  Every host resource comes from here, none from the state file: each\n"
	      "  drive, pmem device, network interface and vsock of the snapshot must be\n"
	      "  given, and whether each file is opened writable.\n"
	      "  --snapshot FILE      the state file\n"
	      "  --mem FILE           its memory file, mapped privately (never modified;\n"
	      "                       read into 2 MiB pages with huge_pages \"2M\")\n"
	      "  --mem-uffd SOCKET    or a page-fault handler's socket, which is handed the\n"
	      "                       RAM's userfaultfd and serves every page (Uffd backend)\n"
	      "  --drive-override ID=ro:PATH   drive ID's image, opened read only; rw:PATH,\n"
	      "                       writable (either must be what the snapshot's drive was)\n"
	      "  --drive-backing ID=FILE   a qcow2 drive's next backing file, the image's\n"
	      "                       own first (again for each further down its chain);\n"
	      "                       ID=header: its headers' names, each within its\n"
	      "                       image's directory (never the state file's chain)\n"
	      "  --pmem-override ID=ro:PATH   pmem device ID's file, read only; rw:PATH,\n"
	      "                       writable (either must be what the snapshot's device was)\n"
	      "  --net-override ID=tap=NAME   interface ID's TAP device\n"
	      "  --net-override ID=user[,host-loopback=on][,hostfwd=...]   a user-mode one's\n"
	      "                       host side, as --net takes it (no forwards unless given)\n"
	      "  --vsock-override PATH   the hybrid vsock's Unix socket\n"
	      "  --firmware FILE      a firmware VM's image (the one it booted: checked), and\n"
	      "  --firmware-vars FILE  its variable store, written from the snapshot\n"
	      "  --vsock-cid CID      a vhost-vsock device's CID, claimed on the whole host\n"
	      "                       (must be the snapshot's guest's)\n"
	      "  --huge-pages MODE    back the restored RAM so (default: the snapshot's)\n"
	      "  --kvm PATH           KVM device (default /dev/kvm)\n"
	      "  --api-sock PATH      serve the API; the VM stays paused unless --resume\n"
	      "  --resume             run the guest at once (always so without --api-sock)\n"
	      "  --track-dirty-pages  track dirty pages, for Diff snapshots of this VM\n"
	      "  --clock-realtime     advance the guest's kvmclock by the real time since\n"
	      "                       the snapshot (PUT /snapshot/load's clock_realtime)\n"
	      "  --mem-merge          offer guest RAM to KSM: clones' identical pages kept\n"
	      "                       once (QEMU's mem-merge; docs/density.md)\n"
	      "  --no-seccomp         no per-thread seccomp filters\n"
	      "  --no-sandbox         no process sandbox (docs/security.md)\n"
	      "  --new-pid-ns --pid-file PATH   the VM as pid 1 of a new PID namespace: this\n"
	      "                       process writes its pid to PATH and exits 0 at once\n"
	      "Exit status: as hearth run; 2 when the snapshot or a flag is refused.\n", out);
}

static int restore_drive(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct cli_restore_opts *r = ctx;
	const char *spec;
	char *id;
	int ret;

	if (r->load.n_drive_overrides >= VM_MAX_DRIVES)
		return err_set(e, true, -EINVAL, "restore: more than %d %s", VM_MAX_DRIVES, o->name);
	id = r->drive_ids[r->load.n_drive_overrides];
	ret = cli_override_split("restore", o->name, val, id, sizeof(r->drive_ids[0]), &spec, e);
	if (ret)
		return ret;
	ret = cli_override_access("restore", o->name, val, spec, e);
	if (ret < 0)
		return ret;
	r->load.drive_overrides[r->load.n_drive_overrides++] =
		(struct snap_drive_override){ .drive_id = id, .path_on_host = spec + 3,
					      .is_read_only = ret == 1 };
	return 0;
}

/*
 * --drive-backing ID=FILE (once per file down a qcow2 drive's chain, in
 * order) or ID=header, after drive ID's --drive-override.
 */
static int restore_drive_backing(void *ctx, const struct opt *o, const char *val,
				 struct err *e)
{
	struct cli_restore_opts *r = ctx;
	struct snap_drive_override *ov = NULL;
	const char *file;
	char id[VM_ID_MAX + 1];
	int ret = cli_override_split("restore", o->name, val, id, sizeof(id), &file, e);

	if (ret)
		return ret;
	for (unsigned int i = 0; i < r->load.n_drive_overrides; i++)
		if (!strcmp(r->load.drive_overrides[i].drive_id, id))
			ov = &r->load.drive_overrides[i];
	if (!ov)
		return err_set(e, true, -EINVAL, "restore: %s '%.64s': give drive %s's "
			       "--drive-override first", o->name, val, id);
	if (!strcmp(file, "header")) {
		ov->backing_from_header = true;
		return 0;
	}
	if (!*file || ov->n_backing == BLK_BACKING_MAX)
		return err_set(e, true, -EINVAL, "restore: %s '%.64s': %s", o->name, val,
			       *file ? "more than 15 backing files" : "an empty file name");
	ov->backing_files[ov->n_backing++] = file;
	return 0;
}

static int restore_pmem(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct cli_restore_opts *r = ctx;
	struct snap_pmem_override *ov;
	const char *spec;
	char *id;
	int ret;

	if (r->load.n_pmem_overrides >= VM_MAX_PMEM)
		return err_set(e, true, -EINVAL, "restore: more than %d %s", VM_MAX_PMEM, o->name);
	id = r->pmem_ids[r->load.n_pmem_overrides];
	ret = cli_override_split("restore", o->name, val, id, sizeof(r->pmem_ids[0]), &spec, e);
	if (ret)
		return ret;
	ret = cli_override_access("restore", o->name, val, spec, e);
	if (ret < 0)
		return ret;
	ov = &r->load.pmem_overrides[r->load.n_pmem_overrides++];
	*ov = (struct snap_pmem_override){ .id = id, .path_on_host = spec + 3,
					   .read_only = ret == 1 };
	return 0;
}

static int restore_vsock_cid(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct cli_restore_opts *r = ctx;
	char *end;
	unsigned long long cid;

	errno = 0;
	cid = strtoull(val, &end, 10);
	if (errno || end == val || *end || !isdigit((unsigned char)val[0]) || cid < 3 ||
	    cid > 0xfffffffeULL)
		return err_set(e, true, -EINVAL, "restore: %s '%.64s': want a CID from 3 to "
			       "4294967294", o->name, val);
	r->load.vsock_cid = cid;
	return 0;
}

static int restore_huge(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct cli_restore_opts *r = ctx;

	if (config_json_huge_pages(val, &r->load.huge_pages))
		return err_set(e, true, -EINVAL, "restore: %s '%.64s': want None, 2M or "
			       "Transparent", o->name, val);
	r->load.huge_pages_set = true;
	return 0;
}

static int restore_net(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct cli_restore_opts *r = ctx;
	struct snap_net_override *ov;
	const char *spec;
	char *id;
	int ret;

	if (r->load.n_overrides >= VM_MAX_NETS)
		return err_set(e, true, -EINVAL, "restore: more than %d %s", VM_MAX_NETS, o->name);
	id = r->net_ids[r->load.n_overrides];
	ret = cli_override_split("restore", o->name, val, id, sizeof(r->net_ids[0]), &spec, e);
	if (ret)
		return ret;
	ov = &r->load.overrides[r->load.n_overrides++];
	*ov = (struct snap_net_override){ .iface_id = id };
	if (!strncmp(spec, "tap=", 4))
		ov->host_dev_name = spec + 4;
	else
		ov->backend = spec;
	return 0;
}

#define R_STR(n, f) OPT_STRING(n, struct cli_restore_opts, f)
#define R_FLAG(n, f) OPT_FLAG(n, struct cli_restore_opts, f)

static const struct opt restore_opts[] = {
	R_STR("--snapshot", load.snapshot_path),
	R_STR("--mem", load.mem_path),
	R_STR("--mem-uffd", mem_uffd),
	R_STR("--api-sock", api_sock),
	OPT_CALL("--drive-override", OPT_VALUE, restore_drive),
	OPT_CALL("--drive-backing", OPT_VALUE, restore_drive_backing),
	OPT_CALL("--net-override", OPT_VALUE, restore_net),
	OPT_CALL("--pmem-override", OPT_VALUE, restore_pmem),
	R_STR("--vsock-override", load.vsock_uds_path),
	R_STR("--firmware", load.firmware_path),
	R_STR("--firmware-vars", load.firmware_vars_path),
	OPT_CALL("--vsock-cid", OPT_VALUE, restore_vsock_cid),
	OPT_CALL("--huge-pages", OPT_VALUE, restore_huge),
	R_STR("--kvm", kvm_path),
	R_FLAG("--resume", load.resume_vm),
	R_FLAG("--track-dirty-pages", load.track_dirty_pages),
	R_FLAG("--clock-realtime", load.clock_realtime),
	R_FLAG("--mem-merge", mem_merge),
	R_FLAG("--no-seccomp", no_seccomp),
	R_FLAG("--no-sandbox", no_sandbox),
	R_FLAG("--new-pid-ns", new_pid_ns),
	R_STR("--pid-file", pid_file),
	OPT_VERBOSITY(struct cli_restore_opts, verbose, 0),
	OPT_HELP("--help", struct cli_restore_opts, help),
	OPT_HELP("-h", struct cli_restore_opts, help),
	OPT_END,
};

int cli_restore_parse(int argc, char **argv, struct cli_restore_opts *o, struct err *e)
{
	static const struct opt_cmd cmd = { .name = "restore", .opts = restore_opts, .gnu = true,
					    .fault = cli_gnu_fault };
	int ret;

	memset(o, 0, sizeof(*o));
	ret = opt_parse(&cmd, argc, argv, 2, o, e);
	if (ret || o->help)
		return ret;
	if (o->mem_uffd && o->load.mem_path)
		return err_set(e, true, -EINVAL, "restore: give --mem FILE or --mem-uffd SOCKET, "
			       "not both");
	if (o->mem_uffd) {
		o->load.mem_path = o->mem_uffd;
		o->load.mem_uffd = true;
	}
	if (!o->load.snapshot_path || !o->load.mem_path || !*o->load.snapshot_path ||
	    !*o->load.mem_path)
		return err_set(e, true, -EINVAL, "restore: --snapshot FILE and --mem FILE (or "
			       "--mem-uffd SOCKET) are required");
	if (!o->api_sock)
		o->load.resume_vm = true;
	return 0;
}

/* `hearth serve` whose VM is a snapshot's. */
int cli_restore_main(int argc, char **argv)
{
	struct err e = ERR_INIT;
	struct cli_restore_opts r;
	struct host_sandbox sb;
	int code;

	if (cli_restore_parse(argc, argv, &r, &e)) {
		e.usage = true;
		return log_fail(&e);
	}
	if (r.help) {
		cli_restore_usage(stdout);
		return HEARTH_EXIT_OK;
	}
	cli_log_level(r.verbose);
	sb = (struct host_sandbox){ .no_seccomp = r.no_seccomp, .no_sandbox = r.no_sandbox,
				   .api_sock = r.api_sock, .new_pid_ns = r.new_pid_ns,
				   .pid_file = r.pid_file };
	code = host_sandbox_enter(&sb);
	if (code)
		return code;
	return host_process_run(&(struct host_opts){ .restore = &r.load, .kvm_path = r.kvm_path,
						   .mem_merge = r.mem_merge },
			    NULL, r.api_sock,
			    API_DEFAULT_MAX_PAYLOAD);
}

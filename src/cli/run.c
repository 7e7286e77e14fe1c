/*
 * `hearth run`: one option table (util/opt.h) into the machine model
 * through vm_config's setters, so a bad value gets the model's message
 * after the flag it came from; the device specs are run_devices.c's.
 */
#include "cli/run.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/server.h"
#include "cli/cli.h"
#include "zygote/zygote.h"
#include "hearth-config.h"
#include "util/log.h"

void cli_run_usage(FILE *out)
{
	fprintf(out,
		"Usage: hearth run --kernel PATH [options]\n"
		"       hearth run --firmware FILE [--firmware-vars FILE] [--smbios SPEC] [options]\n"
		"       hearth run --flat FILE[,addr=A][,entry=E][,mode=real|prot32|long] [options]\n"
		"       hearth serve --api-sock PATH [--config-file FILE] [--id ID] (see 'hearth serve --help')\n"
		"       hearth snapshot --api-sock PATH --snapshot FILE --mem FILE [--diff] [--resume]\n"
		"       hearth restore --snapshot FILE --mem FILE [--api-sock PATH] [--resume]\n"
		"       hearth snapshot-merge --base MEM --diff MEM\n"
		"       hearth fork --api-sock PATH --count N --clone-sock PATTERN [...] (see 'hearth fork --help')\n"
		"       hearth reset --api-sock PATH\n"
		"       hearth migrate --api-sock PATH --to URI | --incoming URI [...]\n"
		"       hearth --help | --version | --seccomp-report | --sandbox-report\n"
		"\n"
		"Boots a Linux kernel (bzImage, or ELF vmlinux with or without a PVH note) or a\n"
		"Multiboot v1 kernel (ELF32 or a.out kludge, e.g. x86 test kernels) on KVM.\n"
		"\n"
		"Options for 'run':\n"
		"  --kernel PATH     kernel image (required)\n"
		"  --initrd PATH     initial ramdisk\n"
		"  --cmdline STR     kernel command line (default \"%s\")\n"
		"  --firmware FILE   instead of --kernel: boot the disks through this firmware\n"
		"                    (SeaBIOS's bios-256k.bin, or OVMF_CODE_4M.fd with\n"
		"                    --firmware-vars) on QEMU's q35 chipset; turns --pci on\n"
		"                    (docs/firmware.md)\n"
		"  --firmware-vars FILE  the firmware's variable store (a copy of\n"
		"                    OVMF_VARS_4M.fd of this VM's own): its UEFI variables persist\n"
		"  --smbios serial=S,uuid=U,product=P  SMBIOS type 1 fields for the firmware's\n"
		"                    tables (',,' for a ','); a serial \"ds=nocloud;s=URL\"\n"
		"                    points cloud-init at URL\n"
		"  --cpus N          vCPUs, 1 to %u and no more than KVM allows (default %u)\n"
		"  --memory MiB      guest RAM in MiB, %u to %llu (default %u); RAM beyond\n"
		"                    3 GiB is placed above 4 GiB, past the 32-bit MMIO hole\n"
		"  --huge-pages none|transparent|2M  what backs guest RAM, as machine-config's\n"
		"                    huge_pages: 4 KiB pages (default), transparent huge pages\n"
		"                    (MADV_HUGEPAGE), or 2 MiB hugetlbfs pages from the host's pool\n"
		"  --disk SPEC       virtio-blk disk, repeatable (up to %u with --pci; without,\n"
		"                    18 virtio devices in all, one interrupt line each):\n"
		"                    path=FILE[,ro][,id=NAME][,cache=none|writeback][,queues=N]\n"
		"                    [,bw=SIZE/REFILL_MS[+BURST]][,ops=COUNT/REFILL_MS[+BURST]]\n"
		"                    (rate limits: SIZE bytes, or COUNT requests, every REFILL_MS,\n"
		"                    BURST once at the start; K, M, G multiply by 1024)\n"
		"                    or socket=PATH[,id=NAME][,cache=...]: a vhost-user block\n"
		"                    device, served by the backend listening on PATH\n"
		"  --net SPEC        virtio-net, repeatable (up to %u with --pci, as --disk):\n"
		"                    user[,hostfwd=tcp:HOSTPORT-:GUESTPORT]\n"
		"                    (user-mode networking, no root) or\n"
		"                    tap=IFNAME[,mac=MAC][,mtu=N][,vhost=auto|on|off][,queues=Q]\n"
		"                    (Q: 1 to 4 queue pairs, default one per vCPU);\n"
		"                    either with [,rx-bw=..][,rx-ops=..][,tx-bw=..][,tx-ops=..]\n"
		"  --rng, --no-rng   virtio-rng fed by getrandom() (default on)\n"
		"  --rng=bw=..[,ops=..]  virtio-rng with a rate limit\n"
		"  --vsock cid=N[,uds=PATH]  virtio-vsock, guest CID N >= 3: through the host's\n"
		"                    vhost_vsock, or with uds= hybrid vsock on Unix sockets (no root)\n"
		"  --virtio-cmdline  also append virtio_mmio.device=SIZE@BASE:IRQ for each virtio\n"
		"                    device to the kernel command line (custom kernels without\n"
		"                    ACPI; a stock kernel finds the devices in the DSDT)\n"
		"  --pci             virtio devices on PCI (virtio-pci, MSI-X) instead of\n"
		"                    virtio-mmio\n"
		"  --device vfio=PATH[,id=NAME]  pass the host PCI device at PATH\n"
		"                    (/sys/bus/pci/devices/DDDD:BB:DD.F, bound to vfio-pci) through\n"
		"                    to the guest (needs --pci; repeatable, up to 4)\n"
		"  --fs tag=TAG,socket=PATH[,id=NAME]  virtio-fs: the host directory a\n"
		"                    virtiofsd serves on PATH, mounted in the guest with\n"
		"                    mount -t virtiofs TAG DIR (repeatable, up to 8)\n"
		"  --guest-decompress  boot a bzImage as it is: the guest decompresses its\n"
		"                    kernel (by default Hearth does, and boots it through PVH)\n"
		"  --kernel-cache DIR  keep each bzImage's decompressed kernel in DIR (made,\n"
		"                    mode 0700), keyed by the image's SHA-256, at most 512 MiB\n"
		"                    in all: the next boot of the same image skips decompression\n"
		"  --exit-stats      at the end, on stderr: the boot's phases (CLOCK_BOOTTIME\n"
		"                    marks) and Hearth's port and MMIO exits by device\n"
		"  --debug-exit[=iobase=PORT,iosize=1|2|4]  isa-debug-exit at PORT (default\n"
		"                    0xf4, 4 bytes): a guest write of V ends Hearth with\n"
		"                    exit status (V << 1) | 1\n"
		"  --flat FILE[,addr=A][,entry=E][,mode=real|prot32|long]  instead of --kernel:\n"
		"                    a raw image at guest-physical A (default 0), entered at E\n"
		"                    (default A) in real mode (CS:IP from E), 32-bit protected\n"
		"                    or 64-bit long mode; one vCPU, no irqchip, no virtio, and\n"
		"                    a hlt ends Hearth with 0 ('guest halted')\n"
		"  --debugcon [port=PORT][,out=PATH]  isa-debugcon: bytes the guest writes to\n"
		"                    PORT (default 0xe9) go to stdout or PATH; reads give 0xe9\n"
		"  --test-devices    pc-testdev for x86 test kernels: ports 0xe0 (latch), 0xe4\n"
		"                    (page flush), 0x2000+n (ISA IRQ n), 64 KiB RAM at 0xff000000\n"
		"  --kvm PATH        KVM device (default /dev/kvm)\n"
		"  --api-sock PATH   also serve Firecracker's API on the Unix socket PATH, so this\n"
		"                    VM can be paused, resumed and inspected (see 'hearth serve')\n"
		"  --mem-merge       offer guest RAM to KSM, so identical pages of several VMs\n"
		"                    are kept once (QEMU's mem-merge; docs/density.md)\n"
		"  --no-seccomp      run without the per-thread seccomp filters (docs/security.md)\n"
		"  --no-sandbox      run without the process sandbox: namespaces, pivot_root,\n"
		"                    Landlock, limits, capability drop (docs/security.md)\n"
		"  --jail DIR --uid U --gid G  (root only) chroot into DIR and run as U:G;\n"
		"                    every path is then resolved inside DIR\n"
		"  --new-pid-ns --pid-file PATH  run the VM as pid 1 of a new PID namespace:\n"
		"                    this process writes its pid to PATH (default with --jail:\n"
		"                    DIR/hearth.pid) and exits 0 at once (docs/running.md)\n"
		"  --snapshot-dir DIR  with the sandbox, where snapshots of this VM may be\n"
		"                    written (not /, /run, /tmp, /dev or $HOME)\n"
		"  --migrate-dir DIR  with the sandbox, where PUT /migrate finds its\n"
		"                    destination's socket (docs/migration.md)\n"
		"  --migrate-net     with the sandbox, keep the host's network (TCP) for a\n"
		"                    PUT /migrate to a tcp: destination (docs/migration.md)\n"
		"  --migrate-tls DIR  migrations with \"tls\": true use the certificates in\n"
		"                    DIR (docs/migration.md, Transport security)\n"
		"  --fork-dir DIR    with --api-sock, PUT /fork makes clones beneath DIR\n"
		"                    (docs/api.md \"Fork and reset\")\n"
		"  --fork-taps PREFIX  a clone may be given a TAP whose name starts with\n"
		"                    PREFIX (none without it)\n"
		"  --fork-hostfwd    a clone's user-mode NIC may forward host ports or reach\n"
		"                    the host's loopback (not without it)\n"
		"  -v, --verbose     more log output\n"
		"  -q, --quiet       errors only\n"
		"\n"
		"Console: the guest's COM1 is this terminal. Ctrl-A x quits; Ctrl-A Ctrl-A sends Ctrl-A.\n"
		"\n"
		"Exit codes: 0 guest powered off, rebooted or (--flat) halted; 1 host, KVM\n"
		"            or guest failure;\n"
		"            2 bad usage or bad input file; 3 stopped from the host\n"
		"            (Ctrl-A x, SIGINT, SIGTERM); 148 a thread made a syscall its\n"
		"            seccomp filter forbids (one line on stderr names it);\n"
		"            with --debug-exit, (V << 1) | 1 for a guest write of V.\n",
		VM_DEFAULT_CMDLINE, VM_MAX_VCPUS, VM_DEFAULT_VCPUS, VM_MIN_MEM_MIB,
		(unsigned long long)VM_MAX_MEM_MIB, VM_DEFAULT_MEM_MIB, VM_MAX_DRIVES,
		VM_MAX_NETS);
}

static int run_help(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	((struct cli_config *)ctx)->action = CLI_HELP;
	return 0;
}

static int run_kvm(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct cli_config *cfg = ctx;

	if (vm_config_set_kvm_path(&cfg->vm, val, e))
		return cli_run_flag_fail(o->name, val, -EINVAL, e);
	return 0;
}

static int run_api_sock(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	if (!*val)
		return err_set(e, true, -EINVAL, "--api-sock needs a non-empty path");
	((struct cli_config *)ctx)->api_sock = val;
	return 0;
}

/* --cpus and --memory. */
static int run_machine(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct cli_config *cfg = ctx;
	struct vm_machine m = cfg->vm.machine;
	bool cpus = !strcmp(o->name, "--cpus");
	uint64_t v;
	int ret = opt_parse_uint(val, 0, UINT64_MAX, &v);

	if (ret)
		return err_set(e, true, -EINVAL, "%s '%.200s': %s", o->name, val,
			       ret == -ERANGE ? "out of range" : "not a whole number");
	/*
	 * Past the top: the model takes any size (Firecracker's timing, refused
	 * at InstanceStart), but a command line is refused at once.
	 */
	if (cpus && v > VM_MAX_VCPUS)
		ret = err_set(e, true, -EINVAL, "vcpu_count %llu is out of range (1 to %u)",
			      (unsigned long long)v, VM_MAX_VCPUS);
	else if (!cpus && v > VM_MAX_MEM_MIB)
		ret = err_set(e, true, -EINVAL, "mem_size_mib %llu is out of range (%u to %llu)",
			      (unsigned long long)v, VM_MIN_MEM_MIB,
			      (unsigned long long)VM_MAX_MEM_MIB);
	if (ret)
		return cli_run_flag_fail(o->name, val, ret, e);
	if (cpus)
		m.vcpu_count = (unsigned int)v;
	else
		m.mem_size_mib = v;
	ret = vm_config_set_machine(&cfg->vm, &m, e);
	return ret ? cli_run_flag_fail(o->name, val, ret, e) : 0;
}

#define RUN_STR(n, f) OPT_STRING(n, struct cli_config, f)
#define RUN_FLAG(n, f) OPT_FLAG(n, struct cli_config, f)

/* --huge-pages: machine-config's huge_pages, in lower case too. */
static int run_huge_pages(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct cli_config *cfg = ctx;
	struct vm_machine m = cfg->vm.machine;
	int ret;

	if (!strcasecmp(val, "none"))
		m.huge_pages = VM_HUGE_PAGES_NONE;
	else if (!strcasecmp(val, "transparent"))
		m.huge_pages = VM_HUGE_PAGES_THP;
	else if (!strcasecmp(val, "2M"))
		m.huge_pages = VM_HUGE_PAGES_2M;
	else
		return err_set(e, true, -EINVAL, "%s '%.200s': want none, transparent or 2M",
			       o->name, val);
	ret = vm_config_set_machine(&cfg->vm, &m, e);
	return ret ? cli_run_flag_fail(o->name, val, ret, e) : 0;
}

static const struct opt run_opts[] = {
	{ .name = "--help", .kind = OPT_CALL, .fn = run_help, .stop = true },
	{ .name = "-h", .kind = OPT_CALL, .fn = run_help, .stop = true },
	OPT_VERBOSITY(struct cli_config, verbose, 0),
	RUN_STR("--kernel", kernel),
	RUN_STR("--initrd", initrd),
	RUN_STR("--cmdline", cmdline),
	RUN_STR("--firmware", firmware),
	RUN_STR("--firmware-vars", firmware_vars),
	OPT_CALL("--smbios", OPT_VALUE, cli_run_smbios),
	OPT_CALL("--cpus", OPT_VALUE, run_machine),
	OPT_CALL("--memory", OPT_VALUE, run_machine),
	OPT_CALL("--huge-pages", OPT_VALUE, run_huge_pages),
	OPT_CALL("--kvm", OPT_VALUE, run_kvm),
	OPT_CALL("--disk", OPT_VALUE, cli_run_disk),
	OPT_CALL("--net", OPT_VALUE, cli_run_net),
	OPT_CALL("--vsock", OPT_VALUE, cli_run_vsock),
	OPT_CALL("--rng", OPT_EQ, cli_run_rng),
	OPT_CALL("--no-rng", OPT_NONE, cli_run_rng),
	OPT_CALL("--debug-exit", OPT_EQ, cli_run_debug_exit),
	OPT_CALL("--flat", OPT_VALUE, cli_run_flat),
	OPT_CALL("--debugcon", OPT_MAYBE, cli_run_debugcon),
	RUN_FLAG("--test-devices", vm.test_devices),
	RUN_FLAG("--virtio-cmdline", vm.virtio_cmdline),
	RUN_FLAG("--pci", vm.pci),
	OPT_CALL("--device", OPT_VALUE, cli_run_device),
	OPT_CALL("--fs", OPT_VALUE, cli_run_fs),
	RUN_FLAG("--guest-decompress", vm.guest_decompress),
	RUN_FLAG("--exit-stats", vm.exit_stats),
	RUN_STR("--kernel-cache", kernel_cache),
	RUN_FLAG("--mem-merge", mem_merge),
	RUN_FLAG("--no-seccomp", no_seccomp),
	RUN_FLAG("--no-sandbox", no_sandbox),
	OPT_CALL("--api-sock", OPT_VALUE, run_api_sock),
	RUN_STR("--snapshot-dir", snapshot_dir),
	RUN_STR("--fork-dir", fork_dir),
	RUN_STR("--fork-taps", fork_taps),
	RUN_FLAG("--fork-hostfwd", fork_hostfwd),
	RUN_STR("--migrate-dir", migrate_dir),
	RUN_FLAG("--migrate-net", migrate_net),
	RUN_STR("--migrate-tls", migrate_tls),
	RUN_STR("--jail", jail),         /* checked by the sandbox (sandbox_opts_parse) */
	RUN_STR("--uid", jail_uid),
	RUN_STR("--gid", jail_gid),
	RUN_FLAG("--new-pid-ns", new_pid_ns),
	RUN_STR("--pid-file", pid_file),
	OPT_END,
};

static int run_fault(const struct opt_cmd *cmd, enum opt_fault f, const char *arg,
		     const struct opt *o, struct err *e)
{
	size_t n = strcspn(arg, "=");

	if (f == OPT_NEEDS_VALUE)
		return err_set(e, true, -EINVAL, "option '%s' needs a value", arg);
	/* A name of 32 bytes or more was never taken for an option. */
	if (f != OPT_UNEXPECTED && n < 32)
		return err_set(e, true, -EINVAL, "unknown option '%.*s' (see 'hearth --help')",
			       (int)n, arg);
	return err_set(e, true, -EINVAL, "unexpected argument '%s' (see 'hearth --help')", arg);
}

static const struct opt_cmd run_cmd = { .name = "run", .opts = run_opts, .fault = run_fault };

static int run_finish(struct cli_config *cfg, struct err *e)
{
	int ret;

	if (cfg->firmware || cfg->firmware_vars)
		return cli_run_firmware_finish(cfg, e);
	if (cfg->vm.smbios.serial || cfg->vm.smbios.product || cfg->vm.smbios.has_uuid)
		return err_set(e, true, -EINVAL, "--smbios: the SMBIOS tables are the firmware's to "
			       "build: they need --firmware");
	if (cfg->vm.flat.present) {
		if (cfg->kernel || cfg->initrd || cfg->cmdline)
			return err_set(e, true, -EINVAL, "--flat and %s exclude each other: a raw "
				       "image has no kernel, initrd or command line", cfg->kernel
				       ? "--kernel" : cfg->initrd ? "--initrd" : "--cmdline");
		/* No interrupts for virtio-rng: off unless asked for (then refused, by name). */
		if (!cfg->rng_given)
			vm_config_set_entropy(&cfg->vm, false);
		return vm_config_check_flat(&cfg->vm, e);
	}
	if (!cfg->kernel)
		return err_set(e, true, -EINVAL, "--kernel PATH (or --flat FILE) is required, or "
			       "--firmware FILE to boot the disks through firmware");
	if (!*cfg->kernel)
		return err_set(e, true, -EINVAL, "--kernel needs a non-empty path");
	if (cfg->initrd && !*cfg->initrd)
		return err_set(e, true, -EINVAL, "--initrd needs a non-empty path");
	if (cfg->kernel_cache) {
		ret = vm_config_set_kernel_cache(&cfg->vm, cfg->kernel_cache, e);
		if (ret)
			return err_prefix(e, ret, "--kernel-cache: ");
	}
	ret = vm_config_set_boot_source(&cfg->vm, cfg->kernel, cfg->initrd,
					cfg->cmdline ? cfg->cmdline : VM_DEFAULT_CMDLINE, e);
	return ret ? err_prefix(e, ret, "boot source: ") : 0;
}

int cli_run_parse(int argc, char **argv, struct cli_config *cfg, struct err *e)
{
	memset(cfg, 0, sizeof(*cfg));
	vm_config_init(&cfg->vm);
	cfg->vm.cli = true;

	if (argc < 2)
		return err_set(e, true, -EINVAL, "missing command (see 'hearth --help')");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		cfg->action = CLI_HELP;
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		cfg->action = CLI_VERSION;
		return 0;
	}
	if (strcmp(argv[1], "run") != 0)
		return err_set(e, true, -EINVAL, "unknown command '%s' (see 'hearth --help')",
			       argv[1]);
	cfg->action = CLI_RUN;
	if (opt_parse(&run_cmd, argc, argv, 2, cfg, e))
		return -EINVAL;
	return cfg->action == CLI_HELP ? 0 : run_finish(cfg, e);
}

void cli_run_release(struct cli_config *cfg)
{
	vm_config_release(&cfg->vm);
}

int cli_run_main(int argc, char **argv)
{
	struct err e = ERR_INIT;
	struct cli_config cfg;
	struct host_sandbox sb;
	struct host_opts ho;
	struct tls_creds *tls = NULL;
	int code;

	if (cli_run_parse(argc, argv, &cfg, &e)) {
		cli_run_release(&cfg);
		e.usage = true;
		return log_fail(&e);
	}
	if (cfg.action != CLI_RUN) {
		if (cfg.action == CLI_HELP)
			cli_run_usage(stdout);
		else
			printf("hearth %s\n", HEARTH_VERSION);
		cli_run_release(&cfg);
		return HEARTH_EXIT_OK;
	}
	cli_log_level(cfg.verbose);
	if (cfg.migrate_tls && !cfg.api_sock) {
		cli_run_release(&cfg);
		return log_fail(&(struct err){ .usage = true, .msg = "run: --migrate-tls needs "
					       "--api-sock (a migration is asked for there)" });
	}
	sb = (struct host_sandbox){ .no_seccomp = cfg.no_seccomp, .no_sandbox = cfg.no_sandbox,
				   .jail = cfg.jail, .uid = cfg.jail_uid, .gid = cfg.jail_gid,
				   .api_sock = cfg.api_sock, .snapshot_dir = cfg.snapshot_dir,
				   .migrate_dir = cfg.migrate_dir, .migrate_net = cfg.migrate_net,
				   .migrate_tls = cfg.migrate_tls, .tls_out = &tls,
				   .no_nics = cfg.vm.nnets == 0, .new_pid_ns = cfg.new_pid_ns,
				   .pid_file = cfg.pid_file, .fork_taps = cfg.fork_taps,
				   .fork_hostfwd = cfg.fork_hostfwd };
	code = host_sandbox_enter(&sb);
	if (code) {
		cli_run_release(&cfg);
		return code;
	}
	ho = (struct host_opts){ .mem_merge = cfg.mem_merge, .has_zygote = cfg.fork_dir != NULL };
	if (cfg.fork_dir && zygote_start(cfg.fork_dir, &sb, cfg.vm.kvm_path, &ho.zygote_fd,
					     &e)) {
		cli_run_release(&cfg);
		return log_fail(&e);
	}
	code = host_sandbox_tls(&sb);
	if (code) {
		cli_run_release(&cfg);
		return code;
	}
	ho.migrate_tls = tls;
	/* With --api-sock, the same VM plus the API: `hearth serve` with it booted at once. */
	code = host_process_run(&ho, &cfg.vm, cfg.api_sock, API_DEFAULT_MAX_PAYLOAD);
	cli_run_release(&cfg);
	return code;
}

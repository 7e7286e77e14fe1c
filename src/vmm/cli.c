#include "vmm/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth-config.h"
#include "devices/debug_exit.h"
#include "virtio/vsock.h"
#include "vmm/cli_rl.h"

int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		uint64_t d = (uint64_t)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

void cli_usage(FILE *out)
{
	fprintf(out,
		"Usage: hearth run --kernel PATH [options]\n"
		"       hearth serve --api-sock PATH [--config-file FILE] [--id ID] (see 'hearth serve --help')\n"
		"       hearth snapshot --api-sock PATH --snapshot FILE --mem FILE [--diff] [--resume]\n"
		"       hearth restore --snapshot FILE --mem FILE [--api-sock PATH] [--resume]\n"
		"       hearth snapshot-merge --base MEM --diff MEM\n"
		"       hearth --help | --version | --seccomp-report | --sandbox-report\n"
		"\n"
		"Boots a Linux kernel (bzImage, or ELF vmlinux with or without a PVH note) or a\n"
		"Multiboot v1 kernel (ELF32 or a.out kludge, e.g. x86 test kernels) on KVM.\n"
		"\n"
		"Options for 'run':\n"
		"  --kernel PATH     kernel image (required)\n"
		"  --initrd PATH     initial ramdisk\n"
		"  --cmdline STR     kernel command line (default \"%s\")\n"
		"  --cpus N          vCPUs, 1 to %u and no more than KVM allows (default %u)\n"
		"  --memory MiB      guest RAM in MiB, %u to %llu (default %u); RAM beyond\n"
		"                    3 GiB is placed above 4 GiB, past the 32-bit MMIO hole\n"
		"  --disk SPEC       virtio-blk disk, repeatable (up to %u):\n"
		"                    path=FILE[,ro][,id=NAME][,cache=none|writeback]\n"
		"                    [,bw=SIZE/REFILL_MS[+BURST]][,ops=COUNT/REFILL_MS[+BURST]]\n"
		"                    (rate limits: SIZE bytes, or COUNT requests, every REFILL_MS,\n"
		"                    BURST once at the start; K, M, G multiply by 1024)\n"
		"  --net SPEC        virtio-net, repeatable (up to %u): user[,hostfwd=tcp:HOSTPORT-:GUESTPORT]\n"
		"                    (user-mode networking, no root) or tap=IFNAME[,mac=MAC];\n"
		"                    either with [,rx-bw=..][,rx-ops=..][,tx-bw=..][,tx-ops=..]\n"
		"  --rng, --no-rng   virtio-rng fed by getrandom() (default on)\n"
		"  --rng=bw=..[,ops=..]  virtio-rng with a rate limit\n"
		"  --vsock cid=N[,uds=PATH]  virtio-vsock, guest CID N >= 3: through the host's\n"
		"                    vhost_vsock, or with uds= hybrid vsock on Unix sockets (no root)\n"
		"  --virtio-cmdline  also append virtio_mmio.device=SIZE@BASE:IRQ for each virtio\n"
		"                    device to the kernel command line (custom kernels without\n"
		"                    ACPI; a stock kernel finds the devices in the DSDT)\n"
		"  --debug-exit[=iobase=PORT,iosize=1|2|4]  isa-debug-exit at PORT (default\n"
		"                    0xf4, 4 bytes): a guest write of V ends Hearth with\n"
		"                    exit status (V << 1) | 1\n"
		"  --test-devices    pc-testdev for x86 test kernels: ports 0xe0 (latch), 0xe4\n"
		"                    (page flush), 0x2000+n (ISA IRQ n), 64 KiB RAM at 0xff000000\n"
		"  --kvm PATH        KVM device (default /dev/kvm)\n"
		"  --api-sock PATH   also serve Firecracker's API on the Unix socket PATH, so this\n"
		"                    VM can be paused, resumed and inspected (see 'hearth serve')\n"
		"  --no-seccomp      run without the per-thread seccomp filters (see README)\n"
		"  --no-sandbox      run without the process sandbox: namespaces, pivot_root,\n"
		"                    Landlock, limits, capability drop (see README)\n"
		"  --jail DIR --uid U --gid G  (root only) chroot into DIR and run as U:G;\n"
		"                    every path is then resolved inside DIR\n"
		"  --snapshot-dir DIR  with the sandbox, where snapshots of this VM may be\n"
		"                    written (besides the API socket's directory)\n"
		"  -v, --verbose     more log output\n"
		"  -q, --quiet       errors only\n"
		"\n"
		"Console: the guest's COM1 is this terminal. Ctrl-A x quits; Ctrl-A Ctrl-A sends Ctrl-A.\n"
		"\n"
		"Exit codes: 0 guest powered off or rebooted; 1 host, KVM or guest failure;\n"
		"            2 bad usage or bad input file; 3 stopped from the host\n"
		"            (Ctrl-A x, SIGINT, SIGTERM); 148 a thread made a syscall its\n"
		"            seccomp filter forbids (one line on stderr names it);\n"
		"            with --debug-exit, (V << 1) | 1 for a guest write of V.\n",
		VM_DEFAULT_CMDLINE, VM_MAX_VCPUS, VM_DEFAULT_VCPUS, VM_MIN_MEM_MIB,
		(unsigned long long)VM_MAX_MEM_MIB, VM_DEFAULT_MEM_MIB, VM_MAX_DRIVES,
		VM_MAX_NETS);
}

/* Splits "--name=value" or takes the next argument as the value. */
static int take_value(int argc, char **argv, int *i, const char *arg, const char *eq,
		      const char **val, char *err, size_t errlen)
{
	if (eq) {
		*val = eq + 1;
		return 0;
	}
	if (*i + 1 >= argc) {
		snprintf(err, errlen, "option '%s' needs a value", arg);
		return -EINVAL;
	}
	*val = argv[++*i];
	return 0;
}

/* The boot source is set once at the end: its three flags come in any order. */
struct cli_boot {
	const char *kernel, *initrd, *cmdline;
};

/* Prefixes the model's message with the flag and value it came from. */
static int flag_fail(const char *flag, const char *val, const char *why, int ret, char *err,
		     size_t errlen)
{
	char copy[VM_CONFIG_ERR_MAX];

	snprintf(copy, sizeof(copy), "%s", why);
	snprintf(err, errlen, "%s '%.200s': %s", flag, val, copy);
	return ret;
}

static int cli_number(const char *flag, const char *val, uint64_t *out, char *err, size_t errlen)
{
	int r = cli_parse_uint(val, 0, UINT64_MAX, out);

	if (r)
		return flag_fail(flag, val, r == -ERANGE ? "out of range" : "not a whole number",
				 -EINVAL, err, errlen);
	return 0;
}

static int cli_disk(struct vm_config *vm, const char *val, char *err, size_t errlen)
{
	struct blk_config bc;
	struct vm_drive d;
	char why[VM_CONFIG_ERR_MAX], rest[4200];
	const struct cli_rl_key keys[] = { { "bw", &d.rate_limiter.bandwidth },
					   { "ops", &d.rate_limiter.ops } };
	int ret;

	if (vm->ndrives == VM_MAX_DRIVES) {
		snprintf(err, errlen, "--disk given more than %u times", VM_MAX_DRIVES);
		return -EINVAL;
	}
	memset(&d, 0, sizeof(d));
	ret = cli_rl_extract(val, keys, 2, rest, sizeof(rest), why, sizeof(why));
	if (!ret)
		ret = virtio_blk_parse(rest, &bc, why, sizeof(why));
	if (ret)
		return flag_fail("--disk", val, why, ret, err, errlen);
	/* id= names the drive and is its serial; unnamed drives are disk0, disk1 ... */
	if (bc.id[0]) {
		snprintf(d.id, sizeof(d.id), "%s", bc.id);
		snprintf(d.serial, sizeof(d.serial), "%s", bc.id);
	} else {
		snprintf(d.id, sizeof(d.id), "disk%u", vm->ndrives);
	}
	d.path_on_host = (char *)bc.path;
	d.is_read_only = bc.readonly;
	d.cache_type = bc.cache;
	ret = vm_config_put_drive(vm, &d, false, why, sizeof(why));
	virtio_blk_config_release(&bc);
	if (ret)
		return flag_fail("--disk", val, why, ret, err, errlen);
	return 0;
}

static int cli_net(struct vm_config *vm, const char *val, char *err, size_t errlen)
{
	char why[VM_CONFIG_ERR_MAX], rest[1024];
	struct vm_net n;
	const struct cli_rl_key keys[] = {
		{ "rx-bw", &n.rx_rate_limiter.bandwidth }, { "rx-ops", &n.rx_rate_limiter.ops },
		{ "tx-bw", &n.tx_rate_limiter.bandwidth }, { "tx-ops", &n.tx_rate_limiter.ops },
	};
	int ret;

	if (vm->nnets == VM_MAX_NETS) {
		snprintf(err, errlen, "--net given more than %u times", VM_MAX_NETS);
		return -EINVAL;
	}
	memset(&n, 0, sizeof(n));
	ret = cli_rl_extract(val, keys, 4, rest, sizeof(rest), why, sizeof(why));
	if (!ret)
		ret = virtio_net_parse(rest, &n.dev, why, sizeof(why));
	if (!ret) {
		snprintf(n.id, sizeof(n.id), "eth%u", vm->nnets);
		ret = vm_config_put_net(vm, &n, false, why, sizeof(why));
	}
	return ret ? flag_fail("--net", val, why, ret, err, errlen) : 0;
}

/*
 * Takes "uds=PATH" out of a --vsock spec (a path holds no ','): the rest
 * is the vhost parser's "cid=N". Returns 0, or -EINVAL with why filled.
 */
static int cli_vsock_uds(const char *val, char *rest, size_t restlen, char *uds, size_t udslen,
			 bool *have_uds, char *why, size_t whylen)
{
	char *save = NULL, *tok, buf[256];
	size_t len = 0;

	if (strlen(val) >= sizeof(buf) || strlen(val) >= restlen) {
		snprintf(why, whylen, "option string too long");
		return -EINVAL;
	}
	strcpy(buf, val);
	rest[0] = uds[0] = '\0';
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strncmp(tok, "uds=", 4)) {
			len += (size_t)snprintf(rest + len, restlen - len, "%s%s", len ? "," : "", tok);
			continue;
		}
		if (*have_uds || strlen(tok + 4) >= udslen) {
			snprintf(why, whylen, *have_uds ? "uds given twice" : "uds path too long");
			return -EINVAL;
		}
		strcpy(uds, tok + 4);
		*have_uds = true;
	}
	return 0;
}

/* --rng=bw=..,ops=..: the entropy device with a rate limiter. */
/* A number in decimal or 0x hex, at most max. */
static int cli_parse_num(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (strncmp(s, "0x", 2) && strncmp(s, "0X", 2))
		return cli_parse_uint(s, 0, max, out);
	s += 2;
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10
			: *s >= 'A' && *s <= 'F' ? *s - 'A' + 10 : -1;

		if (d < 0)
			return -EINVAL;
		v = v * 16 + (uint64_t)d;
		if (v > max)
			return -ERANGE;
	}
	*out = v;
	return 0;
}

/* --debug-exit[=iobase=N][,iosize=N] */
static int cli_debug_exit(struct vm_config *vm, const char *spec, char *err, size_t errlen)
{
	struct vm_debug_exit d = { .iobase = DEBUG_EXIT_IOBASE, .iosize = DEBUG_EXIT_IOSIZE };
	char why[VM_CONFIG_ERR_MAX];
	const char *p = spec;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char item[32];
		uint64_t v;

		if (len >= sizeof(item))
			goto err_key;
		memcpy(item, p, len);
		item[len] = '\0';
		if (!strncmp(item, "iobase=", 7) && !cli_parse_num(item + 7, 0xffff, &v))
			d.iobase = (uint16_t)v;
		else if (!strncmp(item, "iosize=", 7) && !cli_parse_num(item + 7, 0xff, &v))
			d.iosize = (uint8_t)v;
		else
			goto err_key;
		p = end ? end + 1 : NULL;
	}
	if (vm_config_set_debug_exit(vm, &d, why, sizeof(why))) {
		snprintf(err, errlen, "--debug-exit: %s", why);
		return -EINVAL;
	}
	return 0;

err_key:
	snprintf(err, errlen, "--debug-exit '%s': expected iobase=PORT and iosize=1|2|4 "
		 "(PORT decimal or 0x hex, at most 0xffff)", spec);
	return -EINVAL;
}

static int cli_rng(struct vm_config *vm, const char *val, char *err, size_t errlen)
{
	struct rl_config rl = { { 0 }, { 0 } };
	const struct cli_rl_key keys[] = { { "bw", &rl.bandwidth }, { "ops", &rl.ops } };
	char why[VM_CONFIG_ERR_MAX], rest[256];
	int ret;

	ret = cli_rl_extract(val, keys, 2, rest, sizeof(rest), why, sizeof(why));
	if (!ret && rest[0]) {
		snprintf(why, sizeof(why), "unknown option '%.64s' (want bw=SIZE/REFILL_MS"
			 "[+BURST] and/or ops=COUNT/REFILL_MS[+BURST])", rest);
		ret = -EINVAL;
	}
	if (!ret)
		ret = vm_config_put_entropy(vm, &rl, why, sizeof(why));
	return ret ? flag_fail("--rng", val, why, ret, err, errlen) : 0;
}

static int cli_vsock(struct vm_config *vm, const char *val, char *err, size_t errlen)
{
	char why[VM_CONFIG_ERR_MAX], rest[256], uds[256];
	bool have_uds = false;
	struct vsock_config vc;
	struct vm_vsock v = { 0 };
	int ret;

	if (vm->vsock.present) {
		snprintf(err, errlen, "--vsock given twice; one vsock device per VM");
		return -EINVAL;
	}
	ret = cli_vsock_uds(val, rest, sizeof(rest), uds, sizeof(uds), &have_uds, why,
			    sizeof(why));
	if (!ret)
		ret = virtio_vsock_parse(rest, &vc, why, sizeof(why));
	if (!ret) {
		v.guest_cid = vc.cid;
		v.uds_path = have_uds ? uds : NULL; /* an empty one is the setter's to refuse */
		ret = vm_config_set_vsock(vm, &v, why, sizeof(why));
	}
	return ret ? flag_fail("--vsock", val, why, ret, err, errlen) : 0;
}

static int cli_machine(struct vm_config *vm, const char *flag, const char *val, char *err,
		       size_t errlen)
{
	struct vm_machine m = vm->machine;
	char why[VM_CONFIG_ERR_MAX];
	uint64_t v;
	int ret;

	ret = cli_number(flag, val, &v, err, errlen);
	if (ret)
		return ret;
	if (!strcmp(flag, "--cpus"))
		m.vcpu_count = v > VM_MAX_VCPUS ? 0 : (unsigned int)v; /* 0 reports the range */
	else
		m.mem_size_mib = v;
	ret = vm_config_set_machine(vm, &m, why, sizeof(why));
	if (ret && v > VM_MAX_VCPUS && !strcmp(flag, "--cpus"))
		snprintf(why, sizeof(why), "vcpu_count %llu is out of range (1 to %u)",
			 (unsigned long long)v, VM_MAX_VCPUS);
	return ret ? flag_fail(flag, val, why, ret, err, errlen) : 0;
}

static int parse_run_option(struct cli_config *cfg, struct cli_boot *boot, const char *name,
			    const char *val, char *err, size_t errlen)
{
	struct vm_config *vm = &cfg->vm;
	char why[VM_CONFIG_ERR_MAX];

	if (!strcmp(name, "--kernel")) {
		boot->kernel = val;
	} else if (!strcmp(name, "--initrd")) {
		boot->initrd = val;
	} else if (!strcmp(name, "--cmdline")) {
		boot->cmdline = val;
	} else if (!strcmp(name, "--kvm")) {
		if (vm_config_set_kvm_path(vm, val, why, sizeof(why)))
			return flag_fail(name, val, why, -EINVAL, err, errlen);
	} else if (!strcmp(name, "--api-sock")) {
		if (!*val) {
			snprintf(err, errlen, "--api-sock needs a non-empty path");
			return -EINVAL;
		}
		cfg->api_sock = val;
	} else if (!strcmp(name, "--snapshot-dir")) {
		cfg->snapshot_dir = val;
	} else if (!strcmp(name, "--jail")) {
		cfg->jail = val;     /* checked by the sandbox (sandbox_opts_parse) */
	} else if (!strcmp(name, "--uid")) {
		cfg->jail_uid = val;
	} else if (!strcmp(name, "--gid")) {
		cfg->jail_gid = val;
	} else if (!strcmp(name, "--disk")) {
		return cli_disk(vm, val, err, errlen);
	} else if (!strcmp(name, "--net")) {
		return cli_net(vm, val, err, errlen);
	} else if (!strcmp(name, "--vsock")) {
		return cli_vsock(vm, val, err, errlen);
	} else if (!strcmp(name, "--cpus") || !strcmp(name, "--memory")) {
		return cli_machine(vm, name, val, err, errlen);
	} else {
		snprintf(err, errlen, "unknown option '%s' (see 'hearth --help')", name);
		return -EINVAL;
	}
	return 0;
}

static const char *const valued_options[] = {
	"--kernel", "--initrd", "--cmdline", "--cpus", "--memory", "--kvm",
	"--disk", "--net", "--vsock", "--api-sock", "--jail", "--uid", "--gid",
	"--snapshot-dir", NULL,
};

static int is_valued(const char *name)
{
	for (int i = 0; valued_options[i]; i++)
		if (!strcmp(name, valued_options[i]))
			return 1;
	return 0;
}

static int cli_finish(struct cli_config *cfg, const struct cli_boot *boot, char *err,
		      size_t errlen)
{
	char why[VM_CONFIG_ERR_MAX];
	int ret;

	if (!boot->kernel) {
		snprintf(err, errlen, "--kernel PATH is required");
		return -EINVAL;
	}
	if (!*boot->kernel) {
		snprintf(err, errlen, "--kernel needs a non-empty path");
		return -EINVAL;
	}
	if (boot->initrd && !*boot->initrd) {
		snprintf(err, errlen, "--initrd needs a non-empty path");
		return -EINVAL;
	}
	ret = vm_config_set_boot_source(&cfg->vm, boot->kernel, boot->initrd,
					boot->cmdline ? boot->cmdline : VM_DEFAULT_CMDLINE, why,
					sizeof(why));
	if (ret)
		snprintf(err, errlen, "boot source: %s", why);
	return ret;
}

int cli_parse(int argc, char **argv, struct cli_config *cfg, char *err, size_t errlen)
{
	struct cli_boot boot = { NULL, NULL, NULL };
	int i;

	memset(cfg, 0, sizeof(*cfg));
	vm_config_init(&cfg->vm);
	cfg->vm.cli = true;

	if (argc < 2) {
		snprintf(err, errlen, "missing command (see 'hearth --help')");
		return -EINVAL;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		cfg->action = CLI_HELP;
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		cfg->action = CLI_VERSION;
		return 0;
	}
	if (strcmp(argv[1], "run") != 0) {
		snprintf(err, errlen, "unknown command '%s' (see 'hearth --help')", argv[1]);
		return -EINVAL;
	}
	cfg->action = CLI_RUN;
	for (i = 2; i < argc; i++) {
		const char *arg = argv[i];
		char name[32];
		const char *eq, *val;

		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			cfg->action = CLI_HELP;
			return 0;
		}
		if (!strcmp(arg, "-v") || !strcmp(arg, "--verbose")) {
			cfg->verbose = 1;
			continue;
		}
		if (!strcmp(arg, "-q") || !strcmp(arg, "--quiet")) {
			cfg->verbose = -1;
			continue;
		}
		if (!strncmp(arg, "--rng=", 6)) {
			if (cli_rng(&cfg->vm, arg + 6, err, errlen))
				return -EINVAL;
			continue;
		}
		if (!strcmp(arg, "--rng") || !strcmp(arg, "--no-rng")) {
			vm_config_set_entropy(&cfg->vm, !strcmp(arg, "--rng"));
			continue;
		}
		if (!strcmp(arg, "--no-seccomp")) {
			cfg->no_seccomp = true;
			continue;
		}
		if (!strcmp(arg, "--no-sandbox")) {
			cfg->no_sandbox = true;
			continue;
		}
		if (!strcmp(arg, "--virtio-cmdline")) {
			cfg->vm.virtio_cmdline = true;
			continue;
		}
		if (!strcmp(arg, "--test-devices")) {
			cfg->vm.test_devices = true;
			continue;
		}
		if (!strcmp(arg, "--debug-exit") || !strncmp(arg, "--debug-exit=", 13)) {
			if (cli_debug_exit(&cfg->vm, arg[12] ? arg + 13 : "", err, errlen))
				return -EINVAL;
			continue;
		}
		eq = strchr(arg, '=');
		if (strncmp(arg, "--", 2) != 0 || (size_t)(eq ? eq - arg : (long)strlen(arg)) >= sizeof(name)) {
			snprintf(err, errlen, "unexpected argument '%s' (see 'hearth --help')", arg);
			return -EINVAL;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(eq ? eq - arg : (long)strlen(arg)), arg);
		if (!is_valued(name))
			return parse_run_option(cfg, &boot, name, "", err, errlen);
		if (take_value(argc, argv, &i, name, eq, &val, err, errlen))
			return -EINVAL;
		if (parse_run_option(cfg, &boot, name, val, err, errlen))
			return -EINVAL;
	}
	return cli_finish(cfg, &boot, err, errlen);
}

void cli_release(struct cli_config *cfg)
{
	vm_config_release(&cfg->vm);
}

#include "util/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hearth-config.h"

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
		"       hearth --help | --version\n"
		"\n"
		"Boots a Linux kernel (bzImage, or ELF vmlinux with or without a PVH note) on KVM.\n"
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
		"  --net SPEC        virtio-net, repeatable (up to %u): user[,hostfwd=tcp:HOSTPORT-:GUESTPORT]\n"
		"                    (user-mode networking, no root) or tap=IFNAME[,mac=MAC]\n"
		"  --rng, --no-rng   virtio-rng fed by getrandom() (default on)\n"
		"  --vsock cid=N     virtio-vsock through the host's vhost_vsock, guest CID N >= 3\n"
		"  --virtio-cmdline  also append virtio_mmio.device=SIZE@BASE:IRQ for each virtio\n"
		"                    device to the kernel command line (custom kernels without\n"
		"                    ACPI; a stock kernel finds the devices in the DSDT)\n"
		"  --kvm PATH        KVM device (default /dev/kvm)\n"
		"  -v, --verbose     more log output\n"
		"  -q, --quiet       errors only\n"
		"\n"
		"Console: the guest's COM1 is this terminal. Ctrl-A x quits; Ctrl-A Ctrl-A sends Ctrl-A.\n"
		"\n"
		"Exit codes: 0 guest powered off or rebooted; 1 host, KVM or guest failure;\n"
		"            2 bad usage or bad input file; 3 stopped from the host\n"
		"            (Ctrl-A x, SIGINT, SIGTERM).\n",
		CLI_DEFAULT_CMDLINE, CLI_MAX_CPUS, CLI_DEFAULT_CPUS, CLI_MIN_MEMORY_MIB,
		(unsigned long long)CLI_MAX_MEMORY_MIB, CLI_DEFAULT_MEMORY_MIB, CLI_MAX_DISKS,
		CLI_MAX_NETS);
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

static int parse_run_option(struct cli_config *cfg, const char *name, const char *val, char *err,
			    size_t errlen)
{
	uint64_t v;
	int r;

	if (!strcmp(name, "--kernel")) {
		cfg->kernel = val;
	} else if (!strcmp(name, "--initrd")) {
		cfg->initrd = val;
	} else if (!strcmp(name, "--cmdline")) {
		cfg->cmdline = val;
	} else if (!strcmp(name, "--kvm")) {
		cfg->kvm_path = val;
	} else if (!strcmp(name, "--disk")) {
		if (cfg->ndisks == CLI_MAX_DISKS) {
			snprintf(err, errlen, "--disk given more than %u times", CLI_MAX_DISKS);
			return -EINVAL;
		}
		cfg->disks[cfg->ndisks++] = val;
	} else if (!strcmp(name, "--net")) {
		if (cfg->nnets == CLI_MAX_NETS) {
			snprintf(err, errlen, "--net given more than %u times", CLI_MAX_NETS);
			return -EINVAL;
		}
		cfg->nets[cfg->nnets++] = val;
	} else if (!strcmp(name, "--vsock")) {
		if (cfg->vsock) {
			snprintf(err, errlen, "--vsock given twice; one vsock device per VM");
			return -EINVAL;
		}
		cfg->vsock = val;
	} else if (!strcmp(name, "--cpus")) {
		r = cli_parse_uint(val, 1, CLI_MAX_CPUS, &v);
		if (r) {
			snprintf(err, errlen, "--cpus '%s': %s (1 to %u)", val,
				 r == -ERANGE ? "out of range" : "not a whole number", CLI_MAX_CPUS);
			return -EINVAL;
		}
		cfg->cpus = (unsigned int)v;
	} else if (!strcmp(name, "--memory")) {
		r = cli_parse_uint(val, CLI_MIN_MEMORY_MIB, CLI_MAX_MEMORY_MIB, &v);
		if (r) {
			snprintf(err, errlen, "--memory '%s': %s (%u to %llu MiB)", val,
				 r == -ERANGE ? "out of range" : "not a whole number of MiB",
				 CLI_MIN_MEMORY_MIB, (unsigned long long)CLI_MAX_MEMORY_MIB);
			return -EINVAL;
		}
		cfg->memory_mib = v;
	} else {
		snprintf(err, errlen, "unknown option '%s' (see 'hearth --help')", name);
		return -EINVAL;
	}
	return 0;
}

static const char *const valued_options[] = {
	"--kernel", "--initrd", "--cmdline", "--cpus", "--memory", "--kvm",
	"--disk", "--net", "--vsock", NULL,
};

static int is_valued(const char *name)
{
	for (int i = 0; valued_options[i]; i++)
		if (!strcmp(name, valued_options[i]))
			return 1;
	return 0;
}

int cli_parse(int argc, char **argv, struct cli_config *cfg, char *err, size_t errlen)
{
	int i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->cmdline = CLI_DEFAULT_CMDLINE;
	cfg->cpus = CLI_DEFAULT_CPUS;
	cfg->memory_mib = CLI_DEFAULT_MEMORY_MIB;
	cfg->kvm_path = "/dev/kvm";
	cfg->rng = 1;

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
		if (!strcmp(arg, "--rng") || !strcmp(arg, "--no-rng")) {
			cfg->rng = !strcmp(arg, "--rng");
			continue;
		}
		if (!strcmp(arg, "--virtio-cmdline")) {
			cfg->virtio_cmdline = 1;
			continue;
		}
		eq = strchr(arg, '=');
		if (strncmp(arg, "--", 2) != 0 || (size_t)(eq ? eq - arg : (long)strlen(arg)) >= sizeof(name)) {
			snprintf(err, errlen, "unexpected argument '%s' (see 'hearth --help')", arg);
			return -EINVAL;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(eq ? eq - arg : (long)strlen(arg)), arg);
		if (!is_valued(name))
			return parse_run_option(cfg, name, "", err, errlen);
		if (take_value(argc, argv, &i, name, eq, &val, err, errlen))
			return -EINVAL;
		if (parse_run_option(cfg, name, val, err, errlen))
			return -EINVAL;
	}
	if (!cfg->kernel) {
		snprintf(err, errlen, "--kernel PATH is required");
		return -EINVAL;
	}
	if (!*cfg->kernel) {
		snprintf(err, errlen, "--kernel needs a non-empty path");
		return -EINVAL;
	}
	return 0;
}

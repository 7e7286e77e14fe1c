#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/run.h"
#include "util/opt.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static struct err err;
static struct cli_config cfg;

/* Parses a NULL-free list; returns the result and leaves the message in err. */
static int parse(int argc, const char **argv)
{
	memset(&err, 0, sizeof(err));
	cli_run_release(&cfg);
	return cli_run_parse(argc, (char **)argv, &cfg, &err);
}

/* Expects failure with an error that contains each of the needles. */
static void expect_err(int argc, const char **argv, const char *n1, const char *n2)
{
	int r = parse(argc, argv);

	if (r != -EINVAL)
		fail_msg("expected -EINVAL, got %d (err '%s')", r, err.msg);
	assert_true(strlen(err.msg) > 0);
	assert_null(strchr(err.msg, '\n'));
	if (n1 && !strstr(err.msg, n1))
		fail_msg("error '%s' does not mention '%s'", err.msg, n1);
	if (n2 && !strstr(err.msg, n2))
		fail_msg("error '%s' does not mention '%s'", err.msg, n2);
}

static void test_defaults(void **state)
{
	const char *argv[] = { "hearth", "run", "--kernel", "bzImage" };

	(void)state;
	assert_int_equal(parse(ARGC(argv), argv), 0);
	assert_int_equal(cfg.action, CLI_RUN);
	assert_string_equal(cfg.vm.boot.kernel_image_path, "bzImage");
	assert_null(cfg.vm.boot.initrd_path);
	assert_string_equal(cfg.vm.boot.boot_args, VM_DEFAULT_CMDLINE);
	assert_int_equal(cfg.vm.machine.vcpu_count, 1);
	assert_int_equal(cfg.vm.machine.mem_size_mib, 256);
	assert_int_equal(cfg.verbose, 0);
	assert_null(cfg.vm.kvm_path); /* NULL: /dev/kvm */
	assert_int_equal(cfg.vm.ndrives, 0);
	assert_int_equal(cfg.vm.nnets, 0);
	assert_false(cfg.vm.vsock.present);
	assert_int_equal(cfg.vm.entropy, 1);
	assert_int_equal(cfg.vm.virtio_cmdline, 0);
	assert_false(cfg.no_seccomp);   /* the filters are on unless asked */
}

static void test_every_flag(void **state)
{
	const char *argv[] = { "hearth",  "run",        "--kernel", "/k",         "--initrd",
			       "/i.cpio", "--cmdline",  "a b=c",    "--cpus",     "4",
			       "--memory", "3072",      "--kvm",    "/dev/kvm2",  "-v" };

	(void)state;
	assert_int_equal(parse(ARGC(argv), argv), 0);
	assert_int_equal(cfg.action, CLI_RUN);
	assert_string_equal(cfg.vm.boot.kernel_image_path, "/k");
	assert_string_equal(cfg.vm.boot.initrd_path, "/i.cpio");
	assert_string_equal(cfg.vm.boot.boot_args, "a b=c");
	assert_int_equal(cfg.vm.machine.vcpu_count, 4);
	assert_int_equal(cfg.vm.machine.mem_size_mib, 3072);
	assert_string_equal(cfg.vm.kvm_path, "/dev/kvm2");
	assert_int_equal(cfg.verbose, 1);
}

/* The test-kernel devices: off by default, --debug-exit's defaults and keys, bad specs refused. */
static void test_test_kernel_flags(void **state)
{
	const char *plain[] = { "hearth", "run", "--kernel", "k" };
	const char *on[] = { "hearth", "run", "--kernel", "k", "--debug-exit", "--test-devices" };
	const char *keys[] = { "hearth", "run", "--kernel", "k", "--debug-exit=iobase=0x501,iosize=2" };
	const char *dec[] = { "hearth", "run", "--kernel", "k", "--debug-exit=iosize=1,iobase=1280" };
	const char *bad_size[] = { "hearth", "run", "--kernel", "k", "--debug-exit=iosize=3" };
	const char *bad_key[] = { "hearth", "run", "--kernel", "k", "--debug-exit=port=1" };
	const char *bad_num[] = { "hearth", "run", "--kernel", "k", "--debug-exit=iobase=0x10000" };
	const char *wraps[] = { "hearth", "run", "--kernel", "k", "--debug-exit=iobase=0xfffe" };

	(void)state;
	assert_int_equal(parse(ARGC(plain), plain), 0);
	assert_false(cfg.vm.debug_exit.present);
	assert_false(cfg.vm.test_devices);
	assert_int_equal(parse(ARGC(on), on), 0);
	assert_true(cfg.vm.debug_exit.present);
	assert_int_equal(cfg.vm.debug_exit.iobase, 0xf4);
	assert_int_equal(cfg.vm.debug_exit.iosize, 4);
	assert_true(cfg.vm.test_devices);
	assert_int_equal(parse(ARGC(keys), keys), 0);
	assert_int_equal(cfg.vm.debug_exit.iobase, 0x501);
	assert_int_equal(cfg.vm.debug_exit.iosize, 2);
	assert_int_equal(parse(ARGC(dec), dec), 0);
	assert_int_equal(cfg.vm.debug_exit.iobase, 0x500);
	assert_int_equal(cfg.vm.debug_exit.iosize, 1);
	expect_err(ARGC(bad_size), bad_size, "--debug-exit", "iosize=3");
	expect_err(ARGC(bad_key), bad_key, "--debug-exit", "port=1");
	expect_err(ARGC(bad_num), bad_num, "--debug-exit", "0x10000");
	expect_err(ARGC(wraps), wraps, "--debug-exit", "0xffff");
}

static void test_equals_form(void **state)
{
	const char *argv[] = { "hearth",         "run",          "--kernel=/k",
			       "--initrd=/i",    "--cmdline=x=y root=/dev/vda", "--cpus=255",
			       "--memory=16",    "--kvm=/dev/k", "--quiet" };
	const char *empty_cmdline[] = { "hearth", "run", "--kernel=/k", "--cmdline=" };

	(void)state;
	assert_int_equal(parse(ARGC(argv), argv), 0);
	assert_string_equal(cfg.vm.boot.kernel_image_path, "/k");
	assert_string_equal(cfg.vm.boot.initrd_path, "/i");
	/* Only the first '=' splits. */
	assert_string_equal(cfg.vm.boot.boot_args, "x=y root=/dev/vda");
	assert_int_equal(cfg.vm.machine.vcpu_count, 255);
	assert_int_equal(cfg.vm.machine.mem_size_mib, 16);
	assert_string_equal(cfg.vm.kvm_path, "/dev/k");
	assert_int_equal(cfg.verbose, -1);

	assert_int_equal(parse(ARGC(empty_cmdline), empty_cmdline), 0);
	assert_string_equal(cfg.vm.boot.boot_args, "");
}

static void test_last_wins_and_order(void **state)
{
	const char *argv[] = { "hearth", "run", "--cpus", "2", "-q", "--kernel", "a",
			       "--cpus", "3", "--kernel", "b", "-v" };

	(void)state;
	assert_int_equal(parse(ARGC(argv), argv), 0);
	assert_int_equal(cfg.vm.machine.vcpu_count, 3);
	assert_string_equal(cfg.vm.boot.kernel_image_path, "b");
	assert_int_equal(cfg.verbose, 1);
}

static void test_missing_values(void **state)
{
	const char *opts[] = { "--kernel", "--initrd", "--cmdline", "--cpus", "--memory",
			       "--kvm",    "--disk",   "--net",     "--vsock" };

	(void)state;
	for (unsigned int i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		const char *argv[] = { "hearth", "run", "--kernel", "k", opts[i] };
		expect_err(ARGC(argv), argv, opts[i], "value");
	}
}

static void test_unknown(void **state)
{
	const char *a1[] = { "hearth", "run", "--kernel", "k", "--frobnicate" };
	const char *a2[] = { "hearth", "run", "--kernel", "k", "--frob=1" };
	const char *a3[] = { "hearth", "run", "--kernel", "k", "-x" };
	const char *a4[] = { "hearth", "run", "--kernel", "k", "stray" };
	const char *a5[] = { "hearth", "boot", "--kernel", "k" };
	const char *a6[] = { "hearth" };
	const char *a7[] = { "hearth", "run", "--kernel", "k",
			     "--a-very-long-option-name-that-goes-on-and-on=1" };

	(void)state;
	expect_err(ARGC(a1), a1, "--frobnicate", NULL);
	expect_err(ARGC(a2), a2, "--frob", NULL);
	expect_err(ARGC(a3), a3, "-x", NULL);
	expect_err(ARGC(a4), a4, "stray", NULL);
	expect_err(ARGC(a5), a5, "boot", NULL);
	expect_err(ARGC(a6), a6, "command", NULL);
	expect_err(ARGC(a7), a7, "--a-very-long-option", NULL);
}

static void test_devices(void **state)
{
	const char *argv[] = { "hearth", "run", "--kernel", "k", "--disk", "path=a.img",
			       "--disk=path=b.img,ro", "--net", "user", "--net=tap=tap0",
			       "--vsock", "cid=3", "--no-rng" };
	const char *rng[] = { "hearth", "run", "--kernel", "k", "--no-rng", "--rng" };
	const char *vs2[] = { "hearth", "run", "--kernel", "k", "--vsock", "cid=3",
			      "--vsock=cid=4" };
	const char *hv[] = { "hearth", "run", "--kernel", "k", "--vsock", "uds=/tmp/v.sock,cid=4" };
	const char *hv_nocid[] = { "hearth", "run", "--kernel", "k", "--vsock", "uds=/tmp/v" };
	const char *hv_twice[] = { "hearth", "run", "--kernel", "k", "--vsock", "cid=3,uds=/a,uds=/b" };
	const char *hv_empty[] = { "hearth", "run", "--kernel", "k", "--vsock", "cid=3,uds=" };
	const char *rngval[] = { "hearth", "run", "--kernel", "k", "--rng=1" };
	const char *vcl[] = { "hearth", "run", "--kernel", "k", "--virtio-cmdline" };
	const char *vclval[] = { "hearth", "run", "--kernel", "k", "--virtio-cmdline=yes" };
	const char *nosc[] = { "hearth", "run", "--no-seccomp", "--kernel", "k" };
	const char *noscval[] = { "hearth", "run", "--kernel", "k", "--no-seccomp=yes" };
	const char *argv9[5 + 2 * (VM_MAX_DRIVES + 1)];
	const char *argvn[5 + 2 * (VM_MAX_NETS + 1)];
	int n;

	(void)state;
	assert_int_equal(parse(ARGC(argv), argv), 0);
	assert_int_equal(cfg.vm.ndrives, 2);
	assert_string_equal(cfg.vm.drives[0].path_on_host, "a.img");
	assert_string_equal(cfg.vm.drives[0].id, "disk0");
	assert_false(cfg.vm.drives[0].is_read_only);
	assert_string_equal(cfg.vm.drives[1].path_on_host, "b.img");
	assert_string_equal(cfg.vm.drives[1].id, "disk1");
	assert_true(cfg.vm.drives[1].is_read_only);
	assert_int_equal(cfg.vm.nnets, 2);
	assert_int_equal(cfg.vm.nets[0].dev.backend, NET_USER);
	assert_string_equal(cfg.vm.nets[0].id, "eth0");
	assert_int_equal(cfg.vm.nets[1].dev.backend, NET_TAP);
	assert_string_equal(cfg.vm.nets[1].dev.ifname, "tap0");
	assert_true(cfg.vm.vsock.present);
	assert_int_equal(cfg.vm.vsock.guest_cid, 3);
	assert_int_equal(cfg.vm.entropy, 0);
	assert_int_equal(parse(ARGC(rng), rng), 0);
	assert_int_equal(cfg.vm.entropy, 1);
	expect_err(ARGC(vs2), vs2, "--vsock", NULL);
	assert_null(cfg.vm.vsock.uds_path);
	assert_int_equal(parse(ARGC(hv), hv), 0);
	assert_int_equal(cfg.vm.vsock.guest_cid, 4);
	assert_string_equal(cfg.vm.vsock.uds_path, "/tmp/v.sock");
	expect_err(ARGC(hv_nocid), hv_nocid, "--vsock", "cid=N");
	expect_err(ARGC(hv_twice), hv_twice, "--vsock", "uds given twice");
	expect_err(ARGC(hv_empty), hv_empty, "--vsock", "uds_path");
	expect_err(ARGC(rngval), rngval, "--rng", NULL);
	/* An unknown key names the limiter keys too, which the CLI takes out first. */
	const char *dbad[] = { "hearth", "run", "--kernel", "k", "--disk", "path=d,frob=1", NULL };
	const char *nbad[] = { "hearth", "run", "--kernel", "k", "--net", "user,frob=1", NULL };
	expect_err(ARGC(dbad), dbad, "unknown option 'frob'", "[,bw=LIMIT][,ops=LIMIT]");
	expect_err(ARGC(nbad), nbad, "unknown option 'frob=1' for user", "rx-bw=, rx-ops=");
	assert_int_equal(cfg.vm.virtio_cmdline, 0);
	assert_int_equal(parse(ARGC(vcl), vcl), 0);
	assert_int_equal(cfg.vm.virtio_cmdline, 1);
	expect_err(ARGC(vclval), vclval, "--virtio-cmdline", NULL);
	assert_int_equal(parse(ARGC(nosc), nosc), 0);
	assert_true(cfg.no_seccomp);
	assert_false(cfg.no_sandbox);
	assert_null(cfg.jail);
	expect_err(ARGC(noscval), noscval, "--no-seccomp", NULL);
	{
		/* The sandbox's flags are taken as given; src/sandbox checks their values. */
		const char *sb[] = { "hearth", "run", "--kernel", "k", "--no-sandbox", "--jail",
				     "/j", "--uid=7", "--gid", "8" };
		const char *sbval[] = { "hearth", "run", "--kernel", "k", "--no-sandbox=1" };
		const char *jnoval[] = { "hearth", "run", "--kernel", "k", "--jail" };

		assert_int_equal(parse(ARGC(sb), sb), 0);
		assert_true(cfg.no_sandbox);
		assert_false(cfg.no_seccomp);
		assert_string_equal(cfg.jail, "/j");
		assert_string_equal(cfg.jail_uid, "7");
		assert_string_equal(cfg.jail_gid, "8");
		expect_err(ARGC(sbval), sbval, "--no-sandbox", NULL);
		expect_err(ARGC(jnoval), jnoval, "--jail", NULL);
	}

	/* The limits: exactly CLI_MAX_* is fine, one more is an error. */
	n = 0;
	argv9[n++] = "hearth";
	argv9[n++] = "run";
	argv9[n++] = "--kernel";
	argv9[n++] = "k";
	for (unsigned int i = 0; i < VM_MAX_DRIVES; i++) {
		argv9[n++] = "--disk";
		argv9[n++] = "path=x";
	}
	assert_int_equal(parse(n, argv9), 0);
	assert_int_equal(cfg.vm.ndrives, VM_MAX_DRIVES);
	argv9[n++] = "--disk";
	argv9[n++] = "path=y";
	expect_err(n, argv9, "--disk", NULL);

	n = 0;
	argvn[n++] = "hearth";
	argvn[n++] = "run";
	argvn[n++] = "--kernel";
	argvn[n++] = "k";
	for (unsigned int i = 0; i < VM_MAX_NETS; i++) {
		argvn[n++] = "--net";
		argvn[n++] = "user";
	}
	assert_int_equal(parse(n, argvn), 0);
	assert_int_equal(cfg.vm.nnets, VM_MAX_NETS);
	argvn[n++] = "--net=user";
	expect_err(n, argvn, "--net", NULL);
}

static void test_cpus(void **state)
{
	static const struct {
		const char *val;
		int ok;
		unsigned int cpus;
	} cases[] = {
		{ "1", 1, 1 },   { "2", 1, 2 },    { "255", 1, 255 }, { "0", 0, 0 },
		{ "256", 0, 0 }, { "-1", 0, 0 },   { "abc", 0, 0 },   { "", 0, 0 },
		{ "+2", 0, 0 },  { " 2", 0, 0 },   { "2 ", 0, 0 },    { "2x", 0, 0 },
		{ "0x10", 0, 0 }, { "4294967297", 0, 0 }, { "99999999999999999999", 0, 0 },
	};

	(void)state;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[] = { "hearth", "run", "--kernel", "k", "--cpus", cases[i].val };
		if (cases[i].ok) {
			assert_int_equal(parse(ARGC(argv), argv), 0);
			assert_int_equal(cfg.vm.machine.vcpu_count, cases[i].cpus);
		} else {
			char quoted[64];
			snprintf(quoted, sizeof(quoted), "'%s'", cases[i].val);
			expect_err(ARGC(argv), argv, "--cpus", quoted);
		}
	}
}

/* --huge-pages: machine-config's huge_pages words, refused otherwise; odd sizes not in 2M. */
static void test_huge_pages(void **state)
{
	const char *thp[] = { "hearth", "run", "--kernel", "k", "--huge-pages", "transparent" };
	const char *two[] = { "hearth", "run", "--kernel", "k", "--huge-pages", "2M" };
	const char *none[] = { "hearth", "run", "--kernel", "k", "--huge-pages", "None" };
	const char *bad[] = { "hearth", "run", "--kernel", "k", "--huge-pages", "1G" };
	const char *odd[] = { "hearth", "run", "--kernel", "k", "--huge-pages", "2M",
			      "--memory", "255" };

	(void)state;
	assert_int_equal(parse(ARGC(thp), thp), 0);
	assert_int_equal(cfg.vm.machine.huge_pages, VM_HUGE_PAGES_THP);
	assert_int_equal(parse(ARGC(two), two), 0);
	assert_int_equal(cfg.vm.machine.huge_pages, VM_HUGE_PAGES_2M);
	assert_int_equal(parse(ARGC(none), none), 0);
	assert_int_equal(cfg.vm.machine.huge_pages, VM_HUGE_PAGES_NONE);
	expect_err(ARGC(bad), bad, "--huge-pages '1G': want none, transparent or 2M", NULL);
	expect_err(ARGC(odd), odd, "--memory", "multiple of the configured page size");
}

static void test_memory(void **state)
{
	static const struct {
		const char *val;
		int ok;
		uint64_t mib;
	} cases[] = {
		{ "16", 1, 16 },
		{ "256", 1, 256 },
		{ "3073", 1, 3073 },
		{ "1048576", 1, 1048576 },
		{ "0", 0, 0 },
		{ "15", 0, 0 },
		{ "1048577", 0, 0 },
		{ "abc", 0, 0 },
		{ "1G", 0, 0 },
		{ "512M", 0, 0 },
		{ "", 0, 0 },
		{ "-16", 0, 0 },
		{ "18446744073709551615", 0, 0 },
		{ "18446744073709551616", 0, 0 },
		{ "99999999999999999999", 0, 0 },
		{ "999999999999999999999999999999", 0, 0 },
	};

	(void)state;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[] = { "hearth", "run", "--kernel", "k", "--memory", cases[i].val };
		if (cases[i].ok) {
			assert_int_equal(parse(ARGC(argv), argv), 0);
			assert_int_equal(cfg.vm.machine.mem_size_mib, cases[i].mib);
		} else {
			char quoted[64];
			snprintf(quoted, sizeof(quoted), "'%s'", cases[i].val);
			expect_err(ARGC(argv), argv, "--memory", quoted);
		}
	}
	/* Range errors say so, junk says so. */
	{
		const char *a[] = { "hearth", "run", "--kernel", "k", "--memory", "15" };
		expect_err(ARGC(a), a, "below Hearth's minimum of 16", NULL);
	}
	{
		const char *a[] = { "hearth", "run", "--kernel", "k", "--memory", "99999999999999999999" };
		expect_err(ARGC(a), a, "out of range", NULL);
	}
	{
		const char *a[] = { "hearth", "run", "--kernel", "k", "--memory", "1G" };
		expect_err(ARGC(a), a, "not a whole number", NULL);
	}
}

static void test_parse_uint(void **state)
{
	uint64_t v = 42;

	(void)state;
	assert_int_equal(opt_parse_uint("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(opt_parse_uint("007", 0, 10, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(opt_parse_uint("10", 0, 10, &v), 0);
	assert_int_equal(v, 10);
	v = 42;
	assert_int_equal(opt_parse_uint("11", 0, 10, &v), -ERANGE);
	assert_int_equal(opt_parse_uint("4", 5, 10, &v), -ERANGE);
	assert_int_equal(v, 42); /* untouched on failure */
	assert_int_equal(opt_parse_uint(NULL, 0, 10, &v), -EINVAL);
	assert_int_equal(opt_parse_uint("", 0, 10, &v), -EINVAL);
	assert_int_equal(opt_parse_uint("1.5", 0, 10, &v), -EINVAL);
	assert_int_equal(opt_parse_uint("99999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
	assert_int_equal(v, 42);
	assert_int_equal(opt_parse_uint("1844674407370955161", 0, UINT64_MAX, &v), 0);
	assert_int_equal(v, 1844674407370955161ull);
	/* The very top of the range parses; one more overflows. */
	assert_int_equal(opt_parse_uint("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(opt_parse_uint("18446744073709551610", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX - 5);
	assert_int_equal(opt_parse_uint("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
	assert_int_equal(opt_parse_uint("18446744073709551620", 0, UINT64_MAX, &v), -ERANGE);
}

static void test_help_version(void **state)
{
	const char *h1[] = { "hearth", "--help" };
	const char *h2[] = { "hearth", "-h" };
	const char *h3[] = { "hearth", "help" };
	const char *h4[] = { "hearth", "run", "--help" };
	const char *h5[] = { "hearth", "run", "--kernel", "k", "--cpus", "2", "-h" };
	/* --help before anything is validated, even with --kernel missing. */
	const char *h6[] = { "hearth", "run", "--help", "--cpus", "0" };
	const char *v1[] = { "hearth", "--version" };
	const char *v2[] = { "hearth", "-V" };

	(void)state;
	assert_int_equal(parse(ARGC(h1), h1), 0);
	assert_int_equal(cfg.action, CLI_HELP);
	assert_int_equal(parse(ARGC(h2), h2), 0);
	assert_int_equal(cfg.action, CLI_HELP);
	assert_int_equal(parse(ARGC(h3), h3), 0);
	assert_int_equal(cfg.action, CLI_HELP);
	assert_int_equal(parse(ARGC(h4), h4), 0);
	assert_int_equal(cfg.action, CLI_HELP);
	assert_int_equal(parse(ARGC(h5), h5), 0);
	assert_int_equal(cfg.action, CLI_HELP);
	assert_int_equal(parse(ARGC(h6), h6), 0);
	assert_int_equal(cfg.action, CLI_HELP);
	assert_int_equal(parse(ARGC(v1), v1), 0);
	assert_int_equal(cfg.action, CLI_VERSION);
	assert_int_equal(parse(ARGC(v2), v2), 0);
	assert_int_equal(cfg.action, CLI_VERSION);
}

static void test_kernel_required(void **state)
{
	const char *a1[] = { "hearth", "run" };
	const char *a2[] = { "hearth", "run", "--cpus", "2", "--memory", "512" };
	const char *a3[] = { "hearth", "run", "--kernel=" };
	const char *a4[] = { "hearth", "run", "--kernel", "" };

	(void)state;
	expect_err(ARGC(a1), a1, "--kernel", NULL);
	expect_err(ARGC(a2), a2, "--kernel", NULL);
	expect_err(ARGC(a3), a3, "--kernel", "empty");
	expect_err(ARGC(a4), a4, "--kernel", "empty");
}

/* A value too long to quote whole is cut in the message, which stays one line. */
static void test_long_value(void **state)
{
	static char big[3 * ERR_MSG_MAX];
	const char *argv[] = { "hearth", "run", "--kernel", "k", "--cpus", big };

	(void)state;
	memset(big, '7', sizeof(big) - 1);
	assert_int_equal(parse(ARGC(argv), argv), -EINVAL);
	assert_true(strlen(err.msg) < ERR_MSG_MAX);
	assert_non_null(strstr(err.msg, "--cpus '777"));
	assert_null(strchr(err.msg, '\n'));
}

static void test_flat(void **state)
{
	const char *plain[] = { "hearth", "run", "--flat", "hello16.bin" };
	const char *full[] = { "hearth", "run", "--flat=img.bin,addr=0x100000,entry=1048592,"
			       "mode=long", "--memory", "64" };

	(void)state;
	assert_int_equal(parse(ARGC(plain), plain), 0);
	assert_true(cfg.vm.flat.present);
	assert_string_equal(cfg.vm.flat.path, "hello16.bin");
	assert_int_equal(cfg.vm.flat.addr, 0);
	assert_false(cfg.vm.flat.entry_set);
	assert_int_equal(cfg.vm.flat.mode, FLAT_REAL);
	assert_null(cfg.vm.boot.kernel_image_path);
	/* No interrupts for virtio-rng: off unless asked for. */
	assert_false(cfg.vm.entropy);
	assert_int_equal(parse(ARGC(full), full), 0);
	assert_int_equal(cfg.vm.flat.addr, 0x100000);
	assert_true(cfg.vm.flat.entry_set);
	assert_int_equal(cfg.vm.flat.entry, 0x100010);
	assert_int_equal(cfg.vm.flat.mode, FLAT_LONG);

	const char *mode[] = { "hearth", "run", "--flat", "a.bin,mode=vm86" };
	expect_err(ARGC(mode), mode, "--flat", "unknown mode 'vm86'");
	const char *key[] = { "hearth", "run", "--flat", "a.bin,load=0" };
	expect_err(ARGC(key), key, "--flat 'a.bin,load=0'", "addr=A");
	const char *num[] = { "hearth", "run", "--flat", "a.bin,addr=0x1000000000000" };
	expect_err(ARGC(num), num, "--flat", "at most 0xffffffffffff");
	const char *empty[] = { "hearth", "run", "--flat", ",addr=0" };
	expect_err(ARGC(empty), empty, "--flat", "path is empty");
	const char *twice[] = { "hearth", "run", "--flat", "a", "--flat", "b" };
	expect_err(ARGC(twice), twice, "--flat given twice", NULL);
	const char *kernel[] = { "hearth", "run", "--flat", "a", "--kernel", "k" };
	expect_err(ARGC(kernel), kernel, "--flat and --kernel exclude each other", NULL);
	const char *initrd[] = { "hearth", "run", "--initrd", "i", "--flat", "a" };
	expect_err(ARGC(initrd), initrd, "--flat and --initrd", NULL);
	const char *cpus[] = { "hearth", "run", "--flat", "a", "--cpus", "2" };
	expect_err(ARGC(cpus), cpus, "--flat runs one vCPU", "--cpus 2");
	const char *rng[] = { "hearth", "run", "--rng", "--flat", "a" };
	expect_err(ARGC(rng), rng, "virtio", "drop --rng");
	const char *disk[] = { "hearth", "run", "--flat", "a", "--disk", "path=/d" };
	expect_err(ARGC(disk), disk, "virtio", "drop --disk");
	const char *none[] = { "hearth", "run", "--memory", "64" };
	expect_err(ARGC(none), none, "--kernel PATH (or --flat FILE) is required", NULL);
}

static void test_debugcon(void **state)
{
	/* The value may follow as the next argument, as in `--debugcon port=0xf1`. */
	const char *spaced[] = { "hearth", "run", "--flat", "h.bin", "--debugcon", "port=0xf1" };
	const char *bare[] = { "hearth", "run", "--debugcon", "--flat", "h.bin" };
	const char *out[] = { "hearth", "run", "--kernel", "k", "--debugcon=out=/tmp/d,port=1234" };

	(void)state;
	assert_int_equal(parse(ARGC(spaced), spaced), 0);
	assert_true(cfg.vm.debugcon.present);
	assert_int_equal(cfg.vm.debugcon.port, 0xf1);
	assert_null(cfg.vm.debugcon.out_path);
	assert_int_equal(parse(ARGC(bare), bare), 0);
	assert_int_equal(cfg.vm.debugcon.port, 0xe9);
	assert_true(cfg.vm.flat.present);
	assert_int_equal(parse(ARGC(out), out), 0);
	assert_int_equal(cfg.vm.debugcon.port, 1234);
	assert_string_equal(cfg.vm.debugcon.out_path, "/tmp/d");

	const char *big[] = { "hearth", "run", "--kernel", "k", "--debugcon", "port=0x10000" };
	expect_err(ARGC(big), big, "--debugcon 'port=0x10000'", "at most 0xffff");
	const char *junk[] = { "hearth", "run", "--kernel", "k", "--debugcon", "port=e9" };
	expect_err(ARGC(junk), junk, "--debugcon 'port=e9'", NULL);
	const char *pit[] = { "hearth", "run", "--kernel", "k", "--debugcon=port=0x43" };
	expect_err(ARGC(pit), pit, "--debugcon", "port=0x43 is taken by KVM's in-kernel PIT");
	const char *pic[] = { "hearth", "run", "--kernel", "k", "--debugcon=port=0xa1" };
	expect_err(ARGC(pic), pic, "port=0xa1", "PIC");
	const char *nopath[] = { "hearth", "run", "--kernel", "k", "--debugcon=out=" };
	expect_err(ARGC(nopath), nopath, "--debugcon", "out=");
	const char *twice[] = { "hearth", "run", "--kernel", "k", "--debugcon", "--debugcon" };
	expect_err(ARGC(twice), twice, "--debugcon given twice", NULL);
}

static void test_usage(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	cli_run_usage(f);
	fclose(f);
	assert_non_null(strstr(buf, "--kernel"));
	assert_non_null(strstr(buf, "--memory"));
	assert_non_null(strstr(buf, VM_DEFAULT_CMDLINE));
	assert_non_null(strstr(buf, "255"));
	assert_non_null(strstr(buf, "Ctrl-A x"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_flag),
		cmocka_unit_test(test_test_kernel_flags),
		cmocka_unit_test(test_equals_form),
		cmocka_unit_test(test_last_wins_and_order),
		cmocka_unit_test(test_missing_values),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_cpus),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_huge_pages),
		cmocka_unit_test(test_parse_uint),
		cmocka_unit_test(test_help_version),
		cmocka_unit_test(test_kernel_required),
		cmocka_unit_test(test_long_value),
		cmocka_unit_test(test_flat),
		cmocka_unit_test(test_debugcon),
		cmocka_unit_test(test_usage),
	};

	int ret = cmocka_run_group_tests(tests, NULL, NULL);

	cli_run_release(&cfg);
	return ret;
}

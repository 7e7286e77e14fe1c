/*
 * Build time only: compiles every thread kind's seccomp program with
 * libseccomp, as sandbox_compile does at run time, and writes them as a C
 * source (sandbox_filters.c) the binary then copies them from
 * (compile.h), with the zygote's deny program and x86-64's syscall names
 * by number. Not part of
 * libhearth; meson runs it from the build tree.
 *
 *     sandbox-filters-gen OUTPUT.c
 *
 * Exit 0, or 1 with one line on stderr naming what failed.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/allow.h"
#include "sandbox/compile.h"

/*
 * The one instruction the pid goes into (tgkill's first argument compared
 * with it) in *at, or -1 when the program compares none (a sanitizer
 * build allows every tgkill). -EINVAL if more than one, or not a jeq.
 */
static int placeholder_at(const struct sock_fprog *p, int *at)
{
	*at = -1;
	for (unsigned int i = 0; i < p->len; i++) {
		if (p->filter[i].k != SANDBOX_PID_PLACEHOLDER)
			continue;
		if (*at >= 0 || p->filter[i].code != (BPF_JMP | BPF_JEQ | BPF_K))
			return -EINVAL;
		*at = (int)i;
	}
	return 0;
}

static int emit_names(FILE *f)
{
	fprintf(f, "const char sandbox_syscall_names[SANDBOX_SYSCALL_NAMES]"
		   "[SANDBOX_SYSCALL_NAME_MAX] = {\n");
	for (int nr = 0; nr < SANDBOX_SYSCALL_NAMES; nr++) {
		char *n = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);

		/* Names are [a-z0-9_]: nothing to escape; one too long is a build error. */
		if (n && strlen(n) >= SANDBOX_SYSCALL_NAME_MAX) {
			fprintf(stderr, "sandbox-filters-gen: syscall %d's name %s is too long\n",
				nr, n);
			free(n);
			return -ENAMETOOLONG;
		}
		if (n)
			fprintf(f, "\t[%d] = \"%s\",\n", nr, n);
		free(n);
	}
	return fprintf(f, "};\n") < 0 ? -EIO : 0;
}

static int emit(FILE *f, const char *kind, const struct sock_fprog *p)
{
	fprintf(f, "static const struct sock_filter pre_%s[%u] = {\n", kind, p->len);
	for (unsigned int i = 0; i < p->len; i++)
		fprintf(f, "\t{ 0x%04x, %u, %u, 0x%08x },\n", p->filter[i].code, p->filter[i].jt,
			p->filter[i].jf, p->filter[i].k);
	return fprintf(f, "};\n\n") < 0 ? -EIO : 0;
}

int main(int argc, char **argv)
{
	struct sock_fprog progs[THREAD_KINDS] = { { 0 } }, zyg = { 0 }, unix_only = { 0 };
	int at[THREAD_KINDS];
	FILE *f;
	int k, ret = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: sandbox-filters-gen OUTPUT.c\n");
		return 1;
	}
	/* The level sandbox_init states: the programs do not depend on the build host's kernel. */
	if (seccomp_api_set(1)) {
		fprintf(stderr, "sandbox-filters-gen: libseccomp refuses API level 1\n");
		return 1;
	}
	for (k = 0; k < THREAD_KINDS && !ret; k++) {
		ret = sandbox_compile((enum thread_kind)k, false, false, SANDBOX_PID_PLACEHOLDER,
				      &progs[k]);
		if (ret) {
			fprintf(stderr, "sandbox-filters-gen: %s: %s\n",
				sandbox_list_get((enum thread_kind)k)->kind, strerror(-ret));
			break;
		}
		ret = placeholder_at(&progs[k], &at[k]);
		if (ret) {
			fprintf(stderr, "sandbox-filters-gen: %s: the pid placeholder is in more than "
				"one instruction, or in one that is not a jeq\n",
				sandbox_list_get((enum thread_kind)k)->kind);
		}
	}
	if (!ret) {
		ret = sandbox_compile_zygote(&zyg);
		if (ret)
			fprintf(stderr, "sandbox-filters-gen: zygote: %s\n", strerror(-ret));
	}
	if (!ret) {
		ret = sandbox_compile_unix_only(&unix_only);
		if (ret)
			fprintf(stderr, "sandbox-filters-gen: unix_only: %s\n", strerror(-ret));
	}
	f = ret ? NULL : fopen(argv[1], "w");
	if (!ret && !f) {
		fprintf(stderr, "sandbox-filters-gen: %s: %s\n", argv[1], strerror(errno));
		ret = -errno;
	}
	if (f) {
		fprintf(f, "/* Written by src/sandbox/filters_gen.c at build time: libseccomp's "
			"programs. */\n#include \"sandbox/compile.h\"\n\n");
		for (k = 0; k < THREAD_KINDS && !ret; k++)
			ret = emit(f, sandbox_list_get((enum thread_kind)k)->kind, &progs[k]);
		fprintf(f, "const struct sandbox_precompiled sandbox_precompiled[THREAD_KINDS] = {\n");
		for (k = 0; k < THREAD_KINDS; k++)
			fprintf(f, "\t[%d] = { pre_%s, %u, %d },\n", k,
				sandbox_list_get((enum thread_kind)k)->kind, progs[k].len, at[k]);
		fprintf(f, "};\n\n");
		if (!ret)
			ret = emit(f, "zygote", &zyg);
		fprintf(f, "const struct sandbox_precompiled sandbox_precompiled_zygote = "
			"{ pre_zygote, %u, -1 };\n\n", zyg.len);
		if (!ret)
			ret = emit(f, "unix_only", &unix_only);
		fprintf(f, "const struct sandbox_precompiled sandbox_precompiled_unix_only = "
			"{ pre_unix_only, %u, -1 };\n\n", unix_only.len);
		if (!ret)
			ret = emit_names(f);
		if (fclose(f) || ret) {
			fprintf(stderr, "sandbox-filters-gen: cannot write %s\n", argv[1]);
			remove(argv[1]);
			ret = -EIO;
		}
	}
	for (k = 0; k < THREAD_KINDS; k++)
		free(progs[k].filter);
	free(zyg.filter);
	free(unix_only.filter);
	return ret ? 1 : 0;
}

/* The jailer's command line and its pure checks (args.h), in the jailer's words. */
#include "jailer/args.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum jarg_kind { JARG_FLAG, JARG_VALUE, JARG_MULTI };

/* No field: --help and --version, which the parser looks for before the table. */
#define NO_SLOT SIZE_MAX
#define SLOT(f) offsetof(struct jailer_args, f)

/*
 * The jailer's arguments, one row a flag, sorted by name: its parser
 * keeps them so, checks the required ones, and prints --help, in that
 * order. slot: where the value goes in struct jailer_args (a const char *
 * for a value, its default first; a bool for a flag; for a repeatable one
 * the array, with its count at count).
 */
static const struct jarg {
	const char *name;
	enum jarg_kind kind;
	bool required;
	const char *dflt;
	const char *help;
	size_t slot, count;
} jargs[] = {
	{ "cgroup", JARG_MULTI, false, NULL,
	  "Cgroup and value to be set by the jailer. It must follow this format: "
	  "<cgroup_file>=<value> (e.g cpu.shares=10). This argument can be used multiple times "
	  "to add multiple cgroups.",
	  SLOT(cgroups), SLOT(ncgroups) },
	{ "cgroup-version", JARG_VALUE, false, "1", "Select the cgroup version used by the jailer.",
	  SLOT(cgroup_version), 0 },
	{ "chroot-base-dir", JARG_VALUE, false, JAILER_DEFAULT_BASE,
	  "The base folder where chroot jails are located.",
	  SLOT(chroot_base), 0 },
	{ "daemonize", JARG_FLAG, false, NULL,
	  "Daemonize the jailer before exec, by invoking setsid(), and redirecting the standard "
	  "I/O file descriptors to /dev/null.",
	  SLOT(daemonize), 0 },
	{ "exec-file", JARG_VALUE, true, NULL, "File path to exec into.",
	  SLOT(exec_file), 0 },
	{ "gid", JARG_VALUE, true, NULL, "The group identifier the jailer switches to after exec.",
	  SLOT(gid), 0 },
	/* Listed by --help only: the parser never gets that far with it. */
	{ "help", JARG_FLAG, false, NULL, "Show the help message.",
	  NO_SLOT, 0 },
	{ "id", JARG_VALUE, true, NULL, "Jail ID.",
	  SLOT(id), 0 },
	{ "netns", JARG_VALUE, false, NULL, "Path to the network namespace this microVM should join.",
	  SLOT(netns), 0 },
	{ "new-pid-ns", JARG_FLAG, false, NULL, "Exec into a new PID namespace.",
	  SLOT(new_pid_ns), 0 },
	{ "parent-cgroup", JARG_VALUE, false, NULL,
	  "Parent cgroup in which the cgroup of this microvm will be placed.",
	  SLOT(parent_cgroup), 0 },
	{ "resource-limit", JARG_MULTI, false, NULL,
	  "Resource limit values to be set by the jailer. It must follow this format: "
	  "<resource>=<value> (e.g no-file=1024). This argument can be used multiple times to "
	  "add multiple resource limits. Current available resource values are:\n"
	  "\t\tfsize: The maximum size in bytes for files created by the process.\n"
	  "\t\tno-file: Specifies a value one greater than the maximum file descriptor number "
	  "that can be opened by this process.",
	  SLOT(rlimits), SLOT(nrlimits) },
	{ "uid", JARG_VALUE, true, NULL, "The user identifier the jailer switches to after exec.",
	  SLOT(uid), 0 },
	{ "version", JARG_FLAG, false, NULL, "Print the binary version number.",
	  NO_SLOT, 0 },
};

#define NJARGS (sizeof(jargs) / sizeof(jargs[0]))

static const char PARSE[] = "Failed to parse arguments: ";

/*
 * Firecracker's jailer is a static musl binary: its OS errors are musl's
 * words, which differ from glibc's for these (its tests match them).
 */
static const struct {
	int err;
	const char *words;
} musl_words[] = {
	{ EMFILE, "No file descriptors available" },
	{ ENOMEM, "Out of memory" },
	{ EBUSY, "Resource busy" },
	{ ELOOP, "Symbolic link loop" },
	{ ENAMETOOLONG, "Filename too long" },
	{ EXDEV, "Cross-device link" },
};

const char *jailer_os_error(int err, char *buf, size_t n)
{
	const char *words = strerror(err);

	for (size_t i = 0; i < sizeof(musl_words) / sizeof(musl_words[0]); i++)
		if (musl_words[i].err == err)
			words = musl_words[i].words;
	snprintf(buf, n, "%s (os error %d)", words, err);
	return buf;
}

static const struct jarg *jarg_find(const char *name)
{
	for (size_t i = 0; i < NJARGS; i++)
		if (!strcmp(jargs[i].name, name))
			return &jargs[i];
	return NULL;
}

/* One "--name [VALUE]" at argv[*i]; seen[] marks what the user gave. */
static int jarg_take(struct jailer_args *a, char **argv, int end, int *i, bool *seen,
		     struct err *e)
{
	const char *arg = argv[*i];
	const struct jarg *j;
	size_t k;

	if (strncmp(arg, "--", 2))
		return err_set(e, true, -EINVAL, "%sFound argument '%s' which wasn't expected, or "
			       "isn't valid in this context.", PARSE, arg);
	j = jarg_find(arg + 2);
	if (!j)
		return err_set(e, true, -EINVAL, "%sFound argument '%s' which wasn't expected, or "
			       "isn't valid in this context.", PARSE, arg + 2);
	k = (size_t)(j - jargs);
	if (j->kind != JARG_MULTI && seen[k])
		return err_set(e, true, -EINVAL, "%sThe argument '%s' was provided more than once.",
			       PARSE, j->name);
	seen[k] = true;
	if (j->kind == JARG_FLAG) {
		if (j->slot != NO_SLOT)
			*(bool *)((char *)a + j->slot) = true;
		return 0;
	}
	/* A value is the next argument, unless it looks like an option. */
	if (*i + 1 >= end || !strncmp(argv[*i + 1], "--", 2))
		return err_set(e, true, -EINVAL, "%sThe argument '%s' requires a value, but none "
			       "was supplied.", PARSE, j->name);
	(*i)++;
	if (j->kind == JARG_VALUE) {
		*(const char **)((char *)a + j->slot) = argv[*i];
	} else {
		const char **many = *(const char ***)((char *)a + j->slot);
		size_t *n = (size_t *)((char *)a + j->count);

		many[(*n)++] = argv[*i];
	}
	return 0;
}

int jailer_args_parse(int argc, char **argv, struct jailer_args *a, struct err *e)
{
	bool seen[NJARGS] = { false };
	int end = argc, ret;

	memset(a, 0, sizeof(*a));
	for (size_t k = 0; k < NJARGS; k++)
		if (jargs[k].kind == JARG_VALUE && jargs[k].dflt)
			*(const char **)((char *)a + jargs[k].slot) = jargs[k].dflt;
	/* Room for every argument: each repeatable one takes two. */
	a->cgroups = calloc((size_t)argc + 1, sizeof(*a->cgroups));
	a->rlimits = calloc((size_t)argc + 1, sizeof(*a->rlimits));
	if (!a->cgroups || !a->rlimits)
		return err_set(e, false, -ENOMEM, "%s", strerror(ENOMEM));
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			end = i;
			a->extra = argv + i + 1;
			a->nextra = argc - i - 1;
			break;
		}
	/* --help and --version win over anything else before "--", parsed or not. */
	for (int i = 1; i < end; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			a->help = true;
	for (int i = 1; !a->help && i < end; i++)
		if (!strcmp(argv[i], "--version"))
			a->version = true;
	if (a->help || a->version)
		return 0;
	for (int i = 1; i < end; i++) {
		ret = jarg_take(a, argv, end, &i, seen, e);
		if (ret)
			return ret;
	}
	for (size_t k = 0; k < NJARGS; k++)
		if (jargs[k].required && !seen[k])
			return err_set(e, true, -EINVAL, "%sArgument '%s' required, but not found.",
				       PARSE, jargs[k].name);
	return 0;
}

void jailer_args_free(struct jailer_args *a)
{
	free(a->cgroups);
	free(a->rlimits);
	a->cgroups = NULL;
	a->rlimits = NULL;
}

static void help_group(FILE *out, bool required)
{
	size_t width = 0;
	char name[64];

	for (size_t k = 0; k < NJARGS; k++) {
		size_t n = strlen(jargs[k].name) + 4;

		if (jargs[k].required != required)
			continue;
		if (jargs[k].kind != JARG_FLAG)
			n += strlen(jargs[k].name) + 3;
		if (n > width)
			width = n;
	}
	fprintf(out, "%s arguments:", required ? "required" : "optional");
	for (size_t k = 0; k < NJARGS; k++) {
		if (jargs[k].required != required)
			continue;
		if (jargs[k].kind == JARG_FLAG)
			snprintf(name, sizeof(name), "  --%s", jargs[k].name);
		else
			snprintf(name, sizeof(name), "  --%s <%s>", jargs[k].name, jargs[k].name);
		fprintf(out, "\n%-*s   %s", (int)width, name, jargs[k].help);
		if (jargs[k].dflt)
			fprintf(out, " [default: \"%s\"]", jargs[k].dflt);
	}
}

void jailer_args_help(FILE *out)
{
	help_group(out, true);
	fputs("\n\n", out);
	help_group(out, false);
}

int jailer_check_id(const char *id, struct err *e)
{
	size_t n = strlen(id);

	if (n < 1 || n > JAILER_ID_MAX)
		return err_set(e, true, -EINVAL, "Invalid instance ID: Invalid len (%zu);  the "
			       "length must be between 1 and %d", n, JAILER_ID_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return err_set(e, true, -EINVAL, "Invalid instance ID: Invalid char (%c) at "
				       "position %zu", c, i);
	}
	return 0;
}

/* Rust's from_str for unsigned integers: an optional '+', then decimal digits, in range. */
static int parse_unsigned(const char *s, uint64_t max, uint64_t *out, const char **why)
{
	uint64_t v = 0;

	if (!*s) {
		*why = "cannot parse integer from empty string";
		return -EINVAL;
	}
	if (*s == '+')
		s++;
	if (!*s) {
		*why = "invalid digit found in string";
		return -EINVAL;
	}
	for (; *s; s++) {
		unsigned int d = (unsigned int)(*s - '0');

		if (d > 9) {
			*why = "invalid digit found in string";
			return -EINVAL;
		}
		if (v > (max - d) / 10) {
			*why = "number too large to fit in target type";
			return -ERANGE;
		}
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int jailer_parse_u32(const char *s, uint32_t *out)
{
	const char *why;
	uint64_t v;

	if (parse_unsigned(s, UINT32_MAX, &v, &why))
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int jailer_parse_ids(const struct jailer_args *a, uint32_t *uid, uint32_t *gid, struct err *e)
{
	if (jailer_parse_u32(a->uid, uid))
		return err_set(e, true, -EINVAL, "Invalid uid: %s", a->uid);
	if (jailer_parse_u32(a->gid, gid))
		return err_set(e, true, -EINVAL, "Invalid gid: %s", a->gid);
	return 0;
}

bool jailer_relpath_ok(const char *path)
{
	const char *p = path;

	/* Rust's Path::components: a root, a leading ".", or any "..". */
	if (*p == '/')
		return false;
	if (p[0] == '.' && (p[1] == '\0' || p[1] == '/'))
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += n;
		while (*p == '/')
			p++;
	}
	return true;
}

int jailer_parent_cgroup(const struct jailer_args *a, const char *exec_name, const char **out,
			 struct err *e)
{
	const char *p = a->parent_cgroup ? a->parent_cgroup : exec_name;

	if (!jailer_relpath_ok(p))
		return err_set(e, true, -EINVAL, "Parent cgroup path is invalid. Path should not be "
			       "absolute or contain '..' or '.'");
	*out = p;
	return 0;
}

int jailer_cgroup_version(const struct jailer_args *a, unsigned int *ver, struct err *e)
{
	const char *why;
	uint64_t v;

	if (parse_unsigned(a->cgroup_version, UINT8_MAX, &v, &why))
		return err_set(e, true, -EINVAL, "%s is an invalid cgroup version specifier",
			       a->cgroup_version);
	*ver = (unsigned int)v;
	return 0;
}

int jailer_cgroup_split(const char *arg, char *file, size_t n, const char **value,
			struct err *e)
{
	const char *eq = strchr(arg, '=');
	size_t len;

	/* Exactly one '=' with something after it. */
	if (!eq || !eq[1] || strchr(eq + 1, '='))
		return err_set(e, true, -EINVAL, "Invalid format for cgroups: %s", arg);
	len = (size_t)(eq - arg);
	if (len >= n)
		return err_set(e, true, -EINVAL, "Cgroup invalid file: %s", arg);
	memcpy(file, arg, len);
	file[len] = '\0';
	if (!jailer_relpath_ok(file))
		return err_set(e, true, -EINVAL, "Cgroup invalid file: %s", arg);
	*value = eq + 1;
	return 0;
}

int jailer_cgroup_controller(const char *file, char *out, size_t n, struct err *e)
{
	const char *dot = strchr(file, '.');
	size_t len = dot ? (size_t)(dot - file) : 0;

	if (!dot || len >= n)
		return err_set(e, true, -EINVAL, "Cgroup invalid file: %s", file);
	memcpy(out, file, len);
	out[len] = '\0';
	return 0;
}

int jailer_rlimits_parse(const struct jailer_args *a, struct jailer_rlimits *r, struct err *e)
{
	r->have_fsize = false;
	r->fsize = 0;
	r->nofile = JAILER_DEFAULT_NOFILE;
	for (size_t i = 0; i < a->nrlimits; i++) {
		const char *arg = a->rlimits[i], *eq = strchr(arg, '='), *why;
		uint64_t v;

		if (!eq)
			return err_set(e, true, -EINVAL, "Invalid format for resources limits: %s",
				       arg);
		/* The value is read before the name is looked at, as the jailer does. */
		if (parse_unsigned(eq + 1, UINT64_MAX, &v, &why))
			return err_set(e, true, -EINVAL, "Invalid limit value for resource: %s: %s",
				       eq + 1, why);
		if ((size_t)(eq - arg) == 5 && !strncmp(arg, "fsize", 5)) {
			r->have_fsize = true;
			r->fsize = v;
		} else if ((size_t)(eq - arg) == 7 && !strncmp(arg, "no-file", 7)) {
			r->nofile = v;
		} else {
			return err_set(e, true, -EINVAL, "Invalid resource argument: %.*s",
				       (int)(eq - arg), arg);
		}
	}
	return 0;
}

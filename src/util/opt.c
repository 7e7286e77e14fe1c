#include "util/opt.h"

#include <errno.h>
#include <string.h>

static bool in_mode(const struct opt_cmd *cmd, const struct opt *o)
{
	return !o->modes || (o->modes & cmd->mode);
}

/* The entry named exactly name[0, n), or NULL. */
static const struct opt *find_exact(const struct opt_cmd *cmd, const char *name, size_t n)
{
	for (const struct opt *o = cmd->opts; o->name; o++)
		if (in_mode(cmd, o) && strlen(o->name) == n && !strncmp(o->name, name, n))
			return o;
	return NULL;
}

/* As getopt_long: the exact name, else the one long option that name[0, n) begins. */
static const struct opt *find_prefix(const struct opt_cmd *cmd, const char *name, size_t n)
{
	const struct opt *found = find_exact(cmd, name, n);

	if (found)
		return found;
	for (const struct opt *o = cmd->opts; o->name; o++) {
		if (!in_mode(cmd, o) || strncmp(o->name, "--", 2) || strncmp(o->name, name, n))
			continue;
		if (found)
			return NULL;    /* ambiguous */
		found = o;
	}
	return found;
}

static int apply(const struct opt *o, const char *val, void *ctx, struct err *e)
{
	char *field = (char *)ctx + o->off;

	switch (o->kind) {
	case OPT_TRUE:
		*(bool *)field = true;
		return 0;
	case OPT_STR:
		*(const char **)field = val;
		return 0;
	case OPT_INT:
		*(int *)field = o->val;
		return 0;
	case OPT_CALL:
		return o->fn(ctx, o, val, e);
	case OPT_REFUSE:
		break;
	}
	return -EINVAL;
}

/* o, matched by argv[*i]; val is what followed '=' (NULL: nothing). *i moves past a value taken. */
static int take(const struct opt_cmd *cmd, const struct opt *o, const char *val, int argc,
		char **argv, int *i, void *ctx, struct err *e)
{
	const char *arg = argv[*i];

	if (o->kind == OPT_REFUSE)
		return cmd->fault(cmd, OPT_REFUSED, arg, o, e);
	if (o->arg == OPT_NONE && val)
		return cmd->fault(cmd, OPT_NO_VALUE, arg, o, e);
	if (o->arg == OPT_VALUE && !val) {
		if (*i + 1 >= argc)
			return cmd->fault(cmd, OPT_NEEDS_VALUE, arg, o, e);
		val = argv[++*i];
	}
	if (o->arg == OPT_MAYBE && !val && !cmd->gnu && *i + 1 < argc && argv[*i + 1][0] != '-')
		val = argv[++*i];
	return apply(o, val, ctx, e);
}

/* "--name" or "--name=value". */
static int take_long(const struct opt_cmd *cmd, int argc, char **argv, int *i, void *ctx,
		     const struct opt **taken, struct err *e)
{
	const char *arg = argv[*i], *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : strlen(arg);

	*taken = cmd->gnu ? find_prefix(cmd, arg, n) : find_exact(cmd, arg, n);
	if (!*taken)
		return cmd->fault(cmd, OPT_UNKNOWN, arg, NULL, e);
	return take(cmd, *taken, eq ? eq + 1 : NULL, argc, argv, i, ctx, e);
}

/* "-vq": short flags grouped; one that takes a value takes the rest, or the next argument. */
static int take_short(const struct opt_cmd *cmd, int argc, char **argv, int *i, void *ctx,
		      const struct opt **taken, struct err *e)
{
	const char *arg = argv[*i];

	for (const char *c = arg + 1; *c; c++) {
		char name[3] = { '-', *c, '\0' };
		int ret;

		*taken = find_exact(cmd, name, 2);
		if (!*taken)
			return cmd->fault(cmd, OPT_UNKNOWN, arg, NULL, e);
		if ((*taken)->arg != OPT_NONE)
			return take(cmd, *taken, c[1] ? c + 1 : NULL, argc, argv, i, ctx, e);
		ret = take(cmd, *taken, NULL, argc, argv, i, ctx, e);
		if (ret || (*taken)->stop)
			return ret;
	}
	return 0;
}

int opt_parse(const struct opt_cmd *cmd, int argc, char **argv, int first, void *ctx,
	      struct err *e)
{
	const char *positional = NULL;
	bool ended = false;

	for (int i = first; i < argc; i++) {
		const char *arg = argv[i];
		const struct opt *taken = NULL;
		int ret;

		if (cmd->gnu && (ended || arg[0] != '-' || !arg[1])) {
			/* Passed over, as getopt_long permutes it to the end. */
			if (!positional)
				positional = arg;
			continue;
		}
		if (cmd->gnu && !strcmp(arg, "--")) {
			ended = true;
			continue;
		}
		if (!strncmp(arg, "--", 2))
			ret = take_long(cmd, argc, argv, &i, ctx, &taken, e);
		else if (cmd->gnu)
			ret = take_short(cmd, argc, argv, &i, ctx, &taken, e);
		else if ((taken = find_exact(cmd, arg, strlen(arg))))
			ret = take(cmd, taken, NULL, argc, argv, &i, ctx, e);
		else
			ret = cmd->fault(cmd, OPT_UNEXPECTED, arg, NULL, e);
		if (ret)
			return ret;
		if (taken && taken->stop)
			return 0;
	}
	return positional ? cmd->fault(cmd, OPT_UNEXPECTED, positional, NULL, e) : 0;
}

int opt_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
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

int opt_parse_num(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (strncmp(s, "0x", 2) && strncmp(s, "0X", 2))
		return opt_parse_uint(s, 0, max, out);
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

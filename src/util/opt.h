/*
 * The command line: one option table per command (`run`, `serve` and the
 * binary run as `firecracker`, `snapshot`, `restore`, `snapshot-merge`),
 * one parser for all of them. An entry names its option and says what its
 * value does: set a field of the command's options, or go through the
 * command's function; an option Hearth cannot honour is in the table too,
 * refused by name. Each command words its own refusals (its `fault`), so
 * every command keeps the messages it always had.
 *
 * Two sets of rules, the command's choice (struct opt_cmd.gnu):
 *   plain  --name VALUE and --name=VALUE, names matched whole; anything
 *          else is refused where it stands (`run`, `serve`).
 *   gnu    getopt_long's, as these commands always took: a long name may
 *          be cut to a prefix that names one option; short flags may be
 *          grouped (-vq); arguments that are not options are passed over
 *          and the first is refused once every option was taken; "--"
 *          ends the options (`snapshot`, `restore`, `snapshot-merge`).
 */
#ifndef HEARTH_UTIL_OPT_H
#define HEARTH_UTIL_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum opt_arg {
	OPT_NONE,      /* a flag; "--name=x" is refused */
	OPT_VALUE,     /* --name VALUE or --name=VALUE */
	OPT_EQ,        /* --name (the value is NULL) or --name=VALUE */
	/*
	 * OPT_EQ, or --name VALUE when the next argument does not begin with
	 * '-' (plain commands only: there such an argument is refused anyway).
	 */
	OPT_MAYBE,
};

enum opt_kind {
	OPT_TRUE,      /* sets the bool at off */
	OPT_STR,       /* points the const char * at off to the value (in argv) */
	OPT_INT,       /* sets the int at off to val */
	OPT_CALL,      /* calls fn */
	OPT_REFUSE,    /* refused: why says so */
};

struct opt {
	const char *name;          /* "--kernel", "-v"; NULL ends the table */
	enum opt_arg arg;
	enum opt_kind kind;
	size_t off;                /* OPT_TRUE, OPT_STR, OPT_INT: the field in ctx */
	int val;                   /* OPT_INT */
	/* OPT_CALL: 0, or -errno with e filled. val is NULL for a flag. */
	int (*fn)(void *ctx, const struct opt *o, const char *val, struct err *e);
	const char *why;           /* OPT_REFUSE: the reason */
	unsigned int modes;        /* the modes (struct opt_cmd.mode) that take it; 0: all */
	bool stop;                 /* the parse ends here (--help) */
};

/* offsetof(T, f), refused at build time unless f is a `type`. */
#define OPT_FIELD(T, f, type)                                                                \
	(offsetof(T, f) +                                                                    \
	 0 * sizeof(char[__builtin_types_compatible_p(__typeof__(((T *)0)->f), type) ? 1 : -1]))

#define OPT_FLAG(n, T, f) { .name = (n), .arg = OPT_NONE, .kind = OPT_TRUE, \
			    .off = OPT_FIELD(T, f, bool) }
#define OPT_STRING(n, T, f) { .name = (n), .arg = OPT_VALUE, .kind = OPT_STR, \
			      .off = OPT_FIELD(T, f, const char *) }
#define OPT_SET_IN(n, T, f, v, m) { .name = (n), .arg = OPT_NONE, .kind = OPT_INT, \
				    .off = OPT_FIELD(T, f, int), .val = (v), .modes = (m) }
#define OPT_SET(n, T, f, v) OPT_SET_IN(n, T, f, v, 0)
#define OPT_CALL(n, a, f) { .name = (n), .arg = (a), .kind = OPT_CALL, .fn = (f) }
#define OPT_REFUSED(n, a, w) { .name = (n), .arg = (a), .kind = OPT_REFUSE, .why = (w) }
#define OPT_END { .name = NULL }
/* --help (or -h) into the bool f: the parse ends there. */
#define OPT_HELP_IN(n, T, f, m) { .name = (n), .arg = OPT_NONE, .kind = OPT_TRUE, .stop = true, \
				  .off = OPT_FIELD(T, f, bool), .modes = (m) }
#define OPT_HELP(n, T, f) OPT_HELP_IN(n, T, f, 0)
/* -v/--verbose (1) and -q/--quiet (-1) into the int f: four entries. */
#define OPT_VERBOSITY(T, f, m) \
	OPT_SET_IN("--verbose", T, f, 1, m), OPT_SET_IN("-v", T, f, 1, m), \
	OPT_SET_IN("--quiet", T, f, -1, m), OPT_SET_IN("-q", T, f, -1, m)

/* What is wrong with an argument, for the command's fault to word. */
enum opt_fault {
	OPT_UNKNOWN,       /* no such option */
	OPT_UNEXPECTED,    /* not an option at all */
	OPT_NEEDS_VALUE,   /* the last argument, and its option wants a value */
	OPT_NO_VALUE,      /* a flag given "=value" */
	OPT_REFUSED,       /* o is refused (o->why) */
};

struct opt_cmd {
	const char *name;          /* for the fault's words: "hearth serve", "restore" ... */
	const struct opt *opts;
	unsigned int mode;         /* entries whose modes have none of these bits are left out */
	bool gnu;                  /* getopt_long's rules (above) */
	/*
	 * Fills e for arg, the argument as given (o: its entry, when one
	 * matched); returns -EINVAL.
	 */
	int (*fault)(const struct opt_cmd *cmd, enum opt_fault f, const char *arg,
		     const struct opt *o, struct err *e);
};

/*
 * Takes argv[first..argc) into ctx through cmd's table, in order. 0 (also
 * when an entry with stop was taken: nothing after it is looked at), or
 * -errno with e filled: the first refusal, or the first failed OPT_CALL.
 */
int opt_parse(const struct opt_cmd *cmd, int argc, char **argv, int first, void *ctx,
	      struct err *e);

/* A whole decimal number in [min, max]; no sign, no junk. 0, -EINVAL or -ERANGE. */
int opt_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* The same in decimal or 0x hex, at most max. */
int opt_parse_num(const char *s, uint64_t max, uint64_t *out);

#endif

/* What the commands that start a VM share: the sandbox, the log level, the host and its API. */
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

bool cli_is_firecracker(const char *argv0)
{
	const char *base = argv0 ? strrchr(argv0, '/') : NULL;

	return argv0 && !strcmp(base ? base + 1 : argv0, "firecracker");
}

void cli_log_level(int verbose)
{
	if (verbose > 0)
		log_set_level(LOG_DEBUG);
	else if (verbose < 0)
		log_set_level(LOG_ERR);
}

int cli_gnu_fault(const struct opt_cmd *cmd, enum opt_fault f, const char *arg,
		  const struct opt *o, struct err *e)
{
	if (f == OPT_NEEDS_VALUE)
		return err_set(e, true, -EINVAL, "%s: %s needs a value", cmd->name, arg);
	if (f == OPT_UNEXPECTED)
		return err_set(e, true, -EINVAL, "%s: unexpected argument '%s'", cmd->name, arg);
	return err_set(e, true, -EINVAL, "%s: unknown option '%s' (see hearth %s --help)",
		       cmd->name, arg, cmd->name);
}

int cli_override_split(const char *cmd, const char *flag, const char *val, char *id, size_t len,
		       const char **rest, struct err *e)
{
	const char *eq = strchr(val, '=');

	if (!eq || eq == val || (size_t)(eq - val) >= len || !eq[1])
		return err_set(e, true, -EINVAL, "%s: %s '%.64s': want ID=VALUE", cmd, flag,
			       val);
	memcpy(id, val, (size_t)(eq - val));
	id[eq - val] = '\0';
	*rest = eq + 1;
	return 0;
}

int cli_override_access(const char *cmd, const char *flag, const char *val, const char *spec,
			struct err *e)
{
	if ((strncmp(spec, "ro:", 3) && strncmp(spec, "rw:", 3)) || !spec[3])
		return err_set(e, true, -EINVAL, "%s: %s '%.64s': want ID=ro:PATH or "
			       "ID=rw:PATH", cmd, flag, val);
	return spec[1] == 'o';
}

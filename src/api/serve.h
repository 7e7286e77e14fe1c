/* `hearth serve`: the Firecracker-compatible API, and the VM it starts, in this process. */
#ifndef HEARTH_API_SERVE_H
#define HEARTH_API_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct serve_opts {
	const char *api_sock;
	const char *config_file;
	const char *id;
	bool no_api;
	size_t max_payload;
	int verbose;
	bool help;
};

/* argv[1] is "serve". 0, or -EINVAL with one line in err. */
int serve_parse(int argc, char **argv, struct serve_opts *o, char *err, size_t errlen);
void serve_usage(FILE *out);
struct vm_config;

/*
 * Serves until the VM stops or a signal; returns the exit code (enum
 * hearth_exit). boot, when not NULL, is a VM to start at once (`hearth
 * run --api-sock`); it is taken over. Otherwise o->config_file's VM is.
 */
int serve_run(const struct serve_opts *o, struct vm_config *boot);

#endif

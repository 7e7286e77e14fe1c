/*
 * libFuzzer target for the command line and its device specs
 * (src/util/opt.c, src/cli/run.c, run_devices.c, run_flat.c, serve.c, the
 * virtio_*_parse spec parsers). The first byte picks the parser, the rest
 * is split at NUL bytes into arguments:
 *
 *   b % 5 == 0  cli_run_parse:          hearth run ARGS...
 *   b % 5 == 1  cli_serve_parse:        hearth serve ARGS...
 *   b % 5 == 2  cli_firecracker_parse:  firecracker ARGS...
 *   b % 5 == 3  cli_restore_parse:      hearth restore ARGS...
 *   b % 5 == 4  cli_fork_parse:         hearth fork ARGS... (b % 2: hearth reset;
 *                                       b >= 200: cli_migrate_parse, hearth migrate)
 *
 * Each argument is its own exact-size allocation, so ASan catches a read
 * past its NUL. Checked: the parsers return 0 or -EINVAL and fill the
 * error on failure; neither opens anything (the files are opened later).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/fork.h"
#include "cli/migrate.h"
#include "cli/restore.h"
#include "cli/run.h"
#include "cli/serve.h"
#include "fz.h"
#include "util/log.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 3];
	struct err e;
	int argc = 0, ret;
	size_t i = 1;
	uint8_t mode;

	if (!size)
		return 0;
	mode = data[0] % 5;
	argv[argc++] = strdup(mode == 2 ? "firecracker" : "hearth");
	if (mode != 2)
		argv[argc++] = strdup(mode == 0 ? "run" : mode == 1 ? "serve" : mode == 3 ? "restore"
				      : data[0] >= 200 ? "migrate" : data[0] % 2 ? "reset" : "fork");
	while (i < size && argc < MAX_ARGS + 2) {
		const uint8_t *end = memchr(data + i, 0, size - i);
		size_t n = end ? (size_t)(end - (data + i)) : size - i;

		argv[argc] = malloc(n + 1);
		CHECK(argv[argc]);
		memcpy(argv[argc], data + i, n);
		argv[argc++][n] = '\0';
		i += n + 1;
	}
	argv[argc] = NULL;
	e.msg[0] = '\0';
	if (mode == 0) {
		struct cli_config cfg;

		ret = cli_run_parse(argc, argv, &cfg, &e);
		cli_run_release(&cfg);
	} else if (mode == 3) {
		static struct cli_restore_opts r;

		ret = cli_restore_parse(argc, argv, &r, &e);
		/* Every override's ID and value point into argv: a non-empty ID, a value. */
		for (unsigned int k = 0; !ret && k < r.load.n_drive_overrides; k++)
			CHECK(r.load.drive_overrides[k].drive_id[0] &&
			      r.load.drive_overrides[k].path_on_host[0]);
		for (unsigned int k = 0; !ret && k < r.load.n_overrides; k++)
			CHECK(r.load.overrides[k].iface_id[0] &&
			      !r.load.overrides[k].host_dev_name != !r.load.overrides[k].backend);
	} else if (mode == 4 && data[0] >= 200) {
		const char *sock, *path;
		json_t *body;
		bool wait, help;

		ret = cli_migrate_parse(argc, argv, &sock, &path, &body, &wait, &help, &e);
		/* A body is built whole, with its uri, or there is none. */
		CHECK(!body || (!ret && !help && json_is_string(json_object_get(body, "uri"))));
		json_decref(body);
	} else if (mode == 4) {
		const char *sock;
		json_t *body;
		bool help;

		ret = cli_fork_parse(argc, argv, data[0] % 2, &sock, &body, &help, &e);
		/* A fork's body is built whole, or nothing is. */
		CHECK(!body || (!ret && !help && json_is_object(body)));
		json_decref(body);
	} else {
		struct serve_opts o;

		memset(&o, 0, sizeof(o));
		ret = mode == 1 ? cli_serve_parse(argc, argv, &o, &e)
				: cli_firecracker_parse(argc, argv, &o, &e);
	}
	CHECK(ret == 0 || ret == -EINVAL);
	if (ret)
		CHECK(e.msg[0] != '\0');
	for (int k = 0; k < argc; k++)
		free(argv[k]);
	return 0;
}

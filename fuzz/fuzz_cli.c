/*
 * libFuzzer target for the command line and its device specs
 * (src/vmm/cli.c, cli_rl.c, the virtio_*_parse spec parsers,
 * src/api/args.c). The first byte picks the parser, the rest is split at
 * NUL bytes into arguments:
 *
 *   b % 3 == 0  cli_parse:        hearth run ARGS...
 *   b % 3 == 1  serve_parse:      hearth serve ARGS...
 *   b % 3 == 2  serve_parse_firecracker: firecracker ARGS...
 *
 * Each argument is its own exact-size allocation, so ASan catches a read
 * past its NUL. Checked: the parsers return 0 or -EINVAL and fill err on
 * failure; neither opens anything (the files are opened later).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/serve.h"
#include "fz.h"
#include "util/log.h"
#include "vmm/cli.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 3], err[512];
	int argc = 0, ret;
	size_t i = 1;
	uint8_t mode;

	if (!size)
		return 0;
	mode = data[0] % 3;
	argv[argc++] = strdup(mode == 2 ? "firecracker" : "hearth");
	if (mode != 2)
		argv[argc++] = strdup(mode == 0 ? "run" : "serve");
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
	err[0] = '\0';
	if (mode == 0) {
		struct cli_config cfg;

		ret = cli_parse(argc, argv, &cfg, err, sizeof(err));
		cli_release(&cfg);
	} else {
		struct serve_opts o;

		memset(&o, 0, sizeof(o));
		ret = mode == 1 ? serve_parse(argc, argv, &o, err, sizeof(err))
				: serve_parse_firecracker(argc, argv, &o, err, sizeof(err));
	}
	CHECK(ret == 0 || ret == -EINVAL);
	if (ret)
		CHECK(err[0] != '\0');
	for (int k = 0; k < argc; k++)
		free(argv[k]);
	return 0;
}

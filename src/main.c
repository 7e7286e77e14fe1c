#include <stdio.h>
#include <string.h>

#include "api/serve.h"
#include "api/server.h"
#include "hearth-config.h"
#include "util/log.h"
#include "vmm/cli.h"
#include "vmm/runner.h"

/* `hearth serve`: the API front end (src/api). */
static int main_serve(int argc, char **argv)
{
	struct serve_opts o;
	char err[VM_CONFIG_ERR_MAX + 256];

	if (serve_parse(argc, argv, &o, err, sizeof(err)))
		die_code(HEARTH_EXIT_USAGE, "%s", err);
	if (o.help) {
		serve_usage(stdout);
		return HEARTH_EXIT_OK;
	}
	if (o.verbose > 0)
		log_set_level(LOG_DEBUG);
	else if (o.verbose < 0)
		log_set_level(LOG_ERR);
	return serve_run(&o, NULL);
}

int main(int argc, char **argv)
{
	struct cli_config cfg;
	char err[VM_CONFIG_ERR_MAX + 256];
	int code;

	if (argc >= 2 && !strcmp(argv[1], "serve"))
		return main_serve(argc, argv);
	if (cli_parse(argc, argv, &cfg, err, sizeof(err))) {
		cli_release(&cfg);
		die_code(HEARTH_EXIT_USAGE, "%s", err);
	}
	if (cfg.action == CLI_HELP) {
		cli_usage(stdout);
		cli_release(&cfg);
		return HEARTH_EXIT_OK;
	}
	if (cfg.action == CLI_VERSION) {
		printf("hearth %s\n", HEARTH_VERSION);
		cli_release(&cfg);
		return HEARTH_EXIT_OK;
	}
	if (cfg.verbose > 0)
		log_set_level(LOG_DEBUG);
	else if (cfg.verbose < 0)
		log_set_level(LOG_ERR);
	if (cfg.api_sock) {
		/* The same VM, plus the API: `hearth serve` with this config booted at once. */
		struct serve_opts o = { .api_sock = cfg.api_sock,
					.max_payload = API_DEFAULT_MAX_PAYLOAD };

		code = serve_run(&o, &cfg.vm);
	} else {
		code = runner_run(&cfg.vm);
	}
	cli_release(&cfg);
	return code;
}

#include <stdio.h>
#include <string.h>

#include "boot/loader.h"
#include "core/vm.h"
#include "core/vm_virtio.h"
#include "hearth-config.h"
#include "util/cli.h"
#include "util/log.h"

int main(int argc, char **argv)
{
	struct cli_config cfg;
	struct vm_device_plan devs;
	struct kernel_image img;
	char err[LOADER_ERR_MAX];
	struct vm vm;
	int code;

	if (cli_parse(argc, argv, &cfg, err, sizeof(err)))
		die_code(HEARTH_EXIT_USAGE, "%s", err);
	if (cfg.action == CLI_HELP) {
		cli_usage(stdout);
		return HEARTH_EXIT_OK;
	}
	if (cfg.action == CLI_VERSION) {
		printf("hearth %s\n", HEARTH_VERSION);
		return HEARTH_EXIT_OK;
	}
	if (cfg.verbose > 0)
		log_set_level(LOG_DEBUG);
	else if (cfg.verbose < 0)
		log_set_level(LOG_ERR);

	/* Bad files are usage errors, found before KVM is touched. */
	if (loader_open(cfg.kernel, &img, err))
		die_code(HEARTH_EXIT_USAGE, "--kernel %s: %s", cfg.kernel, err);
	if (vm_device_plan_parse(&cfg, &devs, err, sizeof(err))) {
		vm_device_plan_release(&devs);
		loader_close(&img);
		die_code(HEARTH_EXIT_USAGE, "%s", err);
	}
	vm_create(&vm, &cfg, &img, &devs);
	loader_close(&img);
	code = vm_run(&vm);
	vm_destroy(&vm);
	vm_device_plan_release(&devs);
	return code;
}

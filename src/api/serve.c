#include "api/serve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/controller.h"
#include "api/json_config.h"
#include "api/server.h"
#include "util/log.h"
#include "vmm/cli.h"
#include "vmm/runner.h"
#include "vmm/vm.h"
#include "vmm/vm_patch.h"

struct serve {
	struct runner run;          /* the loop, signals, console and VM (src/vmm) */
	struct api_ctl ctl;
	struct api_server *srv;
};

void serve_usage(FILE *out)
{
	fprintf(out,
		"Usage: hearth serve --api-sock PATH [--config-file FILE] [--id ID]\n"
		"                    [--http-api-max-payload-size BYTES] [-v | -q]\n"
		"       hearth serve --no-api --config-file FILE [--id ID] [-v | -q]\n"
		"\n"
		"Serves Firecracker's HTTP API on the Unix socket PATH; the guest's COM1 is this\n"
		"process's stdin and stdout. --config-file boots the VM it describes (Firecracker's\n"
		"config file: the JSON of GET /vm/config) at once. --id names the instance\n"
		"(1 to 64 letters, digits and '-'). Request bodies are limited to BYTES (default %d).\n"
		"\n"
		"Exit codes: as 'hearth run' once a VM ran; 2 bad usage or a bad config file;\n"
		"            3 stopped by SIGINT, SIGTERM or SIGHUP (with or without a VM).\n",
		API_DEFAULT_MAX_PAYLOAD);
}

int serve_parse(int argc, char **argv, struct serve_opts *o, char *err, size_t errlen)
{
	memset(o, 0, sizeof(*o));
	o->max_payload = API_DEFAULT_MAX_PAYLOAD;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			o->help = true;
			return 0;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			o->verbose = 1;
			continue;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			o->verbose = -1;
			continue;
		} else if (!strcmp(a, "--no-api")) {
			o->no_api = true;
			continue;
		}
		const char *max = NULL;

		if (!strcmp(a, "--api-sock"))
			slot = &o->api_sock;
		else if (!strcmp(a, "--config-file"))
			slot = &o->config_file;
		else if (!strcmp(a, "--id"))
			slot = &o->id;
		else if (!strcmp(a, "--http-api-max-payload-size"))
			slot = &max;
		if (!slot) {
			snprintf(err, errlen, "unknown option '%s' for serve (see 'hearth serve "
				 "--help')", a);
			return -EINVAL;
		}
		if (i + 1 >= argc) {
			snprintf(err, errlen, "option '%s' needs a value", a);
			return -EINVAL;
		}
		*slot = argv[++i];
		if (max) {
			uint64_t v;

			if (cli_parse_uint(max, 1, 1ull << 30, &v)) {
				snprintf(err, errlen, "--http-api-max-payload-size '%.64s': want 1 to "
					 "%llu bytes", max, 1ull << 30);
				return -EINVAL;
			}
			o->max_payload = (size_t)v;
		}
	}
	if (o->id && api_ctl_check_id(o->id, err, errlen))
		return -EINVAL;
	if (o->no_api && !o->config_file) {
		snprintf(err, errlen, "--no-api needs --config-file: nothing would configure the VM");
		return -EINVAL;
	}
	if (o->no_api && o->api_sock) {
		snprintf(err, errlen, "--no-api and --api-sock exclude each other");
		return -EINVAL;
	}
	if (!o->no_api && !o->api_sock) {
		snprintf(err, errlen, "serve needs --api-sock PATH (or --no-api --config-file FILE)");
		return -EINVAL;
	}
	return 0;
}

static int serve_vm_start(void *ctx, const struct vm_config *cfg, struct vm_error *err)
{
	struct serve *s = ctx;

	return runner_start_vm(&s->run, cfg, err);
}

/*
 * Pause and resume only move the vCPUs' run states, which are made for
 * other threads to request; they run on the api thread so that the loop
 * never waits for a vCPU that may itself be waiting for the loop. The VM
 * outlives them: serve_run stops the api thread before vm_finish.
 */
static int serve_vm_pause(void *ctx)
{
	struct serve *s = ctx;

	int ret = vm_pause(&s->run.vm);

	/* A vCPU that would not park: the VM runs on rather than stay half paused. */
	if (ret)
		vm_resume(&s->run.vm);
	return ret;
}

static void serve_vm_resume(void *ctx)
{
	struct serve *s = ctx;

	vm_resume(&s->run.vm);
}

static int serve_vm_ctrl_alt_del(void *ctx)
{
	struct serve *s = ctx;

	return vm_send_ctrl_alt_del(&s->run.vm);
}

/* On the api thread: vm_patch opens files here and changes devices on the loop. */
static int serve_vm_patch_drive(void *ctx, const struct vm_drive *d,
				const struct vm_drive_patch *p, char *err, size_t errlen)
{
	return vm_patch_drive(&((struct serve *)ctx)->run.vm, d, p, err, errlen);
}

static int serve_vm_patch_net(void *ctx, const struct vm_net_patch *p, char *err, size_t errlen)
{
	return vm_patch_net(&((struct serve *)ctx)->run.vm, p, err, errlen);
}

static const struct api_vm_ops serve_vm_ops = {
	.start = serve_vm_start,
	.pause = serve_vm_pause,
	.resume = serve_vm_resume,
	.ctrl_alt_del = serve_vm_ctrl_alt_del,
	.patch_drive = serve_vm_patch_drive,
	.patch_net = serve_vm_patch_net,
};

int serve_run(const struct serve_opts *o, struct vm_config *boot)
{
	char err[VM_CONFIG_ERR_MAX + 512];
	struct vm_config cfg;
	struct serve s = { 0 };
	int code = HEARTH_EXIT_FAILURE;
	int ret;

	if (runner_init(&s.run, err, sizeof(err))) {
		log_err("%s", err);
		return HEARTH_EXIT_FAILURE;
	}
	if (o->config_file && !boot) {
		vm_config_init(&cfg);
		ret = json_config_load_file(&cfg, o->config_file, err, sizeof(err));
		if (ret) {
			log_err("%s", err);
			vm_config_release(&cfg);
			code = HEARTH_EXIT_USAGE;
			goto err_run;
		}
		boot = &cfg;
	}
	ret = api_ctl_init(&s.ctl, o->id, boot, &serve_vm_ops, &s);
	if (boot)
		vm_config_release(boot);
	if (ret)
		goto err_run;
	if (boot) {
		/* Booted before the API serves: it then reports "Running" from the start. */
		struct vm_error verr = { .usage = true, .msg = "" };

		if (serve_vm_start(&s, &s.ctl.cfg, &verr)) {
			log_err("%s", verr.msg);
			code = verr.usage ? HEARTH_EXIT_USAGE : HEARTH_EXIT_FAILURE;
			goto err_ctl;
		}
		s.ctl.state = API_RUNNING;
	}
	if (!o->no_api) {
		ret = api_server_start(&s.srv, o->api_sock, &s.ctl, o->max_payload, err,
				       sizeof(err));
		if (ret) {
			log_err("%s", err);
			code = ret == -EEXIST || ret == -EINVAL ? HEARTH_EXIT_USAGE
								: HEARTH_EXIT_FAILURE;
			/* A VM booted from the config is stopped and joined by runner_finish. */
			goto err_api;
		}
		log_info("serving the API on %s", o->api_sock);
	}
	runner_loop(&s.run);
	code = -1;
err_api:
	/* No request may touch the VM from here on. */
	api_server_stop(s.srv);
err_ctl:
	api_ctl_destroy(&s.ctl);
err_run:
	ret = runner_finish(&s.run);
	return code < 0 ? ret : code;
}

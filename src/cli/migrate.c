/*
 * `hearth migrate`: PUT /migrate and PUT /migrate/incoming from the
 * command line (docs/migration.md). The flags build the body; the
 * instance checks it as it checks one sent to its socket. The source's
 * side then follows GET /migrate until the migration ends and prints its
 * last progress: exit 0 when the VM runs on the destination, 1 when it
 * failed (the VM runs on here) or could not be confirmed (it stays paused).
 */
#include "cli/migrate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/overrides.h"
#include "util/log.h"
#include "util/opt.h"

struct cli_migrate_opts {
	struct cli_overrides ov;        /* first: the override flags' handlers take the struct */
	const char *api_sock;
	const char *to, *incoming;
	const char *downtime, *iterations;
	const char *vsock;
	const char *tls_hostname;
	bool paused, wait, postcopy, tls, help;
};

static void migrate_usage(FILE *out)
{
	fputs("usage: hearth migrate --api-sock PATH --to unix:SOCKET|tcp:ADDR:PORT\n"
	      "                      [--downtime-ms N] [--max-iterations N] [--postcopy]\n"
	      "                      [--tls [--tls-hostname NAME]]\n"
	      "  PUT /migrate on the VM behind --api-sock (started with --migrate-dir DIR, which\n"
	      "  holds SOCKET; for tcp:, --migrate-net), then GET /migrate until it ends; prints\n"
	      "  the last progress.\n"
	      "  --postcopy switches over after the first pass; the destination then fetches\n"
	      "  the pages written since as its guest touches them.\n"
	      "  --tls: over TLS with the instances' --migrate-tls certificates; the\n"
	      "  destination's must name tcp:'s ADDR, or NAME (--tls-hostname).\n"
	      "  Exit 0: the VM runs on the destination; 1: it failed (the VM runs on here) or\n"
	      "  the destination did not confirm (it stays paused here).\n"
	      "usage: hearth migrate --api-sock PATH --incoming unix:SOCKET|tcp:ADDR:PORT\n"
	      "                      [--drive-override ID=ro:PATH|ID=rw:PATH]...\n"
	      "                      [--drive-backing ID=FILE|ID=header]...\n"
	      "                      [--pmem-override ID=ro:PATH|ID=rw:PATH]...\n"
	      "                      [--net-override ID=tap=NAME|ID=user[,...]]...\n"
	      "                      [--vsock-override PATH] [--paused] [--wait] [--tls]\n"
	      "                      [--firmware FILE [--firmware-vars FILE]]\n"
	      "  PUT /migrate/incoming on a fresh `hearth serve`: it listens there and takes\n"
	      "  the VM with these host resources (every drive, pmem device, NIC and hybrid\n"
	      "  vsock the VM has), running unless --paused. --wait follows GET /migrate until\n"
	      "  the VM runs there.\n"
	      "Exit status 0, 1 when refused or failed, 2 on usage.\n", out);
}

static const struct opt migrate_opts[] = {
	OPT_STRING("--api-sock", struct cli_migrate_opts, api_sock),
	OPT_STRING("--to", struct cli_migrate_opts, to),
	OPT_STRING("--incoming", struct cli_migrate_opts, incoming),
	OPT_STRING("--downtime-ms", struct cli_migrate_opts, downtime),
	OPT_STRING("--max-iterations", struct cli_migrate_opts, iterations),
	OPT_CALL("--drive-override", OPT_VALUE, cli_overrides_image),
	OPT_CALL("--drive-backing", OPT_VALUE, cli_overrides_backing),
	OPT_CALL("--pmem-override", OPT_VALUE, cli_overrides_image),
	OPT_CALL("--net-override", OPT_VALUE, cli_overrides_net),
	OPT_CALL("--firmware", OPT_VALUE, cli_overrides_firmware),
	OPT_CALL("--firmware-vars", OPT_VALUE, cli_overrides_firmware),
	OPT_STRING("--vsock-override", struct cli_migrate_opts, vsock),
	OPT_FLAG("--paused", struct cli_migrate_opts, paused),
	OPT_FLAG("--wait", struct cli_migrate_opts, wait),
	OPT_FLAG("--postcopy", struct cli_migrate_opts, postcopy),
	OPT_FLAG("--tls", struct cli_migrate_opts, tls),
	OPT_STRING("--tls-hostname", struct cli_migrate_opts, tls_hostname),
	OPT_HELP("--help", struct cli_migrate_opts, help),
	OPT_HELP("-h", struct cli_migrate_opts, help),
	OPT_END,
};

/* A whole number in [1, max] into body[key]; a flag left out is left out. */
static int number(json_t *body, const char *flag, const char *val, const char *key, long max,
		  struct err *e)
{
	char *end;
	long n;

	if (!val)
		return 0;
	errno = 0;
	n = strtol(val, &end, 10);
	if (errno || end == val || *end || n < 1 || n > max)
		return err_set(e, true, -EINVAL, "migrate: %s '%.32s': want 1 to %ld", flag, val,
			       max);
	return json_object_set_new(body, key, json_integer(n)) ?
	       err_set(e, false, -ENOMEM, "migrate: out of memory") : 0;
}

static int body_of(const struct cli_migrate_opts *f, json_t **out, struct err *e)
{
	bool in = f->incoming != NULL;
	const char *uri = in ? f->incoming : f->to;
	int ret = cli_text_ok("migrate", in ? "--incoming" : "--to", uri, e);

	if (!ret)
		ret = cli_text_ok("migrate", "--vsock-override", f->vsock, e);
	if (!ret)
		ret = cli_text_ok("migrate", "--tls-hostname", f->tls_hostname, e);
	if (ret)
		return ret;
	*out = json_pack("{s:s}", "uri", uri);
	if (!*out)
		return err_set(e, false, -ENOMEM, "migrate: out of memory");
	if (f->tls)
		json_object_set_new(*out, "tls", json_true());
	if (f->tls_hostname)
		json_object_set_new(*out, "tls_hostname", json_string(f->tls_hostname));
	if (!in) {
		ret = number(*out, "--downtime-ms", f->downtime, "downtime_limit_ms", 60000, e);
		if (!ret)
			ret = number(*out, "--max-iterations", f->iterations, "max_iterations", 1000,
				     e);
		if (!ret && f->postcopy)
			json_object_set_new(*out, "postcopy", json_true());
		return ret;
	}
	cli_overrides_put(&f->ov, *out);
	if (f->vsock)
		json_object_set_new(*out, "vsock_override", json_pack("{s:s}", "uds_path",
								       f->vsock));
	if (f->paused)
		json_object_set_new(*out, "resume_vm", json_false());
	return 0;
}

int cli_migrate_parse(int argc, char **argv, const char **api_sock, const char **path,
		      json_t **body, bool *wait, bool *help, struct err *e)
{
	const struct opt_cmd cmd = { .name = "migrate", .opts = migrate_opts, .gnu = true,
				     .fault = cli_gnu_fault };
	struct cli_migrate_opts f;
	int ret;

	memset(&f, 0, sizeof(f));
	*body = NULL;
	ret = cli_overrides_init(&f.ov, "migrate", e);
	if (!ret)
		ret = opt_parse(&cmd, argc, argv, 2, &f, e);
	*help = f.help;
	*api_sock = f.api_sock;
	*path = f.incoming ? "/migrate/incoming" : "/migrate";
	/* The source follows its migration to the end; the destination when asked. */
	*wait = f.incoming ? f.wait : true;
	if (!ret && !f.help) {
		if (!f.api_sock)
			ret = err_set(e, true, -EINVAL, "migrate: --api-sock is required");
		else if (!f.to == !f.incoming)
			ret = err_set(e, true, -EINVAL, "migrate: one of --to (send the VM) and "
				      "--incoming (receive one) is required");
		else if (f.to && (json_array_size(f.ov.drives) || json_array_size(f.ov.pmem) ||
				  json_array_size(f.ov.nets) || f.vsock || f.paused || f.wait))
			ret = err_set(e, true, -EINVAL, "migrate: the overrides, --paused and "
				      "--wait are the destination's (--incoming)");
		else if (f.incoming && (f.downtime || f.iterations || f.postcopy ||
					f.tls_hostname))
			ret = err_set(e, true, -EINVAL, "migrate: --downtime-ms, "
				      "--max-iterations, --postcopy and --tls-hostname are the "
				      "source's (--to)");
		else if (f.tls_hostname && !f.tls)
			ret = err_set(e, true, -EINVAL, "migrate: --tls-hostname without --tls");
		else
			ret = body_of(&f, body, e);
	}
	cli_overrides_release(&f.ov);
	if (ret) {
		json_decref(*body);
		*body = NULL;
	}
	return ret;
}

/* GET /migrate until it ends (or the instance is gone): the last answer, printed. */
static int follow(struct cli_client *c, const char *sock)
{
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	json_t *st = NULL;

	for (;;) {
		const char *s;

		json_decref(st);
		st = NULL;
		if (cli_client_request(c, sock, "GET", "/migrate", NULL, &st))
			return HEARTH_EXIT_FAILURE;
		s = json_string_value(json_object_get(st, "state"));
		if (!s || !strcmp(s, "completed") || !strcmp(s, "failed") ||
		    !strcmp(s, "unconfirmed"))
			break;
		nanosleep(&tick, NULL);
	}
	json_dumpf(st, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	int code = !strcmp(json_string_value(json_object_get(st, "state")) ?: "", "completed") ?
		   HEARTH_EXIT_OK : HEARTH_EXIT_FAILURE;
	json_decref(st);
	return code;
}

int cli_migrate_main(int argc, char **argv)
{
	struct err e = ERR_INIT;
	struct cli_client *c;
	const char *sock, *path;
	json_t *body;
	bool wait, help;
	int code;

	if (cli_migrate_parse(argc, argv, &sock, &path, &body, &wait, &help, &e)) {
		fprintf(stderr, "hearth: %s\n", e.msg);
		return e.usage ? HEARTH_EXIT_USAGE : HEARTH_EXIT_FAILURE;
	}
	if (help) {
		migrate_usage(stdout);
		return HEARTH_EXIT_OK;
	}
	if (cli_client_open(&c, "hearth migrate")) {
		json_decref(body);
		return HEARTH_EXIT_FAILURE;
	}
	code = cli_client_request(c, sock, "PUT", path, body, NULL) ? HEARTH_EXIT_FAILURE
								    : HEARTH_EXIT_OK;
	if (!code && wait)
		code = follow(c, sock);
	cli_client_close(c);
	return code;
}

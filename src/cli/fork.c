/*
 * `hearth fork` and `hearth reset`: PUT /fork and PUT /reset (docs/api.md
 * "Fork and reset") from the command line, as `hearth snapshot` is the
 * twin of PUT /snapshot/create. The flags build the request's body; the
 * template checks it whole, as it does a body sent to its socket, and
 * the answer's JSON is printed on stdout.
 */
#include "cli/fork.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/overrides.h"
#include "util/log.h"
#include "util/opt.h"

struct cli_fork_opts {
	struct cli_overrides ov;        /* first: the override flags' handlers take the struct */
	const char *api_sock;
	const char *count;
	const char *clone_sock;
	const char *serial_out;
	const char *vsock;
	const char *template_state;
	bool paused;
	bool help;
};

static void fork_usage(FILE *out)
{
	fputs("usage: hearth fork --api-sock PATH --count N --clone-sock PATTERN\n"
	      "                   [--serial-out PATTERN] [--drive-override ID=ro:PATTERN|ID=rw:PATTERN]...\n"
	      "                   [--drive-backing ID=PATTERN|ID=header]...\n"
	      "                   [--pmem-override ID=ro:PATTERN|ID=rw:PATTERN]...\n"
	      "                   [--net-override ID=tap=PATTERN|ID=user[,...]]...\n"
	      "                   [--vsock-override PATTERN]\n"
	      "                   [--firmware PATTERN [--firmware-vars PATTERN]]\n"
	      "                   [--template Paused|Resumed] [--paused]\n"
	      "  PUT /fork on the template behind --api-sock (started with --fork-dir DIR): N\n"
	      "  clones, each a process with its own API socket (--clone-sock), COM1 file,\n"
	      "  images, TAP and vsock socket. {i} in a PATTERN is the clone's index; paths are\n"
	      "  relative to DIR. --paused leaves the clones paused; --template sets the\n"
	      "  template's state after. Prints the answer: the clones' pids and sockets.\n"
	      "usage: hearth reset --api-sock PATH\n"
	      "  PUT /reset: the VM (a clone, or a File restore) goes back to its base; prints\n"
	      "  the pages it took back and the time.\n"
	      "Exit status 0, 1 when refused, 2 on usage.\n", out);
}

static const struct opt fork_opts[] = {
	OPT_STRING("--api-sock", struct cli_fork_opts, api_sock),
	OPT_STRING("--count", struct cli_fork_opts, count),
	OPT_STRING("--clone-sock", struct cli_fork_opts, clone_sock),
	OPT_STRING("--serial-out", struct cli_fork_opts, serial_out),
	OPT_CALL("--drive-override", OPT_VALUE, cli_overrides_image),
	OPT_CALL("--drive-backing", OPT_VALUE, cli_overrides_backing),
	OPT_CALL("--pmem-override", OPT_VALUE, cli_overrides_image),
	OPT_CALL("--net-override", OPT_VALUE, cli_overrides_net),
	OPT_CALL("--firmware", OPT_VALUE, cli_overrides_firmware),
	OPT_CALL("--firmware-vars", OPT_VALUE, cli_overrides_firmware),
	OPT_STRING("--vsock-override", struct cli_fork_opts, vsock),
	OPT_STRING("--template", struct cli_fork_opts, template_state),
	OPT_FLAG("--paused", struct cli_fork_opts, paused),
	OPT_HELP("--help", struct cli_fork_opts, help),
	OPT_HELP("-h", struct cli_fork_opts, help),
	OPT_END,
};

static const struct opt reset_opts[] = {
	OPT_STRING("--api-sock", struct cli_fork_opts, api_sock),
	OPT_HELP("--help", struct cli_fork_opts, help),
	OPT_HELP("-h", struct cli_fork_opts, help),
	OPT_END,
};

/* The body of PUT /fork; the count's range and the paths are the template's to check. */
static int fork_body(const struct cli_fork_opts *f, json_t **out, struct err *e)
{
	json_t *spec;
	char *end;
	long n;
	int ret = cli_text_ok("fork", "--clone-sock", f->clone_sock, e);

	if (!ret)
		ret = cli_text_ok("fork", "--serial-out", f->serial_out, e);
	if (!ret)
		ret = cli_text_ok("fork", "--vsock-override", f->vsock, e);
	if (!ret)
		ret = cli_text_ok("fork", "--template", f->template_state, e);
	if (ret)
		return ret;
	errno = 0;
	n = strtol(f->count, &end, 10);
	if (errno || end == f->count || *end || n < 1 || n > 1000)
		return err_set(e, true, -EINVAL, "fork: --count '%.32s': want 1 to 1000",
			       f->count);
	spec = json_pack("{s:s}", "api_sock", f->clone_sock);
	if (!spec)
		return err_set(e, false, -ENOMEM, "fork: out of memory");
	if (f->serial_out)
		json_object_set_new(spec, "serial_out", json_string(f->serial_out));
	cli_overrides_put(&f->ov, spec);
	if (f->vsock)
		json_object_set_new(spec, "vsock_override", json_pack("{s:s}", "uds_path", f->vsock));
	*out = json_pack("{s:I, s:o, s:b}", "count", (json_int_t)n, "clone", spec,
			 "resume", !f->paused);
	if (*out && f->template_state)
		json_object_set_new(*out, "template", json_string(f->template_state));
	return *out ? 0 : err_set(e, false, -ENOMEM, "fork: out of memory");
}

static int parse(const char *name, const struct opt *opts, int argc, char **argv,
		 struct cli_fork_opts *f, struct err *e)
{
	const struct opt_cmd cmd = { .name = name, .opts = opts, .gnu = true,
				     .fault = cli_gnu_fault };
	int ret;

	memset(f, 0, sizeof(*f));
	ret = cli_overrides_init(&f->ov, name, e);
	if (ret)
		return ret;
	ret = opt_parse(&cmd, argc, argv, 2, f, e);
	if (ret || f->help)
		return ret;
	if (!f->api_sock)
		return err_set(e, true, -EINVAL, "%s: --api-sock is required", name);
	if (opts == fork_opts && (!f->count || !f->clone_sock))
		return err_set(e, true, -EINVAL, "fork: --count and --clone-sock are required");
	return 0;
}

/* One request; the answer on stdout. */
static int send(const char *who, const char *sock, const char *path, json_t *body)
{
	struct cli_client *c;
	json_t *answer = NULL;
	int ret;

	if (cli_client_open(&c, who)) {
		json_decref(body);
		return HEARTH_EXIT_FAILURE;
	}
	ret = cli_client_request(c, sock, "PUT", path, body, &answer);
	if (!ret && answer) {
		json_dumpf(answer, stdout, JSON_COMPACT);
		fputc('\n', stdout);
	}
	json_decref(answer);
	cli_client_close(c);
	return ret ? HEARTH_EXIT_FAILURE : HEARTH_EXIT_OK;
}

int cli_fork_parse(int argc, char **argv, bool reset, const char **api_sock, json_t **body,
		   bool *help, struct err *e)
{
	const struct opt *opts = reset ? reset_opts : fork_opts;
	struct cli_fork_opts f;
	int ret = parse(reset ? "reset" : "fork", opts, argc, argv, &f, e);

	*body = NULL;
	*api_sock = f.api_sock;
	*help = f.help;
	if (!ret && !f.help && !reset)
		ret = fork_body(&f, body, e);
	cli_overrides_release(&f.ov);
	return ret;
}

static int run(bool reset, int argc, char **argv)
{
	struct err e = ERR_INIT;
	const char *sock;
	json_t *body;
	bool help;

	if (cli_fork_parse(argc, argv, reset, &sock, &body, &help, &e)) {
		fprintf(stderr, "hearth: %s\n", e.msg);
		return e.usage ? HEARTH_EXIT_USAGE : HEARTH_EXIT_FAILURE;
	}
	if (help) {
		fork_usage(stdout);
		return HEARTH_EXIT_OK;
	}
	return send(reset ? "hearth reset" : "hearth fork", sock, reset ? "/reset" : "/fork",
		    reset ? json_object() : body);
}

int cli_fork_main(int argc, char **argv)
{
	return run(false, argc, argv);
}

int cli_reset_main(int argc, char **argv)
{
	return run(true, argc, argv);
}

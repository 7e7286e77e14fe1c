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
#include "util/log.h"
#include "util/opt.h"

#define FORK_ID_MAX 64

struct cli_fork_opts {
	const char *api_sock;
	const char *count;
	const char *clone_sock;
	const char *serial_out;
	const char *vsock;
	const char *template_state;
	bool paused;
	bool help;
	json_t *drives, *pmem, *nets;   /* the overrides, as the body has them */
};

static void fork_usage(FILE *out)
{
	fputs("usage: hearth fork --api-sock PATH --count N --clone-sock PATTERN\n"
	      "                   [--serial-out PATTERN] [--drive-override ID=ro:PATTERN|ID=rw:PATTERN]...\n"
	      "                   [--pmem-override ID=ro:PATTERN|ID=rw:PATTERN]...\n"
	      "                   [--net-override ID=tap=PATTERN|ID=user[,...]]...\n"
	      "                   [--vsock-override PATTERN]\n"
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

/*
 * JSON carries text only: a flag's value that is no UTF-8 is refused by
 * name, here rather than as a failed json_pack's "out of memory".
 */
static int text_ok(const char *flag, const char *s, struct err *e)
{
	json_t *t = s ? json_string(s) : NULL;

	if (!s)
		return 0;
	if (!t)
		return err_set(e, true, -EINVAL, "fork: %s: '%.64s' is not UTF-8 text", flag, s);
	json_decref(t);
	return 0;
}

/* Appends o (taken over) to a, or -ENOMEM said in e. */
static int append(json_t *a, json_t *o, struct err *e)
{
	return json_array_append_new(a, o) ? err_set(e, false, -ENOMEM, "fork: out of memory")
					   : 0;
}

/* ID=ro:P / ID=rw:P for drives (key drive_id) and pmem (key id). */
static int add_image(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct cli_fork_opts *f = ctx;
	bool drive = !strcmp(o->name, "--drive-override");
	char id[FORK_ID_MAX];
	const char *spec;
	int ro, ret = cli_override_split("fork", o->name, val, id, sizeof(id), &spec, e);

	if (ret)
		return ret;
	ro = cli_override_access("fork", o->name, val, spec, e);
	if (ro < 0)
		return ro;
	ret = text_ok(o->name, val, e);
	if (ret)
		return ret;
	return append(drive ? f->drives : f->pmem,
		      json_pack("{s:s, s:s, s:b}", drive ? "drive_id" : "id", id, "path_on_host",
				spec + 3, drive ? "is_read_only" : "read_only", ro), e);
}

static int add_net(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct cli_fork_opts *f = ctx;
	char id[FORK_ID_MAX];
	const char *tap;
	int ret = cli_override_split("fork", o->name, val, id, sizeof(id), &tap, e);

	if (!ret)
		ret = text_ok(o->name, val, e);
	if (ret)
		return ret;
	/* As `hearth restore --net-override`: ID=tap=NAME, or ID=user[,...] (user-mode). */
	if (!strncmp(tap, "tap=", 4))
		return append(f->nets, json_pack("{s:s, s:s}", "iface_id", id, "host_dev_name",
						 tap + 4), e);
	return append(f->nets, json_pack("{s:s, s:s}", "iface_id", id, "backend", tap), e);
}

static const struct opt fork_opts[] = {
	OPT_STRING("--api-sock", struct cli_fork_opts, api_sock),
	OPT_STRING("--count", struct cli_fork_opts, count),
	OPT_STRING("--clone-sock", struct cli_fork_opts, clone_sock),
	OPT_STRING("--serial-out", struct cli_fork_opts, serial_out),
	OPT_CALL("--drive-override", OPT_VALUE, add_image),
	OPT_CALL("--pmem-override", OPT_VALUE, add_image),
	OPT_CALL("--net-override", OPT_VALUE, add_net),
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

static void opts_release(struct cli_fork_opts *f)
{
	json_decref(f->drives);
	json_decref(f->pmem);
	json_decref(f->nets);
}

/* The body of PUT /fork; the count's range and the paths are the template's to check. */
static int fork_body(const struct cli_fork_opts *f, json_t **out, struct err *e)
{
	json_t *spec;
	char *end;
	long n;
	int ret = text_ok("--clone-sock", f->clone_sock, e);

	if (!ret)
		ret = text_ok("--serial-out", f->serial_out, e);
	if (!ret)
		ret = text_ok("--vsock-override", f->vsock, e);
	if (!ret)
		ret = text_ok("--template", f->template_state, e);
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
	if (json_array_size(f->drives))
		json_object_set(spec, "drive_overrides", f->drives);
	if (json_array_size(f->pmem))
		json_object_set(spec, "pmem_overrides", f->pmem);
	if (json_array_size(f->nets))
		json_object_set(spec, "network_overrides", f->nets);
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
	f->drives = json_array();
	f->pmem = json_array();
	f->nets = json_array();
	if (!f->drives || !f->pmem || !f->nets)
		return err_set(e, false, -ENOMEM, "%s: out of memory", name);
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
	opts_release(&f);
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

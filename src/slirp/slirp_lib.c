#include "slirp/slirp_lib.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

#include "util/dlib.h"

struct slirp_lib slirp_lib;

#define SLIRP_SO "libslirp.so.0"

static const struct dlib_sym slirp_syms[] = {
	{ "slirp_new", offsetof(struct slirp_lib, new_) },
	{ "slirp_cleanup", offsetof(struct slirp_lib, cleanup) },
	{ "slirp_input", offsetof(struct slirp_lib, input) },
	{ "slirp_pollfds_fill", offsetof(struct slirp_lib, pollfds_fill) },
	{ "slirp_pollfds_poll", offsetof(struct slirp_lib, pollfds_poll) },
	{ "slirp_handle_timer", offsetof(struct slirp_lib, handle_timer) },
	{ "slirp_add_hostfwd", offsetof(struct slirp_lib, add_hostfwd) },
	{ "slirp_add_unix", offsetof(struct slirp_lib, add_unix) },
	{ "slirp_state_save", offsetof(struct slirp_lib, state_save) },
	{ "slirp_state_load", offsetof(struct slirp_lib, state_load) },
	{ "slirp_state_version", offsetof(struct slirp_lib, state_version) },
	{ "slirp_connection_info", offsetof(struct slirp_lib, connection_info) },
	/* glib's, found through libslirp's own dependencies. */
	{ "g_log_set_writer_func", offsetof(struct slirp_lib, log_set_writer_func) },
};

static int load_ret;
static char load_why[200];

static void slirp_lib_open(void)
{
	load_ret = dlib_load(SLIRP_SO, slirp_syms, sizeof(slirp_syms) / sizeof(slirp_syms[0]),
			     &slirp_lib, load_why, sizeof(load_why));
}

int slirp_lib_load(struct err *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, slirp_lib_open);
	if (load_ret)
		return err_set(err, false, load_ret, "cannot load libslirp (a user-mode NIC's and "
			       "the MMDS's network stack; Debian's libslirp0): %s", load_why);
	return 0;
}

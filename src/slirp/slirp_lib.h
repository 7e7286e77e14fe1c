/*
 * libslirp (and with it glib), loaded when the first user-mode NIC or
 * MMDS stack is made, not linked: a VM without either never maps them
 * (issue 29: a VM process costs what it uses). Calls go through the
 * table, which slirp_lib_load fills once.
 */
#ifndef HEARTH_SLIRP_LIB_H
#define HEARTH_SLIRP_LIB_H

#include <glib.h>
#include <libslirp.h>

#include "util/err.h"

struct slirp_lib {
	Slirp *(*new_)(const SlirpConfig *cfg, const SlirpCb *callbacks, void *opaque);
	void (*cleanup)(Slirp *slirp);
	void (*input)(Slirp *slirp, const uint8_t *pkt, int pkt_len);
	void (*pollfds_fill)(Slirp *slirp, uint32_t *timeout, SlirpAddPollCb add_poll,
			     void *opaque);
	void (*pollfds_poll)(Slirp *slirp, int select_error, SlirpGetREventsCb get_revents,
			     void *opaque);
	void (*handle_timer)(Slirp *slirp, SlirpTimerId id, void *cb_opaque);
	int (*add_hostfwd)(Slirp *slirp, int is_udp, struct in_addr host_addr, int host_port,
			   struct in_addr guest_addr, int guest_port);
	int (*add_unix)(Slirp *slirp, const char *unixsock, struct in_addr *guest_addr,
			int guest_port);
	void (*state_save)(Slirp *s, SlirpWriteCb write_cb, void *opaque);
	int (*state_load)(Slirp *s, int version_id, SlirpReadCb read_cb, void *opaque);
	int (*state_version)(void);
	char *(*connection_info)(Slirp *slirp);
	void (*log_set_writer_func)(GLogWriterFunc func, gpointer user_data,
				    GDestroyNotify user_data_free);
};

/* Filled by slirp_lib_load; read only after it returned 0. */
extern struct slirp_lib slirp_lib;

/*
 * Loads libslirp once (later calls return the first one's result):
 * 0, or -ELIBACC with the loader's words in err. Before the sandbox's
 * seal: a sealed process cannot map a library.
 */
int slirp_lib_load(struct err *err);

#endif

/*
 * Live migration's transport (docs/migration.md "Transport"): the uri
 * (unix:PATH, or tcp:ADDR:PORT with an address, since a sealed process
 * resolves no name), the source's connection, the destination's listening
 * socket and the one connection it takes, and TLS on either (tls.h). The
 * records on the connection are wire.h's.
 */
#ifndef HEARTH_MIGRATE_TRANSPORT_H
#define HEARTH_MIGRATE_TRANSPORT_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "util/err.h"

struct tls_creds;

/*
 * One migration's link. fd and lfd (-1: none) and tls_desc are set under
 * the owner's lock, which another thread takes to cut them (mig_link_cut)
 * or to read what the handshake agreed.
 */
struct mig_link {
	pthread_mutex_t *lock;
	char uri[128];
	char path[108];              /* unix:'s */
	bool tcp;
	struct sockaddr_storage sa;  /* tcp:'s */
	socklen_t salen;
	/*
	 * --migrate-tls's credentials (NULL: none); this request's TLS and
	 * the name the destination's certificate must hold ("" none); what the
	 * handshake agreed ("" none).
	 */
	struct tls_creds *creds;
	bool tls;
	char tls_hostname[256];
	char tls_desc[64];
	int fd, lfd;
};

/* No connection; creds --migrate-tls's (NULL: none), lock the owner's. */
void mig_link_init(struct mig_link *l, struct tls_creds *creds, pthread_mutex_t *lock);
/* The uri taken into l: 0, or -EINVAL with err (usage) naming the fault. */
int mig_link_uri(struct mig_link *l, const char *uri, struct err *err);
/*
 * The request's TLS (on, and the name the destination must hold: NULL, the
 * tcp: address), checked against the credentials: -EINVAL (usage) naming
 * the missing flag or files. server: the destination's side.
 */
int mig_link_tls(struct mig_link *l, bool tls, const char *hostname, bool server,
		 struct err *err);
/* The source's connection (l->fd), TLS's handshake done. 0 or -errno with err. */
int mig_link_connect(struct mig_link *l, struct err *err);
/* The destination's listening socket (l->lfd), and its end (a Unix one's path removed). */
int mig_link_listen(struct mig_link *l, struct err *err);
void mig_link_unlisten(struct mig_link *l);
/*
 * One connection from the listening socket (l->fd), a peer TLS refuses
 * dropped; -ECANCELED once mig_link_cut cut the wait. 0 or -errno with err.
 */
int mig_link_accept(struct mig_link *l, struct err *err);
/* Under the owner's lock: a read, write or accept under way returns at once. */
void mig_link_cut(struct mig_link *l);
/* Takes l->fd and closes it (its TLS session ended first, waiting 1 s at most). */
void mig_link_close(struct mig_link *l);

#endif

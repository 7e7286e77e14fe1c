/*
 * The migration stream's TLS with mutual certificates (docs/migration.md,
 * Transport security), through GnuTLS, which is dlopened only when an
 * instance is started with --migrate-tls: other VM processes never map it.
 *
 * The credentials are a directory in QEMU's layout, read once before the
 * seal (a sealed process opens no file): ca-cert.pem, the CA that signs
 * both ends; server-cert.pem and server-key.pem, which a destination
 * shows; client-cert.pem and client-key.pem, which a source shows. Each
 * end checks the other's chain against the CA; the source also checks the
 * destination's name (its tcp: address, or the request's tls_hostname).
 */
#ifndef HEARTH_MIGRATE_TLS_H
#define HEARTH_MIGRATE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

struct tls_creds;
struct tls_session;

/*
 * A handshake's limit, each side's: a legitimate peer is done in
 * milliseconds; a silent one holds a destination's accept, and a
 * source's PUT /migrate, no longer than this.
 */
#define TLS_HANDSHAKE_MS 5000u

/*
 * libgnutls.so.30 loaded (once; before the jail, which has no library
 * directories). 0, or -ELIBACC with err naming the package to install.
 */
int tls_lib_load(struct err *err);
/*
 * GnuTLS given up, for a process forked from one that loaded it and that
 * never speaks TLS (the zygote): nothing of tls_* may run after it.
 */
void tls_lib_unload(void);
/*
 * The directory's credentials, read now (tls_lib_load first). A missing CA
 * or a directory with neither pair, an unreadable file or a key that does
 * not match its certificate: NULL with err naming the file and why.
 */
struct tls_creds *tls_creds_load(const char *dir, struct err *err);
void tls_creds_free(struct tls_creds *c);
/* Whether c holds the pair a side shows: the server's (destination) or the client's (source). */
bool tls_creds_can(const struct tls_creds *c, bool server);

/*
 * A session on the connected socket fd, its handshake done: server (the
 * destination) asks for and checks the client's certificate; a client
 * checks the server's, and its name when hostname is not NULL (kept, not
 * copied: it must live as long as the session); each the
 * other's purpose (serverAuth, clientAuth). TLS_HANDSHAKE_MS bounds it; a
 * destination's first byte then confirms it took the source. 0, or -errno (-EPROTO: the
 * peer is refused, -ETIMEDOUT, -EPIPE) with err saying why (the
 * certificate's fault where that is it).
 */
int tls_session_open(struct tls_creds *c, int fd, bool server, const char *hostname,
		     struct tls_session **out, struct err *err);
/* Tells the peer the stream ended (best effort) and frees s. */
void tls_session_close(struct tls_session *s);
/* What was agreed, for GET /migrate: "TLS1.3 AES-256-GCM" (static storage of s). */
const char *tls_session_desc(const struct tls_session *s);
/*
 * One call's worth: bytes sent or received (0 from recv: the peer ended
 * the stream), or -errno: -EAGAIN (the socket's deadline passed, or a
 * post-handshake message was taken: call again while the caller's own
 * deadline allows), -EPIPE (the connection broke), -EPROTO (the peer's
 * alert, a forged record), -EINTR.
 * One thread may send while another receives (a key update the peer asks
 * for is the exception: no Hearth asks, see docs/migration.md).
 */
ssize_t tls_send(struct tls_session *s, const void *buf, size_t len);

ssize_t tls_recv(struct tls_session *s, void *buf, size_t len);

#endif

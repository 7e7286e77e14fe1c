/* The migration stream's TLS through a dlopened GnuTLS (tls.h). */
#include "migrate/tls.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "util/dlib.h"

#define TLS_SO "libgnutls.so.30"

/* The library's functions, typed by its own header. */
static struct {
	__typeof__(gnutls_certificate_allocate_credentials) *cred_alloc;
	__typeof__(gnutls_certificate_free_credentials) *cred_free;
	__typeof__(gnutls_certificate_set_x509_trust_file) *trust_file;
	__typeof__(gnutls_certificate_set_x509_key_file) *key_file;
	__typeof__(gnutls_init) *init;
	__typeof__(gnutls_deinit) *deinit;
	__typeof__(gnutls_priority_init2) *prio_init;
	__typeof__(gnutls_priority_deinit) *prio_deinit;
	__typeof__(gnutls_priority_set) *prio_set;
	__typeof__(gnutls_certificate_set_x509_crl_file) *crl_file;
	__typeof__(gnutls_session_set_keylog_function) *keylog;
	__typeof__(gnutls_alert_send_appropriate) *alert_send;
	__typeof__(gnutls_credentials_set) *cred_set;
	__typeof__(gnutls_transport_set_int2) *transport;
	__typeof__(gnutls_handshake_set_timeout) *hs_timeout;
	__typeof__(gnutls_handshake) *handshake;
	__typeof__(gnutls_session_set_verify_cert2) *verify_cert;
	__typeof__(gnutls_session_get_verify_cert_status) *verify_status;
	__typeof__(gnutls_certificate_verification_status_print) *status_print;
	__typeof__(gnutls_certificate_server_set_request) *server_request;
	__typeof__(gnutls_record_send) *send;
	__typeof__(gnutls_record_recv) *recv;
	__typeof__(gnutls_record_set_timeout) *recv_timeout;
	__typeof__(gnutls_bye) *bye;
	__typeof__(gnutls_strerror) *strerror;
	__typeof__(gnutls_alert_get) *alert;
	__typeof__(gnutls_alert_get_strname) *alert_name;
	__typeof__(gnutls_protocol_get_version) *proto;
	__typeof__(gnutls_protocol_get_name) *proto_name;
	__typeof__(gnutls_cipher_get) *cipher;
	__typeof__(gnutls_cipher_get_name) *cipher_name;
	gnutls_free_function *free;   /* the library's variable, not a function */
} g;

static const struct dlib_sym tls_syms[] = {
#define SYM(field, name) { name, offsetof(__typeof__(g), field) }
	SYM(cred_alloc, "gnutls_certificate_allocate_credentials"),
	SYM(cred_free, "gnutls_certificate_free_credentials"),
	SYM(trust_file, "gnutls_certificate_set_x509_trust_file"),
	SYM(key_file, "gnutls_certificate_set_x509_key_file"),
	SYM(init, "gnutls_init"),
	SYM(deinit, "gnutls_deinit"),
	SYM(prio_init, "gnutls_priority_init2"),
	SYM(prio_deinit, "gnutls_priority_deinit"),
	SYM(prio_set, "gnutls_priority_set"),
	SYM(crl_file, "gnutls_certificate_set_x509_crl_file"),
	SYM(keylog, "gnutls_session_set_keylog_function"),
	SYM(alert_send, "gnutls_alert_send_appropriate"),
	SYM(cred_set, "gnutls_credentials_set"),
	SYM(transport, "gnutls_transport_set_int2"),
	SYM(hs_timeout, "gnutls_handshake_set_timeout"),
	SYM(handshake, "gnutls_handshake"),
	SYM(verify_cert, "gnutls_session_set_verify_cert2"),
	SYM(verify_status, "gnutls_session_get_verify_cert_status"),
	SYM(status_print, "gnutls_certificate_verification_status_print"),
	SYM(server_request, "gnutls_certificate_server_set_request"),
	SYM(send, "gnutls_record_send"),
	SYM(recv, "gnutls_record_recv"),
	SYM(recv_timeout, "gnutls_record_set_timeout"),
	SYM(bye, "gnutls_bye"),
	SYM(strerror, "gnutls_strerror"),
	SYM(alert, "gnutls_alert_get"),
	SYM(alert_name, "gnutls_alert_get_strname"),
	SYM(proto, "gnutls_protocol_get_version"),
	SYM(proto_name, "gnutls_protocol_get_name"),
	SYM(cipher, "gnutls_cipher_get"),
	SYM(cipher_name, "gnutls_cipher_get_name"),
	SYM(free, "gnutls_free"),
#undef SYM
};

struct tls_creds {
	gnutls_certificate_credentials_t side[2];   /* [0] the client's, [1] the server's; NULL: none */
	/*
	 * The system's default priorities, built once before the seal: set
	 * per session, the default would look at the system's policy file
	 * again, an open a sealed thread may not make.
	 */
	gnutls_priority_t prio;
};

struct tls_session {
	gnutls_session_t s;
	char desc[64];
	/* What the peer's certificate is checked for: the library keeps the pointer, not a copy. */
	gnutls_typed_vdata_st vdata[2];
};

static int load_ret;
static char load_why[200];
static void *lib_handle;

static void lib_open(void)
{
	load_ret = dlib_load_handle(TLS_SO, tls_syms, sizeof(tls_syms) / sizeof(tls_syms[0]), &g,
				    load_why, sizeof(load_why), &lib_handle);
}

void tls_lib_unload(void)
{
	dlib_unload(&lib_handle, &g, sizeof(g));
	load_ret = -ENOENT;
	snprintf(load_why, sizeof(load_why), "given up by this process");
}

int tls_lib_load(struct err *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, lib_open);
	if (load_ret)
		return err_set(err, false, load_ret, "cannot load GnuTLS (the migration's TLS; "
			       "Debian's libgnutls30): %s", load_why);
	return 0;
}

/* One file of the directory, checked readable first so the error names it plainly. */
static int file_in(char *out, size_t size, const char *dir, const char *name, bool *exists,
		   struct err *err)
{
	if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size)
		return err_set(err, true, -ENAMETOOLONG, "--migrate-tls '%s': too long a path",
			       dir);
	*exists = access(out, F_OK) == 0;
	if (*exists && access(out, R_OK))
		return err_set(err, true, -errno, "--migrate-tls: %s: %s", out, strerror(errno));
	return 0;
}

/* One side's credentials: the CA, then its certificate and key (both or neither present). */
static int side_load(const char *dir, const char *who, gnutls_certificate_credentials_t *out,
		     struct err *err)
{
	char ca[4096], cert[4096], key[4096], crl[4096], name[32];
	bool have_ca, have_cert, have_key, have_crl;
	int ret;

	*out = NULL;
	ret = file_in(ca, sizeof(ca), dir, "ca-cert.pem", &have_ca, err);
	snprintf(name, sizeof(name), "%s-cert.pem", who);
	if (!ret)
		ret = file_in(cert, sizeof(cert), dir, name, &have_cert, err);
	snprintf(name, sizeof(name), "%s-key.pem", who);
	if (!ret)
		ret = file_in(key, sizeof(key), dir, name, &have_key, err);
	if (ret)
		return ret;
	if (!have_cert && !have_key)
		return 0;
	if (!have_cert || !have_key)
		return err_set(err, true, -ENOENT, "--migrate-tls '%s': %s without %s: a side "
			       "needs both its certificate and its key", dir,
			       have_cert ? cert : key, have_cert ? key : cert);
	if (!have_ca)
		return err_set(err, true, -ENOENT, "--migrate-tls '%s': no ca-cert.pem, the CA "
			       "that signs both ends", dir);
	ret = g.cred_alloc(out);
	if (ret < 0)
		return err_set(err, false, -ENOMEM, "TLS credentials: %s", g.strerror(ret));
	ret = g.trust_file(*out, ca, GNUTLS_X509_FMT_PEM);
	if (ret <= 0) {
		err_set(err, true, -EINVAL, "--migrate-tls: %s: %s", ca,
			ret ? g.strerror(ret) : "holds no certificate");
		goto err_free;
	}
	/* QEMU's layout may hold revocations too: kept, never ignored. */
	ret = file_in(crl, sizeof(crl), dir, "ca-crl.pem", &have_crl, err);
	if (ret)
		goto err_free;
	ret = have_crl ? g.crl_file(*out, crl, GNUTLS_X509_FMT_PEM) : 0;
	if (ret < 0) {
		err_set(err, true, -EINVAL, "--migrate-tls: %s: %s", crl, g.strerror(ret));
		goto err_free;
	}
	ret = g.key_file(*out, cert, key, GNUTLS_X509_FMT_PEM);
	if (ret < 0) {
		err_set(err, true, -EINVAL, "--migrate-tls: %s with %s: %s", cert, key,
			g.strerror(ret));
		goto err_free;
	}
	return 0;
err_free:
	g.cred_free(*out);
	*out = NULL;
	return -EINVAL;
}

struct tls_creds *tls_creds_load(const char *dir, struct err *err)
{
	struct tls_creds *c = calloc(1, sizeof(*c));
	int ret;

	if (!c) {
		err_set(err, false, -ENOMEM, "out of memory");
		return NULL;
	}
	if (side_load(dir, "client", &c->side[0], err) ||
	    side_load(dir, "server", &c->side[1], err))
		goto err_free;
	if (!c->side[0] && !c->side[1]) {
		err_set(err, true, -ENOENT, "--migrate-tls '%s': neither client-cert.pem and "
			"client-key.pem (a source's) nor server-cert.pem and server-key.pem (a "
			"destination's)", dir);
		goto err_free;
	}
	ret = g.prio_init(&c->prio, NULL, NULL, 0);
	if (ret < 0) {
		c->prio = NULL;
		err_set(err, false, -EINVAL, "TLS priorities: %s", g.strerror(ret));
		goto err_free;
	}
	return c;
err_free:
	tls_creds_free(c);
	return NULL;
}

void tls_creds_free(struct tls_creds *c)
{
	if (!c)
		return;
	for (unsigned int i = 0; i < 2; i++)
		if (c->side[i])
			g.cred_free(c->side[i]);
	if (c->prio)
		g.prio_deinit(c->prio);
	free(c);
}

bool tls_creds_can(const struct tls_creds *c, bool server)
{
	return c && c->side[server];
}

/* The peer's alert, named (its code is the peer's to choose: one unknown here is a number). */
static int refused_by_peer(struct tls_session *t, bool server, struct err *err)
{
	gnutls_alert_description_t a = g.alert(t->s);
	const char *name = g.alert_name(a);

	if (name)
		return err_set(err, true, -EPROTO, "TLS: the %s refused the handshake (%s)",
			       server ? "source" : "destination", name);
	return err_set(err, true, -EPROTO, "TLS: the %s refused the handshake (alert %d)",
		       server ? "source" : "destination", (int)a);
}

/* Why a handshake failed, in words: the certificate's fault, the peer's alert, or the library's. */
static int why(struct tls_session *t, int ret, bool server, const char *hostname,
	       struct err *err)
{
	gnutls_datum_t out = { NULL, 0 };
	unsigned int status;

	if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_TIMEDOUT)
		return err_set(err, false, -ETIMEDOUT, "TLS handshake: the peer answered nothing "
			       "for %u s", TLS_HANDSHAKE_MS / 1000);
	if (ret == GNUTLS_E_PREMATURE_TERMINATION || ret == GNUTLS_E_PUSH_ERROR ||
	    ret == GNUTLS_E_PULL_ERROR)
		return err_set(err, false, -EPIPE, "TLS handshake: the peer closed the connection "
			       "(%s)", g.strerror(ret));
	status = ret == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR ? g.verify_status(t->s) : 0;
	if (status && !g.status_print(status, GNUTLS_CRT_X509, &out, 0)) {
		err_set(err, true, -EPROTO, "TLS: the %s's certificate is refused: %s",
			server ? "source" : "destination", (const char *)out.data);
		(*g.free)(out.data);
		if ((status & GNUTLS_CERT_UNEXPECTED_OWNER) && hostname) {
			char more[320];

			snprintf(more, sizeof(more), " (it does not name '%s'; tls_hostname "
				 "gives the name it holds)", hostname);
			err_append(err, 0, more);
		}
		return -EPROTO;
	}
	if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED)
		return refused_by_peer(t, server, err);
	if (ret == GNUTLS_E_NO_CERTIFICATE_FOUND || ret == GNUTLS_E_CERTIFICATE_REQUIRED)
		return err_set(err, true, -EPROTO, "TLS: the %s showed no certificate (none "
			       "that this end's ca-cert.pem signed)", server ? "source" : "destination");
	return err_set(err, true, -EPROTO, "TLS handshake: %s (is TLS on at both ends?)",
		       g.strerror(ret));
}

/*
 * The chain against the CA, always, and what the certificate is for (a
 * destination's serverAuth, a source's clientAuth); a destination's name
 * too, where one is known.
 */
static void verify(struct tls_session *t, bool server, const char *hostname)
{
	t->vdata[0] = (gnutls_typed_vdata_st){
		.type = GNUTLS_DT_KEY_PURPOSE_OID,
		.data = (unsigned char *)(server ? GNUTLS_KP_TLS_WWW_CLIENT : GNUTLS_KP_TLS_WWW_SERVER)
	};
	t->vdata[1] = (gnutls_typed_vdata_st){ .type = GNUTLS_DT_DNS_HOSTNAME,
					       .data = (unsigned char *)hostname };
	/* hostname is the caller's for the session's life (host_mig's copy of the request). */
	g.verify_cert(t->s, t->vdata, !server && hostname ? 2 : 1, 0);
}

/*
 * In TLS 1.3 a client's handshake ends before the server has looked at its
 * certificate: the destination's first byte says it took it, so a refused
 * source learns so now, in words, not from its first write failing.
 */
static int confirm(struct tls_session *t, bool server, struct err *err)
{
	struct timespec t0, now;
	char c = 'Y';
	ssize_t r;

	if (server) {
		r = tls_send(t, &c, 1);
		return r == 1 ? 0 : err_set(err, false, r < 0 ? (int)r : -EPIPE, "TLS: the "
					    "source left after its handshake");
	}
	/*
	 * The confirmation within the handshake's limit too: the API waits for
	 * it. A post-handshake message (another server's session ticket)
	 * comes back as AGAIN: read on, to the limit.
	 */
	g.recv_timeout(t->s, TLS_HANDSHAKE_MS);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		r = g.recv(t->s, &c, 1);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (r == GNUTLS_E_AGAIN && (now.tv_sec - t0.tv_sec) * 1000 +
		    (now.tv_nsec - t0.tv_nsec) / 1000000 >= TLS_HANDSHAKE_MS)
			r = GNUTLS_E_TIMEDOUT;
	} while (r == GNUTLS_E_INTERRUPTED || r == GNUTLS_E_AGAIN);
	g.recv_timeout(t->s, 0);
	if (r == 1 && c == 'Y')
		return 0;
	if (r == GNUTLS_E_FATAL_ALERT_RECEIVED)
		return refused_by_peer(t, false, err);
	if (r == GNUTLS_E_TIMEDOUT)
		return err_set(err, false, -ETIMEDOUT, "TLS: the destination did not confirm the "
			       "handshake within %u s", TLS_HANDSHAKE_MS / 1000);
	return err_set(err, true, -EPROTO, "TLS: the destination closed the connection after "
		       "the handshake (%s)", r < 0 ? g.strerror((int)r) : "no confirmation");
}

int tls_session_open(struct tls_creds *c, int fd, bool server, const char *hostname,
		     struct tls_session **out, struct err *err)
{
	struct tls_session *t;
	int ret;

	*out = NULL;
	if (!tls_creds_can(c, server))
		return err_set(err, true, -ENOENT, "TLS: --migrate-tls holds no %s", server ?
			       "server-cert.pem and server-key.pem (a destination's)" :
			       "client-cert.pem and client-key.pem (a source's)");
	t = calloc(1, sizeof(*t));
	if (!t)
		return err_set(err, false, -ENOMEM, "out of memory");
	/* NO_SIGNAL: a peer gone is an error here, never SIGPIPE; one stream, nothing to resume. */
	ret = g.init(&t->s, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_SIGNAL |
		     GNUTLS_NO_TICKETS);
	if (ret < 0) {
		free(t);
		return err_set(err, false, -ENOMEM, "TLS: %s", g.strerror(ret));
	}
	/* SSLKEYLOGFILE would have the library open a file mid-handshake: never here. */
	g.keylog(t->s, NULL);
	ret = g.prio_set(t->s, c->prio);
	if (!ret)
		ret = g.cred_set(t->s, GNUTLS_CRD_CERTIFICATE, c->side[server]);
	if (ret < 0) {
		ret = err_set(err, false, -EINVAL, "TLS: %s", g.strerror(ret));
		goto err_free;
	}
	g.transport(t->s, fd, fd);
	g.hs_timeout(t->s, TLS_HANDSHAKE_MS);
	if (server)
		g.server_request(t->s, GNUTLS_CERT_REQUIRE);
	verify(t, server, hostname);
	do
		ret = g.handshake(t->s);
	while (ret == GNUTLS_E_INTERRUPTED);
	if (ret < 0) {
		/* The peer hears why (a TLS 1.3 client would otherwise take it for a cut). */
		if (ret != GNUTLS_E_FATAL_ALERT_RECEIVED && ret != GNUTLS_E_PREMATURE_TERMINATION)
			g.alert_send(t->s, ret);
		ret = why(t, ret, server, hostname, err);
		goto err_free;
	}
	ret = confirm(t, server, err);
	if (ret)
		goto err_free;
	snprintf(t->desc, sizeof(t->desc), "%s %s", g.proto_name(g.proto(t->s)),
		 g.cipher_name(g.cipher(t->s)));
	*out = t;
	return 0;
err_free:
	g.deinit(t->s);
	free(t);
	return ret;
}

void tls_session_close(struct tls_session *t)
{
	if (!t)
		return;
	/* The socket's send deadline bounds it; a peer gone already just fails it. */
	g.bye(t->s, GNUTLS_SHUT_WR);
	g.deinit(t->s);
	free(t);
}

const char *tls_session_desc(const struct tls_session *t)
{
	return t->desc;
}

static ssize_t io_ret(ssize_t r)
{
	if (r >= 0)
		return r;
	if (r == GNUTLS_E_INTERRUPTED)
		return -EINTR;
	/* The socket's deadline, or a post-handshake message taken: the caller's clock decides. */
	if (r == GNUTLS_E_AGAIN)
		return -EAGAIN;
	if (r == GNUTLS_E_TIMEDOUT)
		return -ETIMEDOUT;
	/* The peer left without close_notify: an end, as a plain socket's. */
	if (r == GNUTLS_E_PREMATURE_TERMINATION)
		return 0;
	/* The peer's alert, or a record that does not decrypt. */
	if (r == GNUTLS_E_FATAL_ALERT_RECEIVED || r == GNUTLS_E_DECRYPTION_FAILED)
		return -EPROTO;
	return -EPIPE;
}

ssize_t tls_send(struct tls_session *t, const void *buf, size_t len)
{
	return io_ret(g.send(t->s, buf, len));
}

ssize_t tls_recv(struct tls_session *t, void *buf, size_t len)
{
	return io_ret(g.recv(t->s, buf, len));
}

/*
 * The migration stream's TLS (src/migrate/tls.c) without a VM: the
 * credentials directory's refusals, and over a socketpair two sessions
 * that check each other's certificates, then carry records through the
 * stream's own reads and writes (wire.c); a client whose certificate a
 * rogue CA signed, and a server without the name the client asks for,
 * are refused with the reason, each end hearing it; a certificate shown
 * for the wrong purpose and a revocation list that is none are refused;
 * the wire's table of sessions is bounded.
 * The certificates below were made once with openssl (valid until 2126):
 * a CA, its server pair (subjectAltName IP:127.0.0.1, DNS:dst.example)
 * and client pair, and a client pair a second, rogue CA signed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migrate/image.h"
#include "migrate/tls.h"
#include "migrate/wire.h"
#include "util/err.h"

static const char CA_CERT[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBizCCATGgAwIBAgIUHU7mnbZgLma+MU0mzWHFS9jbUB0wCgYIKoZIzj0EAwIw\n"
	"EjEQMA4GA1UEAwwHZ29vZCBDQTAgFw0yNjExMjcyMDA3MjFaGA8yMTI2MTEwMzIw\n"
	"MDcyMVowEjEQMA4GA1UEAwwHZ29vZCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEH\n"
	"A0IABPQDHUxAzTLYof8T5+ZHAcjY0GMHEzLt37pE3+hYijSeQQTQIvH5kttU2AFU\n"
	"YTHv6cXnwO4rEJJnPE+wCQVIcrKjYzBhMB0GA1UdDgQWBBRAgITpkZlZJn0vUzhj\n"
	"k5PAZpuXMDAfBgNVHSMEGDAWgBRAgITpkZlZJn0vUzhjk5PAZpuXMDAPBgNVHRMB\n"
	"Af8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAKBggqhkjOPQQDAgNIADBFAiEAsdWq\n"
	"km9YBcxTSBOB5Ql8XYyzkRHNNUyjDPCBeIcO67YCICxIlfpkUvudgKzSJJTj592o\n"
	"reB9w9hevv1xkloaSq5l\n"
	"-----END CERTIFICATE-----\n";

static const char SERVER_CERT[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBnTCCAUKgAwIBAgIUSBtCRCSP8nxwDrj1xojGiihH+yMwCgYIKoZIzj0EAwIw\n"
	"EjEQMA4GA1UEAwwHZ29vZCBDQTAgFw0yNjExMjcyMDA3MjFaGA8yMTI2MTEwMzIw\n"
	"MDcyMVowETEPMA0GA1UEAwwGc2VydmVyMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcD\n"
	"QgAEX9J3XlY9J0fqD8AZ/kq4Mmv7mGNO0NWsb5hT6gyU+6ieglHfnW1hAD6hVWus\n"
	"2NN+ZdvTIobkgbR+jY0H/QwXMaN1MHMwHAYDVR0RBBUwE4cEfwAAAYILZHN0LmV4\n"
	"YW1wbGUwEwYDVR0lBAwwCgYIKwYBBQUHAwEwHQYDVR0OBBYEFMDn8N8p7lamn0Vc\n"
	"22g+GEFyVcBoMB8GA1UdIwQYMBaAFECAhOmRmVkmfS9TOGOTk8Bmm5cwMAoGCCqG\n"
	"SM49BAMCA0kAMEYCIQCxjoIIQAniAHCkN63sab/Qgm+N5NNw/TWUGmI0VimncAIh\n"
	"ANZBsI3f1gtU5IGCRMi1qWsfGgX89+n3fuG3N5TOMiuw\n"
	"-----END CERTIFICATE-----\n";

static const char SERVER_KEY[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg39jaY8C1JCeKun2a\n"
	"pONxR7J6alRzTBDjSlWd1JbzRK2hRANCAARf0ndeVj0nR+oPwBn+Srgya/uYY07Q\n"
	"1axvmFPqDJT7qJ6CUd+dbWEAPqFVa6zY035l29MihuSBtH6NjQf9DBcx\n"
	"-----END PRIVATE KEY-----\n";

static const char CLIENT_CERT[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBnDCCAUKgAwIBAgIUSBtCRCSP8nxwDrj1xojGiihH+yQwCgYIKoZIzj0EAwIw\n"
	"EjEQMA4GA1UEAwwHZ29vZCBDQTAgFw0yNjExMjcyMDA3MjFaGA8yMTI2MTEwMzIw\n"
	"MDcyMVowETEPMA0GA1UEAwwGY2xpZW50MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcD\n"
	"QgAEqfyt7+SnY35id+vftT4hD8yL6/FL+kt503S+18R2BZlFimt+UjU7oSJuhv4D\n"
	"Bjen5lJBMqVjbyh3cL7RbL+RzKN1MHMwHAYDVR0RBBUwE4cEfwAAAYILZHN0LmV4\n"
	"YW1wbGUwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHQYDVR0OBBYEFHyQ92HVDpBBMJWm\n"
	"AmEtg2pNwLpeMB8GA1UdIwQYMBaAFECAhOmRmVkmfS9TOGOTk8Bmm5cwMAoGCCqG\n"
	"SM49BAMCA0gAMEUCIQD/AZclfSWSjMjNEnJ8T6HgOYapd+R4CywrQSHiQ86CKAIg\n"
	"OVLxPQrPxsK/0vUDDVnd1DfppZOchflxfRuWAziNwNY=\n"
	"-----END CERTIFICATE-----\n";

static const char CLIENT_KEY[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1F03UELPfwa+c91M\n"
	"lUxIZKWqyq9730rNLJtY7kIVo/mhRANCAASp/K3v5KdjfmJ369+1PiEPzIvr8Uv6\n"
	"S3nTdL7XxHYFmUWKa35SNTuhIm6G/gMGN6fmUkEypWNvKHdwvtFsv5HM\n"
	"-----END PRIVATE KEY-----\n";

static const char ROGUE_CERT[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBnzCCAUSgAwIBAgIUS0lN5ojfnPp3W5rzCXz8c1oSHbcwCgYIKoZIzj0EAwIw\n"
	"EzERMA8GA1UEAwwIcm9ndWUgQ0EwIBcNMjYxMTI3MjAwNzIxWhgPMjEyNjExMDMy\n"
	"MDA3MjFaMBIxEDAOBgNVBAMMB3JjbGllbnQwWTATBgcqhkjOPQIBBggqhkjOPQMB\n"
	"BwNCAARYPr0OrmgiLoDUkKudks4uGC80d5XRVjV/N7xtAJYMCzpBVX2cnYG9EBTW\n"
	"WSXuxDI8lGJxOLEJx25lXjMTUuRfo3UwczAcBgNVHREEFTAThwR/AAABggtkc3Qu\n"
	"ZXhhbXBsZTATBgNVHSUEDDAKBggrBgEFBQcDAjAdBgNVHQ4EFgQU8NsKkp2BoRhB\n"
	"dnKeGJU3ts6SaQUwHwYDVR0jBBgwFoAUrA5aFJWLCIvLDwqczUexBCck/9owCgYI\n"
	"KoZIzj0EAwIDSQAwRgIhAIWbfjXdavn/d062B4d4dZtok9zutu+dHzxTT7kLjk15\n"
	"AiEAm6TQdx7UL0ZA17Ggdhml6qVl2ayQkljC67Lf4Ep+aV8=\n"
	"-----END CERTIFICATE-----\n";

static const char ROGUE_KEY[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1fFixMpwU8fX9Vwb\n"
	"/29WZT5IKOfbz104hw6zUiygYjqhRANCAARYPr0OrmgiLoDUkKudks4uGC80d5XR\n"
	"VjV/N7xtAJYMCzpBVX2cnYG9EBTWWSXuxDI8lGJxOLEJx25lXjMTUuRf\n"
	"-----END PRIVATE KEY-----\n";

static char dir_good[64], dir_rogue[64], dir_ca[64], dir_swapped[64];

static void put(const char *dir, const char *name, const char *text)
{
	char p[128];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	fclose(f);
}

static void unlink_in(const char *dir, const char *name)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(unlink(p), 0);
}

static int setup(void **state)
{
	struct err err = ERR_INIT;

	if (tls_lib_load(&err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	strcpy(dir_good, "/tmp/hearth-tls-XXXXXX");
	strcpy(dir_rogue, "/tmp/hearth-tls-XXXXXX");
	strcpy(dir_ca, "/tmp/hearth-tls-XXXXXX");
	strcpy(dir_swapped, "/tmp/hearth-tls-XXXXXX");
	if (!mkdtemp(dir_good) || !mkdtemp(dir_rogue) || !mkdtemp(dir_ca) ||
	    !mkdtemp(dir_swapped))
		return -1;
	/* A destination that shows the source's certificate (its purpose clientAuth). */
	put(dir_swapped, "ca-cert.pem", CA_CERT);
	put(dir_swapped, "server-cert.pem", CLIENT_CERT);
	put(dir_swapped, "server-key.pem", CLIENT_KEY);
	put(dir_good, "ca-cert.pem", CA_CERT);
	put(dir_good, "server-cert.pem", SERVER_CERT);
	put(dir_good, "server-key.pem", SERVER_KEY);
	put(dir_good, "client-cert.pem", CLIENT_CERT);
	put(dir_good, "client-key.pem", CLIENT_KEY);
	/* It trusts the real CA (so it would take the server), but shows the rogue's pair. */
	put(dir_rogue, "ca-cert.pem", CA_CERT);
	put(dir_rogue, "client-cert.pem", ROGUE_CERT);
	put(dir_rogue, "client-key.pem", ROGUE_KEY);
	put(dir_ca, "ca-cert.pem", CA_CERT);
	return 0;
}

static int teardown(void **state)
{
	char cmd[320];

	snprintf(cmd, sizeof(cmd), "rm -rf %s %s %s %s", dir_good, dir_rogue, dir_ca, dir_swapped);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_creds(void **state)
{
	struct err err = ERR_INIT;
	struct tls_creds *c = tls_creds_load(dir_good, &err);

	assert_non_null(c);
	assert_true(tls_creds_can(c, true) && tls_creds_can(c, false));
	tls_creds_free(c);
	c = tls_creds_load(dir_rogue, &err);
	assert_non_null(c);
	assert_true(!tls_creds_can(c, true) && tls_creds_can(c, false));
	tls_creds_free(c);
	/* A CA alone: neither side could show anything. */
	assert_null(tls_creds_load(dir_ca, &err));
	assert_true(err.usage);
	assert_non_null(strstr(err.msg, "neither client-cert.pem"));
	/* A key that is not its certificate's: named with both files. */
	put(dir_ca, "server-cert.pem", SERVER_CERT);
	put(dir_ca, "server-key.pem", CLIENT_KEY);
	assert_null(tls_creds_load(dir_ca, &err));
	assert_non_null(strstr(err.msg, "server-key.pem"));
	put(dir_ca, "server-key.pem", SERVER_KEY);
	c = tls_creds_load(dir_ca, &err);
	assert_non_null(c);
	assert_true(tls_creds_can(c, true) && !tls_creds_can(c, false));
	tls_creds_free(c);
	/* A revocation list is read, never skipped: one that is none is refused by name. */
	put(dir_ca, "ca-crl.pem", "-----BEGIN X509 CRL-----\nbm90IGEgY3Js\n-----END X509 CRL-----\n");
	assert_null(tls_creds_load(dir_ca, &err));
	assert_non_null(strstr(err.msg, "ca-crl.pem"));
	unlink_in(dir_ca, "ca-crl.pem");
}

struct side {
	struct tls_creds *c;
	int fd;
	bool server;
	const char *host;
	struct tls_session *s;
	int ret;
	struct err err;
};

static void *open_side(void *arg)
{
	struct side *s = arg;

	s->err = (struct err)ERR_INIT;
	s->ret = tls_session_open(s->c, s->fd, s->server, s->host, &s->s, &s->err);
	return NULL;
}

/* Both ends' handshakes at once, the server's on a thread. */
static void shake(struct side *srv, struct side *cli)
{
	int sv[2];
	pthread_t t;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	mig_wire_timeouts(sv[0]);
	mig_wire_timeouts(sv[1]);
	srv->fd = sv[0];
	srv->server = true;
	cli->fd = sv[1];
	cli->server = false;
	assert_int_equal(pthread_create(&t, NULL, open_side, srv), 0);
	open_side(cli);
	/* A refused client may finish first: its end closed, the server's handshake ends too. */
	if (cli->ret)
		shutdown(cli->fd, SHUT_RDWR);
	pthread_join(t, NULL);
}

static void done(struct side *s)
{
	if (s->s) {
		mig_wire_tls_set(s->fd, NULL);
		tls_session_close(s->s);
	}
	close(s->fd);
}

static void test_round_trip(void **state)
{
	struct err err = ERR_INIT;
	struct tls_creds *c = tls_creds_load(dir_good, &err);
	struct side srv = { .c = c }, cli = { .c = c, .host = "127.0.0.1" };
	static uint8_t pages[2][MIG_PAGE];
	uint8_t gpa[8] = { 0, 0x10 }, *buf = NULL;
	struct iovec iov[3] = { { gpa, 8 }, { pages[0], MIG_PAGE }, { pages[1], MIG_PAGE } };
	struct mig_rec r;
	size_t cap = 0;

	assert_non_null(c);
	shake(&srv, &cli);
	assert_int_equal(srv.ret, 0);
	assert_int_equal(cli.ret, 0);
	assert_non_null(strstr(tls_session_desc(cli.s), "TLS1"));
	assert_int_equal(mig_wire_tls_set(srv.fd, srv.s), 0);
	assert_int_equal(mig_wire_tls_set(cli.fd, cli.s), 0);
	memset(pages[0], 0xa5, MIG_PAGE);
	memset(pages[1], 0x5a, MIG_PAGE);
	/* A record through the session: header and pages, the bytes as sent. */
	assert_int_equal(mig_wire_send(cli.fd, MIG_PAGES, iov, 3, 8 + 2 * MIG_PAGE), 0);
	assert_int_equal(mig_wire_recv(srv.fd, &r, &buf, &cap, &err), 0);
	assert_int_equal(r.type, MIG_PAGES);
	assert_int_equal(r.len, 8 + 2 * MIG_PAGE);
	assert_memory_equal(buf, gpa, 8);
	assert_memory_equal(buf + 8, pages[0], MIG_PAGE);
	assert_memory_equal(buf + 8 + MIG_PAGE, pages[1], MIG_PAGE);
	/* The other way, and nothing on the socket is the plain text. */
	assert_int_equal(mig_wire_send_buf(srv.fd, MIG_READY, NULL, 0), 0);
	assert_int_equal(mig_wire_recv(cli.fd, &r, &buf, &cap, &err), 0);
	assert_int_equal(r.type, MIG_READY);
	/* The peer's end: a read says so, as on a plain socket. */
	done(&srv);
	assert_int_equal(mig_wire_recv(cli.fd, &r, &buf, &cap, &err), -EPIPE);
	done(&cli);
	free(buf);
	tls_creds_free(c);
}

static void test_rogue_client(void **state)
{
	struct err err = ERR_INIT;
	struct tls_creds *good = tls_creds_load(dir_good, &err);
	struct tls_creds *rogue = tls_creds_load(dir_rogue, &err);
	struct side srv = { .c = good }, cli = { .c = rogue, .host = "127.0.0.1" };

	assert_non_null(good);
	assert_non_null(rogue);
	shake(&srv, &cli);
	assert_int_equal(srv.ret, -EPROTO);
	/*
	 * GnuTLS shows only a certificate the server's CA list names, so the
	 * rogue's stays home (an OpenSSL client shows it anyway, and is
	 * refused for its issuer: tests/integration/run_migrate_tls_test.py).
	 */
	assert_non_null(strstr(srv.err.msg, "the source showed no certificate"));
	assert_null(srv.s);
	/* The source hears it in words (the confirmation), not from its first write failing. */
	assert_int_equal(cli.ret, -EPROTO);
	assert_non_null(strstr(cli.err.msg, "the destination refused the handshake"));
	assert_null(cli.s);
	done(&srv);
	done(&cli);
	tls_creds_free(good);
	tls_creds_free(rogue);
}

static void test_wrong_name(void **state)
{
	struct err err = ERR_INIT;
	struct tls_creds *c = tls_creds_load(dir_good, &err);
	struct side srv = { .c = c }, cli = { .c = c, .host = "other.example" };

	assert_non_null(c);
	shake(&srv, &cli);
	assert_int_equal(cli.ret, -EPROTO);
	assert_true(cli.err.usage);
	assert_non_null(strstr(cli.err.msg, "does not name 'other.example'"));
	assert_int_not_equal(srv.ret, 0);
	done(&srv);
	done(&cli);
	/* The name the certificate holds is taken. */
	srv = (struct side){ .c = c };
	cli = (struct side){ .c = c, .host = "dst.example" };
	shake(&srv, &cli);
	assert_int_equal(srv.ret, 0);
	assert_int_equal(cli.ret, 0);
	done(&srv);
	done(&cli);
	tls_creds_free(c);
}

/* A source's certificate (clientAuth) shown by a destination is refused for its purpose. */
static void test_purpose(void **state)
{
	struct err err = ERR_INIT;
	struct tls_creds *good = tls_creds_load(dir_good, &err);
	struct tls_creds *swapped = tls_creds_load(dir_swapped, &err);
	struct side srv = { .c = swapped }, cli = { .c = good, .host = "127.0.0.1" };

	assert_non_null(good);
	assert_non_null(swapped);
	shake(&srv, &cli);
	assert_int_equal(cli.ret, -EPROTO);
	assert_non_null(strstr(cli.err.msg, "the destination's certificate is refused"));
	assert_non_null(strstr(cli.err.msg, "purpose"));
	assert_int_not_equal(srv.ret, 0);
	done(&srv);
	done(&cli);
	tls_creds_free(good);
	tls_creds_free(swapped);
}

/* A side with no pair to show is refused before any byte goes out. */
static void test_no_pair(void **state)
{
	struct err err = ERR_INIT;
	struct tls_creds *rogue = tls_creds_load(dir_rogue, &err);
	struct tls_session *s = NULL;

	assert_non_null(rogue);
	assert_int_equal(tls_session_open(rogue, -1, true, NULL, &s, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "server-cert.pem"));
	assert_null(s);
	tls_creds_free(rogue);
}

static void test_wire_table(void **state)
{
	struct tls_session *fake[MIG_WIRE_TLS_MAX + 1];

	for (int i = 0; i <= MIG_WIRE_TLS_MAX; i++)
		fake[i] = (struct tls_session *)(uintptr_t)(0x1000 * (i + 1));
	for (int i = 0; i < MIG_WIRE_TLS_MAX; i++)
		assert_int_equal(mig_wire_tls_set(100 + i, fake[i]), 0);
	assert_int_equal(mig_wire_tls_set(200, fake[MIG_WIRE_TLS_MAX]), -ENOSPC);
	assert_ptr_equal(mig_wire_tls_get(101), fake[1]);
	assert_null(mig_wire_tls_get(200));
	/* Set again: replaced, not added twice. */
	assert_int_equal(mig_wire_tls_set(101, fake[MIG_WIRE_TLS_MAX]), 0);
	assert_ptr_equal(mig_wire_tls_get(101), fake[MIG_WIRE_TLS_MAX]);
	for (int i = 0; i < MIG_WIRE_TLS_MAX; i++)
		assert_int_equal(mig_wire_tls_set(100 + i, NULL), 0);
	assert_null(mig_wire_tls_get(101));
	assert_null(mig_wire_tls_get(100));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_creds),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_rogue_client),
		cmocka_unit_test(test_wrong_name),
		cmocka_unit_test(test_purpose),
		cmocka_unit_test(test_no_pair),
		cmocka_unit_test(test_wire_table),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

#!/usr/bin/env python3
"""Live migration over TLS with mutual certificates (docs/migration.md,
Transport security): `--migrate-tls DIR` on both ends, "tls": true in both
requests, over tcp:127.0.0.1. The certificates are made here with openssl: a
CA that signs a server pair (its subjectAltName 127.0.0.1 and dst.example)
and a client pair, and a second, rogue CA with pairs of its own. Sandbox and
seccomp on at both ends.

    run_migrate_tls_test.py --hearth build/hearth --case move|refused|flags|jailed [--asan B]

  move     the destination waits through what is not its source: a client whose
           certificate the rogue CA signed, a plain stream, and a source that
           asks for a name the destination's certificate does not hold (refused
           at the source, 400 naming the mismatch; it counts on); then the real
           source moves the VM: both ends say which TLS they agreed, and the
           count goes on, none lost and none repeated.
  refused  a source whose pair the rogue CA signed is 400, naming the destination's
           refusal, and runs on; a plain source to a TLS destination fails (the source runs on,
           naming the closed connection), a TLS source to a plain destination is
           refused naming the handshake, and a TLS request to an instance
           started without --migrate-tls is 400 naming the flag; a TLS server
           that takes the source and then says nothing is 400 ("did not
           confirm") within the handshake's limit, not the stream's. All with
           SSLKEYLOGFILE set, which the library must not act on after the seal.
  flags    --migrate-tls DIR refused at start, exit 2 naming the fault: no such
           directory, a CA alone, a certificate without its key, a key that is
           not its certificate's, a CA file that holds none, and a ca-crl.pem
           that is no revocation list; --migrate-tls on `hearth run` without
           --api-sock, on `hearth serve` with --no-api; `hearth migrate --tls-hostname`
           without --tls.
  jailed   both ends under --jail (uid 1000), each with its certificates inside
           its jail (/tls), over TCP, by post-copy (the destination's second thread
           reads the session while the first writes its page requests): the VM
           moves, counting on.

Needs a /dev/kvm that runs freestanding guests (move, refused, jailed), and
openssl; skips elsewhere.
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, need_kvm, run_cases, sanitizer_env as env  # noqa: E402
from run_fork_test import ticks, wait_for  # noqa: E402
from run_migrate_test import (Source, Dest, wait_state, counts_on, one_count, seam,  # noqa: E402
                              free_port, jailed, TICK)


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_ca(d, name):
    os.makedirs(d, exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", os.path.join(d, "ca-key.pem"), "-out", os.path.join(d, "ca-cert.pem"),
            "-days", "2", "-subj", "/CN=%s" % name,
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def make_pair(ca, d, who, usage):
    """d/WHO-cert.pem and d/WHO-key.pem, signed by the CA in directory ca."""
    os.makedirs(d, exist_ok=True)
    key, csr = os.path.join(d, who + "-key.pem"), os.path.join(d, who + ".csr")
    ext = os.path.join(d, who + ".ext")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=%s" % who)
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:dst.example\nextendedKeyUsage=%s\n" % usage)
    openssl("x509", "-req", "-in", csr, "-CA", os.path.join(ca, "ca-cert.pem"),
            "-CAkey", os.path.join(ca, "ca-key.pem"), "-CAcreateserial",
            "-out", os.path.join(d, who + "-cert.pem"), "-days", "2", "-extfile", ext)
    os.unlink(csr)
    os.unlink(ext)


def certs(d, name="hearth-test CA"):
    """A --migrate-tls directory: a CA, its server and client pairs (its key kept aside)."""
    make_ca(d + ".ca", name)
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(d + ".ca", "ca-cert.pem"), os.path.join(d, "ca-cert.pem"))
    make_pair(d + ".ca", d, "server", "serverAuth")
    make_pair(d + ".ca", d, "client", "clientAuth")


def need_openssl():
    check(shutil.which("openssl"), "no openssl to make the certificates (scripts/deps.sh build "
          "installs it)")


def rogue_client(port, rogue):
    """A TLS client with the rogue CA's client pair: the destination must refuse it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(os.path.join(rogue, "client-cert.pem"),
                        os.path.join(rogue, "client-key.pem"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw) as t:
                # TLS 1.3: the server's refusal of the certificate comes after the handshake.
                t.sendall(b"HEARTHMG")
                return t.recv(16)
        except (ssl.SSLError, OSError):
            return b""  # refused or cut: nothing came


def plain_client(port):
    """A stream with no TLS at all: a migration header, as a plain source sends."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(b"HEARTHMG\x01\x00\x00\x00\x00\x00\x00\x00")
        try:
            return c.recv(16)
        except OSError:
            return b""  # reset: nothing came


def silent_server(good, port, ready, stop):
    """A TLS server with the destination's own pair that takes the source, then says
    nothing: the source must not wait on it for more than its handshake's limit."""
    import threading
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(good, "server-cert.pem"),
                        os.path.join(good, "server-key.pem"))
    ctx.load_verify_locations(os.path.join(good, "ca-cert.pem"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1)

    def serve():
        ready.set()
        c, _ = ls.accept()
        try:
            t = ctx.wrap_socket(c, server_side=True)
            stop.wait(30)
            t.close()
        except (ssl.SSLError, OSError):
            c.close()
        ls.close()
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    return th


def refusals(d, n):
    return d.log().count("refused: ") >= n


def case_move(binary, tmp):
    need_kvm()
    need_openssl()
    good, rogue = os.path.join(tmp, "tls"), os.path.join(tmp, "rogue")
    certs(good)
    certs(rogue, "rogue CA")
    s = Source(binary, tmp, ["--migrate-net", "--migrate-tls", good])
    d = Dest(binary, tmp, extra=["--migrate-tls", good])
    try:
        port = free_port()
        uri = "tcp:127.0.0.1:%d" % port
        status, text = d.incoming(uri, s.disk, tls=True)
        check(status == 204, "PUT /migrate/incoming with tls: %d %r" % (status, text))
        got = rogue_client(port, rogue)
        check(not got, "a client the rogue CA signed gets nothing: %r" % (got,))
        wait_for("the destination's refusal", lambda: refusals(d, 1))
        check("certificate" in d.log().lower(),
              "the destination names the certificate: %r" % d.log()[-400:])
        got = plain_client(port)
        check(not got or got[:1] == b"\x15",
              "a plain stream gets nothing but a TLS alert: %r" % (got,))
        wait_for("the destination's second refusal", lambda: refusals(d, 2))
        check(d.state()["state"] == "waiting" and d.p.poll() is None,
              "the destination still waits: %r" % d.state())
        status, text = s.migrate(uri, tls=True, tls_hostname="other.example")
        check(status == 400 and "certificate" in text and "tls_hostname" in text,
              "a destination without the name asked for is refused: %d %r" % (status, text))
        wait_for("the destination's third refusal", lambda: refusals(d, 3))
        counts_on(s.out, "the source to count on after the refusal")
        status, text = s.migrate(uri, tls=True, tls_hostname="dst.example")
        check(status == 204, "PUT /migrate with tls (the certificate's name): %d %r" % (
            status, text))
        got = wait_state(s, ("completed", "failed", "unconfirmed"), "the source to finish")
        dst = wait_state(d, ("completed", "failed"), "the destination to finish")
        check(got["state"] == "completed" and dst["state"] == "completed" and
              got["bytes"] == dst["bytes"],
              "both ends say completed: %r %r" % (got, dst))
        check(str(got["tls"]).startswith("TLS") and got["tls"] == dst["tls"],
              "both ends name the TLS they agreed: %r %r" % (got["tls"], dst["tls"]))
        counts_on(d.out, "the destination to count on")
        check(one_count(s.out, d.out),
              "one count across both, none lost, none repeated: " + seam(s.out, d.out))
    finally:
        s.stop()
        d.stop()


def case_refused(binary, tmp):
    need_kvm()
    need_openssl()
    good, rogue = os.path.join(tmp, "tls"), os.path.join(tmp, "rogue")
    certs(good)
    certs(rogue, "rogue CA")
    # A source that trusts the real CA but holds the rogue's pair.
    shutil.copy(os.path.join(good, "ca-cert.pem"), rogue)
    # A key log the library would open mid-handshake, after the seal: never opened.
    keylog = os.path.join(tmp, "keys.log")
    os.environ["SSLKEYLOGFILE"] = keylog
    s = Source(binary, tmp, ["--migrate-net", "--migrate-tls", good])
    d = Dest(binary, tmp, extra=["--migrate-tls", good])
    plain = Dest(binary, tmp, "plain")
    os.mkdir(os.path.join(tmp, "r"))
    bad = Source(binary, os.path.join(tmp, "r"), ["--migrate-net", "--migrate-tls", rogue])
    try:
        uri = "tcp:127.0.0.1:%d" % free_port()
        status, text = d.incoming(uri, s.disk, tls=True)
        check(status == 204, "PUT /migrate/incoming with tls: %d %r" % (status, text))
        status, text = bad.migrate(uri, tls=True)
        check(status == 400 and "destination refused the handshake" in text,
              "a source the destination refuses is 400, naming the refusal: %d %r" % (
                  status, text))
        counts_on(bad.out, "the refused source to count on")
        check("showed no certificate" in d.log() or "certificate" in d.log(),
              "the destination names why: %r" % d.log()[-300:])
        status, text = s.migrate(uri)
        check(status == 204, "a plain PUT /migrate connects: %d %r" % (status, text))
        got = wait_state(s, ("completed", "failed", "unconfirmed"), "the plain source to end")
        check(got["state"] == "failed" and ("closed" in got.get("error", "") or
                                            "Broken pipe" in got.get("error", "")),
              "a plain source to a TLS destination fails, naming the closed connection: %r"
              % got)
        counts_on(s.out, "the source to count on after it")
        check(d.state()["state"] == "waiting", "the TLS destination still waits: %r" %
              d.state())
        puri = "tcp:127.0.0.1:%d" % free_port()
        status, text = plain.incoming(puri, s.disk, tls=True)
        check(status == 400 and "--migrate-tls" in text,
              "tls on an instance without --migrate-tls is 400 naming it: %d %r" % (
                  status, text))
        status, text = plain.incoming(puri, s.disk)
        check(status == 204, "the plain destination listens: %d %r" % (status, text))
        status, text = s.migrate(puri, tls=True)
        check(status == 400 and "TLS" in text,
              "a TLS source to a plain destination is refused, naming TLS: %d %r" % (
                  status, text))
        counts_on(s.out, "the source to count on after that")
        status, text = s.migrate(uri, tls_hostname="dst.example")
        check(status == 400 and "tls_hostname" in text,
              "tls_hostname without tls is 400: %d %r" % (status, text))
        import threading
        ready, stop = threading.Event(), threading.Event()
        sport = free_port()
        th = silent_server(good, sport, ready, stop)
        ready.wait(10)
        status, text = s.migrate("tcp:127.0.0.1:%d" % sport, tls=True)
        stop.set()
        th.join(10)
        # The handshake's limit (5 s), not the stream's 30 s deadline, which says otherwise.
        check(status == 400 and "did not confirm the handshake within 5 s" in text,
              "a destination that never confirms is given up on, naming it: %d %r" % (
                  status, text))
        counts_on(s.out, "the source to count on after the silent one")
        check(s.p.poll() is None and d.p.poll() is None and not os.path.exists(keylog),
              "SSLKEYLOGFILE: no key log opened, nobody died of it")
    finally:
        del os.environ["SSLKEYLOGFILE"]
        s.stop()
        d.stop()
        plain.stop()
        bad.stop()


def start_fails(binary, args, want, what):
    r = subprocess.run([binary] + args, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=60, env=env())
    err = r.stderr.decode("utf-8", "replace")
    check(r.returncode == 2 and want in err,
          "%s: exit 2 naming it (got %d %r)" % (what, r.returncode, err[-300:]))


def case_flags(binary, tmp):
    need_openssl()
    good, other = os.path.join(tmp, "tls"), os.path.join(tmp, "other")
    certs(good)
    certs(other, "other CA")
    sock = os.path.join(tmp, "api.sock")
    serve = lambda d: ["serve", "--api-sock", sock, "--migrate-tls", d]  # noqa: E731
    start_fails(binary, serve(os.path.join(tmp, "nope")), "neither client-cert.pem",
                "a directory that does not exist")
    only_ca = os.path.join(tmp, "only-ca")
    os.mkdir(only_ca)
    shutil.copy(os.path.join(good, "ca-cert.pem"), only_ca)
    start_fails(binary, serve(only_ca), "neither client-cert.pem", "a CA alone")
    half = os.path.join(tmp, "half")
    os.mkdir(half)
    for f in ("ca-cert.pem", "server-cert.pem"):
        shutil.copy(os.path.join(good, f), half)
    start_fails(binary, serve(half), "server-key.pem", "a certificate without its key")
    mixed = os.path.join(tmp, "mixed")
    os.mkdir(mixed)
    for f in ("ca-cert.pem", "server-cert.pem"):
        shutil.copy(os.path.join(good, f), mixed)
    shutil.copy(os.path.join(other, "server-key.pem"), mixed)
    start_fails(binary, serve(mixed), "server-key.pem", "a key that is not its certificate's")
    empty_ca = os.path.join(tmp, "empty-ca")
    os.mkdir(empty_ca)
    for f in ("server-cert.pem", "server-key.pem"):
        shutil.copy(os.path.join(good, f), empty_ca)
    with open(os.path.join(empty_ca, "ca-cert.pem"), "w") as f:
        f.write("not a certificate\n")
    start_fails(binary, serve(empty_ca), "ca-cert.pem", "a CA file that holds none")
    bad_crl = os.path.join(tmp, "bad-crl")
    shutil.copytree(good, bad_crl)
    with open(os.path.join(bad_crl, "ca-crl.pem"), "w") as f:
        f.write("-----BEGIN X509 CRL-----\nnot a crl\n-----END X509 CRL-----\n")
    start_fails(binary, serve(bad_crl), "ca-crl.pem", "a revocation list that is none")
    start_fails(binary, ["run", "--kernel", TICK, "--migrate-tls", good], "--api-sock",
                "--migrate-tls on run without --api-sock")
    start_fails(binary, ["serve", "--no-api", "--config-file", os.path.join(tmp, "vm.json"),
                         "--migrate-tls", good], "not --no-api",
                "--migrate-tls on serve with --no-api")
    start_fails(binary, ["migrate", "--api-sock", sock, "--to", "tcp:127.0.0.1:1",
                         "--tls-hostname", "x"], "without --tls",
                "hearth migrate --tls-hostname without --tls")
    check(not os.path.exists(sock), "no refused start left its socket behind")


def case_jailed(binary, tmp):
    need_openssl()
    shared = os.path.join(tmp, "tls")
    certs(shared)
    # One CA for both ends: each jail gets a copy of the same files.
    jailed(binary, tmp, True, tcp=True,
           certs=lambda d: [shutil.copy(os.path.join(shared, f), d) for f in os.listdir(shared)])


def key_forms(pem):
    """The ways a private key may sit in a process's memory: its PEM lines, and its secret
    scalar as openssl prints it, big-endian (DER, GnuTLS's copies) and reversed (the
    little-endian limbs of nettle's and GMP's numbers)."""
    forms = [line.encode() for line in open(pem).read().splitlines()
             if line and not line.startswith("-----") and len(line) >= 40]
    out = subprocess.run(["openssl", "pkey", "-in", pem, "-noout", "-text"],
                         capture_output=True, text=True, check=True).stdout
    hexed, on = "", False
    for line in out.splitlines():
        if line.startswith("priv:"):
            on = True
            continue
        if on and line.startswith(" "):
            hexed += line.strip().replace(":", "")
        elif on:
            break
    scalar = bytes.fromhex(hexed).lstrip(b"\0")
    check(len(scalar) >= 24, "%s: no private scalar in openssl's text" % pem)
    return forms + [scalar, scalar[::-1]]


def memory_holds(pid, needles):
    """Which of needles pid's memory holds (its readable mappings, as root reads them)."""
    found = set()
    with open("/proc/%d/smaps" % pid) as f:
        regions, cur = [], None
        for line in f:
            p = line.split()
            if "-" in p[0] and not p[0].endswith(":"):
                a, b = (int(x, 16) for x in p[0].split("-"))
                cur = [a, b, p[1], 0]
                regions.append(cur)
            elif p[0] == "Rss:" and cur:
                cur[3] = int(p[1])
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for a, b, perms, rss in regions:
            if "r" not in perms or rss == 0 or b - a > (256 << 20):
                continue
            try:
                data = os.pread(mem.fileno(), b - a, a)
            except OSError:
                continue
            found.update(n for n in needles if n in data)
    return found


def case_zygote_keys(binary, tmp):
    """The zygote, and so every clone, never holds the host's migration keys nor maps GnuTLS
    (issue 62, F3): a template with --fork-dir and --migrate-tls forks its zygote before it
    reads the credentials, and the zygote gives the library up. The control: the template's
    own memory holds each key in one of the forms looked for."""
    need_openssl()
    tls, fork_dir = os.path.join(tmp, "tls"), os.path.join(tmp, "fd")
    certs(tls)
    os.mkdir(fork_dir)
    sock = os.path.join(tmp, "t.sock")
    p = subprocess.Popen([binary, "serve", "--api-sock", sock, "--fork-dir", fork_dir,
                          "--migrate-tls", tls], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env())
    try:
        wait_for("the API socket", lambda: os.path.exists(sock) or p.poll() is not None)
        if p.poll() is not None:
            check(False, "hearth serve exited: %r" % p.stderr.read())
        with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
            zyg = [int(x) for x in f.read().split()]
        check(len(zyg) == 1, "the template's one child, its zygote: %r" % zyg)
        for who in ("server", "client"):
            forms = key_forms(os.path.join(tls, who + "-key.pem"))
            check(memory_holds(p.pid, forms), "control: the template holds its %s key in "
                  "none of the forms looked for" % who)
            held = memory_holds(zyg[0], forms)
            check(not held, "the zygote holds the %s key (%d of its forms)" % (who, len(held)))
        with open("/proc/%d/maps" % zyg[0]) as f:
            libs = {line.split()[-1] for line in f if "libgnutls" in line}
        check(not libs, "the zygote maps %s" % sorted(libs))
    finally:
        p.kill()
        p.wait()


CASES = {"move": case_move, "refused": case_refused, "flags": case_flags,
         "jailed": case_jailed, "zygote-keys": case_zygote_keys}

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-migrate-tls-"))

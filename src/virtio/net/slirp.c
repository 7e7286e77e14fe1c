/*
 * libslirp wants a poll() set rebuilt every round, with its own timers. It
 * runs as a poller of the I/O thread's loop (eventloop_add_poller), so
 * slirp, the device and its queues share one thread and no frame crosses a
 * thread. Frames go between them through two in-process FIFOs (the
 * backend's send and recv ops), not a socket: a socketpair cost two system
 * calls a frame, which made user-mode networking slower than QEMU's. The
 * device's one fd is an eventfd, readable while frames wait for it,
 * written when the FIFO to the guest stops being empty and read when it
 * empties. Guest frames meet a policy before slirp does (slirp_guard.c):
 * the host's loopback stays shut unless asked for, and the host sockets
 * guest traffic opens are capped.
 */
#include "virtio/net/slirp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "slirp/slirp_lib.h"

#include "util/frameq.h"
#include "util/log.h"
#include "slirp/slirp_glue.h"
#include "virtio/net/slirp_guard.h"

#define SLIRP_NET "10.0.2.0"
#define SLIRP_MASK "255.255.255.0"
#define SLIRP_HOST "10.0.2.2"
#define SLIRP_GUEST "10.0.2.15"
#define SLIRP_DNS "10.0.2.3"
/*
 * The MTU slirp and the guest share (offered as VIRTIO_NET_F_MTU), as
 * slirp4netns and passt default to: the wire between them is this
 * process, so a larger one costs nothing, and every frame saved is an
 * interrupt, a descriptor and a pass through two TCP/IP stacks. Frames
 * leaving slirp become the host's own sockets' traffic, which the host
 * segments for its real links. libslirp's largest (IF_MTU_MAX) is 65521.
 */
#define SLIRP_MTU NET_SLIRP_MTU_MAX
/* Frames waiting either way: what the socketpair's buffers held before. */
#define SLIRP_QUEUE_BYTES (1u << 20)
/* A FIFO that held this much has its pages given back once both are empty. */
#define SLIRP_BURST_BYTES (256u << 10)
#define SLIRP_INPUT_BUDGET 64

struct net_slirp {
	struct slirp_glue glue; /* first: slirp's opaque is ns (slirp_glue.h) */
	struct net_be be;       /* be.fds[0]: the eventfd */
	struct net_config cfg;  /* for a fresh instance (restore) and its hostfwds */
	struct eventloop *loop; /* set while we are its poller */
	struct net_slirp_guard guard;
	struct frameq to_guest, from_guest;
	bool signalled;         /* the eventfd counts: to_guest was not empty */
	bool burst;             /* a FIFO held SLIRP_BURST_BYTES since the last trim */
	uint8_t frame[65536];
};

static struct ratelimit slirp_rl = RATELIMIT_INIT(10);

/*
 * Out-of-order TCP the guest may make slirp hold (tcp_gate.h): 32
 * segments a connection, 1024 or 4 MiB of payload in all. Each held
 * segment is one slirp mbuf, its payload and a header: the bytes bound
 * holds whatever the MTU.
 */
static const struct slirp_glue_budget net_slirp_budget = {
	.conns = 2 * NET_SLIRP_MAX_SOCKETS,
	.per_conn = 32,
	.segs = 1024,
	.bytes = 4u << 20,
};

static struct net_slirp *net_slirp_of(struct net_be *be)
{
	return (struct net_slirp *)((char *)be - offsetof(struct net_slirp, be));
}

/* Slirp callbacks: all run on the I/O thread, or before it starts. */

static ssize_t net_slirp_send_packet(const void *buf, size_t len, void *opaque)
{
	struct net_slirp *ns = opaque;
	uint64_t one = 1;
	int ret;

	net_slirp_guard_output(&ns->guard, (uint8_t *)buf, len);
	slirp_glue_sent(&ns->glue, buf, len);
	/* Device queue full: drop, as slirp allows; TCP retransmits at its own pace. */
	ret = frameq_push(&ns->to_guest, buf, len);
	ns->burst |= ns->to_guest.held >= SLIRP_BURST_BYTES;
	if (ret == -ENOMEM)
		log_ratelimited(&slirp_rl, LOG_WARN, "net-user: frame to the device lost: %s",
				strerror(-ret));
	if (!ret && !ns->signalled) {
		/* Fails only on a counter overflow, which one write a batch cannot reach. */
		if (write(ns->be.fds[0], &one, sizeof(one)) == sizeof(one))
			ns->signalled = true;
		/* The device's fd is in the loop's epoll set: have it looked at now. */
		if (ns->loop)
			eventloop_poke(ns->loop);
	}
	return (ssize_t)len;
}

static void net_slirp_guest_error(const char *msg, void *opaque)
{
	(void)opaque;
	log_ratelimited(&slirp_rl, LOG_WARN, "net-user: guest error: %s", msg);
}

static void net_slirp_register_fd(int fd, void *opaque)
{
	net_slirp_guard_fd_opened(&((struct net_slirp *)opaque)->guard, fd);
}

static void net_slirp_unregister_fd(int fd, void *opaque)
{
	net_slirp_guard_fd_closed(&((struct net_slirp *)opaque)->guard, fd);
}

static void net_slirp_notify(void *opaque)
{
	/* Called from within a round of the I/O loop, which prepares again next. */
	(void)opaque;
}

static const SlirpCb net_slirp_cb = {
	.send_packet = net_slirp_send_packet,
	.guest_error = net_slirp_guest_error,
	.clock_get_ns = slirp_glue_clock,
	.timer_new = slirp_glue_timer_new,
	.timer_free = slirp_glue_timer_free,
	.timer_mod = slirp_glue_timer_mod,
	.register_poll_fd = net_slirp_register_fd,
	.unregister_poll_fd = net_slirp_unregister_fd,
	.notify = net_slirp_notify,
	.timer_new_opaque = slirp_glue_timer_new_opaque,
};

static struct pollfd *net_slirp_prepare(void *opaque, unsigned int *n, int *timeout_ms)
{
	struct net_slirp *ns = opaque;
	struct pollfd *pfd = slirp_glue_prepare(&ns->glue, 0, n, timeout_ms);

	/*
	 * The device queued them on this thread, since the last round: this
	 * round must not sleep before slirp has them.
	 */
	if (!frameq_empty(&ns->from_guest))
		*timeout_ms = 0;
	return pfd;
}

static void net_slirp_dispatch(void *opaque, bool poll_failed)
{
	struct net_slirp *ns = opaque;

	slirp_glue_poll(&ns->glue, poll_failed);
	/* Frames from the guest; bounded so slirp's sockets are not starved. */
	for (int i = 0; i < SLIRP_INPUT_BUDGET; i++) {
		ssize_t len = frameq_pop(&ns->from_guest, ns->frame, sizeof(ns->frame));

		if (len == -EAGAIN)
			break;
		if (len <= 0)
			continue;
		if (net_slirp_guard_input(&ns->guard, ns->frame, (size_t)len) &&
		    slirp_glue_admit(&ns->glue, ns->frame, (size_t)len))
			slirp_lib.input(ns->glue.slirp, ns->frame, (int)len);
	}
	slirp_glue_run_timers(&ns->glue);
	if (slirp_glue_trim(&ns->glue, ns->burst && frameq_empty(&ns->to_guest) &&
			    frameq_empty(&ns->from_guest)))
		ns->burst = false;
}

/* The device's side (net_be_ops.send/recv), on the I/O thread. */
static int net_slirp_send(struct net_be *be, unsigned int p, const void *frame, size_t len)
{
	struct net_slirp *ns = net_slirp_of(be);
	int ret = frameq_push(&ns->from_guest, frame, len);

	(void)p; /* one pair */
	ns->burst |= ns->from_guest.held >= SLIRP_BURST_BYTES;
	return ret;
}

static ssize_t net_slirp_recv(struct net_be *be, unsigned int p, void *buf, size_t len)
{
	struct net_slirp *ns = net_slirp_of(be);
	ssize_t n = frameq_pop(&ns->to_guest, buf, len);
	uint64_t v;

	(void)p;
	if (n == -EAGAIN && ns->signalled) {
		/* Empty: the eventfd stops being readable until the next frame. */
		if (read(ns->be.fds[0], &v, sizeof(v)) == sizeof(v) || errno == EAGAIN)
			ns->signalled = false;
	}
	return n;
}

static const struct eventloop_poller_ops net_slirp_poller = {
	.prepare = net_slirp_prepare,
	.dispatch = net_slirp_dispatch,
};

static void net_slirp_destroy(struct net_be *be)
{
	struct net_slirp *ns = net_slirp_of(be);

	if (ns->loop)
		eventloop_remove_poller(ns->loop, ns);
	if (ns->glue.slirp)
		slirp_lib.cleanup(ns->glue.slirp);
	if (ns->be.fds[0] >= 0)
		close(ns->be.fds[0]);
	frameq_clear(&ns->to_guest);
	frameq_clear(&ns->from_guest);
	slirp_glue_fini(&ns->glue);
	net_slirp_guard_fini(&ns->guard);
	free(ns);
}

/* A libslirp instance on ns's network, without its hostfwds (net_slirp_forward). */
static Slirp *net_slirp_new(struct net_slirp *ns)
{
	SlirpConfig sc = {
		.version = SLIRP_CONFIG_VERSION_MAX < 4 ? SLIRP_CONFIG_VERSION_MAX : 4,
		.in_enabled = true,
		/* An API mtu (at most SLIRP_MTU) is the guest's: slirp's too. */
		.if_mtu = ns->cfg.mtu ? ns->cfg.mtu : SLIRP_MTU,
		.if_mru = ns->cfg.mtu ? ns->cfg.mtu : SLIRP_MTU,
		/* Else 10.0.2.2 is the host's 127.0.0.1, every service on it open to the guest. */
		.disable_host_loopback = !ns->cfg.host_loopback,
	};

	inet_pton(AF_INET, SLIRP_NET, &sc.vnetwork);
	inet_pton(AF_INET, SLIRP_MASK, &sc.vnetmask);
	inet_pton(AF_INET, SLIRP_HOST, &sc.vhost);
	inet_pton(AF_INET, SLIRP_GUEST, &sc.vdhcp_start);
	inet_pton(AF_INET, SLIRP_DNS, &sc.vnameserver);
	return slirp_lib.new_(&sc, &net_slirp_cb, ns);
}

/* The config's hostfwd listeners, on ns->glue.slirp. */
static int net_slirp_forward(struct net_slirp *ns, struct err *err)
{
	struct in_addr lo = { htonl(INADDR_LOOPBACK) }, guest;

	inet_pton(AF_INET, SLIRP_GUEST, &guest);
	for (unsigned int i = 0; i < ns->cfg.nfwd; i++) {
		const struct net_hostfwd *f = &ns->cfg.fwd[i];

		/* Loopback only: a forwarded port is for this host, not the LAN. */
		if (slirp_lib.add_hostfwd(ns->glue.slirp, f->udp, lo, f->host_port, guest,
				      f->guest_port) < 0)
			return err_set(err, false, -EADDRINUSE, "--net user: hostfwd %s:%u: cannot "
				       "listen on 127.0.0.1:%u (port in use?)",
				       f->udp ? "udp" : "tcp", f->host_port, f->host_port);
	}
	return 0;
}

/*
 * Snapshots: libslirp's own state (the DHCP leases and its IP id; its
 * sockets only for guestfwd channels, which Hearth has none of) through
 * slirp_state_save/load, tagged with slirp_lib.state_version() so a libslirp
 * that cannot read it refuses it. The hostfwd listeners are not in it:
 * they come from the config, added when the backend opens. Connections
 * belong to the process that was snapshotted and do not survive.
 */
#define SLIRP_STATE_TAG "SLRP"
#define SLIRP_STATE_VERSION 1u

struct net_slirp_cursor {
	const uint8_t *p;
	size_t len, off;
	bool short_read; /* libslirp asked for more than the record had */
};

static ssize_t net_slirp_state_write(const void *buf, size_t len, void *opaque)
{
	bytes_put(opaque, buf, len);
	return (ssize_t)len;
}

static ssize_t net_slirp_state_read(void *buf, size_t len, void *opaque)
{
	struct net_slirp_cursor *c = opaque;
	size_t n = len < c->len - c->off ? len : c->len - c->off;

	memcpy(buf, c->p + c->off, n);
	c->off += n;
	c->short_read |= n < len;
	return (ssize_t)n;
}

static int net_slirp_save(struct net_be *be, struct bytes_out *o)
{
	struct net_slirp *ns = net_slirp_of(be);

	bytes_put_tag(o, SLIRP_STATE_TAG, SLIRP_STATE_VERSION);
	bytes_put_u32(o, (uint32_t)slirp_lib.state_version());
	slirp_lib.state_save(ns->glue.slirp, net_slirp_state_write, o);
	return 0;
}

/*
 * libslirp's loader was written for trusted migration streams: it links
 * a socket into the instance before reading it, sizes its buffers by the
 * record (g_malloc aborts on a failure), and on a refusal leaves whatever
 * it had read where it put it. So a record is checked for what libslirp
 * would parse unguarded, then only ever loaded into a fresh instance,
 * never into the one the NIC runs on.
 *
 * The check: a save writes sockets only for guestfwd channels, which
 * Hearth never sets up, so the stream starts with the "no more sockets"
 * byte; anything else is forged and refused before libslirp reads it.
 * What follows is fixed-size (the IP id, the DHCP table), loaded into an
 * instance of its own; a refusal, a record that ends early or one with
 * bytes left over throws that instance away and fails. Making and
 * dropping an instance opens no host socket and touches none of the
 * running one's state.
 */
static int net_slirp_load(struct net_slirp *ns, uint32_t version, const uint8_t *p, size_t len,
			  Slirp **out)
{
	struct net_slirp_cursor c = { p, len, 0, false };
	const char *why;
	Slirp *s;
	int ret;

	if (!len || p[0]) {
		why = len ? "it holds a socket, which no save of Hearth's writes" : "cut short";
		ret = len ? -EINVAL : -ENODATA;
		goto err;
	}
	s = net_slirp_new(ns);
	if (!s) {
		why = "out of memory";
		ret = -ENOMEM;
		goto err;
	}
	ret = slirp_lib.state_load(s, (int)version, net_slirp_state_read, &c);
	if (ret < 0 || c.short_read || c.off != c.len) {
		slirp_lib.cleanup(s);
		why = c.short_read ? "cut short" : ret < 0 ? "libslirp refused it" : "bytes left over";
		ret = c.short_read ? -ENODATA : -EINVAL;
		goto err;
	}
	*out = s;
	return 0;

err:
	log_ratelimited(&slirp_rl, LOG_WARN, "net-user: saved libslirp state refused: %s", why);
	return ret;
}

/*
 * Both steps load the record into a fresh instance (net_slirp_load). The
 * check throws its instance away whatever happens: a record libslirp
 * refuses refuses the whole snapshot before anything of the VM changed.
 * The apply loads it again into another, which takes the running one's
 * place only once the load succeeded (same bytes, same libslirp: it
 * does), else the running one stays as it was. The hostfwd listeners are
 * not in the record: the fresh instance opens them again once the old
 * one has closed them, the one step that can fail on the host's side.
 */
static int net_slirp_restore(struct net_be *be, const void *in, size_t len, bool apply)
{
	struct net_slirp *ns = net_slirp_of(be);
	struct bytes_in r = bytes_in_init(in, len);
	struct err err = ERR_INIT;
	uint32_t version;
	Slirp *fresh;
	int ret = bytes_get_tag(&r, SLIRP_STATE_TAG, SLIRP_STATE_VERSION);

	if (ret)
		return ret;
	version = bytes_get_u32(&r);
	if (r.short_read)
		return -ENODATA;
	/* libslirp reads its older versions, never newer ones. */
	if (!version || version > (uint32_t)slirp_lib.state_version())
		return -EPROTO;
	ret = net_slirp_load(ns, version, r.p + r.off, bytes_in_left(&r), &fresh);
	if (ret)
		return ret;
	if (!apply) {
		slirp_lib.cleanup(fresh);
		return 0;
	}
	slirp_lib.cleanup(ns->glue.slirp);
	ns->glue.slirp = fresh;
	net_tcp_gate_reset(&ns->glue.gate);
	ret = net_slirp_forward(ns, &err);
	if (ret)
		log_err("net-user: after restore: %s", err.msg);
	return ret;
}

static const struct net_be_ops net_slirp_ops = {
	.destroy = net_slirp_destroy,
	.save = net_slirp_save,
	.restore = net_slirp_restore,
	.send = net_slirp_send,
	.recv = net_slirp_recv,
};


static int net_slirp_start(struct net_slirp *ns, const struct net_config *cfg,
			   struct eventloop *loop, struct err *err)
{
	struct in_addr host, guest, dns;
	int ret;

	ns->cfg = *cfg;
	inet_pton(AF_INET, SLIRP_HOST, &host);
	inet_pton(AF_INET, SLIRP_GUEST, &guest);
	inet_pton(AF_INET, SLIRP_DNS, &dns);
	net_slirp_guard_init(&ns->guard, cfg, host.s_addr, guest.s_addr, dns.s_addr);
	ns->glue.slirp = net_slirp_new(ns);
	if (!ns->glue.slirp)
		return err_set(err, false, -ENOMEM, "--net user: libslirp failed to start");
	ret = net_slirp_forward(ns, err);
	if (ret)
		return ret;
	ret = eventloop_add_poller(loop, &net_slirp_poller, ns);
	if (ret)
		return err_set(err, false, ret, "--net user: cannot join the I/O loop: %s",
			       strerror(-ret));
	ns->loop = loop;
	return 0;
}

int net_slirp_open(const struct net_config *cfg, struct eventloop *loop, struct net_be **out,
		   struct err *err)
{
	struct net_slirp *ns = calloc(1, sizeof(*ns));
	int ret;

	if (!ns)
		return err_set(err, false, -ENOMEM, "--net user: out of memory");
	ns->be.ops = &net_slirp_ops;
	ns->be.name = "user";
	ns->be.nqueues = 1;
	ns->be.mtu = SLIRP_MTU;
	frameq_init(&ns->to_guest, SLIRP_QUEUE_BYTES);
	frameq_init(&ns->from_guest, SLIRP_QUEUE_BYTES);
	ns->be.fds[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ns->be.fds[0] < 0) {
		ret = -errno;
		err_set(err, false, ret, "--net user: eventfd: %s", strerror(-ret));
		goto err_destroy;
	}
	if (!loop) {
		ret = err_set(err, false, -EINVAL, "--net user: no I/O loop");
		goto err_destroy;
	}
	ret = slirp_glue_init(&ns->glue, &net_slirp_budget, err);
	if (ret) {
		err_prefix(err, ret, "--net user: ");
		goto err_destroy;
	}
	ret = net_slirp_start(ns, cfg, loop, err);
	if (ret)
		goto err_destroy;
	*out = &ns->be;
	return 0;

err_destroy:
	net_slirp_destroy(&ns->be);
	return ret;
}

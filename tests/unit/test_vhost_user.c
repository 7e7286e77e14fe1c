/*
 * The vhost-user front end (virtio/vhost_user.h), the vhost-user-blk
 * device (virtio/vublk.h) and virtio-fs (virtio/fs.h), which shares its
 * ops, against a backend of the test's own on a
 * socketpair, in a thread: a well-behaved one, and hostile ones that send
 * short, oversized, foreign and out-of-order answers, descriptors nobody
 * asked for, or nothing at all.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/eventloop.h"
#include "mem/guest_mem.h"
#include "virtio/vhost_user.h"
#include "virtio/virtio.h"
#include "virtio/vublk.h"
#include "virtio/vhost_user/front.h"
#include "virtio/fs.h"

enum misbehave {
	GOOD,
	SHORT_THEN_CLOSE,   /* half a header, then hang up */
	OVERSIZED,          /* a size past any reply */
	FOREIGN,            /* the answer to another request */
	NO_REPLY_FLAG,      /* the right request, without REPLY */
	WITH_FD,            /* a descriptor riding along with the answer */
	SILENT,             /* never answers */
	ACK_FAIL,           /* REPLY_ACK status 1 */
	SLOW,               /* every answer, right but SLOW_MS late */
};

#define SLOW_MS 150

#define MAX_SEEN 64

struct backend {
	int sock;
	enum misbehave how;
	uint32_t bad_req;         /* the request misbehave applies to; 0: every one */
	uint64_t features, protocol, queues;
	uint16_t base;            /* GET_VRING_BASE's answer */
	unsigned int nseen;
	uint32_t seen[MAX_SEEN];
	unsigned int seen_fds[MAX_SEEN];
	uint8_t seen_payload[MAX_SEEN][48];
	int sent_fd;              /* WITH_FD: the eventfd sent (its peer copy closed by the client) */
	pthread_t thread;
};

#define VF(bit) (1ull << (bit))
#define BLK_FEATURES                                                                         \
	(VF(VIRTIO_F_VERSION_1) | VF(VIRTIO_F_EVENT_IDX) | VF(VIRTIO_F_INDIRECT_DESC) |       \
	 VF(VHOST_USER_F_PROTOCOL_FEATURES) | VF(1) | VF(2) | VF(9) | VF(11) | VF(12) | VF(24))

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void reply(struct backend *b, uint32_t req, uint32_t flags, const void *payload,
		  uint32_t len)
{
	uint8_t buf[VHOST_USER_HDR_SIZE + 300];

	put32(buf, req);
	put32(buf + 4, flags);
	put32(buf + 8, len);
	memcpy(buf + VHOST_USER_HDR_SIZE, payload, len);
	if (b->how == WITH_FD && (!b->bad_req || b->bad_req == req)) {
		union {
			char c[CMSG_SPACE(sizeof(int))];
			struct cmsghdr a;
		} ctl = { 0 };
		struct iovec iov = { buf, VHOST_USER_HDR_SIZE + len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.c,
				     .msg_controllen = sizeof(ctl.c) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

		b->sent_fd = eventfd(0, EFD_CLOEXEC);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &b->sent_fd, sizeof(int));
		assert_true(sendmsg(b->sock, &mh, MSG_NOSIGNAL) > 0);
		return;
	}
	assert_true(write(b->sock, buf, VHOST_USER_HDR_SIZE + len) >= 0);
}

static void answer(struct backend *b, uint32_t req, uint32_t flags, uint8_t *pl, uint32_t size)
{
	const uint32_t ok = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
	bool bad = b->how != GOOD && (!b->bad_req || b->bad_req == req);
	uint64_t v = 0;
	uint8_t big[VHOST_USER_HDR_SIZE] = { 0 };

	if (bad && b->how == SILENT)
		return;
	if (bad && b->how == SHORT_THEN_CLOSE) {
		assert_true(write(b->sock, big, 5) == 5);
		shutdown(b->sock, SHUT_RDWR);
		return;
	}
	if (bad && b->how == OVERSIZED) {
		put32(big, req);
		put32(big + 4, ok);
		put32(big + 8, 1u << 20);
		assert_true(write(b->sock, big, sizeof(big)) == sizeof(big));
		return;
	}
	switch (req) {
	case VHOST_USER_GET_FEATURES:
		v = b->features;
		break;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		v = b->protocol;
		break;
	case VHOST_USER_GET_QUEUE_NUM:
		v = b->queues;
		break;
	case VHOST_USER_GET_CONFIG: {
		/* capacity 4096 sectors, num_queues 4 (offset 34), a size_max of 0x1000 */
		uint64_t cap = htole64(4096);
		uint16_t nq = htole16(4);

		memcpy(pl + 12, &cap, 8);
		put32(pl + 12 + 8, 0x1000);
		memcpy(pl + 12 + 34, &nq, 2);
		reply(b, req, ok, pl, size);
		return;
	}
	case VHOST_USER_GET_VRING_BASE: {
		uint32_t st[2];

		memcpy(st, pl, sizeof(st));
		st[1] = b->base;
		reply(b, req, ok, st, sizeof(st));
		return;
	}
	default:
		if (!(flags & VHOST_USER_FLAG_NEED_REPLY))
			return;
		v = bad && b->how == ACK_FAIL ? 1 : 0;
		break;
	}
	if (bad && b->how == FOREIGN)
		req = req == VHOST_USER_GET_FEATURES ? VHOST_USER_GET_PROTOCOL_FEATURES
						     : VHOST_USER_GET_FEATURES;
	reply(b, req, bad && b->how == NO_REPLY_FLAG ? VHOST_USER_VERSION : ok, &v, sizeof(v));
}

static void *backend_main(void *arg)
{
	struct backend *b = arg;

	for (;;) {
		uint8_t buf[VHOST_USER_HDR_SIZE + VHOST_USER_MAX_PAYLOAD];
		union {
			char c[CMSG_SPACE(sizeof(int) * 8)];
			struct cmsghdr a;
		} ctl;
		struct iovec iov = { buf, VHOST_USER_HDR_SIZE };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.c,
				     .msg_controllen = sizeof(ctl.c) };
		uint32_t req, flags, size;
		unsigned int nfds = 0;
		ssize_t n = recvmsg(b->sock, &mh, MSG_WAITALL);

		if (n < (ssize_t)VHOST_USER_HDR_SIZE)
			break;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			int fds[8];
			unsigned int k = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			memcpy(fds, CMSG_DATA(c), k * sizeof(int));
			for (unsigned int i = 0; i < k; i++)
				close(fds[i]);
			nfds += k;
		}
		memcpy(&req, buf, 4);
		memcpy(&flags, buf + 4, 4);
		memcpy(&size, buf + 8, 4);
		assert_true(size <= VHOST_USER_MAX_PAYLOAD);
		if (size && recv(b->sock, buf + VHOST_USER_HDR_SIZE, size, MSG_WAITALL) != size)
			break;
		if (b->nseen < MAX_SEEN) {
			b->seen_fds[b->nseen] = nfds;
			memcpy(b->seen_payload[b->nseen], buf + VHOST_USER_HDR_SIZE, size < 48 ? size : 48);
			b->seen[b->nseen++] = req;
		}
		if (b->how == SLOW)
			usleep(SLOW_MS * 1000);
		answer(b, req, flags, buf + VHOST_USER_HDR_SIZE, size);
	}
	close(b->sock);
	return NULL;
}

/* A backend on one end of a socketpair; the other end is the client's. */
static int backend_start(struct backend *b, enum misbehave how, uint32_t bad_req)
{
	int sv[2];

	memset(b, 0, sizeof(*b));
	b->how = how;
	b->bad_req = bad_req;
	b->features = BLK_FEATURES;
	b->protocol = VF(VHOST_USER_PROTOCOL_F_MQ) | VF(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
		      VF(VHOST_USER_PROTOCOL_F_CONFIG) | VF(1);
	b->queues = 2;
	b->sent_fd = -1;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	b->sock = sv[1];
	assert_int_equal(pthread_create(&b->thread, NULL, backend_main, b), 0);
	return sv[0];
}

static void backend_join(struct backend *b)
{
	pthread_join(b->thread, NULL);
	if (b->sent_fd >= 0)
		close(b->sent_fd);
}

static unsigned int open_fds(void)
{
	unsigned int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* The pure check every answer goes through. */
static void test_check_reply(void **state)
{
	uint8_t m[VHOST_USER_HDR_SIZE + 8] = { 0 };
	uint64_t v = 0x1234, out = 0;
	size_t len = 0;

	(void)state;
	put32(m, VHOST_USER_GET_FEATURES);
	put32(m + 4, VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY);
	put32(m + 8, 8);
	memcpy(m + 12, &v, 8);
	assert_int_equal(vhost_user_check_reply(m, sizeof(m), VHOST_USER_GET_FEATURES, 8, &out,
						8, &len), 0);
	assert_int_equal(out, 0x1234);
	assert_int_equal(len, 8);
	/* another request's answer, no REPLY flag, a wrong version, a short or long payload */
	assert_int_equal(vhost_user_check_reply(m, sizeof(m), VHOST_USER_GET_PROTOCOL_FEATURES,
						8, &out, 8, NULL), -EPROTO);
	put32(m + 4, VHOST_USER_VERSION);
	assert_int_equal(vhost_user_check_reply(m, sizeof(m), VHOST_USER_GET_FEATURES, 8, &out,
						8, NULL), -EPROTO);
	put32(m + 4, 2 | VHOST_USER_FLAG_REPLY);
	assert_int_equal(vhost_user_check_reply(m, sizeof(m), VHOST_USER_GET_FEATURES, 8, &out,
						8, NULL), -EPROTO);
	put32(m + 4, VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY);
	assert_int_equal(vhost_user_check_reply(m, sizeof(m) - 1, VHOST_USER_GET_FEATURES, 8,
						&out, 8, NULL), -EPROTO);
	put32(m + 8, 4);
	assert_int_equal(vhost_user_check_reply(m, VHOST_USER_HDR_SIZE + 4,
						VHOST_USER_GET_FEATURES, 8, &out, 8, NULL), -EPROTO);
	assert_int_equal(vhost_user_check_reply(m, 7, VHOST_USER_GET_FEATURES, 8, &out, 8, NULL),
			 -EPROTO);
}

/* Each hostile answer fails its request, and the connection is dead from then on. */
static void hostile_case(enum misbehave how, int want)
{
	struct backend b;
	struct vhost_user vu;
	unsigned int before = open_fds();
	uint64_t v = 0;

	vhost_user_adopt(&vu, backend_start(&b, how, VHOST_USER_GET_FEATURES));
	vu.timeout_ms = 200;
	assert_int_equal(vhost_user_get_u64(&vu, VHOST_USER_GET_FEATURES, &v), want);
	assert_true(vu.dead);
	assert_int_equal(vhost_user_get_u64(&vu, VHOST_USER_GET_PROTOCOL_FEATURES, &v), -EPIPE);
	vhost_user_close(&vu);
	backend_join(&b);
	/* Nothing leaked: the descriptor a hostile backend sent along was closed. */
	assert_int_equal(open_fds(), before);
}

static void test_hostile_short(void **state)
{
	(void)state;
	hostile_case(SHORT_THEN_CLOSE, -EPIPE);
}

static void test_hostile_oversized(void **state)
{
	(void)state;
	hostile_case(OVERSIZED, -EPROTO);
}

static void test_hostile_out_of_order(void **state)
{
	(void)state;
	hostile_case(FOREIGN, -EPROTO);
}

static void test_hostile_no_reply_flag(void **state)
{
	(void)state;
	hostile_case(NO_REPLY_FLAG, -EPROTO);
}

static void test_hostile_fd(void **state)
{
	(void)state;
	hostile_case(WITH_FD, -EPROTO);
}

static void test_hostile_silent(void **state)
{
	(void)state;
	hostile_case(SILENT, -ETIMEDOUT);
}

/*
 * A backend that answers every request, each inside the per-request
 * limit but late: alone they pass; inside one operation they share its
 * budget, and the request that would end past it fails, the connection
 * then dead.
 */
static void test_slow_backend_budget(void **state)
{
	struct backend b;
	struct vhost_user vu;
	uint64_t v = 0;

	(void)state;
	vhost_user_adopt(&vu, backend_start(&b, SLOW, 0));
	vu.timeout_ms = 2 * SLOW_MS;
	vu.op_budget_ms = 3 * SLOW_MS + SLOW_MS / 2;
	for (int i = 0; i < 5; i++)
		assert_int_equal(vhost_user_get_u64(&vu, VHOST_USER_GET_FEATURES, &v), 0);
	vhost_user_op_begin(&vu);
	vhost_user_op_begin(&vu);   /* nested: the outer budget holds */
	assert_int_equal(vhost_user_get_u64(&vu, VHOST_USER_GET_FEATURES, &v), 0);
	vhost_user_op_end(&vu);
	assert_int_equal(vhost_user_get_u64(&vu, VHOST_USER_GET_FEATURES, &v), 0);
	assert_int_equal(vhost_user_get_u64(&vu, VHOST_USER_GET_FEATURES, &v), 0);
	assert_int_equal(vhost_user_get_u64(&vu, VHOST_USER_GET_FEATURES, &v), -ETIMEDOUT);
	assert_true(vu.dead);
	vhost_user_op_end(&vu);
	assert_int_equal(vu.op_deadline, 0);
	assert_int_equal(vhost_user_get_u64(&vu, VHOST_USER_GET_FEATURES, &v), -EPIPE);
	/* Its late answer goes out into a socket still open; then the close ends it. */
	usleep(2 * SLOW_MS * 1000);
	vhost_user_close(&vu);
	backend_join(&b);
}

/* REPLY_ACK: a refused request is -EIO, and the connection stays in step. */
static void test_reply_ack(void **state)
{
	struct backend b;
	struct vhost_user vu;
	uint64_t v = 0;

	(void)state;
	vhost_user_adopt(&vu, backend_start(&b, ACK_FAIL, VHOST_USER_SET_FEATURES));
	vu.protocol = VF(VHOST_USER_PROTOCOL_F_REPLY_ACK);
	assert_int_equal(vhost_user_set_u64(&vu, VHOST_USER_SET_FEATURES, 1), -EIO);
	assert_false(vu.dead);
	assert_int_equal(vhost_user_call(&vu, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(vhost_user_get_u64(&vu, VHOST_USER_GET_FEATURES, &v), 0);
	assert_int_equal(v, BLK_FEATURES);
	vhost_user_close(&vu);
	backend_join(&b);
	assert_int_equal(b.seen[0], VHOST_USER_SET_FEATURES);
	assert_int_equal(b.seen[1], VHOST_USER_SET_OWNER);
}

/* A device over a backend: a socket path is needed, so the pair is bound to one. */
struct dev_fx {
	char dir[64], path[96];
	int lsock;
	struct backend b;
	struct guest_mem gm;
	struct eventloop loop;
	struct virtio_dev *dev;
	enum misbehave how;
	uint32_t bad_req;
	uint64_t features, protocol;
	const char *fs_tag;       /* set: a virtio-fs device with this tag, not a disk */
	uint64_t queues;          /* GET_QUEUE_NUM's answer; 0: 2 */
};

static void *accept_one(void *arg)
{
	struct dev_fx *f = arg;
	int s = accept4(f->lsock, NULL, NULL, SOCK_CLOEXEC);

	assert_true(s >= 0);
	f->b.sock = s;
	backend_main(&f->b);
	return NULL;
}

static int dev_make(struct dev_fx *f, struct err *err, enum blk_cache cache)
{
	struct sockaddr_un { sa_family_t f; char p[108]; } sa = { AF_UNIX, { 0 } };
	struct virtio_env env = { .loop = &f->loop, .mem = &f->gm };
	struct vublk_config vc = { f->path, cache };
	enum misbehave how = f->how;
	int ret;

	snprintf(f->dir, sizeof(f->dir), "/tmp/hearth-vu-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/s", f->dir);
	snprintf(sa.p, sizeof(sa.p), "%s", f->path);
	f->lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(f->lsock, (void *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lsock, 1), 0);
	memset(&f->b, 0, sizeof(f->b));
	f->b.how = how;
	f->b.bad_req = f->bad_req;
	f->b.features = f->features ? f->features : BLK_FEATURES;
	f->b.protocol = f->protocol ? f->protocol :
			VF(VHOST_USER_PROTOCOL_F_MQ) | VF(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
			VF(VHOST_USER_PROTOCOL_F_CONFIG);
	f->b.queues = f->queues ? f->queues : 2;
	f->b.base = 7;
	f->b.sent_fd = -1;
	assert_int_equal(pthread_create(&f->b.thread, NULL, accept_one, f), 0);
	assert_int_equal(guest_mem_init_shared(&f->gm, 4u << 20), 0);
	assert_int_equal(eventloop_init(&f->loop), 0);
	if (f->fs_tag)
		return virtio_fs_create(&env, &(struct virtio_fs_config){ f->path, f->fs_tag },
					  &f->dev, err);
	ret = virtio_vublk_create(&env, &vc, &f->dev, err);
	return ret;
}

static void dev_free(struct dev_fx *f)
{
	if (f->dev)
		f->dev->ops->destroy(f->dev);
	f->dev = NULL;
	pthread_join(f->b.thread, NULL);
	eventloop_destroy(&f->loop);
	guest_mem_destroy(&f->gm);
	close(f->lsock);
	unlink(f->path);
	rmdir(f->dir);
}

static unsigned int find_seen(const struct backend *b, uint32_t req, unsigned int from)
{
	for (unsigned int i = from; i < b->nseen; i++)
		if (b->seen[i] == req)
			return i;
	return MAX_SEEN;
}

/* One round of the I/O loop: the backend's hangup seen as Hearth's loop sees it. */
static void loop_once(struct eventloop *loop)
{
	struct epoll_event ev[4];
	int n = epoll_wait(loop->epfd, ev, 4, 2000);

	assert_true(n > 0);
	eventloop_batch_begin(loop);
	for (int k = 0; k < n; k++) {
		struct eventloop_handler *h = ev[k].data.ptr;

		if (h->fd >= 0 && h->cb)
			h->cb(h->opaque, ev[k].events);
	}
	eventloop_batch_end(loop);
}

/*
 * The handshake, the config space, the features the driver is offered, a
 * start handing over RAM and rings, a pause taking the ring's position
 * back and a resume handing it over again, and the backend's hangup.
 */
static void test_vublk_lifecycle(void **state)
{
	struct dev_fx f = { 0 };
	struct err err = ERR_INIT;
	struct virtio_dev *dev;
	struct virtq *vq;
	uint8_t cfg[8];
	uint64_t off;
	unsigned int i;

	(void)state;
	assert_int_equal(dev_make(&f, &err, BLK_CACHE_UNSAFE), 0);
	dev = f.dev;
	assert_int_equal(dev->ops->device_id, VIRTIO_ID_BLOCK);
	/* MQ: the smaller of GET_QUEUE_NUM (2) and the config's num_queues (4). */
	assert_int_equal(dev->num_queues, 2);
	dev->ops->read_config(dev, 0, cfg, 8);
	assert_int_equal(le64toh(*(uint64_t *)cfg), 4096);
	dev->ops->read_config(dev, 34, cfg, 2);
	assert_int_equal(cfg[0], 2);
	/* Unsafe drops FLUSH; CONFIG_WCE (11) and bit 24 are never passed on. */
	assert_int_equal(dev->ops->get_features(dev), VF(1) | VF(2) | VF(12));
	/* The driver's side: features, one queue enabled at guest-physical 0x1000. */
	dev->features = VF(VIRTIO_F_VERSION_1) | VF(VIRTIO_F_EVENT_IDX) | VF(12);
	vq = &dev->vq[0];
	vq->size = 16;
	vq->desc_gpa = 0x1000;
	vq->avail_gpa = 0x2000;
	vq->used_gpa = 0x3000;
	assert_int_equal(virtq_enable(vq, &f.gm), VIRTQ_OK);
	dev->activated = true;
	dev->status = VIRTIO_STATUS_DRIVER_OK;
	pthread_mutex_lock(&dev->lock);
	assert_int_equal(dev->ops->activate(dev), 0);
	pthread_mutex_unlock(&dev->lock);
	i = find_seen(&f.b, VHOST_USER_SET_MEM_TABLE, 0);
	assert_true(i < MAX_SEEN);
	assert_int_equal(f.b.seen_fds[i], 1);
	i = find_seen(&f.b, VHOST_USER_SET_VRING_ADDR, i);
	assert_true(i < MAX_SEEN);
	memcpy(&off, f.b.seen_payload[i] + 8, 8);   /* desc: a host address, in the RAM */
	assert_int_equal(off, (uintptr_t)f.gm.regions[0].hva + 0x1000);
	i = find_seen(&f.b, VHOST_USER_SET_VRING_KICK, i);
	assert_true(i < MAX_SEEN && f.b.seen_fds[i] == 1);
	i = find_seen(&f.b, VHOST_USER_SET_VRING_CALL, i);
	assert_true(i < MAX_SEEN && f.b.seen_fds[i] == 1);
	assert_true(find_seen(&f.b, VHOST_USER_SET_VRING_ENABLE, i) < MAX_SEEN);
	/* Queue 1 was not enabled by the driver: never handed over. */
	assert_int_equal(f.b.seen_payload[find_seen(&f.b, VHOST_USER_SET_VRING_NUM, 0)][0], 0);
	/* A pause with nothing in flight: the ring's position comes back. */
	pthread_mutex_lock(&dev->lock);
	assert_int_equal(dev->ops->pause(dev), 0);
	assert_int_equal(vq->last_avail, 7);
	dev->ops->resume(dev);
	pthread_mutex_unlock(&dev->lock);
	i = find_seen(&f.b, VHOST_USER_GET_VRING_BASE, 0);
	i = find_seen(&f.b, VHOST_USER_SET_VRING_BASE, i);
	assert_true(i < MAX_SEEN);
	assert_int_equal(f.b.seen_payload[i][4], 7);
	/*
	 * A request the driver made available and the backend never used: the
	 * pause waits (a tenth of a second here, not its 5 s), then -EBUSY.
	 */
	((struct vu_front *)dev->priv)->drain_ms = 100;
	vq->avail[1] = htole16(1);
	pthread_mutex_lock(&dev->lock);
	assert_int_equal(dev->ops->pause(dev), -EBUSY);
	pthread_mutex_unlock(&dev->lock);
	vq->avail[1] = 0;
	/* The backend hangs up: the loop sees it, and the device needs a reset. */
	shutdown(f.b.sock, SHUT_RDWR);
	loop_once(&f.loop);
	assert_true(dev->status & VIRTIO_STATUS_NEEDS_RESET);
	dev_free(&f);
}

/* A backend that cannot serve a block device is refused with a line naming why. */
static void test_vublk_refusals(void **state)
{
	struct dev_fx f = { 0 };
	struct err err = ERR_INIT;

	(void)state;
	f.protocol = VF(VHOST_USER_PROTOCOL_F_MQ);   /* no CONFIG */
	assert_int_equal(dev_make(&f, &err, BLK_CACHE_WRITEBACK), -ENOTSUP);
	assert_non_null(strstr(err.msg, "config space"));
	assert_non_null(strstr(err.msg, f.path));
	dev_free(&f);

	memset(&f, 0, sizeof(f));
	err = (struct err)ERR_INIT;
	f.features = BLK_FEATURES & ~VF(VIRTIO_F_EVENT_IDX);
	assert_int_equal(dev_make(&f, &err, BLK_CACHE_WRITEBACK), -ENOTSUP);
	assert_non_null(strstr(err.msg, "EVENT_IDX"));
	dev_free(&f);

	memset(&f, 0, sizeof(f));
	err = (struct err)ERR_INIT;
	f.how = OVERSIZED;
	f.bad_req = VHOST_USER_GET_CONFIG;
	assert_int_equal(dev_make(&f, &err, BLK_CACHE_WRITEBACK), -EPROTO);
	assert_non_null(strstr(err.msg, "malformed"));
	dev_free(&f);

	/* Nobody listening: the PUT-time probe names the socket. */
	err = (struct err)ERR_INIT;
	assert_true(virtio_vublk_probe("/nonexistent/hearth-vu.sock", &err) < 0);
	assert_non_null(strstr(err.msg, "/nonexistent/hearth-vu.sock"));
}

/*
 * virtio-fs: a backend without the CONFIG protocol feature (virtiofsd
 * has none) is enough; the config space is Hearth's (the tag, one
 * request queue); no device bit is offered; both queues are handed over
 * on a start; a guest's config write changes nothing; the daemon's
 * hangup needs a reset.
 */
static void test_virtio_fs_lifecycle(void **state)
{
	struct dev_fx f = { 0 };
	struct err err = ERR_INIT;
	struct virtio_dev *dev;
	uint8_t cfg[40], junk[4] = { 'x', 'x', 'x', 'x' };
	uint32_t nrq;
	unsigned int i;

	(void)state;
	f.fs_tag = "myfs";
	f.features = VF(VIRTIO_F_VERSION_1) | VF(VIRTIO_F_EVENT_IDX) | VF(VIRTIO_F_INDIRECT_DESC) |
		     VF(VHOST_USER_F_PROTOCOL_FEATURES) | VF(0);
	f.protocol = VF(VHOST_USER_PROTOCOL_F_MQ) | VF(VHOST_USER_PROTOCOL_F_REPLY_ACK);
	assert_int_equal(dev_make(&f, &err, BLK_CACHE_WRITEBACK), 0);
	dev = f.dev;
	assert_true(virtio_fs_is(dev));
	assert_false(virtio_vublk_is(dev));
	assert_int_equal(dev->ops->device_id, 26);
	assert_int_equal(dev->num_queues, 2);
	assert_int_equal(dev->config_size, 40);
	for (i = 0; i < sizeof(cfg); i += 4)
		dev->ops->read_config(dev, i, cfg + i, 4);
	assert_memory_equal(cfg, "myfs\0\0\0\0", 8);
	memcpy(&nrq, cfg + 36, 4);
	assert_int_equal(le32toh(nrq), 1);
	/* The backend's NOTIFICATION bit (0) is not passed on: its queue is not given. */
	assert_int_equal(dev->ops->get_features(dev), 0);
	dev->ops->write_config(dev, 0, junk, 4);
	dev->ops->read_config(dev, 0, cfg, 4);
	assert_memory_equal(cfg, "myfs", 4);
	assert_true(find_seen(&f.b, VHOST_USER_GET_CONFIG, 0) == MAX_SEEN);
	dev->features = VF(VIRTIO_F_VERSION_1);
	for (unsigned int q = 0; q < 2; q++) {
		struct virtq *vq = &dev->vq[q];

		vq->size = 16;
		vq->desc_gpa = 0x1000 + q * 0x4000;
		vq->avail_gpa = 0x2000 + q * 0x4000;
		vq->used_gpa = 0x3000 + q * 0x4000;
		assert_int_equal(virtq_enable(vq, &f.gm), VIRTQ_OK);
	}
	dev->activated = true;
	dev->status = VIRTIO_STATUS_DRIVER_OK;
	pthread_mutex_lock(&dev->lock);
	assert_int_equal(dev->ops->activate(dev), 0);
	pthread_mutex_unlock(&dev->lock);
	i = find_seen(&f.b, VHOST_USER_SET_VRING_KICK, 0);
	assert_true(i < MAX_SEEN && f.b.seen_payload[i][0] == 0);
	i = find_seen(&f.b, VHOST_USER_SET_VRING_KICK, i + 1);
	assert_true(i < MAX_SEEN && f.b.seen_payload[i][0] == 1);
	shutdown(f.b.sock, SHUT_RDWR);
	loop_once(&f.loop);
	assert_true(dev->status & VIRTIO_STATUS_NEEDS_RESET);
	dev_free(&f);
}

/* What cannot be a virtio-fs device is refused with a line naming why, before any device. */
static void test_virtio_fs_refusals(void **state)
{
	struct dev_fx f = { 0 };
	struct err err = ERR_INIT;
	char long_tag[40];

	(void)state;
	assert_int_equal(virtio_fs_check_tag("", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "needs a tag"));
	memset(long_tag, 'a', 37);
	long_tag[37] = '\0';
	assert_int_equal(virtio_fs_check_tag(long_tag, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "37 bytes"));
	assert_int_equal(virtio_fs_check_tag("a b", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "byte 1"));
	assert_int_equal(virtio_fs_check_tag("abcdefghijklmnopqrstuvwxyz0123456789", &err), 0);

	/* A daemon serving one queue: virtio-fs needs two. */
	f.fs_tag = "t";
	f.queues = 1;
	f.protocol = VF(VHOST_USER_PROTOCOL_F_MQ);
	assert_int_equal(dev_make(&f, &err, BLK_CACHE_WRITEBACK), -ENOTSUP);
	assert_non_null(strstr(err.msg, "serves 1 queue"));
	assert_non_null(strstr(err.msg, f.path));
	dev_free(&f);

	/* A hostile answer to GET_QUEUE_NUM: malformed, and no device. */
	memset(&f, 0, sizeof(f));
	err = (struct err)ERR_INIT;
	f.fs_tag = "t";
	f.how = OVERSIZED;
	f.bad_req = VHOST_USER_GET_QUEUE_NUM;
	f.protocol = VF(VHOST_USER_PROTOCOL_F_MQ);
	assert_int_equal(dev_make(&f, &err, BLK_CACHE_WRITEBACK), -EPROTO);
	assert_non_null(strstr(err.msg, "malformed"));
	assert_null(f.dev);
	dev_free(&f);

	/* Missing ring features, as for a disk. */
	memset(&f, 0, sizeof(f));
	err = (struct err)ERR_INIT;
	f.fs_tag = "t";
	f.features = VF(VIRTIO_F_VERSION_1) | VF(VHOST_USER_F_PROTOCOL_FEATURES);
	assert_int_equal(dev_make(&f, &err, BLK_CACHE_WRITEBACK), -ENOTSUP);
	assert_non_null(strstr(err.msg, "EVENT_IDX"));
	dev_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_reply),
		cmocka_unit_test(test_hostile_short),
		cmocka_unit_test(test_hostile_oversized),
		cmocka_unit_test(test_hostile_out_of_order),
		cmocka_unit_test(test_hostile_no_reply_flag),
		cmocka_unit_test(test_hostile_fd),
		cmocka_unit_test(test_hostile_silent),
		cmocka_unit_test(test_slow_backend_budget),
		cmocka_unit_test(test_reply_ack),
		cmocka_unit_test(test_vublk_lifecycle),
		cmocka_unit_test(test_vublk_refusals),
		cmocka_unit_test(test_virtio_fs_lifecycle),
		cmocka_unit_test(test_virtio_fs_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

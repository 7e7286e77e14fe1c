/* The vhost-user front end's messages (vhost_user.h). */
#include "virtio/vhost_user.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

const char *vhost_user_request_name(uint32_t req)
{
	switch (req) {
	case VHOST_USER_GET_FEATURES: return "GET_FEATURES";
	case VHOST_USER_SET_FEATURES: return "SET_FEATURES";
	case VHOST_USER_SET_OWNER: return "SET_OWNER";
	case VHOST_USER_SET_MEM_TABLE: return "SET_MEM_TABLE";
	case VHOST_USER_SET_VRING_NUM: return "SET_VRING_NUM";
	case VHOST_USER_SET_VRING_ADDR: return "SET_VRING_ADDR";
	case VHOST_USER_SET_VRING_BASE: return "SET_VRING_BASE";
	case VHOST_USER_GET_VRING_BASE: return "GET_VRING_BASE";
	case VHOST_USER_SET_VRING_KICK: return "SET_VRING_KICK";
	case VHOST_USER_SET_VRING_CALL: return "SET_VRING_CALL";
	case VHOST_USER_GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
	case VHOST_USER_SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
	case VHOST_USER_GET_QUEUE_NUM: return "GET_QUEUE_NUM";
	case VHOST_USER_SET_VRING_ENABLE: return "SET_VRING_ENABLE";
	case VHOST_USER_GET_CONFIG: return "GET_CONFIG";
	case VHOST_USER_SET_CONFIG: return "SET_CONFIG";
	default: return "an unknown request";
	}
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int vhost_user_check_reply(const uint8_t *buf, size_t len, uint32_t req, size_t want,
			   void *out, size_t max, size_t *out_len)
{
	uint32_t r, flags, size;

	if (len < VHOST_USER_HDR_SIZE)
		return -EPROTO;
	r = get_le32(buf);
	flags = get_le32(buf + 4);
	size = get_le32(buf + 8);
	if (r != req || (flags & 3u) != VHOST_USER_VERSION || !(flags & VHOST_USER_FLAG_REPLY))
		return -EPROTO;
	if (size != len - VHOST_USER_HDR_SIZE || size > max || (want && size != want))
		return -EPROTO;
	if (size)
		memcpy(out, buf + VHOST_USER_HDR_SIZE, size);
	if (out_len)
		*out_len = size;
	return 0;
}

void vhost_user_adopt(struct vhost_user *vu, int sock)
{
	memset(vu, 0, sizeof(*vu));
	vu->sock = sock;
	vu->timeout_ms = VHOST_USER_TIMEOUT_MS;
	vu->op_budget_ms = VHOST_USER_OP_BUDGET_MS;
}

int vhost_user_connect(struct vhost_user *vu, const char *path, struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, ret;

	vu->sock = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, true, -ENAMETOOLONG, "vhost-user socket '%s': the path is "
			       "longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(err, false, -errno, "vhost-user socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		close(fd);
		return err_set(err, true, ret, "cannot connect to the vhost-user backend at '%s': "
			       "%s", path, strerror(-ret));
	}
	vhost_user_adopt(vu, fd);
	return 0;
}

void vhost_user_close(struct vhost_user *vu)
{
	if (vu->sock >= 0)
		close(vu->sock);
	vu->sock = -1;
	vu->dead = true;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on the socket until deadline: 0, -ETIMEDOUT or -errno. */
static int wait_sock(struct vhost_user *vu, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = vu->sock, .events = events };
		int64_t left = deadline - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return (p.revents & (POLLERR | POLLNVAL)) && !(p.revents & events) ? -EPIPE : 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* Room for the descriptors of one message, aligned for a cmsghdr. */
union vu_cmsg {
	char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
	struct cmsghdr align;
};

/* Descriptors never come with a reply Hearth reads: closed, and the reply refused. */
static bool close_fds(struct msghdr *mh)
{
	bool any = false;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			close(fd);
			any = true;
		}
	}
	return any || (mh->msg_flags & MSG_CTRUNC);
}

/* Reads exactly len bytes by deadline. 0 or -errno; -EPROTO for descriptors sent along. */
static int recv_full(struct vhost_user *vu, uint8_t *buf, size_t len, int64_t deadline)
{
	size_t got = 0;

	while (got < len) {
		union vu_cmsg ctl;
		struct iovec iov = { buf + got, len - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
		ssize_t n;
		int ret = wait_sock(vu, POLLIN, deadline);

		if (ret)
			return ret;
		n = recvmsg(vu->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if (close_fds(&mh))
			return -EPROTO;
		if (n == 0)
			return -EPIPE;
		got += (size_t)n;
	}
	return 0;
}

static int send_msg(struct vhost_user *vu, const uint8_t *buf, size_t len, const int *fds,
		    unsigned int nfds, int64_t deadline)
{
	union vu_cmsg ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t sent = 0;

	if (nfds > VHOST_USER_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (sent < len) {
		ssize_t n;
		int ret = wait_sock(vu, POLLOUT, deadline);

		if (ret)
			return ret;
		n = sendmsg(vu->sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		/* The descriptors went with the first bytes. */
		sent += (size_t)n;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		iov.iov_base = (uint8_t *)buf + sent;
		iov.iov_len = len - sent;
	}
	return 0;
}

static bool has_answer(uint32_t req)
{
	return req == VHOST_USER_GET_FEATURES || req == VHOST_USER_GET_PROTOCOL_FEATURES ||
	       req == VHOST_USER_GET_VRING_BASE || req == VHOST_USER_GET_QUEUE_NUM ||
	       req == VHOST_USER_GET_CONFIG;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (unsigned int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int recv_reply(struct vhost_user *vu, uint32_t req, void *out, size_t out_len,
		      int64_t deadline)
{
	uint8_t buf[VHOST_USER_HDR_SIZE + VHOST_USER_MAX_PAYLOAD];
	uint32_t size;
	int ret = recv_full(vu, buf, VHOST_USER_HDR_SIZE, deadline);

	if (ret)
		return ret;
	size = get_le32(buf + 8);
	/* Framing cannot survive a size past anything a reply holds. */
	if (size > VHOST_USER_MAX_PAYLOAD)
		return -EPROTO;
	/* A backend refuses GET_CONFIG with an empty answer; the stream stays in step. */
	if (req == VHOST_USER_GET_CONFIG && size == 0 && get_le32(buf) == req)
		return -EIO;
	ret = recv_full(vu, buf + VHOST_USER_HDR_SIZE, size, deadline);
	if (ret)
		return ret;
	return vhost_user_check_reply(buf, VHOST_USER_HDR_SIZE + size, req, out_len, out,
				      out_len, NULL);
}

static struct ratelimit vu_rl = RATELIMIT_INIT(10);

void vhost_user_op_begin(struct vhost_user *vu)
{
	if (!vu->op_depth++)
		vu->op_deadline = now_ms() + vu->op_budget_ms;
}

void vhost_user_op_end(struct vhost_user *vu)
{
	if (vu->op_depth && !--vu->op_depth)
		vu->op_deadline = 0;
}

int vhost_user_call(struct vhost_user *vu, uint32_t req, const void *payload, size_t len,
		    const int *fds, unsigned int nfds, void *out, size_t out_len)
{
	uint8_t buf[VHOST_USER_HDR_SIZE + VHOST_USER_MAX_PAYLOAD];
	bool ack = !has_answer(req) && (vu->protocol & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK));
	int64_t deadline = now_ms() + vu->timeout_ms;
	uint64_t status = 0;
	int ret;

	if (vu->dead || vu->sock < 0)
		return -EPIPE;
	if (vu->op_deadline && vu->op_deadline < deadline)
		deadline = vu->op_deadline;
	if (len > VHOST_USER_MAX_PAYLOAD)
		return -EINVAL;
	put_le32(buf, req);
	put_le32(buf + 4, VHOST_USER_VERSION | (ack ? VHOST_USER_FLAG_NEED_REPLY : 0));
	put_le32(buf + 8, (uint32_t)len);
	if (len)
		memcpy(buf + VHOST_USER_HDR_SIZE, payload, len);
	ret = send_msg(vu, buf, VHOST_USER_HDR_SIZE + len, fds, nfds, deadline);
	if (!ret && has_answer(req))
		ret = recv_reply(vu, req, out, out_len, deadline);
	else if (!ret && ack)
		ret = recv_reply(vu, req, &status, sizeof(status), deadline);
	if (ret && ret != -EIO) {
		/* Whatever was half sent or half read, the stream is no longer in step. */
		vu->dead = true;
		log_ratelimited(&vu_rl, LOG_WARN, "vhost-user: %s: %s", vhost_user_request_name(req),
				ret == -EPROTO ? "the backend's answer is malformed" : strerror(-ret));
		return ret == -EPIPE || ret == -ECONNRESET ? -EPIPE : ret;
	}
	return ret || status ? -EIO : 0;
}

int vhost_user_get_u64(struct vhost_user *vu, uint32_t req, uint64_t *v)
{
	return vhost_user_call(vu, req, NULL, 0, NULL, 0, v, sizeof(*v));
}

int vhost_user_set_u64(struct vhost_user *vu, uint32_t req, uint64_t v)
{
	return vhost_user_call(vu, req, &v, sizeof(v), NULL, 0, NULL, 0);
}

int vhost_user_set_state(struct vhost_user *vu, uint32_t req, uint32_t index, uint32_t num)
{
	uint32_t st[2] = { index, num };

	return vhost_user_call(vu, req, st, sizeof(st), NULL, 0, NULL, 0);
}

int vhost_user_set_vring_fd(struct vhost_user *vu, uint32_t req, uint32_t index, int fd)
{
	uint64_t v = index;

	if (fd < 0)
		v |= VHOST_USER_VRING_NOFD;
	return vhost_user_call(vu, req, &v, sizeof(v), fd >= 0 ? &fd : NULL, fd >= 0, NULL, 0);
}

int vhost_user_get_vring_base(struct vhost_user *vu, uint32_t index, uint16_t *base)
{
	uint32_t st[2] = { index, 0 };
	int ret = vhost_user_call(vu, VHOST_USER_GET_VRING_BASE, st, sizeof(st), NULL, 0, st,
				  sizeof(st));

	if (ret)
		return ret;
	if (st[0] != index || st[1] > 0xffff)
		return -EPROTO;
	*base = (uint16_t)st[1];
	return 0;
}

int vhost_user_get_config(struct vhost_user *vu, uint32_t offset, uint32_t size, uint8_t *out)
{
	struct vhost_user_config c = { .offset = offset, .size = size };
	size_t len = offsetof(struct vhost_user_config, payload) + size;
	int ret;

	if (size > VHOST_USER_MAX_CONFIG)
		return -EINVAL;
	ret = vhost_user_call(vu, VHOST_USER_GET_CONFIG, &c, len, NULL, 0, &c, len);
	if (ret)
		return ret;
	if (c.offset != offset || c.size != size)
		return -EPROTO;
	memcpy(out, c.payload, size);
	return 0;
}

int vhost_user_set_config(struct vhost_user *vu, uint32_t offset, const uint8_t *data,
			  uint32_t size)
{
	struct vhost_user_config c = { .offset = offset, .size = size };

	if (size > VHOST_USER_MAX_CONFIG)
		return -EINVAL;
	memcpy(c.payload, data, size);
	return vhost_user_call(vu, VHOST_USER_SET_CONFIG, &c,
			       offsetof(struct vhost_user_config, payload) + size, NULL, 0, NULL, 0);
}

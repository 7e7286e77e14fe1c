/*
 * Hybrid vsock, the device (VIRTIO 1.2, 5.10): the rx, tx and event
 * queues, the packets on them, and the listening socket at uds_path.
 * Connections and their host sockets are conn.c's.
 *
 * The guest writes every header, so each is copied out of the ring once,
 * then checked: a chain that cannot even hold a header marks the device
 * NEEDS_RESET; a packet that is wrong for its connection (bad length, a
 * type or op that does not exist, past its credit) resets that connection.
 */
#include "virtio/vsock_uds.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util/uds.h"
#include "virtio/virtio.h"
#include "virtio/vsock/hybrid.h"
#include "virtio/vsock/event.h"

#define VU_CID_MIN 3ull
#define VU_CID_MAX 0xfffffffeull
#define VU_PATH_MAX 96u

static bool vu_running(struct vsock_uds *vu, unsigned int q)
{
	/* Paused: nothing goes into or out of the rings until resume kicks each queue. */
	return virtio_dev_running(&vu->dev) && vu->dev.vq[q].enabled;
}

/* The budget ran out with work left: come back on a later I/O-loop round. */
static void vu_call_again(struct vsock_uds *vu, unsigned int q)
{
	if (vu->dev.kick_again)
		vu->dev.kick_again(&vu->dev, q);
	else
		virtq_set_notify(&vu->dev.vq[q], true); /* at least the driver's next kick */
}

static uint32_t vu_fill_rst(struct vsock_uds *vu, const struct virtq_chain *rc)
{
	struct vu_rst *r = &vu->rst[vu->rst_head];
	struct vsock_hdr h = { .src_cid = r->src_cid, .dst_cid = vu->cid,
			       .src_port = r->src_port, .dst_port = r->dst_port,
			       .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_RST };

	vu->rst_head = (vu->rst_head + 1) % VU_RST_BACKLOG;
	vu->nrst--;
	vu->rst_sent++;
	virtq_buf_to_iov(rc->iov, rc->n_in, 0, &h, VSOCK_HDR_LEN);
	return VSOCK_HDR_LEN;
}

/*
 * Fills receive buffers: queued RSTs first, then the connections with
 * something to say, round-robin. Stops when the driver has no buffer
 * left (its next kick brings us back) or the budget is spent.
 */
static void vu_rx_process(struct vsock_uds *vu)
{
	struct virtq *vq = &vu->dev.vq[VU_RXQ];
	struct virtq_chain *rc = &vu->chain;
	unsigned int budget = VU_KICK_PACKETS;
	bool pushed = false;
	uint32_t len;
	int ret;

	if (!vu_running(vu, VU_RXQ))
		return;
	while ((vu->nrst || vu->rx_head) && budget) {
		ret = virtq_pop(vq, rc);
		if (ret < 0) {
			virtio_dev_fail(&vu->dev, virtq_strerror(-ret));
			goto out;
		}
		if (!ret)
			break;
		if (rc->n_out || rc->in_len < VSOCK_HDR_LEN) {
			virtio_dev_fail(&vu->dev, "vsock receive buffer not device-writable or "
					"shorter than a packet header");
			goto out;
		}
		if (vu->nrst)
			len = vu_fill_rst(vu, rc);
		else if (vu_conn_fill(vu, vu->rx_head, rc, &len))
			len = 0; /* reset while filling: the buffer waits for its RST */
		if (!len) {
			vq->last_avail--; /* nothing after all: the buffer waits for the next packet */
			continue;
		}
		ret = virtq_push(vq, rc, len);
		if (ret < 0) {
			virtio_dev_fail(&vu->dev, virtq_strerror(-ret));
			goto out;
		}
		pushed = true;
		budget--;
	}
	if (!budget && (vu->nrst || vu->rx_head))
		vu_call_again(vu, VU_RXQ);
	if (vu->tx_blocked && vu->nrst < VU_RST_BACKLOG / 2) {
		vu->tx_blocked = false;
		vu_call_again(vu, VU_TXQ);
	}
out:
	if (pushed)
		virtio_dev_notify(&vu->dev, VU_RXQ);
}

/* One packet from the guest; false when the device had to stop (NEEDS_RESET). */
static bool vu_tx_one(struct vsock_uds *vu, const struct virtq_chain *c)
{
	struct vsock_hdr h;

	/* 5.10.6.2: a packet is the header, then its data, all device-readable. */
	if (c->n_in || c->out_len < VSOCK_HDR_LEN) {
		virtio_dev_fail(&vu->dev, "vsock transmit chain has device-writable buffers or "
				"is shorter than a packet header");
		return false;
	}
	virtq_iov_to_buf(c->iov, c->n_out, 0, &h, VSOCK_HDR_LEN);
	vu_conn_packet(vu, &h, c);
	return true;
}

static void vu_tx_process(struct vsock_uds *vu)
{
	struct virtq *vq = &vu->dev.vq[VU_TXQ];
	unsigned int budget = VU_KICK_PACKETS;
	bool pushed = false;
	int ret;

	for (;;) {
		ret = 0;
		while (budget && !vu->tx_blocked && (ret = virtq_pop(vq, &vu->chain)) > 0) {
			budget--;
			if (!vu_tx_one(vu, &vu->chain))
				goto out;
			ret = virtq_push(vq, &vu->chain, 0);
			if (ret < 0)
				break;
			pushed = true;
			/* Each packet may answer with an RST: stop while they cannot go out. */
			if (vu->nrst >= VU_RST_BACKLOG / 2)
				vu->tx_blocked = true;
		}
		if (ret < 0) {
			virtio_dev_fail(&vu->dev, virtq_strerror(-ret));
			goto out;
		}
		if (vu->tx_blocked)
			break; /* vu_rx_process calls us again once the RSTs are out */
		if (!budget && virtq_has_work(vq)) {
			vu_call_again(vu, VU_TXQ);
			break;
		}
		virtq_set_notify(vq, true);
		if (!virtq_has_work(vq))
			break;
	}
out:
	if (pushed)
		virtio_dev_notify(&vu->dev, VU_TXQ);
	vu_rx_process(vu);
}

/* A restore owes the guest a transport reset; sent once it has an event buffer. */
static void vu_send_pending_reset(struct vsock_uds *vu)
{
	if (vu->reset_pending && !vsock_event_send_reset(&vu->dev, VU_EVQ, &vu->chain))
		vu->reset_pending = false;
}

/*
 * A connection's host socket had events: the device's other door, beside
 * the queues. What they mean is the connection's business (conn.c); what
 * it now has for the guest goes out here.
 */
static void vu_on_conn_event(void *opaque, uint32_t events)
{
	struct vu_conn *c = opaque;
	struct vsock_uds *vu = c->vu;

	pthread_mutex_lock(&vu->dev.lock);
	/* This callback is c's owner: once it is freed, only vu is used. */
	if (!vu_conn_host_event(vu, c, events))
		vu_conn_refresh(vu, c);
	vu_rx_process(vu);
	pthread_mutex_unlock(&vu->dev.lock);
}

static void vu_queue_notify(struct virtio_dev *dev, unsigned int q)
{
	struct vsock_uds *vu = dev->priv;

	if (q == VU_TXQ)
		vu_tx_process(vu);
	else if (q == VU_RXQ)
		vu_rx_process(vu);
	else if (q == VU_EVQ)
		vu_send_pending_reset(vu);
	/* Otherwise the event queue only holds buffers until we have an event for one. */
}

static uint64_t vu_get_features(struct virtio_dev *dev)
{
	(void)dev;
	return 0; /* streams only: no feature bit asks for them (5.10.3) */
}

static void vu_read_config(struct virtio_dev *dev, uint32_t offset, uint8_t *data,
			   unsigned int len)
{
	struct vsock_uds *vu = dev->priv;
	uint64_t cid = vu->cid;

	if (offset < sizeof(cid) && len <= sizeof(cid) - offset)
		memcpy(data, (uint8_t *)&cid + offset, len);
}

static int vu_activate(struct virtio_dev *dev)
{
	/* Host clients may have connected before the driver was ready. */
	vu_rx_process(dev->priv);
	return 0;
}

static void vu_reset(struct virtio_dev *dev)
{
	/* The driver forgot every connection: their host sockets close. */
	vu_conns_free_all(dev->priv);
}

static int vu_transport_reset_fn(void *ctx, struct err *err)
{
	struct vsock_uds *vu = ctx;
	int ret;

	pthread_mutex_lock(&vu->dev.lock);
	vu_conns_free_all(vu);
	ret = vsock_event_send_reset(&vu->dev, VU_EVQ, &vu->chain) ? -EAGAIN : 0;
	pthread_mutex_unlock(&vu->dev.lock);
	return ret;
}

int virtio_vsock_uds_transport_reset(struct virtio_dev *dev)
{
	struct vsock_uds *vu = dev->priv;

	/*
	 * Connections are freed on the I/O thread only: from another thread,
	 * one could be in a callback's hands, or its event already fetched.
	 * -ESHUTDOWN once the loop has stopped: the device goes with the VM.
	 */
	return eventloop_run_on(vu->loop, vu_transport_reset_fn, vu, NULL);
}

/*
 * Snapshots. Only the CID is state: connections stay with the process
 * that was snapshotted (their host sockets are its), so a restored device
 * starts with none and owes the guest a transport reset, which makes it
 * drop the connections it still believes in. Sent from restored (after
 * activate, with the interrupt controller restored); if the driver has no
 * event buffer then, or the device is paused, at its next event-queue
 * kick or at resume.
 */
static int vu_save(struct virtio_dev *dev, struct bytes_out *o)
{
	struct vsock_uds *vu = dev->priv;
	struct vsock_saved s = { .cid = vu->cid };

	vsock_state_put(o, &s);
	return 0;
}

static int vu_restore(struct virtio_dev *dev, const struct virtq *vq, const void *in,
		      size_t len, bool apply)
{
	struct vsock_uds *vu = dev->priv;
	struct vsock_saved s;
	int ret = vsock_state_get(in, len, vu->cid, 0, &s);

	(void)vq; /* no ring position of its own */
	if (ret || !apply)
		return ret;
	vu_conns_free_all(vu);
	vu->reset_pending = true;
	return 0;
}

static void vu_restored(struct virtio_dev *dev)
{
	vu_send_pending_reset(dev->priv);
}

static void vu_resume(struct virtio_dev *dev)
{
	vu_send_pending_reset(dev->priv);
}

static unsigned int vu_counters(struct virtio_dev *dev, struct dev_counter *out,
				unsigned int max)
{
	struct vsock_uds *vu = dev->priv;
	struct dev_counter c[7];

	pthread_mutex_lock(&dev->lock);
	c[0] = (struct dev_counter){ "conns_opened", vu->conns_opened };
	c[1] = (struct dev_counter){ "conns_refused", vu->conns_refused };
	c[2] = (struct dev_counter){ "rx_bytes", vu->rx_bytes };
	c[3] = (struct dev_counter){ "tx_bytes", vu->tx_bytes };
	c[4] = (struct dev_counter){ "bad_packets", vu->bad_packets };
	c[5] = (struct dev_counter){ "rst_sent", vu->rst_sent };
	c[6] = (struct dev_counter){ "handshakes_timed_out", vu->handshakes_timed_out };
	pthread_mutex_unlock(&dev->lock);
	return dev_counters_copy(out, max, c, 7);
}

static const struct virtio_dev_ops vu_ops = {
	.device_id = VIRTIO_ID_VSOCK,
	.get_features = vu_get_features,
	.read_config = vu_read_config,
	.activate = vu_activate,
	.reset = vu_reset,
	.queue_notify = vu_queue_notify,
	.destroy = virtio_vsock_uds_destroy,
	.counters = vu_counters,
	.resume = vu_resume,
	.save = vu_save,
	.restore = vu_restore,
	.restored = vu_restored,
};

static int vu_listen(struct vsock_uds *vu, struct err *err)
{
	int ret;

	/* A directory of its own, made here, is one the sandbox may keep for uds_path_PORT. */
	ret = uds_make_dir("uds_path", vu->path, err);
	if (ret)
		return ret;
	vu->listen_fd = uds_listen("uds_path", vu->path, 64, err);
	if (vu->listen_fd < 0) {
		ret = vu->listen_fd;
		vu->listen_fd = -1;
		/* Someone else's file or live socket: the input's fault, as vhost's taken CID. */
		return ret == -EEXIST ? -EADDRINUSE : ret;
	}
	ret = eventloop_add(vu->loop, vu->listen_fd, EPOLLIN, vu_on_listen, vu);
	if (ret)
		unlink(vu->path);
	return ret;
}

int virtio_vsock_uds_create(const struct virtio_env *env, const struct vsock_uds_config *cfg,
			    struct virtio_dev **out, struct err *err)
{
	struct vsock_uds *vu;
	int ret;

	if (cfg->cid < VU_CID_MIN || cfg->cid > VU_CID_MAX || !cfg->uds_path ||
	    !*cfg->uds_path || strlen(cfg->uds_path) > VU_PATH_MAX || !env->loop)
		return err_set(err, true, -EINVAL, "hybrid vsock: want a CID of 3 to 4294967294 "
			       "and a uds_path of 1 to %u bytes", VU_PATH_MAX);
	err->msg[0] = '\0';
	vu = calloc(1, sizeof(*vu));
	if (!vu) {
		ret = -ENOMEM;
		goto err_msg;
	}
	vu->listen_fd = -1;
	vu->hs_tfd = -1;
	vu->loop = env->loop;
	vu->cid = cfg->cid;
	vu->next_port = VU_FIRST_LOCAL_PORT;
	vu->conn_event = vu_on_conn_event;
	vu->path = strdup(cfg->uds_path);
	if (!vu->path) {
		ret = -ENOMEM;
		goto err_free;
	}
	vu->dev.ops = &vu_ops;
	vu->dev.priv = vu;
	vu->dev.name = "virtio-vsock";
	vu->dev.num_queues = 3;
	vu->dev.queue_max = VU_QUEUE_SIZE;
	vu->dev.config_size = sizeof(uint64_t);
	ret = virtio_dev_init(&vu->dev, env);
	if (ret)
		goto err_free;
	ret = vu_handshake_init(vu, env);
	if (ret)
		goto err_release;
	ret = vu_listen(vu, err);
	if (ret)
		goto err_release;
	*out = &vu->dev;
	return 0;

err_release:
	vu_handshake_release(vu);
	virtio_dev_release(&vu->dev);
err_free:
	if (vu->listen_fd >= 0)
		close(vu->listen_fd);
	free(vu->path);
	free(vu);
err_msg:
	if (!err->msg[0])
		err_set(err, false, ret, "uds_path %s: %s", cfg->uds_path, strerror(-ret));
	return ret;
}

void virtio_vsock_uds_destroy(struct virtio_dev *dev)
{
	struct vsock_uds *vu;

	if (!dev)
		return;
	vu = dev->priv;
	vu_conns_free_all(vu);
	vu_handshake_release(vu);
	eventloop_remove(vu->loop, vu->listen_fd);
	close(vu->listen_fd);
	/* Ours since create; a client still connected keeps its socket, not the name. */
	unlink(vu->path);
	virtio_dev_release(&vu->dev);
	free(vu->path);
	free(vu);
}

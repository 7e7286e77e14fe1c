/*
 * Hybrid vsock (Firecracker's protocol): a virtio-vsock device whose host
 * side is Unix sockets rather than the kernel's vhost_vsock, so it needs
 * neither /dev/vhost-vsock nor root.
 *
 *   host -> guest  a client connects to uds_path and sends "CONNECT <port>\n";
 *                  once the guest accepts, it reads "OK <hostport>\n", then
 *                  the socket is the connection.
 *   guest -> host  the guest connects to CID 2, port P; Hearth connects to
 *                  the Unix socket "<uds_path>_P" (refused: the guest's
 *                  connect fails with a reset).
 *
 * All host-side work runs on the I/O thread's event loop.
 */
#ifndef HEARTH_VIRTIO_VSOCK_UDS_H
#define HEARTH_VIRTIO_VSOCK_UDS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "virtio/device.h"

struct vsock_uds_config {
	uint64_t cid;             /* the guest's, 3 .. 2^32-2 */
	const char *uds_path;     /* at most 96 bytes: "_PORT" must still fit in sun_path */
};

/*
 * Binds and listens on uds_path. A stale socket there (nobody accepting)
 * is replaced; any other file, or a socket someone serves on, is refused
 * (-EADDRINUSE) with the reason in err. env->loop is required; env->clock
 * (NULL: CLOCK_MONOTONIC) times host clients' CONNECT lines. Counters:
 * "conns_opened", "conns_refused" (cap, no listener), "rx_bytes" (to the
 * guest), "tx_bytes" (from it), "bad_packets", "rst_sent",
 * "handshakes_timed_out" (host clients closed for want of a CONNECT line).
 */
int virtio_vsock_uds_create(const struct virtio_env *env, const struct vsock_uds_config *cfg,
			    struct virtio_dev **out, struct err *err);
/* Closes every connection, the listener, and removes the socket file. */
void virtio_vsock_uds_destroy(struct virtio_dev *dev);

/*
 * Drops every connection and tells the driver with a TRANSPORT_RESET
 * event (5.10.6.6), as after a snapshot restore. From any thread: it runs
 * on the I/O thread (eventloop_run_on), under dev->lock. Returns 0,
 * -EAGAIN when the driver has no event buffer ready, or -ESHUTDOWN once
 * the loop has stopped.
 */
int virtio_vsock_uds_transport_reset(struct virtio_dev *dev);

#endif

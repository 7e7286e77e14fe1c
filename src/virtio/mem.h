/*
 * virtio-mem (VIRTIO 1.2, 5.15; device id 24) as Firecracker 1.16 has it:
 * a device-managed region of guest physical memory, cut into blocks, that
 * the guest's driver plugs and unplugs block by block toward the size
 * the host requests (PATCH /hotplug/memory). One request queue; the
 * config space tells the driver the region, the block size, the
 * requested size and what is plugged.
 *
 * The device knows neither its transport nor the VM: plugging and
 * unplugging a range is its ops' (vmm: mem/guest_mem_hotplug.h maps the
 * KVM slots and gives unplugged pages back to the host). It keeps the
 * per-block state itself and answers the driver as the spec says:
 * ERROR for a range out of the usable region, misaligned, empty, or not
 * all in the state the request needs (plugging plugged blocks, unplugging
 * unplugged ones); NACK for a plug the requested size does not leave room
 * for, or one the host could not map; ACK otherwise. A chain without a
 * whole request and a writable response marks NEEDS_RESET.
 *
 * As Firecracker: VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE is offered and
 * required (a driver that does not take it is not activated); the driver
 * cannot write the config; a reset leaves the blocks as they are (5.15.5.2).
 * usable_region_size grows, in slots, to cover the requested size; an
 * UNPLUG_ALL shrinks it back to that (Firecracker: to 0).
 *
 * Counters: Firecracker's virtio-mem metrics "queue_event_count",
 * "queue_event_fails" (rings broken), "activate_fails", "plug_count",
 * "plug_bytes", "plug_fails", "unplug_count", "unplug_bytes",
 * "unplug_fails", "unplug_all_count", "unplug_all_fails", "state_count",
 * "state_fails", "unplug_discard_fails" (ops refusals on unplug); and
 * Hearth's "plugged_bytes" (now), "unknown_requests".
 */
#ifndef HEARTH_VIRTIO_MEM_H
#define HEARTH_VIRTIO_MEM_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"
#include "virtio/device.h"

#ifndef VIRTIO_ID_MEM
#define VIRTIO_ID_MEM 24
#endif

/* Feature bits (5.15.3). */
#define VIRTIO_MEM_F_ACPI_PXM 0
#define VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE 1

/* Requests and responses (5.15.6). */
#define VIRTIO_MEM_REQ_PLUG 0
#define VIRTIO_MEM_REQ_UNPLUG 1
#define VIRTIO_MEM_REQ_UNPLUG_ALL 2
#define VIRTIO_MEM_REQ_STATE 3
#define VIRTIO_MEM_RESP_ACK 0
#define VIRTIO_MEM_RESP_NACK 1
#define VIRTIO_MEM_RESP_BUSY 2
#define VIRTIO_MEM_RESP_ERROR 3
#define VIRTIO_MEM_STATE_PLUGGED 0
#define VIRTIO_MEM_STATE_UNPLUGGED 1
#define VIRTIO_MEM_STATE_MIXED 2

#define VIRTIO_MEM_REQ_SIZE 24u    /* le16 type, 3 x le16 padding, le64 addr, le16 nb_blocks, padding */
#define VIRTIO_MEM_RESP_SIZE 10u   /* le16 type, 3 x le16 padding, le16 state */
#define VIRTIO_MEM_CONFIG_SIZE 56u

/* Firecracker's defaults and lower bounds (MiB). */
#define VIRTIO_MEM_DEFAULT_BLOCK_SIZE_MIB 2u
#define VIRTIO_MEM_DEFAULT_SLOT_SIZE_MIB 128u

/* What the device asks of the VM. */
struct virtio_mem_ops {
	/*
	 * Plug (plug) or unplug [off, off+len) of the region, block aligned,
	 * every block in it in the other state. 0, or -errno: a plug is then
	 * refused (NACK) and nothing changed; an unplug is done regardless
	 * (the blocks are the guest's no more), the failure only counted.
	 */
	int (*set)(void *ctx, uint64_t off, uint64_t len, bool plug);
};

struct virtio_mem_config {
	uint64_t addr;                /* guest physical, block aligned */
	uint64_t region_size;         /* a multiple of slot_size */
	uint64_t block_size;          /* a power of two, at least 4 KiB */
	uint64_t slot_size;           /* a multiple of block_size */
	const struct virtio_mem_ops *ops;
	void *ctx;
};

/* Firecracker's VirtioMemStatus. */
struct virtio_mem_status {
	uint32_t total_size_mib, block_size_mib, slot_size_mib;
	uint32_t plugged_size_mib, requested_size_mib;
};

/* The device, nothing plugged, nothing requested. 0, -EINVAL (the geometry), -errno. */
int virtio_mem_create(const struct virtio_env *env, const struct virtio_mem_config *cfg,
		      struct virtio_dev **out, struct err *err);
void virtio_mem_destroy(struct virtio_dev *dev);

/*
 * A new requested size, told the driver by a config interrupt. -EINVAL
 * before the driver started the device or for a size that is not a
 * multiple of the block size or passes the region, in Firecracker's
 * words (VmmError's "Failed to create memory hotplug device: ..."). Takes
 * dev->lock; on the I/O thread.
 */
int virtio_mem_set_requested(struct virtio_dev *dev, uint32_t requested_mib, struct err *err);
/* Firecracker's GET /hotplug/memory. Takes dev->lock. */
void virtio_mem_get_status(struct virtio_dev *dev, struct virtio_mem_status *out);

#endif

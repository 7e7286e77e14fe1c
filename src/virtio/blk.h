/* virtio-blk over io_uring on a raw image, or a qcow2 image over its backing chain. */
#ifndef HEARTH_VIRTIO_BLK_H
#define HEARTH_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"
#include "virtio/device.h"

/*
 * NONE: O_DIRECT; WRITEBACK: the host page cache, guest flushes honoured
 * (fdatasync). UNSAFE (Firecracker's cache_type "Unsafe"; not on the
 * command line): the page cache, FLUSH not offered, a flush the guest
 * sends anyway completed without syncing.
 */
enum blk_cache { BLK_CACHE_NONE, BLK_CACHE_WRITEBACK, BLK_CACHE_UNSAFE };

/*
 * What an image's bytes are: the disk itself (raw, the default), or a
 * qcow2 image (disk/qcow2.h) over its backing files (blk/qdisk.c).
 */
enum blk_format { BLK_FORMAT_RAW, BLK_FORMAT_QCOW2 };
/* Backing files under a qcow2 image: a chain of 16 files at most (QCOW2_CHAIN_MAX), the top one's. */
#define BLK_BACKING_MAX 15u

struct spare_ring;

struct blk_config {
	const char *path;
	/* Instead of path: a vhost-user backend's socket (virtio/vublk.h); never opened here. */
	const char *socket;
	bool readonly;
	char id[21];              /* VIRTIO_BLK_ID_BYTES + NUL */
	enum blk_cache cache;
	/* Request queues (VIRTIO_BLK_F_MQ past one), 1 to BLK_MAX_QUEUES; 0 is one. */
	unsigned int queues;
	enum blk_format format;
	/*
	 * A qcow2 image's backing chain as the request names it, the top
	 * image's backing file first (heap strings, freed by release); or,
	 * with backing_from_header, none named: each header's own name is
	 * taken, resolved within the directory of the image that names it
	 * (blk/chain.c). An image's header never chooses a host file else.
	 */
	char *backing[BLK_BACKING_MAX];
	unsigned int nbacking;
	bool backing_from_header;
	/*
	 * The open, locked image once virtio_blk_open() ran (opened): bad,
	 * missing or locked images are found before KVM is touched.
	 */
	bool opened;
	/* A live migration's destination: opened without the lock, taken later (blk_image_hold). */
	bool lock_later;
	bool direct;              /* fd is O_DIRECT; fd_buffered takes unaligned I/O */
	int fd, fd_buffered;
	int lock_fd;              /* the flock's own description (image.c) */
	/*
	 * A qcow2 image's backing files, opened with it (blk/chain.c): read
	 * only, buffered, each locked shared on its own description (no ring
	 * holds them); chain_raw[i]: a raw layer, the last one. nchain of them.
	 */
	unsigned int nchain;
	int chain_fd[BLK_BACKING_MAX];
	bool chain_raw[BLK_BACKING_MAX];
	/*
	 * The ring a disk plugged in after start runs on, made at start
	 * (blk_ring_spare_make): the disk claims it and gives it back when
	 * destroyed. NULL: the disk makes its own (before the seal).
	 */
	struct spare_ring *ring;
};

/*
 * A disk's ring made ahead, for a disk plugged in later (spare_ring.h):
 * fenced as every disk's is (blk/ring.c), its two file slots empty, its
 * completion eventfd made and registered. 0 or -errno, nothing left open.
 */
int blk_ring_spare_make(struct spare_ring *s);

/*
 * "path=FILE[,ro][,id=NAME][,cache=none|writeback][,queues=N]
 * [,format=raw|qcow2][,backing=FILE]...[,backing=header]", or
 * "socket=PATH[,id=NAME][,cache=...]" (vhost-user); -EINVAL + one line in err.
 */
int virtio_blk_parse(const char *spec, struct blk_config *cfg, struct err *err);
/*
 * Opens and locks the image now, and a qcow2 image's backing chain
 * (blk/chain.c: loaded zlib too, for compressed clusters, before any
 * sandbox seals); -errno + one line in err.
 */
int virtio_blk_open(struct blk_config *cfg, struct err *err);
/* Frees the path and closes what virtio_blk_open() opened (create dups it). */
void virtio_blk_config_release(struct blk_config *cfg);

/*
 * Opens (unless opened), locks and sizes the image; needs env->loop for
 * io_uring completions. Counters: read_requests, read_bytes,
 * write_requests, write_bytes, flush_requests (completed successfully),
 * flush_ignored (of those, completed without a sync: BLK_CACHE_UNSAFE)
 * and errors (requests answered with an error status).
 */
int virtio_blk_create(const struct virtio_env *env, const struct blk_config *cfg,
		      struct virtio_dev **out, struct err *err);
void virtio_blk_destroy(struct virtio_dev *dev);

/*
 * Live changes (PATCH /drives/{id}); each runs on the I/O thread and takes
 * dev->lock. The counters add "rate_limiter_throttled": requests the
 * limiter held back in the ring.
 */
void virtio_blk_set_limiter(struct virtio_dev *dev, const struct rl_config *cfg);
/* True when path names the image the disk has open (same inode). Any thread. */
bool virtio_blk_same_image(struct virtio_dev *dev, const char *path);
/* Re-reads the image's size and tells the driver (config change). 0 or -errno + err. */
int virtio_blk_refresh(struct virtio_dev *dev, struct err *err);
/*
 * Puts the image cfg opened (virtio_blk_open: type checked, locked) behind
 * the disk: requests in flight finish on the old image, then the disk
 * switches, takes the new size and raises a config-change interrupt, and
 * the old image is closed (and unlocked). cfg's descriptors are dup'ed:
 * the caller still releases cfg. On failure (-errno, one line in err) the
 * old image stays.
 */
int virtio_blk_swap(struct virtio_dev *dev, const struct blk_config *cfg, struct err *err);
/*
 * A live migration's switch-over, the VM paused: hold false lets the
 * image's lock go (the destination takes it on shared storage); true
 * takes it back, when the destination failed. 0 or -errno with err.
 */
int virtio_blk_hold(struct virtio_dev *dev, bool hold, struct err *err);

#endif

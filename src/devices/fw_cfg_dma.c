/*
 * fw_cfg's DMA interface, as QEMU's fw_cfg_dma_transfer: the guest
 * writes the address of an FWCfgDmaAccess (control, length, address, all
 * big-endian) to the DMA register, high half then low, and the transfer
 * runs then, on its vCPU, before the write returns; the control word is
 * written back 0, or with the error bit. Every guest range is checked
 * against RAM before a byte moves, and a transfer longer than
 * FW_CFG_DMA_LEN_MAX is refused whole: one write costs one bounded copy.
 */
#include <string.h>

#include "devices/fw_cfg_priv.h"
#include "mem/guest_mem.h"

static const uint8_t dma_signature[8] = { 'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G' };

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The item's part of a read or write; 0 or FW_CFG_DMA_CTL_ERROR. */
static uint32_t dma_item(struct fw_cfg *d, uint32_t op, uint64_t addr, uint32_t n)
{
	struct fw_cfg_item *it = d->cur;
	uint8_t *p;

	if (!n || op == FW_CFG_DMA_CTL_SKIP)
		return 0;
	p = guest_mem_ptr(d->mem, addr, n);
	if (!p)
		return FW_CFG_DMA_CTL_ERROR;
	if (op == FW_CFG_DMA_CTL_READ) {
		memcpy(p, it->data + d->off, n);
		guest_mem_dirty_mark(d->mem, addr, n);
		return 0;
	}
	if (!it->writable)
		return FW_CFG_DMA_CTL_ERROR;
	memcpy(it->data + d->off, p, n);
	return 0;
}

/* One transfer for the access at gpa; d->lock held. Returns the control word to write back. */
static uint32_t dma_run(struct fw_cfg *d, uint64_t gpa)
{
	uint8_t acc[FW_CFG_DMA_ACCESS_SIZE];
	uint32_t control, len, op, n, avail, ret;
	uint64_t addr;

	if (guest_mem_read(d->mem, gpa, acc, sizeof(acc)))
		return FW_CFG_DMA_CTL_ERROR;
	control = get_be32(acc);
	len = get_be32(acc + 4);
	addr = (uint64_t)get_be32(acc + 8) << 32 | get_be32(acc + 12);
	if (control & FW_CFG_DMA_CTL_SELECT)
		fw_cfg_select(d, (uint16_t)(control >> 16));
	/* Read, then write, then skip, as QEMU takes them; none of them: nothing to do. */
	if (control & FW_CFG_DMA_CTL_READ)
		op = FW_CFG_DMA_CTL_READ;
	else if (control & FW_CFG_DMA_CTL_WRITE)
		op = FW_CFG_DMA_CTL_WRITE;
	else if (control & FW_CFG_DMA_CTL_SKIP)
		op = FW_CFG_DMA_CTL_SKIP;
	else
		return 0;
	if (op != FW_CFG_DMA_CTL_SKIP && len > FW_CFG_DMA_LEN_MAX)
		return FW_CFG_DMA_CTL_ERROR;
	avail = d->cur ? d->cur->len - d->off : 0;
	n = len < avail ? len : avail;
	/* A write must fit in the item, as in QEMU; nothing of it is taken otherwise. */
	if (op == FW_CFG_DMA_CTL_WRITE && n != len)
		return FW_CFG_DMA_CTL_ERROR;
	ret = dma_item(d, op, addr, n);
	/* The offset moves on even when the guest's range was bad, as in QEMU. */
	d->off += n;
	if (ret || n == len || op != FW_CFG_DMA_CTL_READ)
		return ret;
	/* Past the item's end a read gives zeros. */
	addr += n;
	len -= n;
	{
		uint8_t *p = guest_mem_ptr(d->mem, addr, len);

		if (!p)
			return FW_CFG_DMA_CTL_ERROR;
		memset(p, 0, len);
		guest_mem_dirty_mark(d->mem, addr, len);
	}
	return 0;
}

static void dma_start(struct fw_cfg *d, uint64_t gpa)
{
	uint32_t control = dma_run(d, gpa);
	uint8_t be[4] = { (uint8_t)(control >> 24), (uint8_t)(control >> 16),
			  (uint8_t)(control >> 8), (uint8_t)control };

	/* The data before the control word: a guest polling it on another vCPU sees both. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	/* An access structure outside RAM has nowhere to take its answer. */
	(void)guest_mem_write(d->mem, gpa, be, sizeof(be));
}

static void fw_cfg_dma_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	(void)opaque;
	for (unsigned int i = 0; i < len; i++)
		data[i] = offset + i < sizeof(dma_signature) ? dma_signature[offset + i] : 0;
}

/* The port's bytes in address order, as the big-endian number the guest wrote. */
static uint64_t be_value(const uint8_t *data, unsigned int len)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < len; i++)
		v = v << 8 | data[i];
	return v;
}

static void fw_cfg_dma_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct fw_cfg *d = opaque;
	uint64_t gpa;

	/* QEMU's fw_cfg_dma_mem_valid: 32-bit halves at 0 and 4, or all 64 bits at 0. */
	if (!(len == 4 && (offset == 0 || offset == 4)) && !(len == 8 && offset == 0))
		return;
	pthread_mutex_lock(&d->lock);
	if (len == 4 && offset == 0) {
		d->dma_hi = (uint32_t)be_value(data, 4);
		pthread_mutex_unlock(&d->lock);
		return;
	}
	gpa = len == 8 ? be_value(data, 8) : (uint64_t)d->dma_hi << 32 | be_value(data, 4);
	/* Each transfer starts from a clear latch, as QEMU's dma_addr. */
	d->dma_hi = 0;
	dma_start(d, gpa);
	pthread_mutex_unlock(&d->lock);
}

const struct bus_region_ops fw_cfg_dma_ops = {
	.read = fw_cfg_dma_read,
	.write = fw_cfg_dma_write,
};

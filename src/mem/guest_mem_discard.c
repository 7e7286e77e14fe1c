/*
 * Giving guest pages back to the host (guest_mem.h, guest_mem_discard).
 * What backs the RAM decides how, and every way must leave the pages
 * reading as zeros: never as what the guest, or a snapshot, had there
 * before (the guest may rely on neither, but a page that comes back with
 * old bytes is one the host never really got).
 */
#include "mem/guest_mem.h"

#include <errno.h>
#include <linux/mman.h>
#include <linux/userfaultfd.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "mem/guest_mem_hotplug.h"
#include "mem/guest_mem_huge.h"

/*
 * UFFDIO_ZEROPAGE says EAGAIN while the address space is changing
 * (another thread's mmap): tried again a few times, then reported.
 */
#define DISCARD_UFFD_RETRIES 16

/* The region holding all of [gpa, gpa+len), mapped; NULL when there is none. */
static const struct guest_region *discard_region(const struct guest_mem *gm, uint64_t gpa,
						 uint64_t len)
{
	for (unsigned int i = 0; i < gm->nregions; i++) {
		const struct guest_region *r = &gm->regions[i];

		if (r->hva && gpa >= r->gpa && gpa - r->gpa <= r->size &&
		    len <= r->size - (gpa - r->gpa))
			return r;
	}
	return NULL;
}

/*
 * A File restore maps the memory file MAP_PRIVATE: MADV_DONTNEED would
 * only drop the guest's private copies, and the file's bytes would show
 * through again. A fresh anonymous mapping is put over the range instead;
 * mmap_lock makes the swap atomic for the vCPUs, and KVM drops what it
 * mapped of the old pages through its MMU notifier. The kernel refuses
 * before it changes anything when the split would pass vm.max_map_count
 * (a guest giving back every other page): the range is then zeroed in
 * place, its memory kept, and the error returned for the caller to count.
 */
static int discard_file(uint8_t *p, uint64_t len, bool huge)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, ret;

	/* Never both today (huge RAM is filled from the file, not mapped), but keep the page size. */
	if (huge)
		flags |= MAP_HUGETLB | MAP_HUGE_2MB;
	if (mmap(p, len, PROT_READ | PROT_WRITE, flags, -1, 0) != MAP_FAILED) {
		/* As every RAM mapping: the guest's memory stays out of Hearth's core dumps. */
		madvise(p, len, MADV_DONTDUMP);
		return 0;
	}
	ret = -errno;
	if (ret == -ENOMEM)
		memset(p, 0, len);
	return ret;
}

/*
 * A Uffd restore: after MADV_DONTNEED the pages are missing again, and
 * the next touch would fault to the handler, which serves the snapshot's
 * bytes unless it learnt of the removal (UFFD_EVENT_REMOVE, which
 * guest_mem_uffd_register does not negotiate). The zero page is put into
 * the hole here instead (UFFDIO_ZEROPAGE, on the userfaultfd gm holds), so
 * no fault reaches the handler and nothing is allocated until the guest
 * writes. A page faulted in meanwhile (EEXIST: the guest touched a page it
 * had just given away, and the handler served it) is left as it is.
 */
static int discard_uffd_fill(int uffd, uint64_t start, uint64_t len)
{
	unsigned int tries = 0;

	while (len) {
		struct uffdio_zeropage z = { .range = { .start = start, .len = len } };
		uint64_t done;
		int e;

		if (!ioctl(uffd, UFFDIO_ZEROPAGE, &z))
			return 0;
		e = errno;
		done = z.zeropage > 0 ? (uint64_t)z.zeropage : 0;
		if (done > len)
			return -EIO;
		start += done;
		len -= done;
		if (e == EEXIST && len >= GUEST_PAGE_SIZE) {
			start += GUEST_PAGE_SIZE;
			len -= GUEST_PAGE_SIZE;
			tries = 0;
			continue;
		}
		if (e == EAGAIN && (done || ++tries < DISCARD_UFFD_RETRIES))
			continue;
		return -e;
	}
	return 0;
}

/*
 * Plugged memory of the hotplug region (virtio-mem): the guest's free
 * pages lie there too. Only a range wholly inside plugged blocks
 * (guest_mem_hotplug_ptr): an unplugged block is the host's already. A
 * block cannot be unplugged between that check and the discard: both run
 * on the I/O thread (guest_mem_hotplug_set; the balloon's queues). The
 * region is 4 KiB anonymous memory, or a File restore's private mapping
 * of the memory file; on a Uffd restore, a block plugged again after an
 * unplug has left the userfaultfd (guest_mem_hotplug.c), so no zero page
 * is needed there (ENOENT).
 */
static int64_t discard_hotplug(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	uint8_t *p = gm->hp ? guest_mem_hotplug_ptr(gm, gpa, len) : NULL;
	int ret = 0;

	if (!p)
		return -EINVAL;
	if (gm->hp->file_backed)
		ret = discard_file(p, len, false);
	else if (madvise(p, len, MADV_DONTNEED))
		return -errno;
	else if (gm->uffd_held)
		ret = discard_uffd_fill(gm->uffd, (uint64_t)(uintptr_t)p, len);
	if (ret == -ENOENT)
		ret = 0;
	guest_mem_dirty_mark(gm, gpa, len);
	return ret ? ret : (int64_t)len;
}

int64_t guest_mem_discard(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	const struct guest_region *r;
	uint64_t off, end;
	uint8_t *p;
	int ret = 0;

	if ((gpa | len) & (GUEST_PAGE_SIZE - 1))
		return -EINVAL;
	r = discard_region(gm, gpa, len);
	if (!r)
		return len ? discard_hotplug(gm, gpa, len) : -EINVAL;
	off = gpa - r->gpa;
	end = off + len;
	if (gm->huge) {
		/*
		 * A 2 MiB page goes back whole or not at all: the parts of
		 * those the range only partly covers stay as they are (the
		 * caller learns how much went from the return). Regions and
		 * their mappings start 2 MiB aligned, so offsets tell.
		 */
		off = (off + GUEST_HUGE_PAGE_SIZE - 1) & ~(GUEST_HUGE_PAGE_SIZE - 1);
		end &= ~(GUEST_HUGE_PAGE_SIZE - 1);
		/*
		 * hugetlbfs has no zero page to fill a Uffd hole with, and the
		 * handler would serve the snapshot's bytes there again.
		 */
		if (end <= off || gm->uffd_held)
			return 0;
	}
	if (end == off)
		return 0;
	p = r->hva + off;
	if (gm->file_held)
		ret = discard_file(p, end - off, gm->huge);
	/* Shared RAM: MADV_DONTNEED would leave the file's pages; they are punched out. */
	else if (gm->shared && madvise(p, end - off, MADV_REMOVE))
		return -errno;
	else if (gm->shared)
		ret = 0;
	else if (madvise(p, end - off, MADV_DONTNEED))
		return -errno;
	else if (gm->uffd_held)
		ret = discard_uffd_fill(gm->uffd, (uint64_t)(uintptr_t)p, end - off);
	/* A Diff snapshot must carry the zeros, not the pages from before. */
	guest_mem_dirty_mark(gm, r->gpa + off, end - off);
	return ret ? ret : (int64_t)(end - off);
}

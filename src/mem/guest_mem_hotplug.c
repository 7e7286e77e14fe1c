/* The memory hotplug region (guest_mem_hotplug.h). */
#include "mem/guest_mem_hotplug.h"

#include "mem/dirty_priv.h"

#include <errno.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "core/layout.h"
#include "mem/guest_mem_uffd.h"

uint64_t guest_mem_hotplug_gpa(const struct guest_mem *gm, uint64_t size)
{
	uint64_t top = LAYOUT_MMIO_HOLE_END, gpa;

	for (unsigned int i = 0; i < gm->nregions; i++)
		if (gm->regions[i].gpa + gm->regions[i].size > top)
			top = gm->regions[i].gpa + gm->regions[i].size;
	gpa = (top + LAYOUT_HOTPLUG_ALIGN - 1) & ~(LAYOUT_HOTPLUG_ALIGN - 1);
	if (size > LAYOUT_HOTPLUG_LIMIT || gpa > LAYOUT_HOTPLUG_LIMIT - size)
		return 0;
	return gpa;
}

int guest_mem_hotplug_init(struct guest_mem *gm, uint64_t size, uint64_t block_size,
			   uint64_t slot_size)
{
	struct guest_hotplug *hp;
	uint64_t gpa;
	void *p;

	if (gm->hp)
		return -EEXIST;
	if (block_size < GUEST_PAGE_SIZE || (block_size & (block_size - 1)) || !slot_size ||
	    slot_size % block_size || !size || size % slot_size)
		return -EINVAL;
	if (size / slot_size > LAYOUT_HOTPLUG_MAX_SLOTS)
		return -ERANGE;
	gpa = guest_mem_hotplug_gpa(gm, size);
	if (!gpa)
		return -ERANGE;
	hp = calloc(1, sizeof(*hp));
	if (!hp)
		return -ENOMEM;
	hp->gpa = gpa;
	hp->size = size;
	hp->block_size = block_size;
	hp->slot_size = slot_size;
	hp->nblocks = size / block_size;
	hp->nslots = (unsigned int)(size / slot_size);
	hp->slot_base = LAYOUT_HOTPLUG_SLOT_BASE;
	pthread_mutex_init(&hp->lock, NULL);
	hp->plugged = calloc((hp->nblocks + 63) / 64, sizeof(uint64_t));
	hp->slot_plugged = calloc(hp->nslots, sizeof(uint32_t));
	if (!hp->plugged || !hp->slot_plugged)
		goto err_free;
	p = guest_mem_map_aligned(size);
	if (p == MAP_FAILED)
		goto err_free;
	/* Guest memory in a core dump is the guest's, not ours to leak. */
	madvise(p, size, MADV_DONTDUMP);
	hp->hva = p;
	gm->hp = hp;
	if (guest_mem_dirty_hp_attach(gm)) {
		guest_mem_hotplug_destroy(gm);
		return -ENOMEM;
	}
	return 0;

err_free:
	pthread_mutex_destroy(&hp->lock);
	free(hp->slot_plugged);
	free(hp->plugged);
	free(hp);
	return -ENOMEM;
}

void guest_mem_hotplug_destroy(struct guest_mem *gm)
{
	struct guest_hotplug *hp = gm->hp;

	if (!hp)
		return;
	gm->hp = NULL;
	free(gm->dirty[GUEST_MEM_HP_MAP]);
	gm->dirty[GUEST_MEM_HP_MAP] = NULL;
	if (hp->hva)
		munmap(hp->hva, hp->size);
	pthread_mutex_destroy(&hp->lock);
	free(hp->slot_plugged);
	free(hp->plugged);
	free(hp);
}

static bool block_plugged(const struct guest_hotplug *hp, uint64_t b)
{
	return (__atomic_load_n(&hp->plugged[b / 64], __ATOMIC_ACQUIRE) >> (b % 64)) & 1;
}

/* Slot s as a KVM memslot (on) or none (off); nothing without a VM (tools, tests). */
static int slot_kvm(const struct guest_mem *gm, unsigned int s, bool on)
{
	const struct guest_hotplug *hp = gm->hp;
	struct kvm_userspace_memory_region r = {
		.slot = hp->slot_base + s,
		.guest_phys_addr = hp->gpa + s * hp->slot_size,
		.memory_size = on ? hp->slot_size : 0,
		.userspace_addr = (uint64_t)(uintptr_t)(hp->hva + s * hp->slot_size),
		/* Diff snapshots: the guest's writes to plugged blocks are logged as RAM's. */
		.flags = gm->dirty_on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
	};

	if (gm->slots_fd < 0)
		return 0;
	return ioctl(gm->slots_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

/*
 * Unplugged bytes go back to the host and read as zeros when plugged
 * again. Anonymous memory: MADV_DONTNEED. A memory file's private
 * mapping: a fresh anonymous mapping over them (MADV_DONTNEED would
 * bring back the file's bytes). A Uffd restore's region: the range
 * leaves the userfaultfd first, so its next touch is the kernel's zero
 * fill rather than a fault the handler would answer with the snapshot's
 * bytes. Should either step fail, MADV_DONTNEED still frees the guest's
 * own writes, and the next plug of these blocks gets the snapshot's old
 * bytes rather than zeros, which a driver that takes
 * UNPLUGGED_INACCESSIBLE must not rely on either way.
 */
static void give_back(const struct guest_mem *gm, uint8_t *p, uint64_t len)
{
	if (gm->hp->file_backed && mmap(p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE |
					MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) !=
	    MAP_FAILED) {
		madvise(p, len, MADV_DONTDUMP);
		return;
	}
	if (gm->uffd_held)
		(void)guest_mem_uffd_unregister(gm->uffd, p, len);
	madvise(p, len, MADV_DONTNEED);
}

/* Sets blocks [first, last] to on, keeping each slot's count; no KVM, no watchers. */
static void set_bits(struct guest_hotplug *hp, uint64_t first, uint64_t last, bool on)
{
	uint64_t per = hp->slot_size / hp->block_size;

	for (uint64_t b = first; b <= last; b++) {
		if (block_plugged(hp, b) == on)
			continue;
		if (on)
			__atomic_or_fetch(&hp->plugged[b / 64], 1ull << (b % 64), __ATOMIC_RELEASE);
		else
			__atomic_and_fetch(&hp->plugged[b / 64], ~(1ull << (b % 64)),
					   __ATOMIC_RELEASE);
		hp->slot_plugged[b / per] += on ? 1u : (uint32_t)-1;
	}
}

/* Which of blocks [first, last] are plugged now, a bit each from first; NULL: no memory. */
static uint64_t *bits_save(const struct guest_hotplug *hp, uint64_t first, uint64_t last)
{
	uint64_t *v = calloc((last - first) / 64 + 1, sizeof(uint64_t));

	for (uint64_t b = first; v && b <= last; b++)
		if (block_plugged(hp, b))
			v[(b - first) / 64] |= 1ull << ((b - first) % 64);
	return v;
}

/* Blocks [first, last] back as bits_save found them. */
static void bits_restore(struct guest_hotplug *hp, uint64_t first, uint64_t last,
			 const uint64_t *v)
{
	for (uint64_t b = first; b <= last; b++)
		set_bits(hp, b, b, (v[(b - first) / 64] >> ((b - first) % 64)) & 1);
}

/*
 * Every watcher's table to the bitmap as it is now. On a failure the
 * caller puts the bitmap back and calls this again, so the watchers that
 * took the new table take the old one back (which they held before, so
 * fits); that second call's failures are only counted.
 */
static int tell_watchers(struct guest_mem *gm)
{
	int ret = 0;

	for (struct guest_mem_watch *w = gm->hp->watchers; w; w = w->next) {
		int r = w->changed(w->ctx, gm);

		if (r && !ret)
			ret = r;
	}
	return ret;
}

static int hotplug_plug(struct guest_mem *gm, uint64_t first, uint64_t last)
{
	struct guest_hotplug *hp = gm->hp;
	uint64_t per = hp->slot_size / hp->block_size;
	unsigned int s0 = (unsigned int)(first / per), s1 = (unsigned int)(last / per), s;
	uint64_t *before = bits_save(hp, first, last);
	int ret = 0;

	if (!before)
		return -ENOMEM;
	/* Slots first: a block is plugged only once the guest can reach it. */
	for (s = s0; s <= s1; s++)
		if (!hp->slot_plugged[s] && (ret = slot_kvm(gm, s, true)) < 0)
			break;
	if (ret < 0) {
		hp->slot_fails++;
		while (s-- > s0)
			if (!hp->slot_plugged[s])
				slot_kvm(gm, s, false);
		goto out;
	}
	set_bits(hp, first, last, true);
	if (!tell_watchers(gm))
		goto out;
	/* A watcher refused: the blocks this plug turned on go off, with slots it made. */
	ret = -EBUSY;
	bits_restore(hp, first, last, before);
	tell_watchers(gm);
	for (s = s0; s <= s1; s++)
		if (!hp->slot_plugged[s])
			slot_kvm(gm, s, false);
	/*
	 * A vCPU may have written to them while their slot was there: their
	 * pages go back, as an unplug's would, and read as zeros next time.
	 */
	for (uint64_t b = first; b <= last; b++)
		if (!((before[(b - first) / 64] >> ((b - first) % 64)) & 1))
			give_back(gm, hp->hva + b * hp->block_size, hp->block_size);
out:
	free(before);
	return ret;
}

static int hotplug_unplug(struct guest_mem *gm, uint64_t first, uint64_t last)
{
	struct guest_hotplug *hp = gm->hp;
	uint64_t per = hp->slot_size / hp->block_size;
	unsigned int s0 = (unsigned int)(first / per), s1 = (unsigned int)(last / per);
	uint64_t *before = bits_save(hp, first, last);

	/* Nothing changed either way: the driver is told to try later. */
	if (!before)
		return -EBUSY;
	set_bits(hp, first, last, false);
	/* The watchers let go before the pages do: vhost must not fault them back in. */
	if (tell_watchers(gm)) {
		bits_restore(hp, first, last, before);
		tell_watchers(gm);
		free(before);
		return -EBUSY;
	}
	free(before);
	/* A slot with nothing plugged leaves KVM before its pages go (Firecracker's order). */
	for (unsigned int s = s0; s <= s1; s++)
		if (!hp->slot_plugged[s] && slot_kvm(gm, s, false) < 0)
			hp->slot_fails++;
	give_back(gm, hp->hva + first * hp->block_size, (last - first + 1) * hp->block_size);
	/*
	 * Their bytes are zeros now: a diff must say so (its holes mean
	 * "unchanged"), and a slot gone from KVM took its log with it.
	 */
	guest_mem_dirty_mark(gm, hp->gpa + first * hp->block_size,
			     (last - first + 1) * hp->block_size);
	return 0;
}

int guest_mem_hotplug_set(struct guest_mem *gm, uint64_t off, uint64_t len, bool plug)
{
	struct guest_hotplug *hp = gm->hp;
	int ret;

	if (!hp || !len || off % hp->block_size || len % hp->block_size || off >= hp->size ||
	    len > hp->size - off)
		return -EINVAL;
	pthread_mutex_lock(&hp->lock);
	ret = plug ? hotplug_plug(gm, off / hp->block_size, (off + len) / hp->block_size - 1)
		   : hotplug_unplug(gm, off / hp->block_size, (off + len) / hp->block_size - 1);
	pthread_mutex_unlock(&hp->lock);
	return ret;
}

void guest_mem_hotplug_watch(const struct guest_mem *gm, struct guest_mem_watch *w)
{
	if (!gm || !gm->hp)
		return;
	pthread_mutex_lock(&gm->hp->lock);
	w->next = gm->hp->watchers;
	gm->hp->watchers = w;
	pthread_mutex_unlock(&gm->hp->lock);
}

void guest_mem_hotplug_unwatch(const struct guest_mem *gm, struct guest_mem_watch *w)
{
	if (!gm || !gm->hp)
		return;
	pthread_mutex_lock(&gm->hp->lock);
	for (struct guest_mem_watch **p = &gm->hp->watchers; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	pthread_mutex_unlock(&gm->hp->lock);
}

void guest_mem_hotplug_lock(const struct guest_mem *gm)
{
	if (gm && gm->hp)
		pthread_mutex_lock(&gm->hp->lock);
}

void guest_mem_hotplug_unlock(const struct guest_mem *gm)
{
	if (gm && gm->hp)
		pthread_mutex_unlock(&gm->hp->lock);
}

unsigned int guest_mem_hotplug_runs(const struct guest_hotplug *hp, struct guest_mem_run *out,
				    unsigned int max)
{
	unsigned int n = 0;
	uint64_t b = 0;

	while (b < hp->nblocks) {
		uint64_t run = 0;

		/* A word with nothing plugged is skipped whole: the cost is the bitmap's words. */
		if (!(b % 64) && !__atomic_load_n(&hp->plugged[b / 64], __ATOMIC_ACQUIRE)) {
			b += 64;
			continue;
		}
		while (b + run < hp->nblocks && block_plugged(hp, b + run))
			run++;
		if (run && n < max)
			out[n] = (struct guest_mem_run){ hp->gpa + b * hp->block_size,
							 run * hp->block_size,
							 hp->hva + b * hp->block_size };
		n += run ? 1 : 0;
		b += run ? run : 1;
	}
	return n;
}

int guest_mem_hotplug_map_file(struct guest_mem *gm, int fd, uint64_t offset)
{
	struct guest_hotplug *hp = gm->hp;

	if (!hp || offset % GUEST_PAGE_SIZE)
		return -EINVAL;
	if (mmap(hp->hva, hp->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE | MAP_FIXED,
		 fd, (off_t)offset) == MAP_FAILED)
		return -errno;
	madvise(hp->hva, hp->size, MADV_DONTDUMP);
	hp->file_backed = true;
	return 0;
}

bool guest_mem_hotplug_plugged(const struct guest_hotplug *hp, uint64_t off)
{
	return off < hp->size && block_plugged(hp, off / hp->block_size);
}

void *guest_mem_hotplug_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	const struct guest_hotplug *hp = gm->hp;
	uint64_t off;

	if (gpa < hp->gpa || gpa - hp->gpa >= hp->size || len > hp->size - (gpa - hp->gpa))
		return NULL;
	off = gpa - hp->gpa;
	/* A zero-length range at a block's start asks nothing of it. */
	for (uint64_t b = off / hp->block_size; len && b <= (off + len - 1) / hp->block_size; b++)
		if (!block_plugged(hp, b))
			return NULL;
	return hp->hva + off;
}

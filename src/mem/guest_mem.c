#include "mem/guest_mem.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/layout.h"
#include "mem/dirty_priv.h"
#include "mem/guest_mem_hotplug.h"

int guest_mem_layout_below(struct guest_mem *gm, uint64_t ram_bytes, uint64_t below)
{
	memset(gm, 0, sizeof(*gm));
	gm->slots_fd = -1;
	if (ram_bytes == 0 || (ram_bytes & 0xfff) || !below || below > LAYOUT_MMIO_HOLE_START ||
	    (below & (GUEST_MEM_BELOW_ALIGN - 1)))
		return -EINVAL;
	gm->ram_bytes = ram_bytes;
	if (ram_bytes <= below) {
		gm->regions[0] = (struct guest_region){ 0, ram_bytes, NULL };
		gm->nregions = 1;
	} else {
		gm->regions[0] = (struct guest_region){ 0, below, NULL };
		gm->regions[1] = (struct guest_region){ LAYOUT_MMIO_HOLE_END, ram_bytes - below,
							NULL };
		gm->nregions = 2;
	}
	return 0;
}

int guest_mem_layout(struct guest_mem *gm, uint64_t ram_bytes)
{
	return guest_mem_layout_below(gm, ram_bytes, LAYOUT_MMIO_HOLE_START);
}

#define GUEST_MEM_ALIGN (2ull << 20)

/* Mapped 2 MiB larger, the ends cut off (guest_mem.h says why). */
void *guest_mem_map_aligned(uint64_t size)
{
	uint8_t *p = mmap(NULL, size + GUEST_MEM_ALIGN, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return MAP_FAILED;
	a = ((uintptr_t)p + GUEST_MEM_ALIGN - 1) & ~(uintptr_t)(GUEST_MEM_ALIGN - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	if ((uintptr_t)p + size + GUEST_MEM_ALIGN > a + size)
		munmap((void *)(a + size), (uintptr_t)p + size + GUEST_MEM_ALIGN - (a + size));
	return (void *)a;
}

int guest_mem_init(struct guest_mem *gm, uint64_t ram_bytes)
{
	return guest_mem_init_below(gm, ram_bytes, LAYOUT_MMIO_HOLE_START);
}

int guest_mem_init_below(struct guest_mem *gm, uint64_t ram_bytes, uint64_t below)
{
	int ret = guest_mem_layout_below(gm, ram_bytes, below);
	unsigned int i;

	if (ret)
		return ret;
	for (i = 0; i < gm->nregions; i++) {
		void *p = guest_mem_map_aligned(gm->regions[i].size);
		if (p == MAP_FAILED) {
			ret = -errno;
			goto err_unmap;
		}
		/* Guest RAM in a core dump is the guest's, not ours to leak. */
		madvise(p, gm->regions[i].size, MADV_DONTDUMP);
		gm->regions[i].hva = p;
	}
	return 0;

err_unmap:
	guest_mem_destroy(gm);
	return ret;
}

void guest_mem_destroy(struct guest_mem *gm)
{
	for (unsigned int i = 0; i < gm->nregions; i++) {
		if (gm->regions[i].hva)
			munmap(gm->regions[i].hva, gm->regions[i].size);
		gm->regions[i].hva = NULL;
	}
	/* After the last mapping: the file's lock stays as long as any of it is mapped. */
	if (gm->file_held)
		close(gm->file_fd);
	gm->file_held = false;
	if (gm->uffd_held) {
		close(gm->uffd);
		if (gm->uffd_sock >= 0)
			close(gm->uffd_sock);
	}
	gm->uffd_held = false;
	if (gm->shared)
		close(gm->shm_fd);
	gm->shared = false;
	guest_mem_dirty_release(gm);
	guest_mem_hotplug_destroy(gm);
}

int guest_mem_init_shared(struct guest_mem *gm, uint64_t ram_bytes)
{
	return guest_mem_init_shared_below(gm, ram_bytes, LAYOUT_MMIO_HOLE_START);
}

int guest_mem_init_shared_below(struct guest_mem *gm, uint64_t ram_bytes, uint64_t below)
{
	int ret = guest_mem_layout_below(gm, ram_bytes, below);
	uint64_t off = 0;
	int fd;

	if (ret)
		return ret;
	fd = memfd_create("hearth-guest-ram", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)ram_bytes) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	gm->shared = true;
	gm->shm_fd = fd;
	for (unsigned int i = 0; i < gm->nregions; i++) {
		uint64_t size = gm->regions[i].size;
		/* The aligned address first, then the file's pages over it. */
		void *p = guest_mem_map_aligned(size);

		if (p == MAP_FAILED ||
		    mmap(p, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
			 (off_t)off) == MAP_FAILED) {
			ret = -errno;
			if (p != MAP_FAILED)
				munmap(p, size);
			goto err_unmap;
		}
		madvise(p, size, MADV_DONTDUMP);
		gm->regions[i].hva = p;
		gm->shm_offset[i] = off;
		off += size;
	}
	return 0;

err_unmap:
	guest_mem_destroy(gm);
	return ret;
}

int guest_mem_register(struct guest_mem *gm, int vm_fd)
{
	for (unsigned int i = 0; i < gm->nregions; i++) {
		struct kvm_userspace_memory_region r = {
			.slot = i,
			.guest_phys_addr = gm->regions[i].gpa,
			.memory_size = gm->regions[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)gm->regions[i].hva,
			.flags = gm->dirty_on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		};
		if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return -errno;
	}
	gm->slots_fd = vm_fd;
	return 0;
}

void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	if (gpa + len < gpa)
		return NULL;
	for (unsigned int i = 0; i < gm->nregions; i++) {
		const struct guest_region *r = &gm->regions[i];
		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->hva ? r->hva + (gpa - r->gpa) : NULL;
	}
	return gm->hp ? guest_mem_hotplug_ptr(gm, gpa, len) : NULL;
}

int guest_mem_read(const struct guest_mem *gm, uint64_t gpa, void *dst, uint64_t len)
{
	void *p = guest_mem_ptr(gm, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int guest_mem_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = guest_mem_ptr(gm, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	guest_mem_dirty_mark(gm, gpa, len);
	return 0;
}

uint64_t guest_mem_low_end(const struct guest_mem *gm)
{
	return gm->nregions ? gm->regions[0].gpa + gm->regions[0].size : 0;
}

void guest_mem_prefault(void *p, uint64_t len)
{
	uintptr_t start = (uintptr_t)p & ~(uintptr_t)4095;
	uintptr_t end = ((uintptr_t)p + len + 4095) & ~(uintptr_t)4095;

	if (len)
		(void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
}

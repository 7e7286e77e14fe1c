/*
 * The pmem devices' windows in the VM (virtio/pmem.h has the device).
 * Each backing file is mapped MAP_SHARED, so the guest's loads and
 * stores are the page cache's and N VMs on one read-only image share one
 * copy of it; a read-only device maps it PROT_READ and gets a
 * KVM_MEM_READONLY memslot, so a guest store exits (and is dropped by
 * the bus) instead of reaching the file. The virtio-pmem spec wants the
 * window in 2 MiB units, so a file that is not one is followed by
 * anonymous memory up to the line, as Firecracker does; what the guest
 * writes there is not the file's. The windows sit past RAM and the
 * 32-bit hole in cfg->pmem's order: the same config and files give the
 * same addresses, which the device's snapshot record checks. They are
 * no RAM of guest_mem's: e820, dirty logging, the memory file and a
 * Uffd restore's page server never see them.
 */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "mem/guest_mem_hotplug.h"
#include "virtio/pmem.h"

uint64_t vm_pmem_base(const struct guest_mem *gm)
{
	uint64_t end = LAYOUT_MMIO_HOLE_END;

	for (unsigned int i = 0; i < gm->nregions; i++)
		if (gm->regions[i].gpa + gm->regions[i].size > end)
			end = gm->regions[i].gpa + gm->regions[i].size;
	/* Past the memory hotplug region too, which vm_ram_init placed right above RAM. */
	if (gm->hp && gm->hp->gpa + gm->hp->size > end)
		end = gm->hp->gpa + gm->hp->size;
	return (end + PMEM_ALIGN - 1) & ~(PMEM_ALIGN - 1);
}

/* Firecracker's words: StartMicrovmError::CreatePmemDevice around PmemError. */
static int pmem_fail(struct err *err, int ret, const char *what, const char *path)
{
	return err_set(err, true, ret, "Cannot create pmem device: %s: %s (os error %d) %s", what,
		       strerror(-ret), -ret, path);
}

/* The file at its own address, then (rounded up) anonymous memory: one mapping of size bytes. */
static int pmem_mmap(struct vm_pmem_map *m)
{
	int prot = PROT_READ | (m->read_only ? 0 : PROT_WRITE);
	void *p = mmap(NULL, m->size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	if (mmap(p, m->file_len, prot, MAP_SHARED | MAP_FIXED | MAP_NORESERVE, m->fd, 0) ==
	    MAP_FAILED) {
		int ret = -errno;

		munmap(p, m->size);
		return ret;
	}
	m->hva = p;
	return 0;
}

static int pmem_map_one(struct vm *vm, const struct vm_pmem *p, struct vm_pmem_map *m,
			unsigned int slot, uint64_t gpa, struct err *err)
{
	struct kvm_userspace_memory_region r = { .slot = slot, .guest_phys_addr = gpa };
	struct stat st;
	int ret;

	m->read_only = p->read_only;
	m->fd = open(p->path_on_host, (p->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (m->fd < 0)
		return pmem_fail(err, -errno, "Error accessing backing file", p->path_on_host);
	if (fstat(m->fd, &st) < 0)
		return pmem_fail(err, -errno, "Error accessing backing file", p->path_on_host);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return err_set(err, true, -EINVAL, "Cannot create pmem device: Error accessing "
			       "backing file: not a regular file %s", p->path_on_host);
	m->file_len = (uint64_t)st.st_size;
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(m->fd, 0, SEEK_END);

		m->file_len = end > 0 ? (uint64_t)end : 0;
	}
	if (!m->file_len)
		return err_set(err, true, -EINVAL, "Cannot create pmem device: Error backing file "
			       "size is 0 (%s)", p->path_on_host);
	m->size = (m->file_len + PMEM_ALIGN - 1) & ~(PMEM_ALIGN - 1);
	m->gpa = gpa;
	ret = pmem_mmap(m);
	if (ret)
		return pmem_fail(err, ret, "Error accessing backing file", p->path_on_host);
	r.memory_size = m->size;
	r.userspace_addr = (uint64_t)(uintptr_t)m->hva;
	if (p->read_only) {
		if (ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0)
			return err_set(err, true, -EOPNOTSUPP, "Cannot create pmem device: pmem '%s' "
				       "is read only and this KVM has no read-only memory slots",
				       p->id);
		r.flags = KVM_MEM_READONLY;
	}
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return err_set(err, false, -errno, "Cannot create pmem device: Cannot set the "
			       "memory regions: %s", strerror(errno));
	return 0;
}

int vm_pmem_map(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	uint64_t gpa = vm_pmem_base(&vm->mem);
	int ret;

	for (unsigned int i = 0; i < cfg->npmem; i++) {
		struct vm_pmem_map *m = &vm->pmem[i];

		memset(m, 0, sizeof(*m));
		m->fd = -1;
		vm->npmem = i + 1;
		ret = pmem_map_one(vm, &cfg->pmem[i], m, LAYOUT_PMEM_SLOT + i, gpa, err);
		if (ret)
			return ret;
		gpa += m->size;
	}
	return 0;
}

void vm_pmem_unmap(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->npmem; i++) {
		struct vm_pmem_map *m = &vm->pmem[i];

		if (m->hva)
			munmap(m->hva, m->size);
		if (m->fd >= 0)
			close(m->fd);
		m->hva = NULL;
		m->fd = -1;
	}
	vm->npmem = 0;
}

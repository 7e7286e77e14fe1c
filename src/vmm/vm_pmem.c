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
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdio.h>
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

/* Where this VM's windows start: past RAM, and past the PCI 64-bit window where there is one. */
static uint64_t pmem_base(const struct vm *vm)
{
	uint64_t base = vm_pmem_base(&vm->mem);
	uint64_t w = (vm->mmio64_base + vm->mmio64_size + PMEM_ALIGN - 1) & ~(PMEM_ALIGN - 1);

	return vm->mmio64_size && w > base ? w : base;
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

/* The file opened and mapped into m at gpa (no memory slot yet). */
static int pmem_open_map(const struct vm_pmem *p, struct vm_pmem_map *m, uint64_t gpa,
			 struct err *err)
{
	struct stat st, lst;
	int ret;

	m->read_only = p->read_only;
	snprintf(m->id, sizeof(m->id), "%s", p->id);
	m->fd = open(p->path_on_host, (p->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (m->fd < 0)
		return pmem_fail(err, -errno, "Error accessing backing file", p->path_on_host);
	if (fstat(m->fd, &st) < 0)
		return pmem_fail(err, -errno, "Error accessing backing file", p->path_on_host);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return err_set(err, true, -EINVAL, "Cannot create pmem device: Error accessing "
			       "backing file: not a regular file %s", p->path_on_host);
	/*
	 * Locked as a disk is (virtio/blk/image.c): the file is mapped shared,
	 * so two VMs writing it would share live memory. Held while mapped,
	 * on a description of its own that the window's release closes.
	 */
	m->lock_fd = open(p->path_on_host, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (m->lock_fd < 0 || fstat(m->lock_fd, &lst) < 0)
		return pmem_fail(err, -errno, "Error locking backing file", p->path_on_host);
	if (lst.st_dev != st.st_dev || lst.st_ino != st.st_ino)
		return err_set(err, true, -ESTALE, "Cannot create pmem device: backing file %s was "
			       "replaced while it was opened", p->path_on_host);
	if (flock(m->lock_fd, (p->read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0)
		return errno == EWOULDBLOCK
		       ? err_set(err, true, -EBUSY, "Cannot create pmem device: backing file %s is "
				 "in use by another process", p->path_on_host)
		       : pmem_fail(err, -errno, "Error locking backing file", p->path_on_host);
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
	return 0;
}

/* m's memory slot (read-only for a read-only device), or (size 0) its removal. */
static int pmem_slot(struct vm *vm, const struct vm_pmem_map *m, uint64_t size)
{
	struct kvm_userspace_memory_region r = { .slot = m->kslot, .guest_phys_addr = m->gpa,
		.memory_size = size, .userspace_addr = (uint64_t)(uintptr_t)m->hva,
		.flags = m->read_only ? KVM_MEM_READONLY : 0 };

	return ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

/*
 * check_cap: ask KVM first whether it has read-only slots (at boot; a
 * device plugged in later is on the io thread, whose filter has no
 * KVM_CHECK_EXTENSION: there the slot's own failure says it).
 */
static int pmem_slot_set(struct vm *vm, const struct vm_pmem_map *m, bool check_cap,
			 struct err *err)
{
	if (check_cap && m->read_only &&
	    ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0)
		return err_set(err, true, -EOPNOTSUPP, "Cannot create pmem device: pmem '%s' "
			       "is read only and this KVM has no read-only memory slots", m->id);
	if (pmem_slot(vm, m, m->size))
		return err_set(err, false, -errno, "Cannot create pmem device: Cannot set the "
			       "memory regions: %s%s", strerror(errno), m->read_only ?
			       " (a read-only slot: this KVM may have none)" : "");
	return 0;
}

static int pmem_map_one(struct vm *vm, const struct vm_pmem *p, struct vm_pmem_map *m,
			unsigned int slot, uint64_t gpa, struct err *err)
{
	int ret = pmem_open_map(p, m, gpa, err);

	m->kslot = slot;
	return ret ? ret : pmem_slot_set(vm, m, true, err);
}

int vm_pmem_map(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	uint64_t gpa = pmem_base(vm);
	int ret;

	for (unsigned int i = 0; i < cfg->npmem; i++) {
		struct vm_pmem_map *m = &vm->pmem[i];

		memset(m, 0, sizeof(*m));
		m->fd = m->lock_fd = -1;
		vm->npmem = i + 1;
		ret = pmem_map_one(vm, &cfg->pmem[i], m, LAYOUT_PMEM_SLOT + i, gpa, err);
		if (ret)
			return ret;
		gpa += m->size;
	}
	return 0;
}

void vm_pmem_release(struct vm_pmem_map *m)
{
	if (m->hva)
		munmap(m->hva, m->size);
	if (m->fd >= 0)
		close(m->fd);
	if (m->lock_fd >= 0)
		close(m->lock_fd);
	m->hva = NULL;
	m->fd = m->lock_fd = -1;
}

void vm_pmem_unmap(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->npmem; i++)
		vm_pmem_release(&vm->pmem[i]);
	vm->npmem = 0;
}

int vm_pmem_prepare(struct vm *vm, const struct vm_config *cfg, unsigned int i,
		    struct vm_pmem_map *m, struct err *err)
{
	uint64_t gpa = pmem_base(vm), used = 0;
	int ret;

	memset(m, 0, sizeof(*m));
	m->fd = m->lock_fd = -1;
	if (i != vm->npmem || i >= VM_MAX_PMEM || i >= cfg->npmem)
		return err_set(err, false, -EINVAL, "pmem %u: not the next window", i);
	for (unsigned int k = 0; k < vm->npmem; k++) {
		if (vm->pmem[k].gpa + vm->pmem[k].size > gpa)
			gpa = vm->pmem[k].gpa + vm->pmem[k].size;
		used |= 1ull << (vm->pmem[k].kslot - LAYOUT_PMEM_SLOT);
	}
	for (m->kslot = LAYOUT_PMEM_SLOT; used & 1; used >>= 1)
		m->kslot++;
	ret = pmem_open_map(&cfg->pmem[i], m, gpa, err);
	if (ret)
		vm_pmem_release(m);
	return ret;
}

int vm_pmem_commit(struct vm *vm, unsigned int i, struct vm_pmem_map *m, struct err *err)
{
	int ret;

	if (i != vm->npmem)
		return err_set(err, false, -EINVAL, "pmem %u: not the next window", i);
	ret = pmem_slot_set(vm, m, false, err);
	if (ret)
		return ret;
	vm->pmem[i] = *m;
	vm->npmem = i + 1;
	return 0;
}

void vm_pmem_remove(struct vm *vm, const char *id)
{
	for (unsigned int i = 0; i < vm->npmem; i++) {
		if (strcmp(vm->pmem[i].id, id))
			continue;
		(void)pmem_slot(vm, &vm->pmem[i], 0);
		vm_pmem_release(&vm->pmem[i]);
		memmove(&vm->pmem[i], &vm->pmem[i + 1], (vm->npmem - i - 1) * sizeof(vm->pmem[0]));
		vm->npmem--;
		return;
	}
}

bool vm_pmem_in_layout(const struct vm *vm)
{
	uint64_t gpa = pmem_base(vm);

	for (unsigned int i = 0; i < vm->npmem; i++) {
		if (vm->pmem[i].gpa != gpa)
			return false;
		gpa += vm->pmem[i].size;
	}
	return true;
}

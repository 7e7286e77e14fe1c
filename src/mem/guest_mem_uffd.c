#include "mem/guest_mem_uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mem/guest_mem_hotplug.h"

/* userfaultfd(2), else /dev/userfaultfd (Linux 6.1+), whose access is the file's mode. */
static int uffd_create(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK), dev, err;

	if (fd >= 0)
		return fd;
	err = errno;
	if (err != EPERM && err != EACCES)
		return -err;
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -EPERM;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	err = errno;
	close(dev);
	return fd >= 0 ? fd : err == EPERM || err == EACCES ? -EPERM : -err;
}

int guest_mem_uffd_register(struct guest_mem *gm)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	int fd, ret;

	if (gm->uffd_held)
		return -EBUSY;
	fd = uffd_create();
	if (fd < 0)
		return fd;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		ret = -errno;
		goto err_close;
	}
	/* RAM's regions, then the hotplug region's (index nregions) when there is one. */
	for (unsigned int i = 0; i < gm->nregions + (gm->hp ? 1u : 0u); i++) {
		uint8_t *hva = i < gm->nregions ? gm->regions[i].hva : gm->hp->hva;
		uint64_t size = i < gm->nregions ? gm->regions[i].size : gm->hp->size;
		struct uffdio_register reg = {
			.range = { (uint64_t)(uintptr_t)hva, size },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};

		if (!hva) {
			ret = -EINVAL;
			goto err_close;
		}
		if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0) {
			ret = -errno;
			goto err_close;
		}
		if (!(reg.ioctls & (1ull << _UFFDIO_COPY))) {
			ret = -EOPNOTSUPP;
			goto err_close;
		}
	}
	gm->uffd = fd;
	gm->uffd_sock = -1;
	gm->uffd_held = true;
	return fd;

err_close:
	/* Closing the last reference unregisters every range again. */
	close(fd);
	return ret;
}

int guest_mem_uffd_keep(struct guest_mem *gm, int fd)
{
	if (!gm->uffd_held || gm->uffd_sock >= 0)
		return -EINVAL;
	gm->uffd_sock = fd;
	return 0;
}

int guest_mem_uffd_open(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	int fd = uffd_create(), ret;

	if (fd < 0)
		return fd;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int guest_mem_uffd_arm(const struct guest_mem *gm, int fd)
{
	for (unsigned int i = 0; i < gm->nregions; i++) {
		struct uffdio_register reg = {
			.range = { (uint64_t)(uintptr_t)gm->regions[i].hva, gm->regions[i].size },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};

		if (!gm->regions[i].hva)
			return -EINVAL;
		if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0)
			return -errno;
		if (!(reg.ioctls & (1ull << _UFFDIO_COPY)) ||
		    !(reg.ioctls & (1ull << _UFFDIO_ZEROPAGE)))
			return -EOPNOTSUPP;
	}
	return 0;
}

int guest_mem_uffd_unregister(int fd, void *hva, uint64_t len)
{
	struct uffdio_range r = { (uint64_t)(uintptr_t)hva, len };

	if (ioctl(fd, UFFDIO_UNREGISTER, &r) < 0)
		return -errno;
	/*
	 * UNREGISTER wakes the faults already waiting, then takes each VMA's
	 * write lock. A fault taken under the VMA's own lock (a thread of
	 * ours reading guest RAM, not KVM's, which takes mmap_lock) can be
	 * between its check and its wait when that wake runs: it then sleeps
	 * on, and nothing would wake it (seen: 5 of 600 post-copy unit runs
	 * on 6.18). Once UNREGISTER returns it has waited for that VMA lock,
	 * so such a fault is queued by now, and this wake reaches it; it
	 * retries on an unregistered range.
	 */
	if (ioctl(fd, UFFDIO_WAKE, &r) < 0)
		return -errno;
	return 0;
}

int guest_mem_uffd_disarm(const struct guest_mem *gm, int fd)
{
	int ret = 0;

	for (unsigned int i = 0; i < gm->nregions; i++) {
		int r = guest_mem_uffd_unregister(fd, gm->regions[i].hva, gm->regions[i].size);

		if (r && !ret)
			ret = r;
	}
	return ret;
}

int guest_mem_uffd_place(int fd, void *hva, const void *src, uint64_t len)
{
	struct uffdio_copy c = { .dst = (uint64_t)(uintptr_t)hva,
				 .src = (uint64_t)(uintptr_t)src, .len = len };

	/* A copy the kernel cut short (a signal) is taken up where it stopped. */
	while (ioctl(fd, UFFDIO_COPY, &c) < 0) {
		if (errno != EAGAIN || c.copy <= 0)
			return -errno;
		c.dst += (uint64_t)c.copy;
		c.src += (uint64_t)c.copy;
		c.len -= (uint64_t)c.copy;
		c.copy = 0;
	}
	return 0;
}

int guest_mem_uffd_zero(int fd, void *hva, uint64_t len)
{
	struct uffdio_zeropage z = { .range = { (uint64_t)(uintptr_t)hva, len } };

	while (ioctl(fd, UFFDIO_ZEROPAGE, &z) < 0) {
		if (errno != EAGAIN || z.zeropage <= 0)
			return -errno;
		z.range.start += (uint64_t)z.zeropage;
		z.range.len -= (uint64_t)z.zeropage;
		z.zeropage = 0;
	}
	return 0;
}

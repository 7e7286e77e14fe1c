/*
 * The host's side of a passed-through device (pci/vfio.h): the IOMMU
 * group, the container, the device fd, its regions, and guest RAM mapped
 * for the device's DMA. Runs while the VM is built, before the sandbox.
 */
#include "pci/vfio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* The last component of the link at dir/name, into out; 0 or -errno. */
static int link_base(const char *dir, const char *name, char *out, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;
	const char *base;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	strcpy(out, base);
	return 0;
}

static int open_container(struct vfio_handles *h, struct err *err)
{
	h->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (h->container < 0)
		return err_set(err, true, -errno, "VFIO device %s: cannot open /dev/vfio/vfio: %s "
			       "(is the vfio-pci module loaded?)", h->name, strerror(errno));
	if (ioctl(h->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		return err_set(err, false, -EPROTO, "VFIO device %s: the kernel speaks another "
			       "VFIO API version", h->name);
	if (ioctl(h->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0)
		return err_set(err, true, -ENOTSUP, "VFIO device %s: the kernel has no Type1 "
			       "IOMMU for VFIO (is there an IOMMU, and is it on? intel_iommu=on)",
			       h->name);
	return 0;
}

static int open_group(struct vfio_handles *h, const char *group, struct err *err)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	char path[64];

	snprintf(path, sizeof(path), "/dev/vfio/%s", group);
	h->group = open(path, O_RDWR | O_CLOEXEC);
	if (h->group < 0)
		return err_set(err, true, -errno, "VFIO device %s: cannot open its IOMMU group "
			       "%s: %s", h->name, path, strerror(errno));
	if (ioctl(h->group, VFIO_GROUP_GET_STATUS, &st) < 0)
		return err_set(err, false, -errno, "VFIO device %s: VFIO_GROUP_GET_STATUS: %s",
			       h->name, strerror(errno));
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE))
		return err_set(err, true, -EBUSY, "VFIO device %s: IOMMU group %s is not viable: "
			       "bind every device in /sys/kernel/iommu_groups/%s/devices to "
			       "vfio-pci", h->name, group, group);
	if (ioctl(h->group, VFIO_GROUP_SET_CONTAINER, &h->container) < 0)
		return err_set(err, false, -errno, "VFIO device %s: VFIO_GROUP_SET_CONTAINER: %s",
			       h->name, strerror(errno));
	if (ioctl(h->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0)
		return err_set(err, errno == EPERM, -errno, "VFIO device %s: VFIO_SET_IOMMU: %s%s",
			       h->name, strerror(errno), errno == EPERM ? " (the host's IOMMU "
			       "has no interrupt remapping: turn it on, or load vfio_iommu_type1 "
			       "with allow_unsafe_interrupts=1; see dmesg)" : "");
	return 0;
}

static int read_regions(struct vfio_handles *h, struct err *err)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	if (ioctl(h->device, VFIO_DEVICE_GET_INFO, &info) < 0)
		return err_set(err, false, -errno, "VFIO device %s: VFIO_DEVICE_GET_INFO: %s",
			       h->name, strerror(errno));
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) || info.num_regions < VFIO_REGIONS)
		return err_set(err, true, -ENODEV, "VFIO device %s: not a PCI device", h->name);
	for (unsigned int i = 0; i < VFIO_REGIONS; i++) {
		struct vfio_region_info r = { .argsz = sizeof(r), .index = i };

		if (ioctl(h->device, VFIO_DEVICE_GET_REGION_INFO, &r) < 0)
			return err_set(err, false, -errno, "VFIO device %s: region %u: %s",
				       h->name, i, strerror(errno));
		h->region[i] = (struct vfio_region){ .size = r.size, .offset = r.offset,
			.mmap = (r.flags & VFIO_REGION_INFO_FLAG_MMAP) != 0 };
	}
	if (h->region[VFIO_REGION_CONFIG].size < 256)
		return err_set(err, false, -ENODEV, "VFIO device %s: no configuration space",
			       h->name);
	/* A device that can be reset starts as the guest's firmware would hand it over. */
	h->resettable = (info.flags & VFIO_DEVICE_FLAGS_RESET) != 0;
	if (h->resettable)
		(void)ioctl(h->device, VFIO_DEVICE_RESET);
	return 0;
}

int vfio_host_check(const char *sysfs_path, char name[VFIO_NAME_MAX], char *real,
		    struct err *err)
{
	char path[PATH_MAX], driver[64];
	const char *base;
	int ret;

	name[0] = '\0';
	if (!realpath(sysfs_path, path)) {
		ret = errno;
		base = strrchr(sysfs_path, '/');
		if (ret == ENOENT)
			return err_set(err, true, -ENOENT, "no PCI device %.64s on this host (%s)",
				       base ? base + 1 : sysfs_path, sysfs_path);
		return err_set(err, true, -ret, "VFIO device %s: %s", sysfs_path, strerror(ret));
	}
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (strlen(base) >= VFIO_NAME_MAX)
		return err_set(err, true, -EINVAL, "VFIO device %s: not a PCI device's path",
			       sysfs_path);
	memcpy(name, base, strlen(base) + 1);
	ret = link_base(path, "driver", driver, sizeof(driver));
	if (ret || strcmp(driver, "vfio-pci"))
		return err_set(err, true, -EINVAL, "VFIO device %s: not bound to vfio-pci (%s%s): "
			       "bind it to vfio-pci first (docs/devices.md, Passthrough (VFIO))",
			       name, ret ? "it has no driver" : "its driver: ", ret ? "" : driver);
	if (real)
		snprintf(real, PATH_MAX, "%s", path);
	return 0;
}

int vfio_host_open(const char *sysfs_path, struct vfio_handles *h, struct err *err)
{
	char real[PATH_MAX], group[32];
	int ret;

	*h = (struct vfio_handles){ .container = -1, .group = -1, .device = -1 };
	ret = vfio_host_check(sysfs_path, h->name, real, err);
	if (ret)
		return ret;
	ret = link_base(real, "iommu_group", group, sizeof(group));
	if (ret)
		return err_set(err, true, ret, "VFIO device %s: no IOMMU group (%s): the host "
			       "needs an IOMMU, on", h->name, strerror(-ret));
	ret = open_container(h, err);
	if (!ret)
		ret = open_group(h, group, err);
	if (ret)
		goto err_close;
	h->device = ioctl(h->group, VFIO_GROUP_GET_DEVICE_FD, h->name);
	if (h->device < 0) {
		ret = err_set(err, false, -errno, "VFIO device %s: VFIO_GROUP_GET_DEVICE_FD: %s "
			      "(in use by another process?)", h->name, strerror(errno));
		goto err_close;
	}
	ret = read_regions(h, err);
	if (ret)
		goto err_close;
	return 0;

err_close:
	vfio_host_close(h);
	return ret;
}

int vfio_host_dma_map(struct vfio_handles *h, const struct guest_mem *mem, struct err *err)
{
	for (unsigned int i = 0; i < mem->nregions; i++) {
		const struct guest_region *r = &mem->regions[i];
		struct vfio_iommu_type1_dma_map map = {
			.argsz = sizeof(map),
			.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uintptr_t)r->hva, .iova = r->gpa, .size = r->size,
		};

		if (ioctl(h->container, VFIO_IOMMU_MAP_DMA, &map) < 0)
			return err_set(err, false, -errno, "VFIO device %s: cannot map guest RAM "
				       "[%#llx, +%llu MiB) for its DMA: %s%s", h->name,
				       (unsigned long long)r->gpa,
				       (unsigned long long)(r->size >> 20), strerror(errno),
				       errno == ENOMEM ? " (RLIMIT_MEMLOCK too low?)" : "");
	}
	h->dma_mapped = true;
	return 0;
}

void vfio_host_close(struct vfio_handles *h)
{
	if (h->device >= 0)
		close(h->device);
	if (h->group >= 0)
		close(h->group);
	if (h->container >= 0)
		close(h->container);
	h->device = h->group = h->container = -1;
}

#include "boot/loader.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/e820.h"
#include "boot/multiboot.h"
#include "core/layout.h"
#include "util/file.h"

/* Nothing a stock kernel ships comes close; beyond this it is not a kernel. */
#define KERNEL_FILE_MAX (512ull << 20)

/* All of it, or -EIO when the file shrank under us. */
static int read_fully(int fd, uint8_t *buf, size_t len)
{
	ssize_t n = file_read_full(fd, buf, len);

	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EIO;
}

static int open_regular(const char *path, int *fd_out, uint64_t *size_out, struct err *err)
{
	struct stat st;
	/* O_NONBLOCK: a FIFO with no writer must be refused, not wait in open(). */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	int ret;

	if (fd < 0) {
		ret = -errno;
		return err_set(err, true, ret, "cannot open: %s", strerror(-ret));
	}
	ret = file_check_type(fd, false, &st, err);
	if (ret) {
		close(fd);
		return ret;
	}
	*fd_out = fd;
	*size_out = (uint64_t)st.st_size;
	return 0;
}

/* Whether the file starts as an ELF and has no Multiboot header in its first 8 KiB. */
static bool elf_without_multiboot(int fd, uint64_t size)
{
	uint8_t head[MB_SEARCH_LEN];
	size_t n = size < sizeof(head) ? (size_t)size : sizeof(head);
	uint32_t off;

	if (file_pread_full(fd, head, n, 0) != (ssize_t)n || n < 4)
		return false;
	return memcmp(head, "\177ELF", 4) == 0 && !mb_find_header(head, n, &off);
}

int loader_open(const char *path, struct kernel_image *img, struct err *err)
{
	uint64_t size;
	uint8_t *data;
	int fd, ret;

	memset(img, 0, sizeof(*img));
	ret = open_regular(path, &fd, &size, err);
	if (ret)
		return ret;
	if (size == 0 || size > KERNEL_FILE_MAX) {
		ret = err_set(err, true, -EINVAL, size ? "too large to be a kernel (%llu bytes)"
							: "empty file (%llu bytes)",
			      (unsigned long long)size);
		goto err_close;
	}
	/* An ELF kernel (not Multiboot's) goes from the file to guest RAM by segment. */
	if (elf_without_multiboot(fd, size)) {
		ret = loader_open_elf_fd(fd, path, img, err);
		if (ret)
			goto err_close;
		return 0;
	}
	data = file_buf_alloc(size);
	if (!data) {
		ret = err_set(err, false, -ENOMEM, "out of memory reading it");
		goto err_close;
	}
	ret = read_fully(fd, data, size);
	if (ret) {
		err_set(err, true, ret, "read failed: %s", strerror(-ret));
		goto err_free;
	}
	if (mb_find_header(data, size, &(uint32_t){ 0 }))
		ret = mb_parse(data, size, img, err);
	else if (size >= 4 && memcmp(data, "\177ELF", 4) == 0)
		ret = elf_parse(data, size, img, err);
	else
		ret = bzimage_parse(data, size, img, err);
	if (ret)
		goto err_free;
	img->data = data;
	img->size = size;
	img->path = path;
	close(fd);
	return 0;

err_free:
	file_buf_free(data, size);
err_close:
	close(fd);
	return ret;
}

void loader_entry(const struct boot_plan *plan, struct cpu_entry *e)
{
	/* Multiboot's machine state is PVH's: flat 32-bit segments, paging off. */
	*e = (struct cpu_entry){
		.mode = plan->pvh || plan->multiboot ? CPU_ENTRY_FLAT32 : CPU_ENTRY_LONG64,
		.rip = plan->entry,
		.rsp = LAYOUT_BOOT_STACK,
	};
	if (plan->multiboot) {
		e->rax = MB_BOOT_MAGIC;
		e->rbx = plan->params_gpa;
		e->rsp = MB_STACK_GPA;
	} else if (plan->pvh) {
		e->rbx = plan->params_gpa;
	} else {
		e->rsi = plan->params_gpa;
	}
}

void loader_close(struct kernel_image *img)
{
	file_buf_free(img->data, img->size);
	img->data = NULL;
	if (img->from_fd)
		close(img->fd);
	img->from_fd = false;
}

/*
 * The initrd goes as high as allowed (below initrd_addr_max and the end of
 * low RAM), page aligned, clear of the kernel's decompression footprint.
 */
static int load_initrd(const char *path, uint64_t addr_max, struct guest_mem *gm,
		       struct boot_plan *plan, struct err *err)
{
	uint64_t size, top, gpa;
	int fd, ret;
	void *dst;

	ret = open_regular(path, &fd, &size, err);
	if (ret)
		return err_prefix(err, ret, "--initrd %s: ", path);
	top = guest_mem_low_end(gm);
	if (top > addr_max + 1)
		top = addr_max + 1;
	if (size == 0) {
		close(fd);
		return err_set(err, true, -EINVAL, "initrd %s is empty", path);
	}
	if (size > top || ((top - size) & ~0xfffull) < plan->kernel_end) {
		close(fd);
		return err_set(err, true, -E2BIG, "initrd %s (%llu MiB) does not fit below 0x%llx "
			       "beside the kernel; raise --memory", path,
			       (unsigned long long)(size >> 20), (unsigned long long)top);
	}
	gpa = (top - size) & ~0xfffull;
	dst = guest_mem_ptr(gm, gpa, size);
	if (dst)
		guest_mem_prefault(dst, size);
	ret = dst ? read_fully(fd, dst, size) : -EFAULT;
	close(fd);
	if (ret)
		return err_set(err, true, ret, "initrd %s: read failed: %s", path, strerror(-ret));
	plan->initrd_gpa = gpa;
	plan->initrd_size = size;
	return 0;
}

static int fill_boot_params(struct guest_mem *gm, const struct boot_plan *plan,
			    uint64_t rsdp_gpa, struct err *err)
{
	struct boot_params *bp = guest_mem_ptr(gm, plan->params_gpa, sizeof(*bp));
	int n;

	if (!bp)
		return -EFAULT;
	bp->hdr.boot_flag = 0xaa55;
	bp->hdr.header = 0x53726448;
	/*
	 * A loader's mark: without one Linux takes no initrd at all
	 * (early_reserve_initrd). The bzImage's path set it already; an ELF
	 * entered at its 64-bit entry (no PVH note) gets it here, with the
	 * command line's bound that a bzImage's own header would have said.
	 */
	bp->hdr.type_of_loader = 0xff;
	if (!bp->hdr.cmdline_size)
		bp->hdr.cmdline_size = LAYOUT_CMDLINE_MAX - 1;
	bp->hdr.cmd_line_ptr = (uint32_t)plan->cmdline_gpa;
	bp->ext_cmd_line_ptr = (uint32_t)(plan->cmdline_gpa >> 32);
	bp->hdr.ramdisk_image = (uint32_t)plan->initrd_gpa;
	bp->hdr.ramdisk_size = (uint32_t)plan->initrd_size;
	bp->ext_ramdisk_image = (uint32_t)(plan->initrd_gpa >> 32);
	bp->ext_ramdisk_size = (uint32_t)(plan->initrd_size >> 32);
	bp->acpi_rsdp_addr = rsdp_gpa;
	n = e820_build(gm, bp->e820_table, E820_MAX_ENTRIES_ZEROPAGE);
	if (n < 0)
		return err_set(err, false, n, "cannot build the e820 map: %s", strerror(-n));
	bp->e820_entries = (uint8_t)n;
	return 0;
}

int loader_load(const struct kernel_image *img, struct guest_mem *gm, const char *initrd_path,
		const char *cmdline, uint64_t rsdp_gpa, struct boot_plan *plan,
		struct err *err)
{
	size_t len = strlen(cmdline);
	size_t max = LAYOUT_CMDLINE_MAX - 1;
	int ret;

	memset(plan, 0, sizeof(*plan));
	/* A bzImage's own limits, or its header's where it was unpacked or cached (bzimage.c). */
	if (img->kind != KERNEL_MULTIBOOT && img->cmdline_max && img->cmdline_max < max)
		max = img->cmdline_max;
	if (len > max)
		return err_set(err, true, -E2BIG, "the kernel command line is %zu bytes; this "
			       "kernel accepts at most %zu", len, max);
	err->msg[0] = '\0';
	if (img->kind == KERNEL_BZIMAGE)
		ret = bzimage_load(img, gm, plan, err);
	else if (img->kind == KERNEL_MULTIBOOT)
		ret = mb_load(img, gm, plan, err);
	else
		ret = elf_load(img, gm, plan, err);
	if (ret)
		return err_prefix(err, ret, "kernel %s: ", img->path ? img->path : "");
	/* A Multiboot kernel's command line lives with its information structure. */
	if (img->kind != KERNEL_MULTIBOOT) {
		if (guest_mem_write(gm, LAYOUT_CMDLINE, cmdline, len + 1))
			return -EFAULT;
		plan->cmdline_gpa = LAYOUT_CMDLINE;
	}
	if (initrd_path) {
		uint64_t addr_max = img->kind != KERNEL_MULTIBOOT && img->initrd_addr_max
					    ? img->initrd_addr_max : LAYOUT_MMIO_HOLE_START - 1;
		ret = load_initrd(initrd_path, addr_max, gm, plan, err);
		if (ret)
			return ret;
	}
	if (plan->multiboot)
		return mb_info_fill(gm, plan, img->path ? img->path : "", cmdline, initrd_path, err);
	if (plan->pvh)
		return elf_pvh_fill(gm, plan, rsdp_gpa, err);
	return fill_boot_params(gm, plan, rsdp_gpa, err);
}

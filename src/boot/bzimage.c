/* Linux x86 boot protocol (Documentation/arch/x86/boot.rst), 64-bit entry. */
#include <asm/bootparam.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <stdlib.h>

#include "boot/decompress.h"
#include "boot/loader.h"
#include "core/layout.h"
#include "util/file.h"

#define SETUP_HDR_OFF 0x1f1
#define BOOT_FLAG 0xaa55
#define HDRS_MAGIC 0x53726448 /* "HdrS" */
#define MIN_VERSION 0x0206    /* cmdline_size, 32-bit boot */

int bzimage_parse(const uint8_t *data, size_t size, struct kernel_image *img,
		  struct err *err)
{
	struct setup_header hdr;
	size_t setup_sects;

	if (size < SETUP_HDR_OFF + sizeof(hdr))
		return err_set(err, true, -EINVAL, "too small to be a Linux kernel (%zu bytes)",
			       size);
	memcpy(&hdr, data + SETUP_HDR_OFF, sizeof(hdr));
	if (hdr.boot_flag != BOOT_FLAG || hdr.header != HDRS_MAGIC)
		return err_set(err, true, -EINVAL, "not a Linux bzImage or ELF vmlinux (no "
			       "boot-protocol 'HdrS' signature)");
	if (hdr.version < MIN_VERSION)
		return err_set(err, true, -EINVAL, "boot protocol %u.%02u is too old (2.06 or "
			       "newer needed)", hdr.version >> 8, hdr.version & 0xff);
	if (!(hdr.loadflags & LOADED_HIGH))
		return err_set(err, true, -EINVAL, "a zImage (loads low); only bzImage is "
			       "supported");
	if (hdr.version >= 0x020c && !(hdr.xloadflags & XLF_KERNEL_64))
		return err_set(err, true, -EINVAL, "kernel has no 64-bit entry point (32-bit "
			       "kernel?)");
	setup_sects = hdr.setup_sects ? hdr.setup_sects : 4;
	if ((setup_sects + 1) * 512 >= size)
		return err_set(err, true, -EINVAL, "truncated: setup is %zu bytes but the file has "
			       "only %zu", (setup_sects + 1) * 512, size);
	if (hdr.relocatable_kernel &&
	    (hdr.kernel_alignment == 0 || (hdr.kernel_alignment & (hdr.kernel_alignment - 1))))
		return err_set(err, true, -EINVAL, "bad kernel_alignment 0x%x (not a power of two)",
			       hdr.kernel_alignment);
	/*
	 * syssize counts 16-byte paragraphs of the protected-mode part; a file
	 * shorter than that was cut off in transit.
	 */
	if ((uint64_t)hdr.syssize * 16 > size - (setup_sects + 1) * 512)
		return err_set(err, true, -EINVAL, "truncated: header promises %llu bytes of "
			       "kernel, file has %zu", (unsigned long long)hdr.syssize * 16,
			       size - (setup_sects + 1) * 512);

	memset(img, 0, sizeof(*img));
	img->kind = KERNEL_BZIMAGE;
	img->setup_size = (setup_sects + 1) * 512;
	img->version = hdr.version;
	img->cmdline_max = hdr.cmdline_size;
	img->initrd_addr_max = hdr.initrd_addr_max ? hdr.initrd_addr_max : 0x37ffffff;
	img->relocatable = hdr.relocatable_kernel;
	img->kernel_alignment = hdr.kernel_alignment;
	img->pref_address = hdr.version >= 0x020a ? hdr.pref_address : LAYOUT_KERNEL_LOAD;
	img->init_size = hdr.version >= 0x020a ? hdr.init_size : 0;
	return 0;
}

int bzimage_unpack(struct kernel_image *img, struct err *err)
{
	struct setup_header hdr;
	struct kernel_image elf;
	uint8_t *out;
	size_t len;
	int ret;

	if (img->kind != KERNEL_BZIMAGE || img->version < 0x0208)
		return err_set(err, false, -ENOTSUP, "boot protocol %u.%02u names no payload",
			       img->version >> 8, img->version & 0xff);
	memcpy(&hdr, img->data + SETUP_HDR_OFF, sizeof(hdr));
	/* payload_offset counts from the protected-mode part, which follows setup. */
	if (hdr.payload_offset > img->size - img->setup_size ||
	    hdr.payload_length > img->size - img->setup_size - hdr.payload_offset)
		return err_set(err, true, -EINVAL, "its payload (%u bytes at %u) runs past the "
			       "file", hdr.payload_length, hdr.payload_offset);
	/* Never more than the memory the kernel says it needs to run. */
	ret = decompress_payload(img->data + img->setup_size + hdr.payload_offset,
				 hdr.payload_length, img->init_size, &out, &len, err);
	if (ret)
		return ret;
	ret = elf_parse(out, len, &elf, err);
	if (!ret && elf.kind != KERNEL_ELF_PVH)
		ret = err_set(err, false, -ENOTSUP, "its payload is an ELF kernel without a PVH "
			      "entry note");
	if (ret) {
		if (ret == -EINVAL)
			err_prefix(err, ret, "its payload is no valid ELF kernel: ");
		file_buf_free(out, len);
		return ret;
	}
	file_buf_free(img->data, img->size);
	/* Its setup header's limits still bind the kernel booted through PVH (loader_load). */
	elf.cmdline_max = img->cmdline_max;
	elf.initrd_addr_max = img->initrd_addr_max;
	elf.path = img->path;
	elf.unpacked = true;
	elf.data = out;
	elf.size = len;
	*img = elf;
	return 0;
}

/*
 * The protocol has the loader copy the image's own setup header, whose end
 * the jump at 0x200 gives, and then edit it.
 */
static void copy_setup_header(const struct kernel_image *img, struct boot_params *bp)
{
	size_t n = 0x202 + img->data[0x201] - SETUP_HDR_OFF;

	if (n > sizeof(bp->hdr))
		n = sizeof(bp->hdr);
	memcpy(&bp->hdr, img->data + SETUP_HDR_OFF, n);
}

int bzimage_load(const struct kernel_image *img, struct guest_mem *gm, struct boot_plan *plan,
		 struct err *err)
{
	size_t payload = img->size - img->setup_size;
	uint64_t load = img->relocatable ? LAYOUT_KERNEL_LOAD : img->pref_address;
	uint64_t footprint = payload > img->init_size ? payload : img->init_size;
	struct boot_params *bp;
	void *dst;

	/* The decompressor works in place, so the whole init_size must be RAM. */
	if (load + footprint > guest_mem_low_end(gm))
		return err_set(err, true, -E2BIG, "kernel needs %llu MiB of RAM from 0x%llx to "
			       "decompress; not enough --memory",
			       (unsigned long long)((load + footprint) >> 20) + 1,
			       (unsigned long long)load);
	dst = guest_mem_ptr(gm, load, payload);
	if (!dst)
		return err_set(err, true, -E2BIG, "kernel does not fit in guest RAM; raise "
			       "--memory");
	guest_mem_prefault(dst, payload);
	memcpy(dst, img->data + img->setup_size, payload);

	bp = guest_mem_ptr(gm, LAYOUT_BOOT_PARAMS, sizeof(*bp));
	if (!bp)
		return -EFAULT;
	memset(bp, 0, sizeof(*bp));
	copy_setup_header(img, bp);
	bp->hdr.type_of_loader = 0xff;
	bp->hdr.loadflags &= (uint8_t)~(KEEP_SEGMENTS);
	bp->hdr.loadflags |= CAN_USE_HEAP;
	bp->hdr.heap_end_ptr = 0xfe00;
	bp->hdr.vid_mode = 0xffff;
	bp->hdr.code32_start = (uint32_t)load;

	plan->entry = load + 0x200;
	plan->params_gpa = LAYOUT_BOOT_PARAMS;
	plan->pvh = 0;
	plan->kernel_start = load;
	plan->kernel_end = load + footprint;
	return 0;
}
